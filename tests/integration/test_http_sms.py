"""HTTP SMS and voice channels against the sandbox provider, with the inbound webhook on real sockets and a real
Redis: every fault path, lanes, receipts, incoming keywords (T22), webhook authentication."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from gateway import config as gwconfig
from gateway import models
from gateway.channels import http_sms, voice
from gateway.channels.base import Outbound, Recipient, Runtime
from gateway.channels.http_provider import OptedOut
from gateway.channels.sms_content import FAMILY as SMS_FAMILY
from gateway.channels.sms_content import SmsContent
from gateway.channels.voice import FAMILY as VOICE_FAMILY
from gateway.errors import (
    AuthFailed,
    ConnectError,
    ContentRejected,
    MaybeSent,
    PermanentError,
    ProviderUnavailable,
    RecipientRejected,
    Throttled,
)
from gateway.sandbox.http_sms import SandboxHttpSms
from gateway.sms import webhook_auth
from gateway.sms.inbound import InboundConfig, InboundWebhook
from gateway.sms.keywords import KeywordHandler
from gateway.sms.optouts import OptOutStore
from tests.outcomes import event

APP = "app1"
OURS = "+12065550199"
SECRET = "whsec_" + __import__("base64").b64encode(b"s" * 32).decode()


class Sink:
    """Collects event records; `wait_for(type)` resolves when one arrives (no sleeps)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []

    async def __call__(self, record: dict[str, Any]) -> None:
        self.events.append(record)
        for et, fut in list(self._waiters):
            if et == record["event_type"] and not fut.done():
                fut.set_result(record)

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> dict[str, Any]:
        for r in self.events:
            if r["event_type"] == event_type:
                return r
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event_type, fut))
        return await asyncio.wait_for(fut, timeout)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxHttpSms]:
    server = await SandboxHttpSms(webhook_secret=SECRET).start()
    yield server
    await server.aclose()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def webhook(redis: Any, sink: Sink) -> AsyncIterator[str]:
    hook = InboundWebhook(InboundConfig(auth="hmac", secret_envs=["WH"]), KeywordHandler(OptOutStore(redis), sink),
                          sink, redis, environ={"WH": SECRET})
    runner = web.AppRunner(hook.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def sms_cfg(sandbox: SandboxHttpSms, **kw: Any) -> gwconfig.HttpSmsChannelConfig:
    base: dict[str, Any] = dict(
        preset="twilio", account_sid="ACtest", api_base=sandbox.base_url, allow_http=True,
        allow_networks=["127.0.0.1/32"], auth=gwconfig.HttpAuthConfig(kind="basic", secret_env="TEST_TW_TOKEN"),
        read_timeout_s=2.0,
    )
    base.update(kw)
    return gwconfig.HttpSmsChannelConfig(**base)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TW_TOKEN", "tok")


async def make_channel(cfg: gwconfig.HttpSmsChannelConfig, redis: Any) -> http_sms.HttpSmsChannel:
    ch = http_sms.create(cfg, Runtime(redis, None))
    await ch.start()
    return ch


def sms(to: str, body: str = "hello", mtype: str = "TRANSACTIONAL", mid: str = "m-1") -> Outbound:
    return Outbound(message_id=mid, app=APP, recipient=Recipient(key=to, address=to, channel_type="SMS"),
                    content=SmsContent(body=body, message_type=mtype, origination_number=OURS))  # type: ignore[arg-type]


async def send_or_opt_out(ch: http_sms.HttpSmsChannel, store: OptOutStore, msg: Outbound) -> str:
    """What the dispatcher does: the opt-out check first, then the channel."""
    if await store.is_opted_out(msg.app, msg.recipient.address):
        return "OPT_OUT"
    await ch.send(msg)
    return "SUCCESSFUL"


async def test_success_twilio_preset(sandbox: SandboxHttpSms, redis: Any) -> None:
    ch = await make_channel(sms_cfg(sandbox), redis)
    try:
        d = await ch.send(sms("+14255550100", "héllo wörld"))
    finally:
        await ch.aclose()
    assert d.event_type == "_SMS.SUCCESS" and d.status_message == "SUCCESSFUL"
    assert d.provider_message_id is not None and d.provider_message_id.startswith("SM")
    path, params = sandbox.log[0]
    assert path == "/2010-04-01/Accounts/ACtest/Messages.json"
    assert params == {"To": "+14255550100", "From": OURS, "Body": "héllo wörld"}


@pytest.mark.parametrize(
    ("to", "cls", "retry_after"),
    [
        ("+14255550429", Throttled, 3.0),
        ("+14255550503", ProviderUnavailable, 5.0),
        ("+14255550500", ProviderUnavailable, None),
        ("+14255550400", RecipientRejected, None),
        ("+14255550401", AuthFailed, None),
        ("+14255550998", MaybeSent, None),
    ],
)
async def test_fault_mapping(sandbox: SandboxHttpSms, redis: Any, to: str, cls: type[Exception],
                             retry_after: float | None) -> None:
    ch = await make_channel(sms_cfg(sandbox), redis)
    try:
        with pytest.raises(cls) as info:
            await ch.send(sms(to))
    finally:
        await ch.aclose()
    assert type(info.value) is cls
    assert info.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert event(SMS_FAMILY, info.value) == "_SMS.FAILURE"  # type: ignore[arg-type]
    assert sandbox.calls(to) == 1


async def test_no_response_after_write_is_maybe_sent(sandbox: SandboxHttpSms, redis: Any) -> None:
    ch = await make_channel(sms_cfg(sandbox, read_timeout_s=0.2), redis)
    try:
        with pytest.raises(MaybeSent):
            await ch.send(sms("+14255550999"))
    finally:
        await ch.aclose()
    assert http_sms.record_status_for(MaybeSent("x")) == "UNKNOWN"


async def test_connection_refused_is_connect_error(redis: Any) -> None:
    closed = await SandboxHttpSms().start()
    port = closed.port
    await closed.aclose()
    cfg = gwconfig.HttpSmsChannelConfig(
        preset="twilio", account_sid="AC1", api_base=f"http://127.0.0.1:{port}", allow_http=True,
        allow_networks=["127.0.0.1/32"])
    ch = await make_channel(cfg, redis)
    try:
        with pytest.raises(ConnectError):
            await ch.send(sms("+14255550100"))
    finally:
        await ch.aclose()


async def test_provider_opt_out_is_recorded(sandbox: SandboxHttpSms, redis: Any) -> None:
    store = OptOutStore(redis)
    ch = await make_channel(sms_cfg(sandbox), redis)
    try:
        with pytest.raises(OptedOut) as info:
            await ch.send(sms("+14255550610"))
        assert event(SMS_FAMILY, info.value) == "_SMS.OPTOUT"
        assert http_sms.record_status_for(info.value) == "OPTED_OUT"
        assert await store.is_opted_out(APP, "+14255550610")
        # the next send never reaches the provider
        assert await send_or_opt_out(ch, store, sms("+14255550610")) == "OPT_OUT"
    finally:
        await ch.aclose()
    assert sandbox.calls("+14255550610") == 1


async def test_t22_inbound_stop_with_trailing_space_blocks_next_send(
        sandbox: SandboxHttpSms, redis: Any, webhook: str, sink: Sink) -> None:
    user = "+14255550123"
    store = OptOutStore(redis)
    ch = await make_channel(sms_cfg(sandbox), redis)
    try:
        assert await send_or_opt_out(ch, store, sms(user)) == "SUCCESSFUL"
        assert sandbox.calls(user) == 1
        status = await sandbox.send_inbound(f"{webhook}/sms/inbound/{APP}", user, OURS, "stop ")
        assert status == 200
        assert (await sink.wait_for("_SMS.OPTOUT"))["attributes"]["destination_phone_number"] == user
        assert await send_or_opt_out(ch, store, sms(user)) == "OPT_OUT"
        assert sandbox.calls(user) == 1  # zero provider calls for the second send
        inbound = await sink.wait_for("_SMS.INBOUND")
        assert inbound["attributes"]["messageBody"] == "stop "
        # START opts back in
        await sandbox.send_inbound(f"{webhook}/sms/inbound/{APP}", user, OURS, "START")
        assert await send_or_opt_out(ch, store, sms(user)) == "SUCCESSFUL"
        assert sandbox.calls(user) == 2
    finally:
        await ch.aclose()


async def test_receipts_delivered_and_failed(sandbox: SandboxHttpSms, redis: Any, webhook: str, sink: Sink) -> None:
    ch = await make_channel(sms_cfg(sandbox, status_callback_url=f"{webhook}/sms/status"), redis)
    try:
        d = await ch.send(sms("+14255550701", mid="mid-ok"))
        assert (d.event_type, d.status_message) == ("_SMS.BUFFERED", "PENDING")
        ok = await sink.wait_for("_SMS.SUCCESS")
        await ch.send(sms("+14255550702", mid="mid-bad"))
        bad = await sink.wait_for("_SMS.FAILURE")
    finally:
        await ch.aclose()
    assert ok["attributes"]["record_status"] == "DELIVERED"
    assert ok["attributes"]["message_id"] == "mid-ok"
    assert ok["attributes"]["provider_message_id"] == d.provider_message_id
    assert ok["application"]["app_id"] == APP
    assert bad["attributes"]["record_status"] == "UNREACHABLE"
    assert bad["attributes"]["message_id"] == "mid-bad"
    assert bad["attributes"]["provider_error_code"] == "30003"
    _, params = sandbox.log[0]
    cb = urllib.parse.urlsplit(params["StatusCallback"])
    assert urllib.parse.parse_qs(cb.query) == {"app": [APP], "mid": ["mid-ok"]}


async def test_promotional_backlog_never_delays_transactional(sandbox: SandboxHttpSms, redis: Any) -> None:
    promo_stuck = "+14255551111"
    sandbox.script[promo_stuck] = "no_response"
    ch = await make_channel(sms_cfg(sandbox, promotional_connections=1, read_timeout_s=30), redis)
    try:
        backlog = [asyncio.ensure_future(ch.send(sms(promo_stuck, mtype="PROMOTIONAL", mid=f"p{i}")))
                   for i in range(20)]
        # The only promotional connection is now stuck; 19 promotional sends queue behind it.
        started = asyncio.get_running_loop().time()
        for i in range(5):
            d = await asyncio.wait_for(ch.send(sms("+14255550100", mid=f"t{i}")), timeout=5)
            assert d.provider_message_id
        assert asyncio.get_running_loop().time() - started < 5
        assert not any(t.done() for t in backlog)
        assert sandbox.calls(promo_stuck) == 1
        for t in backlog:
            t.cancel()
        await asyncio.gather(*backlog, return_exceptions=True)
    finally:
        await ch.aclose()


async def test_generic_json_provider(sandbox: SandboxHttpSms, redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY", "k")
    cfg = gwconfig.HttpSmsChannelConfig(
        url=f"{sandbox.base_url}/sms", allow_http=True, allow_networks=["127.0.0.1/32"],
        fields={"to": "${to}", "msg.text": "${body}", "msg.type": "${message_type}", "ref": "gw-${message_id}"},
        message_id_path="id", success_path="status", success_values=["ok"],
        auth=gwconfig.HttpAuthConfig(kind="header", header_name="X-Api-Key", secret_env="TEST_KEY"),
    )
    ch = await make_channel(cfg, redis)
    try:
        d = await ch.send(sms("+14255550100", mtype="PROMOTIONAL", mid="abc"))
    finally:
        await ch.aclose()
    assert d.provider_message_id and d.provider_message_id.startswith("SM")
    assert sandbox.log[0][1] == {"to": "+14255550100", "msg": "{'text': 'hello', 'type': 'PROMOTIONAL'}",
                                 "ref": "gw-abc"}


async def test_voice_twilio_preset_plain_and_ssml(sandbox: SandboxHttpSms, redis: Any) -> None:
    cfg = gwconfig.VoiceChannelConfig(
        preset="twilio", account_sid="ACv", api_base=sandbox.base_url, allow_http=True,
        allow_networks=["127.0.0.1/32"], default_voice_id="Joanna")
    ch = voice.create(cfg, Runtime(redis, None))
    await ch.start()

    def render(s: str | None) -> str | None:
        return s

    rcpt = Recipient(key="+14255550100", address="+14255550100", channel_type="VOICE")
    plain = voice.compose_voice(models.DirectMessageConfiguration(VoiceMessage=models.VoiceMessage(
        Body="Your code is 1 2 3 <now> & later", OriginationNumber=OURS, LanguageCode="en-GB")), None, rcpt, render)
    ssml = voice.compose_voice(models.DirectMessageConfiguration(VoiceMessage=models.VoiceMessage(
        Body='<speak>Hi <break time="1s"/> there</speak>', VoiceId="Matthew")), None, rcpt, render)
    try:
        d = await ch.send(Outbound(message_id="v1", app=APP, recipient=rcpt, content=plain))
        await ch.send(Outbound(message_id="v2", app=APP, recipient=rcpt, content=ssml))
    finally:
        await ch.aclose()
    assert d.event_type == "_VOICE.INITIATED" and (d.provider_message_id or "").startswith("CA")
    (p1, a), (_, b) = sandbox.log
    assert p1.endswith("/Calls.json") and a["To"] == "+14255550100" and a["From"] == OURS
    assert '<Say language="en-GB" voice="Polly.Joanna">Your code is 1 2 3 &lt;now&gt; &amp; later</Say>' in a["Twiml"]
    assert '<Say language="en-US" voice="Polly.Matthew">Hi <break time="1s" /> there</Say>' in b["Twiml"]
    assert ssml.text == "Hi  there"
    with pytest.raises(ContentRejected, match="well-formed"):
        voice.compose_voice(models.DirectMessageConfiguration(VoiceMessage=models.VoiceMessage(
            Body="<speak>unclosed")), None, rcpt, render)
    with pytest.raises(ContentRejected, match="no Body"):
        voice.compose_voice(models.DirectMessageConfiguration(), None, rcpt, render)
    assert event(VOICE_FAMILY, PermanentError("x")) == "_VOICE.FAILED"


# -- webhook authentication ---------------------------------------------------------------------------------------


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status


def _signed(url: str, body: bytes, msg_id: str = "msg_1", ts: int | None = None, secret: str = SECRET,
            ctype: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Headers signing `body` for a POST to `url` (the signature covers its path and query as sent)."""
    ts = int(time.time()) if ts is None else ts
    target = urllib.parse.urlsplit(url)._replace(scheme="", netloc="").geturl()
    return {"Content-Type": ctype, "webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": webhook_auth.sign(secret, msg_id, ts, target, body)}


async def test_webhook_hmac_rejections(webhook: str, sink: Sink) -> None:
    url = f"{webhook}/sms/status?app={APP}&mid=m1"
    body = b"MessageSid=SM1&MessageStatus=delivered&To=%2B14255550100"
    assert await _post(url, body, _signed(url, body, "id-ok")) == 200
    assert await _post(url, body, _signed(url, body, "id-ok")) == 401  # replayed webhook-id
    assert await _post(url, body + b"x", {**_signed(url, body, "id-2")}) == 401  # modified body
    assert await _post(url, body, _signed(url, body, "id-3", ts=int(time.time()) - 301)) == 401
    assert await _post(url, body, _signed(url, body, "id-4", ts=int(time.time()) + 301)) == 401
    assert await _post(url, body, _signed(url, body, "id-5", secret="other-secret")) == 401
    assert await _post(url, body, {"Content-Type": "application/x-www-form-urlencoded"}) == 401
    bad = b"MessageSid=SM1&MessageStatus=teleported"
    assert await _post(url, bad, _signed(url, bad, "id-6")) == 400  # unknown status is refused, not dropped
    bad_app = f"{webhook}/sms/status?app=%7Bx%7D"
    assert await _post(bad_app, body, _signed(bad_app, body, "id-7")) == 400
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]


def test_hmac_accepts_rotated_keys_and_multiple_signatures() -> None:
    body = b"{}"
    headers = _signed("/sms/inbound/a", body, "m", ts=1000, secret="new-secret")
    headers["webhook-signature"] = "v1,bogus " + headers["webhook-signature"]
    assert webhook_auth.verify_hmac(["old-secret", "new-secret"], headers, "/sms/inbound/a", body, now=1000) == "m"
    with pytest.raises(webhook_auth.WebhookAuthError):
        webhook_auth.verify_hmac(["old-secret"], headers, "/sms/inbound/a", body, now=1000)


def test_basic_and_twilio_signatures() -> None:
    webhook_auth.verify_basic("u", "p", webhook_auth.basic_header("u", "p"))
    with pytest.raises(webhook_auth.WebhookAuthError):
        webhook_auth.verify_basic("u", "p", webhook_auth.basic_header("u", "q"))
    # Twilio's documented example (twilio.com/docs/usage/security): token 12345, this URL and these params.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
    sig = webhook_auth.twilio_signature("12345", url, params)
    webhook_auth.verify_twilio("12345", url, params, sig)
    with pytest.raises(webhook_auth.WebhookAuthError):
        webhook_auth.verify_twilio("12345", url, [*params, ("x", "y")], sig)


async def test_basic_auth_webhook_and_voice_receipt(redis: Any, sink: Sink) -> None:
    hook = InboundWebhook(InboundConfig(auth="basic", username="twilio", password_env="PW"),
                          KeywordHandler(OptOutStore(redis), sink), sink, redis, environ={"PW": "pw"})
    runner = web.AppRunner(hook.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        body = b"CallSid=CA1&CallStatus=no-answer&To=%2B14255550100"
        ok = {"Content-Type": "application/x-www-form-urlencoded",
              "Authorization": webhook_auth.basic_header("twilio", "pw")}
        assert await _post(f"{base}/voice/status?app={APP}&mid=v1", body, ok) == 200
        wrong = dict(ok, Authorization=webhook_auth.basic_header("twilio", "nope"))
        assert await _post(f"{base}/voice/status?app={APP}&mid=v1", body, wrong) == 401
        json_body = b'{"originationNumber":"+14255550100","destinationNumber":"+12065550199","messageBody":"HELP"}'
        assert await _post(f"{base}/sms/inbound/{APP}", json_body, dict(ok, **{"Content-Type": "application/json"})
                           ) == 200
    finally:
        await runner.cleanup()
    rec = await sink.wait_for("_VOICE.NO_ANSWER")
    assert rec["attributes"]["message_id"] == "v1"
    assert (await sink.wait_for("_SMS.INBOUND"))["attributes"]["keyword_action"] == "HELP"


async def test_receipt_21610_opts_out(redis: Any, webhook: str, sink: Sink) -> None:
    body = b"MessageSid=SM9&MessageStatus=undelivered&ErrorCode=21610&To=%2B14255550177"
    url = f"{webhook}/sms/status?app={APP}&mid=m9"
    assert await _post(url, body, _signed(url, body, "id-x")) == 200
    assert (await sink.wait_for("_SMS.FAILURE"))["attributes"]["record_status"] == "OPTED_OUT"
    assert await OptOutStore(redis).is_opted_out(APP, "+14255550177")


async def test_ssrf_guard_at_connect_time(sandbox: SandboxHttpSms, redis: Any) -> None:
    """A public-looking provider host that resolves to a private address is refused before connecting; when the
    network is allowlisted, the connection goes to exactly the address the guard checked."""
    from aiohttp.abc import AbstractResolver, ResolveResult

    class Fixed(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[ResolveResult]:
            return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=2, proto=0, flags=0)]

        async def close(self) -> None:
            pass

    cfg = sms_cfg(sandbox, api_base=f"http://provider.example:{sandbox.port}", allow_networks=[])
    ch = http_sms.HttpSmsChannel(cfg, Runtime(redis, None), resolver=Fixed())
    await ch.start()
    try:
        with pytest.raises(PermanentError, match="SSRF"):
            await ch.send(sms("+14255550100"))
    finally:
        await ch.aclose()
    assert sandbox.total == 0
    ch = http_sms.HttpSmsChannel(sms_cfg(sandbox, api_base=f"http://provider.example:{sandbox.port}"),
                                 Runtime(redis, None), resolver=Fixed())
    await ch.start()
    try:
        assert (await ch.send(sms("+14255550100"))).provider_message_id
    finally:
        await ch.aclose()
    assert sandbox.total == 1


async def test_sandbox_handles_pipelined_and_split_requests(sandbox: SandboxHttpSms) -> None:
    body = b"To=%2B14255550100&From=%2B1&Body=hi"
    req = (b"POST /2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
    writer.write(req + req + req[:30])
    await writer.drain()
    writer.write(req[30:])
    got = b""
    while got.count(b"HTTP/1.1 201") < 3:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk
        got += chunk
    writer.close()
    assert sandbox.calls("+14255550100") == 3


async def test_rate_limit_setting_paces_provider_requests(sandbox: SandboxHttpSms, redis: Any) -> None:
    """`rate_limit` applies to every provider request (it used to be accepted and ignored): 4 sends at 10/s with a
    burst of 1 cannot finish in less than 0.3 s."""
    ch = await make_channel(sms_cfg(sandbox, rate_limit=gwconfig.RateLimit(rate=10, burst=1)), redis)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(ch.send(sms(f"+1415555{i:04d}", mid=f"m-{i}")) for i in range(4)))
        assert loop.time() - start >= 0.3 * 0.95
        assert sum(sandbox.calls(f"+1415555{i:04d}") for i in range(4)) == 4
    finally:
        await ch.aclose()
