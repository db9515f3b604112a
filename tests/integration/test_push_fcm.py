"""The FCM channel against the sandbox FCM server (OAuth2 token endpoint + HTTP v1 send) over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import trustme

from gateway import errors, models
from gateway.channels import fcm
from gateway.channels.base import Runtime
from gateway.config import FcmChannelConfig
from gateway.credentials import CredentialStore
from gateway.sandbox.fcm import FcmSandbox
from tests.push_support import (
    EMAIL,
    HTTP2_IMPLS,
    ChannelFactory,
    FakeClock,
    FakeEndpoints,
    identity,
    outbound,
    rsa_keys,
    service_json,
)


@pytest.fixture
def account_file(tmp_path: Path) -> str:
    p = tmp_path / "sa.json"
    p.write_text(service_json())
    return str(p)


@pytest.fixture
async def sandbox() -> AsyncIterator[FcmSandbox]:
    sb = await FcmSandbox({EMAIL: rsa_keys()[1]}).start()
    yield sb
    await sb.aclose()


Factory = Callable[..., fcm.FcmChannel]


@pytest.fixture(params=HTTP2_IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    """Every test that builds a channel runs on each HTTP/2 implementation."""
    return str(request.param)


@pytest.fixture
async def make_channel(sandbox: FcmSandbox, account_file: str, impl: str) -> AsyncIterator[Factory]:
    factory = ChannelFactory(fcm.create, FcmChannelConfig, send_url=sandbox.url, token_url=sandbox.url + "/token",
                             service_account_file=account_file, http2=impl)
    yield factory
    await factory.aclose()


def content(**fields: Any) -> Any:
    fields.setdefault("Body", "hello")
    cfg = models.DirectMessageConfiguration(GCMMessage=models.GCMMessage(**fields))
    return lambda token: fcm.compose_gcm(cfg, None, outbound(None, token, channel_type="GCM").recipient, identity)


def gcm_out(token: str, **kw: Any) -> Any:
    return outbound(content()(token), token, channel_type="GCM", **kw)


async def test_oauth_and_send(sandbox: FcmSandbox, make_channel: Factory) -> None:
    ch = make_channel(clock=FakeClock(wall=time.time()))
    res = await ch.send(outbound(content(Title="T", CollapseKey="ck")("devtok1"), "devtok1", channel_type="GCM"))
    assert res.provider_message_id is not None
    assert res.provider_message_id.startswith("projects/demo-project/messages/")
    (msg,) = sandbox.messages
    assert msg["token"] == "devtok1" and msg["notification"] == {"title": "T", "body": "hello"}
    assert msg["android"]["collapse_key"] == "ck"
    await ch.send(gcm_out("devtok2"))
    assert sandbox.token_requests == 1  # cached


async def test_401_refreshes_once_then_succeeds(sandbox: FcmSandbox, make_channel: Factory) -> None:
    ch = make_channel(clock=FakeClock(wall=time.time()))
    await ch.send(gcm_out("d1"))
    sandbox.revoke_tokens()
    await ch.send(gcm_out("d2"))
    assert sandbox.token_requests == 2
    assert sandbox.answers["UNAUTHENTICATED"] == 1


async def test_token_refreshed_before_expiry_on_the_clock(sandbox: FcmSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    await ch.send(gcm_out("d1"))
    clock.mono += 3600 - 301  # the loop clock only: Google would refuse an assertion issued in the future
    await ch.send(gcm_out("d2"))
    assert sandbox.token_requests == 1
    clock.mono += 2
    await ch.send(gcm_out("d3"))
    assert sandbox.token_requests == 2


@pytest.mark.parametrize(("token", "cls", "code", "deactivated"), [
    ("gone1", errors.RecipientRejected, "UNREGISTERED", True),
    ("mismatch1", errors.RecipientRejected, "SENDER_ID_MISMATCH", True),
    ("bad1", errors.ContentRejected, "INVALID_ARGUMENT", False),
    ("thirdparty1", errors.AuthFailed, "THIRD_PARTY_AUTH_ERROR", False),
    ("busy1", errors.Throttled, "QUOTA_EXCEEDED", False),
    ("down1", errors.ProviderUnavailable, "UNAVAILABLE", False),
    ("oops1", errors.ProviderUnavailable, "INTERNAL", False),
])
async def test_error_codes(sandbox: FcmSandbox, make_channel: Factory, token: str, cls: type[errors.DeliveryError],
                           code: str, deactivated: bool) -> None:
    eps = FakeEndpoints()
    ch = make_channel(clock=FakeClock(wall=time.time()), endpoints=eps)
    with pytest.raises(cls) as ei:
        await ch.send(gcm_out(token, endpoint_id="ep-3"))
    assert ei.value.detail == code
    assert ei.value.deactivate is deactivated
    assert eps.calls == []  # the channel only reports it: the engine deactivates (outcome.Action.DEACTIVATE)
    assert sandbox.token_requests == 1  # THIRD_PARTY_AUTH_ERROR is not our token: no refresh


async def test_quota_retry_after_backs_off_the_project(sandbox: FcmSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    sandbox.retry_after = "30"
    with pytest.raises(errors.Throttled) as ei:
        await ch.send(gcm_out("busy9"))
    assert ei.value.retry_after == 30.0
    sent = sandbox.server.requests
    with pytest.raises(errors.Throttled) as again:
        await ch.send(gcm_out("fine"))
    assert sandbox.server.requests == sent and again.value.retry_after is not None
    assert 29 < again.value.retry_after <= 33  # 30 s plus jitter
    clock.advance(29)
    with pytest.raises(errors.Throttled):
        await ch.send(gcm_out("fine"))
    clock.advance(5)
    await ch.send(gcm_out("fine"))


async def test_unavailable_without_retry_after_leaves_backoff_to_the_retry_schedule(sandbox: FcmSandbox,
                                                                                    make_channel: Factory) -> None:
    ch = make_channel(clock=FakeClock(wall=time.time()))
    with pytest.raises(errors.ProviderUnavailable) as ei:
        await ch.send(gcm_out("down2"))
    assert ei.value.retry_after is None and ei.value.retryable
    await ch.send(gcm_out("fine"))


async def test_per_app_service_json(sandbox: FcmSandbox, make_channel: Factory, redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, b"k" * 32)
    await store.put_gcm("app5", models.GCMChannelRequest(ServiceJson=service_json(project="p5")))
    ch = make_channel(credentials=store, service_account_file=None)
    res = await ch.send(gcm_out("d1", app="app5"))
    assert res.provider_message_id is not None and res.provider_message_id.startswith("projects/p5/")
    with pytest.raises(errors.AuthFailed):
        await ch.send(gcm_out("d1", app="nochannel"))
    await store.put_gcm("app5", models.GCMChannelRequest(Enabled=False))
    ch2 = make_channel(credentials=store, service_account_file=None)
    with pytest.raises(errors.AuthFailed, match="disabled"):
        await ch2.send(gcm_out("d1", app="app5"))


async def test_refusal_is_cached_like_credentials(sandbox: FcmSandbox, make_channel: Factory,
                                                  redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, b"k" * 32)
    await store.put_gcm("app6", models.GCMChannelRequest(ServiceJson=service_json(project="p6"), Enabled=False))
    reads: list[str] = []
    real = store.gcm_credentials

    async def counted(app: str) -> Any:
        reads.append(app)
        return await real(app)

    store.gcm_credentials = counted  # type: ignore[method-assign]
    ch = make_channel(credentials=store, service_account_file=None)
    for _ in range(3):
        with pytest.raises(errors.AuthFailed, match="disabled"):
            await ch.send(gcm_out("d1", app="app6"))
    assert reads == ["app6"]  # one store read per credentials_ttl_s, not one per push


async def test_wrong_service_account_key_is_auth_failed(sandbox: FcmSandbox, make_channel: Factory,
                                                        tmp_path: Path) -> None:
    sa = json.loads(service_json())
    sa["client_email"] = "stranger@example.com"
    p = tmp_path / "other.json"
    p.write_text(json.dumps(sa))
    ch = make_channel(service_account_file=str(p))
    with pytest.raises(errors.AuthFailed) as ei:
        await ch.send(gcm_out("d1"))
    assert ei.value.detail == "invalid_grant"


async def test_tls(tmp_path: Path, account_file: str, impl: str) -> None:
    ca = trustme.CA()
    cert = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    sb = await FcmSandbox({EMAIL: rsa_keys()[1]}).start(certfile=str(cert))
    url = f"https://127.0.0.1:{sb.server.port}"
    ch = fcm.create(FcmChannelConfig(send_url=url, token_url=url + "/token", service_account_file=account_file,
                                     ca_file=str(cafile), http2=impl), Runtime(None, None))
    try:
        await ch.send(gcm_out("d1"))
        assert sb.accepted == 1 and sb.token_requests == 1
    finally:
        await ch.aclose()
        await sb.aclose()
