"""KPIs: rollups (gateway/kpi/rollup.py) against a scan of the raw events stream (tests/kpi_data.py's oracle),
redelivery idempotence, the KPI catalog's date-range rules, and the events stream's retention trim."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway import cli
from gateway.events import EventWriter
from gateway.kpi import attribution, catalog, query, retention
from gateway.kpi.rollup import GROUP, RollupConsumer, Tally, applied_key
from tests import kpi_data

KEY = "gateway:events"
APP = "kpiapp"


async def _write(redis: aioredis.Redis, records: list[tuple[str, str, bytes]], tally: Tally | None = None) -> None:
    """Write `records` as the engine's writers do: the events, then (when given) the tally of their rollups."""
    writer = EventWriter(redis, KEY)
    args: list[Any] = []
    for r in records:
        args += r
    pipe = redis.pipeline(transaction=False)
    await writer.queue(pipe, args)
    await pipe.execute()
    if tally is not None:
        await writer.roll(tally)


async def _drain(consumer: RollupConsumer) -> None:
    await consumer.ensure_group()
    while await consumer.step():
        pass


def _close(a: float, b: float, unique: bool) -> bool:
    if not unique:
        return a == pytest.approx(b, abs=1e-12)
    return abs(a - b) <= max(1.0 if b > 1 else 0.02, 0.02 * abs(b))  # HyperLogLog: ~0.81 % standard error


async def _compare(redis: aioredis.Redis, facts: list[dict[str, Any]], now: dt.datetime,
                   only: frozenset[str] | None = None) -> int:
    start, end = catalog.date_range(None, None, now)
    day_list = catalog.days(start, end)
    checked = 0
    targets = {catalog.APP: [""], catalog.CAMPAIGN: ["camp0", "camp1", "nope"], catalog.JOURNEY: ["jour1"]}
    for level, names in catalog.CATALOG.items():
        for target in targets[level]:
            for name, kpi in names.items():
                if only is not None and name not in only:
                    continue
                rows = await query.date_range_kpi(redis, APP, level, target, name, start, end)
                got = {(r.GroupedBys[0].Value if r.GroupedBys else ""): float(r.Values[0].Value) for r in rows}
                want = kpi_data.oracle(facts, level, target, name, day_list)
                for g in set(got) | set(want):
                    assert _close(got.get(g, 0.0), want.get(g, 0.0), kpi.kind == "unique"), (level, target, name, g)
                    checked += 1
    return checked


async def test_rollups_equal_a_scan_of_the_raw_events(redis: aioredis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    now_ms = int(now.timestamp() * 1000)
    # written in batches, as the dispatcher writes them: each batch's events, then its rollups
    tally = Tally()
    records = kpi_data.generate(APP, now_ms, 1500, tally=tally) + kpi_data.generate("other", now_ms, 200, seed=3,
                                                                                    tally=tally)
    await _write(redis, records, tally)
    facts = kpi_data.scan(await redis.xrange(KEY), APP)
    assert {f["what"] for f in facts} >= {"sent", "delivered", "opened", "clicked", "hardbounced", "softbounced",
                                          "complained", "unsubscribed", "rejected"}
    assert await _compare(redis, facts, now) > 500
    assert await redis.exists(KEY) and not await redis.xinfo_groups(KEY)  # no reader of the stream was needed
    ttl = await redis.ttl(catalog.hash_keys(APP, catalog.APP, "", [facts[0]["day"]])[0])
    assert 90 * 86_400 < ttl <= 91 * 86_400  # rollups expire with the events they count


async def test_rebuilding_from_the_stream_equals_the_write_time_rollups(redis: aioredis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    now_ms = int(now.timestamp() * 1000)
    await _write(redis, kpi_data.generate(APP, now_ms, 1500) + kpi_data.generate("other", now_ms, 200, seed=3))
    await _drain(RollupConsumer(redis, KEY, "w1", retention_days=90, batch=256))
    facts = kpi_data.scan(await redis.xrange(KEY), APP)
    assert await _compare(redis, facts, now) > 500
    assert await redis.scard(applied_key(APP)) == 0  # markers leave with the acknowledgement
    assert (await redis.xpending(KEY, GROUP))["pending"] == 0


async def test_a_redelivered_batch_is_counted_once(redis: aioredis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    await _write(redis, kpi_data.generate(APP, int(now.timestamp() * 1000), 300))
    crashed = RollupConsumer(redis, KEY, "crashed", retention_days=90, batch=10_000)
    await crashed.ensure_group()
    got = await redis.xreadgroup(GROUP, "crashed", {KEY: ">"}, count=10_000)
    entries = [(i.decode(), f) for i, f in got[0][1]]
    await crashed.write(entries)  # applied, then the process died before XACK
    await crashed.write(entries[: len(entries) // 2])  # and a retry of part of it, also before XACK
    heir = RollupConsumer(redis, KEY, "heir", retention_days=90, claim_idle_ms=1)
    await _drain(heir)  # claims the pending entries: already applied, so skipped, then acknowledged
    assert (await redis.xpending(KEY, GROUP))["pending"] == 0
    facts = kpi_data.scan(await redis.xrange(KEY), APP)
    await _compare(redis, facts, now)
    ttl = await redis.ttl(catalog.hash_keys(APP, catalog.APP, "", [facts[0]["day"]])[0])
    assert 90 * 86_400 < ttl <= 91 * 86_400  # rollups expire with the events they count


def test_date_range_rules() -> None:
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    assert catalog.date_range(None, None, now) == (now - dt.timedelta(days=31), now)
    end = now - dt.timedelta(days=2)
    assert catalog.date_range(None, end, now) == (end - dt.timedelta(days=31), end)
    bad = [
        (now, now - dt.timedelta(hours=1), "before EndTime"),
        (now - dt.timedelta(days=40), now, "31 days"),
        (now - dt.timedelta(days=90), now - dt.timedelta(days=80), "90 days"),
    ]
    for start, stop, words in bad:
        with pytest.raises(catalog.RangeError, match=words):
            catalog.date_range(start, stop, now)
    assert catalog.days(dt.datetime(2026, 1, 30, 23, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, 1, tzinfo=dt.UTC)) == [
        "2026-01-30", "2026-01-31", "2026-02-01"]
    with pytest.raises(catalog.RangeError, match="not a journey metric"):
        catalog.lookup(catalog.JOURNEY, "successful-delivery-rate")


async def test_retention_trims_by_age_only(redis: aioredis.Redis) -> None:
    now_ms = 1_800_000_000_000  # a mocked clock: entry ids carry their own timestamps
    for age_days in (120, 91, 89, 1):
        await redis.xadd(KEY, {"app": APP, "event_type": "x", "record": "{}"}, id=f"{now_ms - age_days * 86_400_000}-0")
    await redis.xgroup_create(KEY, "lagging-destination", id="0")  # has read nothing: not protected
    assert retention.min_id(now_ms, 90) == f"{now_ms - 90 * 86_400_000}-0"
    assert await retention.trim(redis, KEY, 90, now_ms) == 2
    left = [int(i.split(b"-")[0]) for i, _ in await redis.xrange(KEY)]
    assert left == [now_ms - 89 * 86_400_000, now_ms - 86_400_000]
    assert await retention.trim(redis, KEY, 90, now_ms) == 0
    assert await retention.trim(redis, KEY, 90, now_ms + 2 * 86_400_000) == 1  # the clock moves on


def test_catalog_has_pinpoints_names() -> None:
    app, camp, journey = (set(catalog.CATALOG[k]) for k in (catalog.APP, catalog.CAMPAIGN, catalog.JOURNEY))
    assert {"successful-delivery-rate", "successful-delivery-rate-grouped-by-date",
            "successful-delivery-rate-grouped-by-campaign", "email-open-rate", "unique-deliveries",
            "txn-emails-sent", "txn-emails-with-complaints", "txn-sms-delivered-grouped-by-date"} <= app
    assert {"unique-deliveries-grouped-by-campaign-activity", "email-open-rate-grouped-by-date"} <= camp
    assert {"journey-emails-opened", "emails-opened-grouped-by-journey-activity"} <= journey
    assert time.time() > 0


async def test_an_entry_trimmed_while_pending_is_acknowledged_not_counted(redis: aioredis.Redis) -> None:
    consumer = RollupConsumer(redis, KEY, "w", retention_days=90)
    await consumer.ensure_group()
    assert await consumer.apply([("1-1", None), ("1-2", {})]) == 2
    assert await redis.keys("gw:*") == []


async def test_a_query_grouped_by_campaign_reads_only_the_by_campaign_counters(redis: aioredis.Redis) -> None:
    # grouped by campaign, a 90-day query summed every day's whole application hash (every source, channel and
    # counter: ~250 ms for 50 campaigns); it now reads only the by-campaign hash of each counter it needs
    now = dt.datetime.now(dt.UTC)
    tally = Tally()
    await _write(redis, kpi_data.generate(APP, int(now.timestamp() * 1000), 800, tally=tally), tally)
    facts = kpi_data.scan(await redis.xrange(KEY), APP)
    start, end = catalog.date_range(None, None, now)
    day_list = catalog.days(start, end)
    await redis.delete(*catalog.hash_keys(APP, catalog.APP, "", day_list))  # the application's day hashes
    for name in ("successful-delivery-rate-grouped-by-campaign", "unique-deliveries-grouped-by-campaign"):
        rows = await query.date_range_kpi(redis, APP, catalog.APP, "", name, start, end)
        got = {r.GroupedBys[0].Value: float(r.Values[0].Value) for r in rows}
        want = kpi_data.oracle(facts, catalog.APP, "", name, day_list)
        assert set(got) == set(want) == {"camp0", "camp1", "camp2"}
        for g in want:
            assert _close(got[g], want[g], name.startswith("unique")), (name, g)


async def test_gateway_kpi_rebuild_recomputes_lost_rollups_from_the_stream(redis: aioredis.Redis,
                                                                          redis_server: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    now_ms = int(now.timestamp() * 1000)
    tally = Tally()
    await _write(redis, kpi_data.generate(APP, now_ms, 600, tally=tally), tally)
    await _write(redis, kpi_data.generate("other", now_ms, 100, seed=3))  # another application's events
    facts = kpi_data.scan(await redis.xrange(KEY), APP)
    # a writer died between events and rollups: some counts missing, one wrong
    start, end = catalog.date_range(None, None, now)
    await redis.delete(*catalog.hash_keys(APP, catalog.CAMPAIGN, "camp1", catalog.days(start, end)))
    await redis.hincrby(catalog.hash_keys(APP, catalog.APP, "", [facts[0]["day"]])[0], "*|*|sent", 5)
    await redis.set(attribution.key(APP, "m1"), b'{"campaign_id":"c"}')  # not a rollup: left alone
    code = await asyncio.to_thread(cli.main, ["kpi", "rebuild", APP, "--redis", redis_server.url])
    assert code == 0
    assert await _compare(redis, facts, now, frozenset({
        "successful-delivery-rate-grouped-by-campaign", "hard-bounce-rate-grouped-by-campaign-activity",
        "txn-emails-sent-grouped-by-date", "journey-emails-opened", "unique-deliveries", "email-open-rate"})) > 30
    assert await redis.get(attribution.key(APP, "m1")) == b'{"campaign_id":"c"}'
    assert await redis.keys("gw:{other}:*") == []  # another application's rollups are not its business


async def test_a_tallys_marks_are_written_with_its_rollups(redis: aioredis.Redis) -> None:
    tally = Tally()
    key = attribution.key(APP, "m1")
    tally.mark(APP, key, attribution.value({"campaign_id": "c1", "campaign_activity_id": "a1"}), 3 * 86_400)
    await EventWriter(redis, KEY).roll(tally)
    assert attribution.decode(await redis.get(key)) == {"campaign_id": "c1", "campaign_activity_id": "a1"}
    assert 3 * 86_400 - 5 < await redis.ttl(key) <= 3 * 86_400
