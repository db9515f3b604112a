"""The APNs channel and its HTTP/2 client against an independent peer: node's `http2` module (nghttp2) acting as
APNs over TLS (tests/peers/apns_h2.js), on each HTTP/2 implementation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme

from gateway import errors
from gateway.channels import apns, http2
from gateway.channels.base import Runtime
from gateway.config import ApnsChannelConfig
from gateway.sandbox.apns import ApnsSandbox
from tests.outcomes import event
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
        assert ei.value.detail == reason and event(apns.FAMILY, ei.value) == "_push.unregistered"
        if reason == "Unregistered":
            assert ei.value.provider_ms is not None and ei.value.provider_ms > 0  # when APNs last saw the token valid
        assert ei.value.deactivate  # the engine deactivates the endpoint (outcome.Action.DEACTIVATE)
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


async def test_request_bodies_wait_for_the_peers_stream_window(tmp_path: Path, ca: trustme.CA, impl: str) -> None:
    """The peer grants 1 KiB per stream: each 3 kB payload goes out as the peer's WINDOW_UPDATEs allow."""
    key = tmp_path / "AuthKey.p8"
    key.write_text(ec_keys()[0])
    async with node_apns(tmp_path, ca, initialWindowSize=1024) as peer:
        ch = apns.create(ApnsChannelConfig(production_url=peer.url, sandbox_url=peer.url, team_id=TEAM, key_id=KID,
                                           token_key_file=str(key), bundle_id=BUNDLE, ca_file=peer.cafile,
                                           http2=impl), Runtime(None, None), clock=FakeClock(wall=time.time()))
        try:
            r = outbound(None, "x").recipient
            big = apns.compose_apns(apns_config(Body="b" * 3000), None, r, identity)
            results = await asyncio.gather(*(ch.send(outbound(big, token(i), message_id=str(uuid.uuid4())))
                                             for i in range(40)))
        finally:
            await ch.aclose()
        assert all(res.status_code == 200 for res in results)
        assert (await peer.stats())["accepted"] == 40


# -- the sandbox is as strict as the peer ------------------------------------------------------------------------

GOOD_ID = "0f2b9a34-6f0e-4c1a-9a7e-5d2b7c1e8a01"


def _headers(**over: str | None) -> list[tuple[bytes, bytes]]:
    base: dict[str, str | None] = {"apns-topic": BUNDLE, "apns-push-type": "alert", "apns-priority": "10",
                                   "apns-id": GOOD_ID}
    base.update({k.replace("_", "-"): v for k, v in over.items()})
    return [(k.encode(), v.encode()) for k, v in base.items() if v is not None]


#: (case, method, token or path, headers, payload, status, reason) sent with a valid provider token.
STRICT_CASES: list[tuple[str, bytes, str, list[tuple[bytes, bytes]], bytes, int, str]] = [
    ("accepted", b"POST", token(7), _headers(), b'{"aps":{}}', 200, ""),
    ("dead token", b"POST", DEAD, _headers(), b'{"aps":{}}', 410, "Unregistered"),
    ("listed bad token", b"POST", BAD, _headers(), b'{"aps":{}}', 400, "BadDeviceToken"),
    ("not hex", b"POST", "t1", _headers(), b'{"aps":{}}', 400, "BadDeviceToken"),
    ("odd length", b"POST", "abc", _headers(), b'{"aps":{}}', 400, "BadDeviceToken"),
    ("large 410 body", b"POST", LARGE, _headers(), b'{"aps":{}}', 410, "Unregistered"),
    ("uppercase apns-id", b"POST", token(7), _headers(apns_id=GOOD_ID.upper()), b"{}", 400, "BadMessageId"),
    ("apns-id without hyphens", b"POST", token(7), _headers(apns_id=GOOD_ID.replace("-", "")), b"{}", 400,
     "BadMessageId"),
    ("repeated header", b"POST", token(7), [*_headers(), (b"apns-topic", BUNDLE.encode())], b"{}", 400,
     "DuplicateHeaders"),
    ("no topic", b"POST", token(7), _headers(apns_topic=None), b"{}", 400, "MissingTopic"),
    ("foreign topic", b"POST", token(7), _headers(apns_topic="com.other.app"), b"{}", 400, "TopicDisallowed"),
    ("push type", b"POST", token(7), _headers(apns_push_type="loud"), b"{}", 400, "InvalidPushType"),
    ("priority", b"POST", token(7), _headers(apns_priority="7"), b"{}", 400, "BadPriority"),
    ("expiration", b"POST", token(7), _headers(apns_expiration="soon"), b"{}", 400, "BadExpirationDate"),
    ("collapse id", b"POST", token(7), _headers(apns_collapse_id="c" * 65), b"{}", 400, "BadCollapseId"),
    ("empty payload", b"POST", token(7), _headers(), b"", 400, "PayloadEmpty"),
    ("payload size", b"POST", token(7), _headers(), b"{" + b" " * 4095 + b"}", 413, "PayloadTooLarge"),
    ("method", b"GET", token(7), _headers(), b"", 405, "MethodNotAllowed"),
    ("path", b"POST", "/4/device/" + token(7), _headers(), b"{}", 404, "BadPath"),
]


@pytest.fixture(params=["node", "sandbox"])
async def strict_server(request: pytest.FixtureRequest, tmp_path: Path, ca: trustme.CA) -> AsyncIterator[tuple[int, str]]:
    """(port, cafile) of the node peer or of our sandbox, configured alike (TLS, topics, dead/bad/large tokens)."""
    if request.param == "node":
        async with node_apns(tmp_path, ca, dead=[DEAD], bad=[BAD], large={LARGE: 100_000}) as p:
            yield p.port, p.cafile
        return
    cert = tmp_path / "sb.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    cafile = tmp_path / "sb-ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    sb = ApnsSandbox({KID: (TEAM, ec_keys()[1])}, topics={BUNDLE, BUNDLE + ".voip"}, large={LARGE: 100_000})
    sb.script.update({DEAD: (410, "Unregistered"), BAD: (400, "BadDeviceToken")})
    await sb.start(certfile=str(cert))
    try:
        yield sb.port, str(cafile)
    finally:
        await sb.aclose()


async def test_the_sandbox_answers_malformed_requests_as_the_independent_peer_does(
        strict_server: tuple[int, str]) -> None:
    port, cafile = strict_server
    pool = http2.Pool("127.0.0.1", port, ssl_context=http2.client_ssl_context(cafile=cafile),
                      server_hostname="127.0.0.1", impl="native", max_connections=1)
    auth = (b"authorization", b"bearer " + jwt.encode({"iss": TEAM, "iat": int(time.time())}, ec_keys()[0],
                                                      algorithm="ES256", headers={"kid": KID}).encode())
    try:
        resp = await pool.request(b"/3/device/" + token(9).encode(), _headers(), b"{}")
        assert (resp.status, json.loads(resp.body)["reason"]) == (403, "MissingProviderToken")
        assert pool.connections[0].limit == 1  # no valid token yet: still one stream
        resp = await pool.request(b"/3/device/not-hex", [auth, *_headers()], b"{}")
        assert (resp.status, json.loads(resp.body)["reason"]) == (400, "BadDeviceToken")
        assert pool.connections[0].limit > 1  # a valid token raises the limit, whatever the answer
        for case, method, tok, headers, body, status, reason in STRICT_CASES:
            path = tok if tok.startswith("/") else "/3/device/" + tok
            resp = await pool.request(path.encode(), [auth, *headers], body, method=method)
            got = json.loads(resp.body)["reason"] if resp.body else ""
            assert (resp.status, got) == (status, reason), case
            if status == 410:
                assert json.loads(resp.body)["timestamp"] > 0, case
            if status == 200:
                assert resp.header(b"apns-id") == GOOD_ID.encode()
    finally:
        await pool.aclose()
