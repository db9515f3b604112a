"""The tracking server over real HTTP (aiohttp's client; raw sockets for hostile input) with a real Redis: pixel, redirect, forged tokens,
one-click unsubscribe, and the event records it writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.config import TrackingConfig
from gateway.endpoints.store import EndpointStore
from gateway.kpi import attribution
from gateway.kpi import rollup as kpi_rollup
from gateway.models import EndpointResponse
from gateway.suppression import SuppressionList
from gateway.tracking.records import engagement_record
from gateway.tracking.server import GIF, EventBuffer, Listener, TrackingServer
from gateway.tracking.tokens import CLICK, OPEN, Signer, Token

APP = "app1"
EVENTS = "gateway:events"
KEYS = {"k1": b"0123456789abcdef0123456789abcdef"}
signer = Signer(KEYS)


async def serve(redis: aioredis.Redis, **cfg: Any) -> tuple[TrackingServer, Listener, str]:
    server = TrackingServer(TrackingConfig(public_url="https://t.example", **cfg), KEYS, redis, EVENTS,
                            clock=lambda: 1_700_000_000.0)
    listener = await server.start("127.0.0.1", 0)
    return server, listener, f"http://127.0.0.1:{listener.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def records(redis: aioredis.Redis) -> list[dict[str, Any]]:
    out = []
    for _, fields in await redis.xrange(EVENTS):
        record = msgspec.json.decode(fields[b"record"])
        assert fields[b"event_type"].decode() == record["event_type"]
        assert fields[b"app"].decode() == record["application"]["app_id"]
        out.append(record)
    return out


async def test_pixel_and_redirect_answer_at_once_and_events_are_written_in_pinpoints_format(
        redis: aioredis.Redis, http: aiohttp.ClientSession) -> None:
    _, runner, base = await serve(redis)
    try:
        r = await http.get(f"{base}/o/{signer.open(APP, 'm1', 'ep1')}", headers={"User-Agent": "UA/1"})
        assert r.status == 200 and r.content_type == "image/gif" and await r.read() == GIF and len(GIF) == 43
        assert "no-store" in r.headers["Cache-Control"]
        url = "https://shop.example/p?id=1&x=2"
        r = await http.get(f"{base}/c/{signer.click(APP, 'm1', 'ep1', 2, url)}", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == url
    finally:
        await runner.cleanup()  # shutdown flushes what is buffered
    opened, clicked = await records(redis)
    assert opened["event_type"] == "_email.open" and clicked["event_type"] == "_email.click"
    assert opened["event_version"] == "3.1" and opened["application"]["app_id"] == APP
    assert opened["client"] == {"client_id": "ep1"} and opened["arrival_timestamp"] == 1_700_000_000_000
    assert opened["attributes"] == {"message_id": "m1", "channel_type": "EMAIL", "feedback": "opened",
                                    "endpoint_id": "ep1"}
    assert opened["facets"]["email_channel"]["mail_event"]["open"] == {
        "ip_address": "127.0.0.1", "user_agent": "UA/1", "timestamp": 1_700_000_000_000}
    assert clicked["attributes"]["feedback"] == url and clicked["attributes"]["link_index"] == "2"
    assert clicked["facets"]["email_channel"]["mail_event"]["click"]["link"] == url


async def test_forged_truncated_and_wrong_kind_tokens_get_400_are_counted_and_write_nothing(
        redis: aioredis.Redis, http: aiohttp.ClientSession) -> None:
    server, runner, base = await serve(redis)
    evil = Signer({"k1": b"attacker-attacker-attacker-12345"}).click(APP, "m", "e", 0, "https://evil.example/")
    good = signer.click(APP, "m", "e", 0, "https://shop.example/")
    try:
        for path, reason in ((f"/c/{evil}", "bad signature"), (f"/c/{good[:-3]}", "bad signature"),
                             (f"/c/{good[:23]}", "truncated"), (f"/o/{good}", "wrong kind"),
                             ("/c/zz.abc", "unknown key"), ("/c/nodot", "malformed")):
            r = await http.get(base + path, allow_redirects=False)
            assert r.status == 400, path
            assert await r.text() == f"invalid tracking token: {reason}\n"
        assert sum(server.verifier.rejected.values()) == 6
    finally:
        await runner.cleanup()
    assert await records(redis) == []


async def test_one_click_unsubscribe_opts_the_endpoint_out_once(
        redis: aioredis.Redis, http: aiohttp.ClientSession) -> None:
    store = EndpointStore(redis)
    await store.put(APP, EndpointResponse(Id="ep1", ApplicationId=APP, ChannelType="EMAIL",  # type: ignore[arg-type]
                                          Address="ann@x.example", EndpointStatus="ACTIVE", OptOut="NONE"))
    _, runner, base = await serve(redis)
    url = f"{base}/u/{signer.unsubscribe(APP, 'm1', 'ep1', '')}"
    try:
        r = await http.get(url)  # the landing page (what a scanner fetches) changes nothing
        assert r.status == 200 and '<form method="post">' in await r.text()
        assert (await store.get(APP, "ep1")).OptOut == "NONE"  # type: ignore[union-attr]
        for _ in range(3):  # the provider's one-click POST, then replays
            r = await http.post(url, data="List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert r.status == 200
        assert (await store.get(APP, "ep1")).OptOut == "ALL"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
    [event] = await records(redis)
    assert event["event_type"] == "_email.unsubscribe"
    assert event["attributes"]["feedback"] == "unsubscribed"
    assert event["facets"]["email_channel"]["mail_event"]["mail"]["destination"] == ["ann@x.example"]


async def test_unsubscribe_of_a_bare_address_or_in_suppress_mode_suppresses_it(
        redis: aioredis.Redis, http: aiohttp.ClientSession) -> None:
    store = EndpointStore(redis)
    await store.put(APP, EndpointResponse(Id="ep2", ApplicationId=APP, ChannelType="EMAIL",  # type: ignore[arg-type]
                                          Address="Bob@x.example", EndpointStatus="ACTIVE", OptOut="NONE"))
    _, runner, base = await serve(redis, unsubscribe_action="suppress")
    try:
        for token in (signer.unsubscribe(APP, "m1", "", "cat@x.example"), signer.unsubscribe(APP, "m2", "ep2", "")):
            assert (await http.post(f"{base}/u/{token}")).status == 200
    finally:
        await runner.cleanup()
    listed = await SuppressionList(redis).list(APP)
    assert sorted(listed) == ["bob@x.example", "cat@x.example"]
    assert (await store.get(APP, "ep2")).OptOut == "NONE"  # type: ignore[union-attr]
    assert len(await records(redis)) == 2


async def test_the_buffer_writes_a_full_batch_at_once_and_the_rest_after_flush_ms(redis: aioredis.Redis) -> None:
    buf = EventBuffer(redis, EVENTS, batch=3, flush_ms=600_000)  # the timer never fires in this test
    rec = {"event_type": "_email.open", "application": {"app_id": APP}}
    for _ in range(3):
        buf.add(rec)
    await asyncio.wait_for(buf.drained.wait(), 10)
    assert await redis.xlen(EVENTS) == 3
    buf.add(rec)
    assert buf.pending == 1
    await buf.aclose()  # shutdown: the partial batch is written, not lost
    assert await redis.xlen(EVENTS) == 4
    quick = EventBuffer(redis, EVENTS, batch=1000, flush_ms=1)
    quick.add(rec)
    await asyncio.wait_for(quick.drained.wait(), 10)  # written by the flush_ms timer, not a full batch
    assert await redis.xlen(EVENTS) == 5
    await quick.aclose()


async def test_engagement_events_carry_the_sends_campaign_and_count_in_its_kpis(redis: aioredis.Redis) -> None:
    camp = {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "0"}
    await redis.set(attribution.key(APP, "m1"), attribution.value(camp))  # written by the engine with the send
    buf = EventBuffer(redis, EVENTS, batch=1000, flush_ms=600_000)
    for kind, mid in ((OPEN, "m1"), (CLICK, "m1"), ("u", "m1"), (OPEN, "m2")):
        tok = Token(kind=kind, app=APP, message_id=mid, endpoint_id="ep-" + mid, url="https://x.test/")
        buf.add(engagement_record(tok, now_ms=1_800_000_000_000, ip="127.0.0.1", user_agent="t"))
    await buf.aclose()
    got = [(r["event_type"], r["attributes"]["message_id"], r["attributes"].get("campaign_id"),
            r["attributes"].get("campaign_activity_id"), r["attributes"].get("treatment_id"))
           for r in await records(redis)]
    assert got == [("_email.open", "m1", "c1", "a1", "0"), ("_email.click", "m1", "c1", "a1", "0"),
                   ("_email.unsubscribe", "m1", "c1", "a1", "0"), ("_email.open", "m2", None, None, None)]
    day = kpi_rollup.day_of(1_800_000_000_000)
    camp_counts = await redis.hgetall(kpi_rollup.hash_key(APP, day, "c:c1"))
    assert {k: v for k, v in camp_counts.items() if k.startswith(b"a1|EMAIL|")} == {
        b"a1|EMAIL|opened": b"1", b"a1|EMAIL|clicked": b"1", b"a1|EMAIL|unsubscribed": b"1"}
    assert await redis.hget(kpi_rollup.hash_key(APP, day, "a"), "t|EMAIL|opened") == b"1"  # m2: transactional
    assert await redis.pfcount(kpi_rollup.hll_key(APP, day, "c:c1", "opened")) == 1


async def test_events_buffered_while_redis_is_down_are_kept_and_written_later(redis: aioredis.Redis) -> None:
    waits: list[float] = []
    broken = aioredis.Redis(host="127.0.0.1", port=1)  # nothing listens on port 1
    buf = EventBuffer(broken, EVENTS, batch=1, flush_ms=1)
    gate = asyncio.Event()

    async def sleep(s: float) -> None:
        waits.append(s)
        buf._redis = redis  # the next attempt finds Redis back
        buf._writer = type(buf._writer)(redis, EVENTS)
        gate.set()

    buf._sleep = sleep
    buf.add({"event_type": "_email.open", "application": {"app_id": APP}})
    await asyncio.wait_for(gate.wait(), 10)
    await asyncio.wait_for(buf.drained.wait(), 10)
    assert waits == [0.05] and buf.failures == 1 and await redis.xlen(EVENTS) == 1
    await buf.aclose()
    await broken.aclose()


# ------------------------------------------------------------------ raw sockets: keep-alive, pipelining, hostile input


async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return int(lines[0].split(" ")[1]), headers, body


async def _closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed the connection (EOF), waiting at most 10 s for it."""
    return await asyncio.wait_for(reader.read(), 10) == b""


async def test_pipelined_requests_on_one_keep_alive_connection_are_answered_in_order(redis: aioredis.Redis) -> None:
    server, listener, _ = await serve(redis)
    reader, writer = await _raw(listener.port)
    url = "https://shop.example/a"
    unsub = signer.unsubscribe(APP, "m9", "", "dan@x.example")
    try:
        writer.write(f"GET /o/{signer.open(APP, 'm1', 'ep1')} HTTP/1.1\r\nHost: t\r\n\r\n"
                     f"POST /u/{unsub} HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\nList-Unsubscribe=One-Click"
                     f"GET /c/{signer.click(APP, 'm1', 'ep1', 0, url)} HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        (s1, h1, b1), (s2, _, b2), (s3, h3, _), (s4, _, b4) = [await _answer(reader) for _ in range(4)]
        assert (s1, h1["content-type"], b1) == (200, "image/gif", GIF)
        assert s2 == 200 and b"You have been unsubscribed" in b2  # the POST's Redis work held the GET behind it
        assert (s3, h3["location"]) == (302, url)
        assert s4 == 200 and msgspec.json.decode(b4)["rejected_tokens"] == {}
        assert await _closed(reader)  # Connection: close honoured
    finally:
        writer.close()
        await listener.cleanup()
    assert [r["event_type"] for r in await records(redis)] == ["_email.open", "_email.unsubscribe", "_email.click"]
    assert list(await SuppressionList(redis).list(APP)) == ["dan@x.example"]
    assert server.buffer.pending == 0


@pytest.mark.parametrize("data, status", [
    (b"GET /o/x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /o/x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000, 431),  # refused before the head ends
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /o/x HTTP/1.1\nHost: t\n\n", 400),
    (b"GET /o/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"POST /u/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"GET /o/x HTTP/3.0\r\nHost: t\r\n\r\n", 505),
])
async def test_hostile_input_gets_an_error_and_the_connection_is_closed(
        redis: aioredis.Redis, data: bytes, status: int) -> None:
    _, listener, _ = await serve(redis)
    reader, writer = await _raw(listener.port)
    try:
        writer.write(data)
        got, headers, _ = await _answer(reader)
        assert got == status and headers["connection"] == "close"
        assert await _closed(reader)
    finally:
        writer.close()
        await listener.cleanup()
    assert await records(redis) == []


async def test_a_slow_partial_request_is_cut_off_and_an_idle_connection_closed(redis: aioredis.Redis) -> None:
    _, listener, _ = await serve(redis, request_timeout_s=0.3, keepalive_timeout_s=0.3)
    slow_r, slow_w = await _raw(listener.port)
    idle_r, idle_w = await _raw(listener.port)
    try:
        slow_w.write(b"GET /o/k1.abc HTTP/1.1\r\nHost: t\r\nX-Slow: ")  # and then nothing: slowloris
        status, headers, _ = await _answer(slow_r)  # the server's deadline answers, not a sleep here
        assert status == 408 and headers["connection"] == "close"
        assert await _closed(slow_r)
        assert await _closed(idle_r)  # connected and never sent a byte
    finally:
        slow_w.close()
        idle_w.close()
        await listener.cleanup()


async def test_a_url_with_line_breaks_cannot_inject_headers_into_the_redirect(redis: aioredis.Redis) -> None:
    _, listener, _ = await serve(redis)
    reader, writer = await _raw(listener.port)
    try:
        token = signer.click(APP, "m1", "ep1", 0, "https://shop.example/x\r\nSet-Cookie: a=b")
        writer.write(f"GET /c/{token} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, headers, _ = await _answer(reader)
        assert status == 302 and headers["location"] == "https://shop.example/x%0D%0ASet-Cookie:%20a=b"
        assert "set-cookie" not in headers
    finally:
        writer.close()
        await listener.cleanup()


async def test_unknown_routes_and_methods_get_404_and_405(redis: aioredis.Redis, http: aiohttp.ClientSession) -> None:
    _, listener, base = await serve(redis)
    try:
        assert (await http.get(f"{base}/nothing")).status == 404
        r = await http.post(f"{base}/o/{signer.open(APP, 'm1', 'ep1')}", data=b"")
        assert r.status == 405 and r.headers["Allow"] == "GET"
    finally:
        await listener.cleanup()
    assert await records(redis) == []
