"""/metrics end to end: messages through the engine (sandbox SMTP), then the worker's listener scraped over HTTP
and parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics.sample import Sampler
from gateway.metrics.server import start_metrics, worker_registry
from gateway.producer import Producer
from tests.integration.conftest import Running, make_config
from tests.integration.test_email_engine import email_request

pytestmark = pytest.mark.asyncio

METRICS = {"listen": "127.0.0.1:0", "sample_interval_ms": 3_600_000}  # sampled by the tests, not the timer


def entries_done(run: Running, n: int) -> asyncio.Event:
    """An event set once the worker's dispatcher has returned from `n` entries (metrics recorded by then)."""
    done = asyncio.Event()
    dispatcher: Any = run.worker.dispatcher
    process = dispatcher.process
    seen = [0]

    async def counting(raw: list[Any], lane: Any = None) -> None:
        await process(raw, lane)
        seen[0] += len(raw)
        if seen[0] >= n:
            done.set()

    dispatcher.process = counting
    return done


async def scrape(run: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the worker's /metrics, by name and labels."""
    runner, port = await start_metrics("127.0.0.1:0", worker_registry(run.worker))
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=")
            text = await resp.text()
    finally:
        await runner.cleanup()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


async def test_counters_and_histograms_equal_the_outcomes(engine, sink) -> None:
    run = await engine(metrics=METRICS)
    done = entries_done(run, 6)  # 4 entries, then the tempfail one twice more (retried, then dead-lettered)
    ok = ["a@example.com", "b@example.com"]
    for address in [*ok, "bounce@example.com", "tempfail@example.com"]:
        await run.producer.send_messages("app1", email_request(address))
    await asyncio.wait_for(done.wait(), 10)
    m = await scrape(run)
    email = (("channel", "EMAIL"),)

    def outcome(status: str) -> float:
        return m[("gateway_outcomes_total", (("channel", "EMAIL"), ("status", status)))]

    assert outcome("SUCCESSFUL") == 2 == sink.accepted
    assert outcome("PERMANENT_FAILURE") == 1
    assert outcome("TEMPORARY_FAILURE") == 3  # attempts 1 and 2 retried, attempt 3 (max_attempts) dead-lettered
    assert m[("gateway_retries_scheduled_total", email)] == 2
    assert m[("gateway_dead_lettered_total", email)] == 1
    assert m[("gateway_sends_total", email)] == 6
    assert m[("gateway_entries_total", ())] == 6
    assert m[("gateway_enqueue_to_outcome_seconds_count", email)] == 6
    assert m[("gateway_enqueue_to_outcome_seconds_bucket", (*email, ("le", "+Inf")))] == 6
    assert m[("gateway_send_seconds_count", email)] == 6
    assert 0 < m[("gateway_send_seconds_sum", email)] < m[("gateway_enqueue_to_outcome_seconds_sum", email)]
    # the SMTP pool and the Redis pool report their use
    pool = ("email", f"127.0.0.1:{sink.port}")
    assert m[("gateway_pool_limit", (("channel", pool[0]), ("pool", pool[1])))] == 4
    assert 1 <= m[("gateway_pool_connections", (("channel", pool[0]), ("pool", pool[1]), ("state", "open")))] <= 4
    assert m[("gateway_pool_connections", (("channel", pool[0]), ("pool", pool[1]), ("state", "busy")))] == 0
    assert m[("gateway_pool_limit", (("channel", "redis"), ("pool", "worker")))] >= 1


async def test_metrics_are_off_unless_a_listener_is_configured(engine) -> None:
    run = await engine()
    assert run.worker.metrics is None and run.worker.sampler is None
    assert run.worker.dispatcher.metrics is None


async def test_lag_pending_retry_backlog_and_dead_letters_move(engine, redis, redis_server, sink) -> None:
    cfg = make_config(sink.port, redis_server.url, metrics=METRICS, retry={"base_s": 3600, "cap_s": 3600})
    sampler = Sampler(redis, cfg)
    # An event destination's cursor: a consumer group of its own on the events stream, from now on.
    await redis.xgroup_create("gateway:events", "dest-webhook", id="$", mkstream=True)
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    producer = Producer(redis)
    for address in ["a@example.com", "b@example.com", "tempfail@example.com"]:
        await producer.send_messages("app1", email_request(address))
    before = await sampler.sample(int(time.time() * 1000))
    engine_group = {(g.stream, g.group): g for g in before.groups}
    assert engine_group[("gateway:send", "gateway")].lag == 3
    assert engine_group[("gateway:events", "dest-webhook")].lag == 0
    assert before.lengths["gateway:send"] == 3 and before.retry_scheduled["default"] == 0

    run = await engine(metrics=METRICS, retry={"base_s": 3600, "cap_s": 3600})
    done = entries_done(run, 3)
    await asyncio.wait_for(done.wait(), 10)
    await run.worker.sampler.sample(int(time.time() * 1000))
    m = await scrape(run)
    send = (("group", "gateway"), ("stream", "gateway:send"))
    dest = (("group", "dest-webhook"), ("stream", "gateway:events"))
    assert m[("gateway_stream_group_lag", send)] == 0
    assert m[("gateway_stream_group_pending", send)] == 0
    events = m[("gateway_stream_length", (("stream", "gateway:events"),))]
    assert events == 6  # three _email.send, two delivered, one transient failure
    assert m[("gateway_stream_group_lag", dest)] == events  # nobody read them yet: the destination lags by all
    assert m[("gateway_retry_scheduled", (("lane", "default"),))] == 1
    assert m[("gateway_retry_due", (("lane", "default"),))] == 0
    assert m[("gateway_dead_letters", ())] == 0

    # the destination reads two events; a poison entry goes to the dead-letter stream
    await redis.xreadgroup("dest-webhook", "d1", {"gateway:events": ">"}, count=2)
    done = entries_done(run, 1)
    await redis.xadd("gateway:send", {"app": "app1", "request": "not json"})
    await asyncio.wait_for(done.wait(), 10)
    await run.worker.sampler.sample(int(time.time() * 1000))
    m = await scrape(run)
    assert m[("gateway_stream_group_lag", dest)] == events - 2
    assert m[("gateway_stream_group_pending", dest)] == 2
    assert m[("gateway_dead_letters", ())] == 1
    assert m[("gateway_undecodable_entries_total", ())] == 1
