"""Receipts while our Redis pool is small and busy: every receipt is stored and answered ESME_ROK (most SMSCs
never redeliver a receipt answered with an error), one event per message, nothing left over."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
import redis.exceptions as redis_exceptions

from gateway.channels.base import Runtime
from gateway.channels.smpp import create, dlr
from gateway.events import EventStreamSink
from gateway.sandbox.smsc import SandboxSmsc
from tests.integration.smpp_support import cfg, out, until


@pytest.fixture
async def smsc() -> AsyncIterator[SandboxSmsc]:
    server = SandboxSmsc()  # strict: hex ids from 1, each receipt in the same write as its response
    await server.start()
    yield server
    await server.close()


def small_pool(url: str, kind: str) -> aioredis.Redis:
    if kind == "blocking":  # waits up to 50 ms for one of 3 connections, then ConnectionError
        pool: Any = aioredis.BlockingConnectionPool.from_url(url, max_connections=3, timeout=0.05)
    else:  # refuses at once past 4 connections ("Too many connections")
        pool = aioredis.ConnectionPool.from_url(url, max_connections=4)
    return aioredis.Redis(connection_pool=pool)


BODIES = ["Your code is 123456", "Ваш код 123456", "x" * 200, "Привет " * 30]  # GSM-7 / UCS-2, short / 2-4 parts


@pytest.mark.parametrize("kind", ["blocking", "non_blocking"])
async def test_receipts_through_a_small_busy_pool(smsc: SandboxSmsc, redis: Any, redis_server: Any,
                                                  kind: str) -> None:
    small = small_pool(redis_server.url, kind)
    sink = EventStreamSink(small, "gateway:events")
    ch = create(cfg(smsc.port, binds=2, window=64, transactional_reserve=0), Runtime(small, None))

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        await sink(dlr.receipt_record(ev))

    ch.on_receipt = on_receipt
    n = 600
    try:
        await ch.start()
        results = await asyncio.gather(*(ch.send(out(f"+1415555{i:04d}", body=BODIES[i % 4], message_id=f"m{i}"))
                                         for i in range(n)), return_exceptions=True)
        assert all(not isinstance(r, BaseException) for r in results), [r for r in results if isinstance(r, Exception)][:3]
        parts = smsc.submit_count
        await until(lambda: len(smsc.deliver_resps) >= parts, timeout=30)
        assert Counter(status for _, status in smsc.deliver_resps) == Counter({0: parts})  # never an error
        entries = await redis.xrange("gateway:events")
        events = Counter((msgspec.json.decode(f[b"record"])["attributes"]["message_id"], f[b"event_type"])
                         for _, f in entries)
        assert events == Counter({(f"m{i}", b"_SMS.SUCCESS"): 1 for i in range(n)})
        assert await redis.keys("gw:{app1}:smsid:*") == []  # every mapping claimed
        assert ch.stats["unmatched_receipts"] == 0 and not getattr(ch, "held", ())
    finally:
        await ch.aclose()
        await small.aclose()


async def test_slow_storage_stops_reading_then_resumes(smsc: SandboxSmsc, redis: Any) -> None:
    """While receipts cannot be stored, their deliver_sm stay unanswered and, past `deliver_window`, the bind stops
    reading (the SMSC's socket backs up); the time not reading does not count against response timeouts. Once
    storage is back everything is answered ESME_ROK and reading resumes."""
    gate = asyncio.Event()
    stored: list[str] = []

    async def slow_sink(ev: dlr.ReceiptEvent) -> None:
        await gate.wait()
        stored.append(ev.message_id)

    ch = create(cfg(smsc.port, window=16, transactional_reserve=0, deliver_window=8, response_timeout_s=0.2),
                Runtime(redis, None))
    ch.on_receipt = slow_sink
    try:
        await ch.start()
        (session,) = [lk.session for lk in ch.links if lk.session is not None]
        sends = [asyncio.create_task(ch.send(out(f"+1415555{i:04d}", message_id=f"m{i}"))) for i in range(40)]
        await until(lambda: not session.reading)
        assert smsc.deliver_resps == [] and ch.stats["read_pauses"] == 1
        await asyncio.sleep(0.4)  # twice the response timeout passes while the bind is not reading
        assert all(t.exception() is None for t in sends if t.done()) and smsc.deliver_resps == []
        assert not all(t.done() for t in sends)  # the rest wait for responses not read yet
        gate.set()
        await asyncio.gather(*sends)  # none became UNKNOWN_FAILURE
        await until(lambda: len(smsc.deliver_resps) == 40)
        assert all(status == 0 for _, status in smsc.deliver_resps)
        assert sorted(stored) == sorted(f"m{i}" for i in range(40)) and session.reading
    finally:
        await ch.aclose()


async def test_incoming_message_waits_out_a_busy_pool(smsc: SandboxSmsc, redis: Any) -> None:
    """An MO (a STOP, say) whose handler hits a full connection pool is retried, not answered with an error."""
    calls: list[str] = []

    async def busy_then_ok(mo: Any) -> None:
        calls.append(mo.body)
        if len(calls) < 3:
            raise redis_exceptions.ConnectionError("Too many connections")

    ch = create(cfg(smsc.port), Runtime(redis, None))
    ch.on_inbound = busy_then_ok
    try:
        await ch.start()
        await until(lambda: any(s.can_receive for s in smsc.sessions))
        smsc.inject_mo("gw", "14155550100", "14155550199", b"STOP")
        await until(lambda: bool(smsc.deliver_resps))
        assert smsc.deliver_resps[0][1] == 0 and calls == ["STOP"] * 3
    finally:
        await ch.aclose()
