"""The APNs channel and its HTTP/2 client against an independent peer: node's `http2` module (nghttp2) acting as
APNs over TLS (tests/peers/apns_h2.js), on each HTTP/2 implementation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from gateway import errors
from gateway.channels import apns, http2
from gateway.config import ApnsChannelConfig
from tests.push_peer import NodeApns, node_apns
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

DEAD = "dead" + "0" * 60
BAD = "baad" + "0" * 60
LARGE = "1a46e" + "0" * 59  # answered 410 with a ~100 kB body


def token(i: int) -> str:
    return f"{i:064x}"


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=HTTP2_IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def peer(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[NodeApns]:
    async with node_apns(tmp_path, ca, dead=[DEAD], bad=[BAD], large={LARGE: 100_000}) as p:
        yield p


@pytest.fixture
async def make_channel(peer: NodeApns, tmp_path: Path, impl: str) -> AsyncIterator[ChannelFactory[Any]]:
    key = tmp_path / "AuthKey.p8"
    key.write_text(ec_keys()[0])
    factory = ChannelFactory(apns.create, ApnsChannelConfig, production_url=peer.url, sandbox_url=peer.url,
                             team_id=TEAM, key_id=KID, token_key_file=str(key), bundle_id=BUNDLE,
                             ca_file=peer.cafile, http2=impl)
    yield factory
    await factory.aclose()


def content(channel_type: str = "APNS") -> Any:
    r = outbound(None, "x", channel_type=channel_type).recipient
    return apns.compose_apns(apns_config(Body="hello"), None, r, identity)


async def test_responses_larger_than_every_window(peer: NodeApns, impl: str) -> None:
    """200 kB (over the 64 KiB default stream window), 17 MiB on one stream (over the 16 MiB we grant), and
    20 x 1 MiB on the same connection (over the connection window): all complete, byte for byte."""
    ctx = http2.client_ssl_context(cafile=peer.cafile)
    pool = http2.Pool("127.0.0.1", peer.port, ssl_context=ctx, server_hostname="127.0.0.1", impl=impl,  # type: ignore[arg-type]
                      max_connections=1, request_timeout=20)
    try:
        for size in (200_000, 17 << 20):
            resp = await pool.request(f"/large/{size}".encode(), [], b"", method=b"GET")
            assert resp.status == 200 and resp.body == pattern(size)
        one = pattern(1 << 20)
        for resp in await asyncio.gather(*(pool.request(b"/large/1048576", [], b"") for _ in range(20))):
            assert resp.status == 200 and resp.body == one
        assert pool.opened == 1
    finally:
        await pool.aclose()


async def test_apns_answers_from_an_independent_peer(peer: NodeApns, make_channel: ChannelFactory[Any]) -> None:
    eps = FakeEndpoints()
    ch = make_channel(clock=FakeClock(wall=time.time()), endpoints=eps)
    mid = str(uuid.uuid4())
    ok = await ch.send(outbound(content(), token(1), message_id=mid, endpoint_id="ep-ok"))
    assert (ok.status_code, ok.provider_message_id, ok.event_type) == (200, mid, "_push.success")
    voip = await ch.send(outbound(content("APNS_VOIP"), token(2), channel_type="APNS_VOIP",
                                  message_id=str(uuid.uuid4())))
    assert voip.status_code == 200
    for tok, reason, ep in ((DEAD, "Unregistered", "ep-dead"), (BAD, "BadDeviceToken", "ep-bad"),
                            ("not-hex", "BadDeviceToken", "ep-nothex"), (LARGE, "Unregistered", "ep-large")):
        with pytest.raises(errors.RecipientRejected) as ei:
            await ch.send(outbound(content(), tok, message_id=str(uuid.uuid4()), endpoint_id=ep))
        assert ei.value.detail == reason and ch.failure_event(ei.value) == "_push.unregistered"
        if reason == "Unregistered":
            assert ei.value.timestamp > 0  # type: ignore[attr-defined]  # when APNs last saw the token valid
    assert eps.calls == [("app1", ep, "INACTIVE") for ep in ("ep-dead", "ep-bad", "ep-nothex", "ep-large")]
    stats = await peer.stats()
    assert stats["accepted"] == 2 and stats["answers"]["Unregistered"] == 2 and stats["answers"]["BadDeviceToken"] == 2


async def test_many_concurrent_pushes_follow_the_peers_stream_limit(peer: NodeApns,
                                                                    make_channel: ChannelFactory[Any]) -> None:
    ch = make_channel(clock=FakeClock(wall=time.time()), connections=2)
    ids = [str(uuid.uuid4()) for _ in range(500)]
    results = await asyncio.gather(*(ch.send(outbound(content(), token(i), message_id=m))
                                     for i, m in enumerate(ids)))
    assert [r.provider_message_id for r in results] == ids
    stats = await peer.stats()
    assert stats["accepted"] == 500 and stats["duplicates"] == 0 and stats["resets"] == 0
    assert stats["peakStreams"] > 1  # the limit rose after the first authenticated request, as APNs does
    assert stats["sessions"] <= 2
