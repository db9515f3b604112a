"""Rate-limit waits are counted (number and time) and exposed per limiter on /metrics."""

import asyncio

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway import ratelimit
from gateway.config import RateLimit
from gateway.metrics.exposition import EngineCollector, build_registry
from tests.unit.test_ratelimit import MockClock


async def test_local_bucket_counts_only_the_acquisitions_that_waited():
    clock = MockClock(asyncio.get_running_loop())
    bucket = ratelimit.from_config(RateLimit(rate=10, burst=1), "smtp:metrics-test", None)
    assert isinstance(bucket, ratelimit.TokenBucket) and bucket in ratelimit.limiters()
    await bucket.acquire()  # the burst: no wait
    assert (bucket.waits, bucket.waited_s) == (0, 0.0)
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0)  # let it ask (and queue) before the clock moves
    assert not waiter.done()
    await clock.advance(0.101)
    await waiter
    assert bucket.waits == 1 and abs(bucket.waited_s - 0.101) < 1e-9

    text = generate_latest(build_registry(EngineCollector())).decode()
    samples = {(s.name, s.labels.get("limiter")): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("gateway_ratelimit_waits_total", "smtp:metrics-test")] == 1
    assert abs(samples[("gateway_ratelimit_wait_seconds_total", "smtp:metrics-test")] - 0.101) < 1e-9


async def test_shared_bucket_counts_waits(redis):
    bucket = ratelimit.from_config(RateLimit(rate=200, burst=1, shared=True), "sms:metrics-test", redis)
    assert isinstance(bucket, ratelimit.RedisTokenBucket)
    await bucket.acquire()
    assert bucket.waits == 0
    await bucket.acquire()  # the quota's next cell is 5 ms away
    assert bucket.waits == 1 and bucket.waited_s > 0
