"""The APNs channel against the sandbox APNs server over real sockets (h2c and TLS)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import trustme
from redis import exceptions as redis_errors

from gateway import errors, models
from gateway.channels import apns
from gateway.channels.base import Runtime
from gateway.config import ApnsChannelConfig
from gateway.credentials import CredentialStore
from gateway.sandbox.apns import ApnsSandbox
from gateway.sandbox.h2server import Request
from tests.outcomes import event
from tests.push_support import (
    BUNDLE,
    HTTP2_IMPLS,
    KID,
    TEAM,
    ChannelFactory,
    FakeClock,
    FakeEndpoints,
    apns_config,
    ec_keys,
    identity,
    outbound,
)


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    p = tmp_path / "AuthKey.p8"
    p.write_text(ec_keys()[0])
    return str(p)


@pytest.fixture
async def sandbox() -> AsyncIterator[ApnsSandbox]:
    sb = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start()
    yield sb
    await sb.aclose()


Factory = Callable[..., apns.ApnsChannel]


@pytest.fixture(params=HTTP2_IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    """Every test that builds a channel runs on each HTTP/2 implementation."""
    return str(request.param)


@pytest.fixture
async def make_channel(sandbox: ApnsSandbox, key_file: str, impl: str) -> AsyncIterator[Factory]:
    factory = ChannelFactory(apns.create, ApnsChannelConfig, production_url=sandbox.url, sandbox_url=sandbox.url,
                             team_id=TEAM, key_id=KID, token_key_file=key_file, bundle_id=BUNDLE, http2=impl)
    yield factory
    await factory.aclose()


def content(channel_type: str = "APNS", **fields: Any) -> Any:
    fields.setdefault("Body", "hello")
    r = outbound(None, "x", channel_type=channel_type).recipient
    return apns.compose_apns(apns_config(**fields), None, r, identity)


async def test_headers_payload_and_jwt(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    mid = str(uuid.uuid4())
    res = await ch.send(outbound(content(Title="T", TimeToLive=3600, CollapseId="grp", Priority="5"), "aa11",
                                 message_id=mid))
    assert res.provider_message_id == mid and res.status_code == 200 and res.event_type == "_push.success"
    (d,) = sandbox.deliveries
    assert d.token == "aa11" and d.apns_id == mid
    h = d.headers
    assert h["apns-topic"] == BUNDLE and h["apns-push-type"] == "alert" and h["apns-priority"] == "5"
    assert h["apns-expiration"] == str(int(clock.wall_s) + 3600)
    assert h["apns-collapse-id"] == "grp" and h["apns-id"] == mid
    assert h["authorization"].startswith("bearer ")
    assert json.loads(d.payload) == {"aps": {"alert": {"title": "T", "body": "hello"}}}


async def test_ttl_zero_voip_and_background_headers(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    ch = make_channel(clock=FakeClock(wall=time.time()))
    await ch.send(outbound(content(TimeToLive=0), "0a01", message_id=str(uuid.uuid4())))
    await ch.send(outbound(content("APNS_VOIP"), "0a02", channel_type="APNS_VOIP", message_id=str(uuid.uuid4())))
    await ch.send(outbound(content(SilentPush=True), "0a03", message_id=str(uuid.uuid4())))
    await ch.send(outbound(content(), "0a04", message_id="not-a-uuid"))
    h0, h1, h2, h3 = (d.headers for d in sandbox.deliveries)
    assert h0["apns-expiration"] == "0"
    assert h1["apns-topic"] == BUNDLE + ".voip" and h1["apns-push-type"] == "voip"
    assert h2["apns-push-type"] == "background" and h2["apns-priority"] == "5"
    assert "apns-expiration" not in h3 and "apns-collapse-id" not in h3
    assert h3["apns-id"] == apns.apns_id("not-a-uuid")


@pytest.mark.parametrize(("token", "cls", "reason", "deactivated"), [
    ("gone01", errors.RecipientRejected, "Unregistered", True),
    ("bad01", errors.RecipientRejected, "BadDeviceToken", True),
    ("nottopic01", errors.RecipientRejected, "DeviceTokenNotForTopic", False),
    ("busy01", errors.Throttled, "TooManyRequests", False),
    ("down01", errors.ProviderUnavailable, "ServiceUnavailable", False),
    ("shutdown01", errors.ProviderUnavailable, "Shutdown", False),
    ("oops01", errors.ProviderUnavailable, "InternalServerError", False),
    ("forbidden01", errors.AuthFailed, "Forbidden", False),
    ("big01", errors.ContentRejected, "PayloadTooLarge", False),
])
async def test_scripted_reasons(make_channel: Factory, token: str, cls: type[errors.DeliveryError], reason: str,
                                deactivated: bool) -> None:
    eps = FakeEndpoints()
    ch = make_channel(clock=FakeClock(wall=time.time()), endpoints=eps)
    with pytest.raises(cls) as ei:
        await ch.send(outbound(content(), token, endpoint_id="ep-9"))
    assert ei.value.detail == reason
    assert ei.value.deactivate is deactivated
    assert eps.calls == []  # the channel only reports it: the engine deactivates (outcome.Action.DEACTIVATE)
    assert event(apns.FAMILY, ei.value) == ("_push.unregistered" if deactivated else
                                          "_push.throttled" if cls is errors.Throttled else "_push.failure")


class DownRedis:
    """A Redis client whose pool never frees a connection in time."""

    async def get(self, *args: Any) -> Any:
        raise redis_errors.ConnectionError("No connection available.")

    eval = get


class DownStore:
    async def apns_credentials(self, app: str, channel_type: str) -> Any:
        raise redis_errors.TimeoutError("Timeout reading from socket")


async def test_redis_unavailable_before_sending_is_a_transient_error(sandbox: ApnsSandbox, key_file: str,
                                                                    make_channel: Factory, impl: str) -> None:
    """Nothing was sent, so it must be retried (TEMPORARY_FAILURE), not end UNKNOWN_FAILURE as a channel bug."""
    with pytest.raises(errors.TransientError) as ei:
        await make_channel(credentials=DownStore()).send(outbound(content(), "0a01"))
    assert "credentials" in ei.value.message
    cfg = ApnsChannelConfig(production_url=sandbox.url, sandbox_url=sandbox.url, team_id=TEAM, key_id=KID,
                            token_key_file=key_file, bundle_id=BUNDLE, http2=impl)  # type: ignore[arg-type]
    ch = apns.create(cfg, Runtime(DownRedis(), None))
    try:
        with pytest.raises(errors.TransientError) as ei:
            await ch.send(outbound(content(), "0a01"))
        assert "provider token" in ei.value.message
    finally:
        await ch.aclose()
    assert sandbox.server.requests == 0


async def test_too_many_requests_backs_off_that_token_only(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    sandbox.retry_after = "30"
    sandbox.script["b5b5"] = (429, "TooManyRequests")  # a well-formed token, so it is accepted once unscripted
    with pytest.raises(errors.Throttled) as ei:
        await ch.send(outbound(content(), "b5b50007"))
    assert ei.value.retry_after == 30.0
    asked = sandbox.server.requests
    with pytest.raises(errors.Throttled) as again:
        await ch.send(outbound(content(), "b5b50007"))
    assert sandbox.server.requests == asked  # not sent: backed off locally
    assert again.value.retry_after is not None and 0 < again.value.retry_after <= 33
    await ch.send(outbound(content(), "0e01", message_id=str(uuid.uuid4())))  # other tokens unaffected
    clock.advance(34)
    sandbox.script.pop("b5b5")
    await ch.send(outbound(content(), "b5b50007", message_id=str(uuid.uuid4())))


async def test_unavailable_with_retry_after_backs_off_the_channel(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    sandbox.retry_after = "5"
    with pytest.raises(errors.ProviderUnavailable) as ei:
        await ch.send(outbound(content(), "down1"))
    assert ei.value.retry_after == 5.0
    asked = sandbox.server.requests
    with pytest.raises(errors.Throttled):
        await ch.send(outbound(content(), "0d01"))
    assert sandbox.server.requests == asked
    clock.advance(6)
    await ch.send(outbound(content(), "0d01", message_id=str(uuid.uuid4())))


async def test_expired_provider_token_regenerates_once(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
    clock.advance(25 * 60)
    sandbox.reject_issued_before = clock.wall_s - 60  # APNs now calls the current token expired
    await ch.send(outbound(content(), "0a02", message_id=str(uuid.uuid4())))
    assert ch.tokens.minted[TEAM] == 2
    assert sandbox.answers["ExpiredProviderToken"] == 1
    assert len(sandbox.tokens_seen[TEAM]) == 2


async def test_expired_provider_token_under_20_minutes_is_not_regenerated(sandbox: ApnsSandbox,
                                                                          make_channel: Factory) -> None:
    clock = FakeClock(wall=time.time())
    ch = make_channel(clock=clock)
    await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
    clock.advance(5 * 60)
    sandbox.reject_issued_before = clock.wall_s
    with pytest.raises(errors.AuthFailed) as ei:
        await ch.send(outbound(content(), "0a02"))
    assert ei.value.detail == "ExpiredProviderToken"
    assert ch.tokens.minted[TEAM] == 1


async def test_second_minter_for_a_team_gets_too_many_provider_token_updates(sandbox: ApnsSandbox,
                                                                             make_channel: Factory) -> None:
    now = time.time()
    await make_channel(clock=FakeClock(wall=now)).send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
    other = make_channel(clock=FakeClock(wall=now + 60))
    with pytest.raises(errors.Throttled) as ei:
        await other.send(outbound(content(), "0a02"))
    assert ei.value.detail == "TooManyProviderTokenUpdates"


async def test_workers_sharing_redis_present_one_token(sandbox: ApnsSandbox, key_file: str, impl: str,
                                                      redis: aioredis.Redis) -> None:
    cfg = ApnsChannelConfig(production_url=sandbox.url, sandbox_url=sandbox.url, team_id=TEAM, key_id=KID,
                            token_key_file=key_file, bundle_id=BUNDLE, http2=impl)
    workers = [apns.create(cfg, Runtime(redis, None)) for _ in range(2)]
    try:
        for i, ch in enumerate(workers):
            await ch.send(outbound(content(), f"0a{i:04x}", message_id=str(uuid.uuid4())))
    finally:
        for ch in workers:
            await ch.aclose()
    assert sandbox.accepted == 2 and len(sandbox.tokens_seen[TEAM]) == 1
    assert sandbox.answers["TooManyProviderTokenUpdates"] == 0


def _count_requests(sandbox: ApnsSandbox, n: int) -> asyncio.Event:
    """An event set once the sandbox has received `n` requests (wraps its handler)."""
    seen = asyncio.Event()
    handler = sandbox.server.handler

    def counting(req: Request) -> Any:
        reply = handler(req)
        if sandbox.server.requests >= n:
            seen.set()
        return reply

    sandbox.server.handler = counting
    return seen


async def test_stream_limit_starts_at_one_and_follows_settings(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    sandbox.server.max_streams = 10
    sandbox.server.delay_s = 0.02
    ch = make_channel(connections=1)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    await asyncio.gather(*(ch.send(outbound(content(), f"0b{i:04x}", message_id=m)) for i, m in enumerate(ids)))
    assert sandbox.server.limit_violations == 0
    assert sandbox.server.peak_streams == 10
    assert sandbox.server.accepted == 1
    assert sorted(sandbox.ids) == sorted(ids)


async def test_more_connections_when_one_is_full(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    sandbox.server.max_streams = 5
    sandbox.server.delay_s = 0.02
    ch = make_channel(connections=3)
    await asyncio.gather(*(ch.send(outbound(content(), f"0b{i:04x}", message_id=str(uuid.uuid4())))
                           for i in range(60)))
    assert sandbox.server.accepted == 3
    assert sandbox.server.limit_violations == 0 and sandbox.server.peak_streams == 5
    assert sandbox.accepted == 60


async def test_goaway_mid_flight_loses_nothing_and_sends_nothing_twice(sandbox: ApnsSandbox,
                                                                       make_channel: Factory) -> None:
    sandbox.server.max_streams = 100
    sandbox.server.delay_s = 0.01
    sandbox.server.goaway_after = 45  # each connection processes 45 streams, then GOAWAY drops the rest
    ch = make_channel(connections=2)
    ids = [str(uuid.uuid4()) for _ in range(300)]
    results = await asyncio.gather(*(ch.send(outbound(content(), f"0b{i:04x}", message_id=m))
                                     for i, m in enumerate(ids)))
    assert [r.provider_message_id for r in results] == ids
    assert sandbox.server.goaways >= 6 and sandbox.server.dropped > 0  # streams above last_stream_id existed
    assert set(sandbox.ids) == set(ids) and set(sandbox.ids.values()) == {1}  # each processed exactly once


async def test_goaway_from_the_server_while_answers_are_pending(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    sandbox.server.max_streams = 100
    sandbox.server.delay_s = 0.05
    ch = make_channel(connections=1)
    await ch.send(outbound(content(), "0c01", message_id=str(uuid.uuid4())))  # raise the stream limit
    got = _count_requests(sandbox, 21)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    tasks = [asyncio.create_task(ch.send(outbound(content(), f"0a{i:04x}", message_id=m))) for i, m in enumerate(ids)]
    await got.wait()
    sandbox.server.goaway_all()  # all 20 processed: their answers still arrive on the draining connection
    results = await asyncio.gather(*tasks)
    assert [r.provider_message_id for r in results] == ids
    assert set(sandbox.ids.values()) == {1}


async def test_refused_streams_are_resent(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    ch = make_channel()
    await ch.send(outbound(content(), "0c01", message_id=str(uuid.uuid4())))  # the stream limit goes up
    sandbox.ids.clear()
    sandbox.server.refuse_next = 5
    ids = [str(uuid.uuid4()) for _ in range(20)]
    await asyncio.gather(*(ch.send(outbound(content(), f"0a{i:04x}", message_id=m)) for i, m in enumerate(ids)))
    assert sandbox.server.refused == 5
    assert set(sandbox.ids) == set(ids) and set(sandbox.ids.values()) == {1}


async def test_connection_lost_in_flight_is_maybe_sent(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    sandbox.server.delay_s = 30
    ch = make_channel()
    got = _count_requests(sandbox, 1)
    task = asyncio.create_task(ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4()))))
    await got.wait()
    for conn in list(sandbox.server.connections):
        assert conn.transport is not None
        conn.transport.abort()
    with pytest.raises(errors.MaybeSent):
        await task


async def test_response_timeout_is_maybe_sent(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    sandbox.server.delay_s = 30
    ch = make_channel(request_timeout_s=0.2)
    with pytest.raises(errors.MaybeSent) as ei:
        await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
    assert ei.value.detail == "response timeout"


async def test_unanswered_ping_closes_the_connection(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    ch = make_channel(ping_interval_s=0.1, ping_timeout_s=0.2)
    await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
    sandbox.server.ignore_pings = True
    (provider,) = ch.providers.values()
    (conn,) = provider.pool.connections
    closed = asyncio.get_running_loop().create_future()
    original = provider.pool._connection_closed

    def on_closed(c: Any) -> None:
        original(c)
        if not closed.done():
            closed.set_result(c)

    provider.pool._connection_closed = on_closed  # type: ignore[method-assign]
    assert await asyncio.wait_for(closed, 5) is conn
    assert sandbox.server.pings >= 1
    sandbox.server.ignore_pings = False
    await ch.send(outbound(content(), "0a02", message_id=str(uuid.uuid4())))  # a new connection takes over
    assert provider.pool.opened == 2


async def test_a_response_larger_than_the_initial_windows_is_read_whole(sandbox: ApnsSandbox,
                                                                        make_channel: Factory) -> None:
    """The sandbox honours the windows the client advertises: a client that never reopens them stalls."""
    sandbox.large["1a46e0"] = 200_000  # a 410 with a 200 kB body
    eps = FakeEndpoints()
    ch = make_channel(clock=FakeClock(wall=time.time()), endpoints=eps, request_timeout_s=5)
    with pytest.raises(errors.RecipientRejected) as ei:
        await ch.send(outbound(content(), "1a46e0", endpoint_id="ep-big"))
    assert ei.value.detail == "Unregistered" and ei.value.deactivate


async def test_oversize_payload_is_rejected_before_sending(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    ch = make_channel()
    big = apns.ApnsContent(payload=b"{" + b" " * 5000 + b"}", push_type="alert", priority=10)
    with pytest.raises(errors.ContentRejected):
        await ch.send(outbound(big, "0a01"))
    assert sandbox.server.requests == 0


async def test_no_credentials_is_auth_failed(sandbox: ApnsSandbox, make_channel: Factory) -> None:
    ch = make_channel(token_key_file=None, team_id=None, key_id=None)
    with pytest.raises(errors.AuthFailed):
        await ch.send(outbound(content(), "0a01"))


async def test_per_app_credentials_and_sandbox_environment(sandbox: ApnsSandbox, make_channel: Factory,
                                                           redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, b"k" * 32)
    await store.put_apns("app7", "APNS_SANDBOX", models.APNSSandboxChannelRequest(
        BundleId="com.other", TeamId=TEAM, TokenKeyId=KID, TokenKey=ec_keys()[0]))
    ch = make_channel(credentials=store, production_url="http://127.0.0.1:9", token_key_file=None)
    await ch.send(outbound(content("APNS_SANDBOX"), "0a01", channel_type="APNS_SANDBOX", app="app7",
                           message_id=str(uuid.uuid4())))
    assert sandbox.deliveries[0].headers["apns-topic"] == "com.other"
    # another application of the same team shares the connection and the token, not the topic
    await store.put_apns("app8", "APNS_SANDBOX", models.APNSSandboxChannelRequest(
        BundleId="com.third", TeamId=TEAM, TokenKeyId=KID, TokenKey=ec_keys()[0]))
    await ch.send(outbound(content("APNS_SANDBOX"), "0a02", channel_type="APNS_SANDBOX", app="app8",
                           message_id=str(uuid.uuid4())))
    assert sandbox.deliveries[1].headers["apns-topic"] == "com.third"
    assert len(ch.providers) == 1 and ch.tokens.minted[TEAM] == 1
    with pytest.raises(errors.AuthFailed):  # app7 has no production channel and there is no default
        await ch.send(outbound(content(), "0a01", app="app7"))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_token_auth(ca: trustme.CA, tmp_path: Path, key_file: str, impl: str) -> None:
    server_cert = ca.issue_cert("127.0.0.1")
    cert = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    sb = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start(certfile=str(cert))
    url = f"https://127.0.0.1:{sb.port}"
    ch = apns.create(ApnsChannelConfig(production_url=url, sandbox_url=url, team_id=TEAM, key_id=KID,
                                       token_key_file=key_file, bundle_id=BUNDLE, ca_file=str(cafile), http2=impl),
                     Runtime(None, None))
    try:
        await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
        assert sb.accepted == 1
    finally:
        await ch.aclose()
        await sb.aclose()


async def test_tls_certificate_auth(ca: trustme.CA, tmp_path: Path, impl: str) -> None:
    server_cert = ca.issue_cert("127.0.0.1")
    cert = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    client = ca.issue_cert("com.example.app")
    client_pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    sb = await ApnsSandbox({}).start(certfile=str(cert), client_ca=str(cafile))
    url = f"https://127.0.0.1:{sb.port}"
    ch = apns.create(ApnsChannelConfig(production_url=url, sandbox_url=url, certificate_file=str(client_pem),
                                       bundle_id=BUNDLE, ca_file=str(cafile), http2=impl), Runtime(None, None))
    try:
        await ch.send(outbound(content(), "0a01", message_id=str(uuid.uuid4())))
        assert sb.accepted == 1 and "authorization" not in sb.deliveries[0].headers
    finally:
        await ch.aclose()
        await sb.aclose()
