"""The receipt correlator's durability wait: a send's `durable()` covers the batch being gathered and the one
whose write is already in flight (it used to return at once while the flush was writing), and a failed write
ends the wait (the SMS was sent; the mapping stays in memory and is retried)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.channels.smpp import dlr
from gateway.channels.smpp.correlate import Correlator, smsid_key


def gated(correlator: Correlator, fail: bool = False) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold each mapping write until `release` is set; `started` is set when a write begins."""
    real = correlator._write
    started, release = asyncio.Event(), asyncio.Event()

    async def write(batch: list[tuple[str, dlr.Sent]]) -> None:
        started.set()
        await release.wait()
        if fail:
            raise ConnectionError("Too many connections")
        await real(batch)

    correlator._write = write  # type: ignore[method-assign]
    return started, release


async def test_durable_waits_for_a_write_already_in_flight(redis: Any) -> None:
    c = Correlator(redis, "smsc-a", ttl_s=60)
    started, release = gated(c)
    c.note("0A1B", dlr.Sent(app="app1", message_id="m-1"))
    await started.wait()  # the flush has taken the batch
    waiter = asyncio.ensure_future(c.durable())
    await asyncio.sleep(0)
    assert not waiter.done()
    release.set()
    await asyncio.wait_for(waiter, 5)
    assert await redis.exists(smsid_key("app1", dlr.canonical_id("0A1B"))) == 1 and c.write_failures == 0


async def test_a_failed_write_ends_the_wait_and_the_mapping_is_retried(redis: Any) -> None:
    c = Correlator(redis, "smsc-a", ttl_s=60, retry_s=0.05)
    started, release = gated(c, fail=True)
    c.note("0C", dlr.Sent(app="app1", message_id="m-2"))
    await started.wait()
    waiter = asyncio.ensure_future(c.durable())
    release.set()
    await asyncio.wait_for(waiter, 5)
    assert c.write_failures == 1
    c._write = Correlator._write.__get__(c)  # type: ignore[method-assign]  # Redis is back
    await asyncio.wait_for(c.written([dlr.canonical_id("0C")]), 5)
    assert await redis.exists(smsid_key("app1", dlr.canonical_id("0C"))) == 1
