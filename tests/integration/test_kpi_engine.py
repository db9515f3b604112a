"""A worker with [events] rollups = true keeps the KPI rollups: email sent through the engine shows up in txn-emails-* KPIs, and
campaign-attributed sends (Context campaign_id/campaign_activity_id) in the campaign's."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from gateway.kpi import catalog, query
from gateway.kpi.rollup import GROUP
from tests.integration.test_email_engine import email_request


async def _rolled_up(redis: Any, timeout: float = 10.0) -> None:
    """Until the rollup group has read and acknowledged every event (polled each loop turn, bounded)."""
    async def caught_up() -> bool:
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups("gateway:events")}
        g = groups.get(GROUP)
        last = (await redis.xinfo_stream("gateway:events"))["last-generated-id"]
        return g is not None and g["last-delivered-id"] == last and g["pending"] == 0

    async def poll() -> None:
        while not await caught_up():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


async def test_the_worker_rolls_up_what_it_sends(engine, sink, redis):
    run = await engine(events={"rollups": True, "rollup_interval_ms": 10})
    await run.producer.send_messages_and_wait("app1", email_request("a@example.com", "b@example.com"), timeout=10)
    req = email_request("c@example.com", Context={"campaign_id": "camp9", "campaign_activity_id": "act1"})
    await run.producer.send_messages_and_wait("app1", req, timeout=10)
    await run.outcomes(3)
    await _rolled_up(redis)
    now = dt.datetime.now(dt.UTC)
    start, end = catalog.date_range(now - dt.timedelta(days=1), now, now)

    async def value(level: str, target: str, name: str) -> list[tuple[str, float]]:
        rows = await query.date_range_kpi(redis, "app1", level, target, name, start, end)
        return [(r.GroupedBys[0].Value if r.GroupedBys else "", float(r.Values[0].Value)) for r in rows]

    assert await value(catalog.APP, "", "txn-emails-sent") == [("", 2.0)]
    assert await value(catalog.APP, "", "txn-emails-delivery-rate") == [("", 1.0)]
    assert await value(catalog.APP, "", "unique-deliveries") == [("", 3.0)]
    assert await value(catalog.APP, "", "successful-delivery-rate-grouped-by-campaign") == [("camp9", 1.0)]
    assert await value(catalog.CAMPAIGN, "camp9", "unique-deliveries-grouped-by-campaign-activity") == [("act1", 1.0)]
