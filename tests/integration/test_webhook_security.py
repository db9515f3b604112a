"""The inbound webhook against hostile input, on a real socket and a real Redis: a signed request is good for one
application and one use, and nothing a provider (or an attacker) sends is answered 500."""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.sandbox.http_sms import SandboxHttpSms
from gateway.sms import webhook_auth
from gateway.sms.inbound import InboundConfig, InboundWebhook
from gateway.sms.keywords import KeywordHandler
from gateway.sms.optouts import OptOutStore
from gateway.sms.webhook_auth import basic_header
from tests.integration.test_http_sms import Sink

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
TOKEN = "twilio-auth-token"
VICTIM = "+14155550123"
OURS = "+14155550199"


@asynccontextmanager
async def serving(redis: Any, sink: Any, config: InboundConfig,
                  seen: list[tuple[dict[str, str], bytes]] | None = None) -> AsyncIterator[str]:
    """The webhook on 127.0.0.1:<free port>; `seen` collects each request's headers and body (for replays)."""
    hook = InboundWebhook(config, KeywordHandler(OptOutStore(redis), sink), sink, redis,
                          environ={"WH": SECRET, "TW_OLD": "rotated-out-token", "TW": TOKEN, "PW": "pw"})
    app = hook.app()
    if seen is not None:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            seen.append((dict(request.headers), await request.read()))
            return await handler(request)  # type: ignore[no-any-return]

        app.middlewares.append(record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


HMAC = InboundConfig(auth="hmac", secret_envs=["WH"])
TWILIO = InboundConfig(auth="twilio", secret_envs=["TW"])
TWILIO_ROTATING = InboundConfig(auth="twilio", secret_envs=["TW_OLD", "TW"])  # the old token first
BASIC = InboundConfig(auth="basic", username="u", password_env="PW")


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    # encoded=True: the request target goes out byte for byte as written (signatures cover it).
    async with aiohttp.ClientSession() as s, s.post(aiohttp.client.URL(url, encoded=True), data=body,
                                                   headers=headers) as r:
        return r.status, await r.text()


def hmac_headers(url: str, body: bytes, msg_id: str, ctype: str = "application/x-www-form-urlencoded"
                 ) -> dict[str, str]:
    ts = int(time.time())
    target = urllib.parse.urlsplit(url)._replace(scheme="", netloc="").geturl()
    return {"Content-Type": ctype, "webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": webhook_auth.sign(SECRET, msg_id, ts, target, body)}


def twilio_headers(url: str, form: dict[str, str] | None = None) -> dict[str, str]:
    sig = webhook_auth.twilio_signature(TOKEN, url, list((form or {}).items()))
    ctype = "application/x-www-form-urlencoded" if form is not None else "application/json"
    return {"Content-Type": ctype, "X-Twilio-Signature": sig}


STOP = {"From": VICTIM, "To": OURS, "Body": "STOP", "MessageSid": "SM0001", "AccountSid": "AC1"}




# -- hmac ----------------------------------------------------------------------------------------------------------

async def test_hmac_stop_for_one_app_cannot_be_replayed_to_others(redis: Any) -> None:
    """The issue's attack: a STOP the provider (the sandbox, signing as it does) sent for app A, replayed with the
    same headers and body to B and C."""
    sink, optouts, seen = Sink(), OptOutStore(redis), []
    sandbox = await SandboxHttpSms(webhook_secret=SECRET).start()
    try:
        async with serving(redis, sink, HMAC, seen) as base:
            assert await sandbox.send_inbound(f"{base}/sms/inbound/appA", VICTIM, OURS, "STOP") == 200
            (headers, body), = seen
            for other in ("appB", "appC"):
                status, text = await post(f"{base}/sms/inbound/{other}", body, headers)
                assert status == 401 and "no webhook-signature matches" in text
    finally:
        await sandbox.aclose()
    assert await optouts.is_opted_out("appA", VICTIM)
    assert not await optouts.is_opted_out("appB", VICTIM) and not await optouts.is_opted_out("appC", VICTIM)


async def test_hmac_receipt_is_bound_to_its_app_and_message_id(redis: Any) -> None:
    sink = Sink()
    body = b"MessageSid=SM1&MessageStatus=delivered&To=%2B14255550100"
    async with serving(redis, sink, HMAC) as base:
        signed_for = f"{base}/sms/status?app=appA&mid=m1"
        headers = hmac_headers(signed_for, body, "wh-r1")
        assert (await post(f"{base}/sms/status?app=appA&mid=m2", body, headers))[0] == 401
        assert (await post(f"{base}/sms/status?app=appB&mid=m1", body, headers))[0] == 401
        assert (await post(signed_for, body, headers))[0] == 200
    assert [(e["application"]["app_id"], e["attributes"]["message_id"]) for e in sink.events] == [("appA", "m1")]


async def test_hmac_plain_standard_webhooks_signature_is_refused_with_the_reason(redis: Any) -> None:
    body = urllib.parse.urlencode(STOP).encode()
    ts = int(time.time())
    mac = base64.b64encode(__import__("hmac").new(base64.b64decode(SECRET[6:]), f"wh-2.{ts}.".encode() + body,
                                                  hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "webhook-id": "wh-2",
               "webhook-timestamp": str(ts), "webhook-signature": f"v1,{mac}"}
    async with serving(redis, Sink(), HMAC) as base:
        status, text = await post(f"{base}/sms/inbound/appA", body, headers)
    assert status == 401 and "request target" in text
    assert not await OptOutStore(redis).is_opted_out("appA", VICTIM)


@pytest.mark.parametrize("json_body", [
    b'{"originationNumber":"+14155550123","destinationNumber":"+14155550199","messageBody":"HELP","x":'
    + b"[" * 5_000 + b"]" * 5_000 + b"}",
    b'{"originationNumber":"+14155550123","destinationNumber":"+14155550199","messageBody":{"text":"STOP"}}',
])
async def test_nested_json_is_a_400(redis: Any, json_body: bytes) -> None:
    """Past the decoder's depth limit (a 500 before) or one level deep (was turned into Python's repr)."""
    sink = Sink()
    async with serving(redis, sink, BASIC) as base:
        status, text = await post(f"{base}/sms/inbound/appA", json_body,
                                  {"Content-Type": "application/json", "Authorization": basic_header("u", "pw")})
    assert status == 400 and "malformed body" in text
    assert sink.events == []
    assert not await OptOutStore(redis).is_opted_out("appA", VICTIM)


async def test_a_request_that_failed_is_not_a_replay_when_retried(redis: Any) -> None:
    """The replay claim is released when handling fails (500), so the provider's retry of the same signed request
    is processed instead of being refused as a replay and lost."""
    events: list[dict[str, Any]] = []
    failures = [RuntimeError("event stream down")]

    async def flaky(record: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()
        events.append(record)

    seen: list[tuple[dict[str, str], bytes]] = []
    sandbox = await SandboxHttpSms(webhook_secret=SECRET).start()
    try:
        async with serving(redis, flaky, HMAC, seen) as base:
            url = f"{base}/sms/inbound/appA"
            assert await sandbox.send_inbound(url, VICTIM, OURS, "HELP") == 500
            (headers, body), = seen
            assert (await post(url, body, headers))[0] == 200  # the provider's retry
            assert (await post(url, body, headers))[0] == 401  # a replay of a handled request
    finally:
        await sandbox.aclose()
    assert [e["event_type"] for e in events] == ["_SMS.INBOUND"]


# -- twilio --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"not a form", b"\xff\xfe=\x00", b"From=%2B1&&&=x=y"])
async def test_twilio_unparseable_body_is_a_401_not_a_500(redis: Any, body: bytes) -> None:
    async with serving(redis, Sink(), TWILIO) as base:
        url = f"{base}/sms/inbound/appA"
        status, text = await post(url, body, {"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert status == 401 and "not a form" in text


async def test_twilio_signature_is_bound_to_the_app_and_single_use(redis: Any) -> None:
    """Twilio signs the URL (which names the app): not valid for another app; and a captured STOP replayed after
    the user texted START does not opt them out again."""
    optouts = OptOutStore(redis)
    async with serving(redis, Sink(), TWILIO) as base:
        url = f"{base}/sms/inbound/appA"
        stop = urllib.parse.urlencode(STOP).encode()
        stop_headers = twilio_headers(url, STOP)
        assert (await post(f"{base}/sms/inbound/appB", stop, stop_headers))[0] == 401
        assert (await post(url, stop, stop_headers))[0] == 200
        assert await optouts.is_opted_out("appA", VICTIM)
        start = dict(STOP, Body="START", MessageSid="SM0002")
        assert (await post(url, urllib.parse.urlencode(start).encode(), twilio_headers(url, start)))[0] == 200
        assert not await optouts.is_opted_out("appA", VICTIM)
        status, text = await post(url, stop, stop_headers)
        assert status == 401 and "replay" in text
    assert not await optouts.is_opted_out("appA", VICTIM)
    assert not await optouts.is_opted_out("appB", VICTIM)


async def test_twilio_signs_the_raw_url(redis: Any) -> None:
    """Twilio signs the StatusCallback as given, percent-encoding included; the webhook verifies the raw request
    target (a guard: aiohttp 3.14's path_qs happens to be raw too, older versions decoded it)."""
    sink = Sink()
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+14255550100"}
    async with serving(redis, sink, TWILIO) as base:
        url = f"{base}/sms/status?app=appA&mid=m%2B1%2F2"
        assert (await post(url, urllib.parse.urlencode(form).encode(), twilio_headers(url, form)))[0] == 200
    assert sink.events[0]["attributes"]["message_id"] == "m+1/2"


async def test_twilio_json_body_needs_body_sha256(redis: Any) -> None:
    """Twilio's scheme for a non-form body: the URL carries bodySHA256 and the signature covers the URL only."""
    sink = Sink()
    body = b'{"originationNumber":"+14155550123","destinationNumber":"+14155550199","messageBody":"HELP"}'
    deep = b'{"messageBody":' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    async with serving(redis, sink, TWILIO_ROTATING) as base:
        plain = f"{base}/sms/inbound/appA"
        status, text = await post(plain, body, twilio_headers(plain))
        assert status == 401 and "bodySHA256" in text  # the body would not be covered at all
        hashed = f"{plain}?bodySHA256={hashlib.sha256(body).hexdigest()}"
        assert (await post(hashed, body.replace(b"HELP", b"STOP"), twilio_headers(hashed)))[0] == 401
        assert (await post(hashed, body, twilio_headers(hashed)))[0] == 200
        deep_url = f"{plain}?bodySHA256={hashlib.sha256(deep).hexdigest()}"
        status, text = await post(deep_url, deep, twilio_headers(deep_url))
        assert status == 400 and "malformed body" in text
    assert [e["attributes"]["keyword_action"] for e in sink.events] == ["HELP"]


def test_twilio_url_port_variants_and_token_rotation() -> None:
    params = [("From", VICTIM), ("Body", "hi")]
    with_port = "https://gw.example.test:443/sms/inbound/appA"
    sig = webhook_auth.twilio_signature(TOKEN, with_port, params)
    webhook_auth.verify_twilio(["old", TOKEN], "https://gw.example.test/sms/inbound/appA", params, sig)
    webhook_auth.verify_twilio([TOKEN], with_port, params, sig)
    with pytest.raises(webhook_auth.WebhookAuthError):
        webhook_auth.verify_twilio(["old"], with_port, params, sig)
    with pytest.raises(webhook_auth.WebhookAuthError):
        webhook_auth.verify_twilio([TOKEN], "https://gw.example.test:8443/sms/inbound/appA", params, sig)


async def test_twilio_json_mode_never_parses_before_authenticating(redis: Any) -> None:
    deep = b"[" * 5_000 + b"]" * 5_000
    async with serving(redis, Sink(), TWILIO) as base:
        url = f"{base}/sms/inbound/appA"
        status, _ = await post(url, deep, {"Content-Type": "application/json", "X-Twilio-Signature": "x"})
    assert status == 401



