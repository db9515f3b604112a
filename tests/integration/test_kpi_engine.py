"""A worker keeps the KPI rollups by default (no config): email sent through the engine shows up in txn-emails-*
KPIs, and campaign-attributed sends (Context campaign_id/campaign_activity_id) in the campaign's."""

from __future__ import annotations

import asyncio
import datetime as dt

from gateway.kpi import catalog, query
from tests.integration.test_email_engine import email_request


async def test_the_worker_rolls_up_what_it_sends(engine, sink, redis):
    run = await engine()
    await run.producer.send_messages_and_wait("app1", email_request("a@example.com", "b@example.com"), timeout=10)
    req = email_request("c@example.com", Context={"campaign_id": "camp9", "campaign_activity_id": "act1"})
    await run.producer.send_messages_and_wait("app1", req, timeout=10)
    await run.outcomes(3)
    now = dt.datetime.now(dt.UTC)
    start, end = catalog.date_range(now - dt.timedelta(days=1), now, now)

    async def value(level: str, target: str, name: str) -> list[tuple[str, float]]:
        rows = await query.date_range_kpi(redis, "app1", level, target, name, start, end)
        return [(r.GroupedBys[0].Value if r.GroupedBys else "", float(r.Values[0].Value)) for r in rows]

    async def rolled_up() -> None:  # the rollups follow the batch's outcome transaction (bounded wait)
        while await value(catalog.APP, "", "unique-deliveries") != [("", 3.0)]:
            await asyncio.sleep(0.005)
    await asyncio.wait_for(rolled_up(), 10)
    groups = [g["name"] for g in await redis.xinfo_groups("gateway:events")]
    assert b"kpi-rollup" not in groups  # nothing reads the events back to count them
    assert await value(catalog.APP, "", "txn-emails-sent") == [("", 2.0)]
    assert await value(catalog.APP, "", "txn-emails-delivery-rate") == [("", 1.0)]
    assert await value(catalog.APP, "", "successful-delivery-rate-grouped-by-campaign") == [("camp9", 1.0)]
    assert await value(catalog.CAMPAIGN, "camp9", "unique-deliveries-grouped-by-campaign-activity") == [("act1", 1.0)]
