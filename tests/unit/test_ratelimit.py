"""Token bucket behaviour on a mocked loop clock (aiolimiter's MockLoopTime approach: the loop's time() is patched,
so timers fire when the test advances the clock)."""

import asyncio

import pytest

from gateway.ratelimit import TokenBucket


class MockClock:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = 1000.0
        self.loop = loop
        loop.time = lambda: self.now  # type: ignore[method-assign]

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for _ in range(5):  # let callbacks scheduled for <= now run
            await asyncio.sleep(0)


@pytest.fixture
async def clock():
    return MockClock(asyncio.get_running_loop())


async def test_burst_then_rate(clock):
    b = TokenBucket(rate=10, burst=3)
    for _ in range(3):
        assert b.try_acquire()
    assert not b.try_acquire()
    waiter = asyncio.ensure_future(b.acquire())
    await clock.advance(0.05)
    assert not waiter.done()
    await clock.advance(0.051)
    assert waiter.done()


async def test_fifo_and_cancelled_waiters_take_nothing(clock):
    b = TokenBucket(rate=1, burst=1)
    assert b.try_acquire()
    order = []

    async def take(name):
        await b.acquire()
        order.append(name)

    t1 = asyncio.ensure_future(take("a"))
    t2 = asyncio.ensure_future(take("b"))
    t3 = asyncio.ensure_future(take("c"))
    await asyncio.sleep(0)
    t2.cancel()
    await clock.advance(1.0)
    await clock.advance(1.0)
    assert order == ["a", "c"]
    assert t1.done() and t3.done() and t2.cancelled()
    assert not b.try_acquire()  # c took the second token; b's cancellation took nothing extra


async def test_pause_holds_everyone_until_it_ends(clock):
    b = TokenBucket(rate=100, burst=5)
    b.pause(2.0)
    assert not b.try_acquire()
    w = asyncio.ensure_future(b.acquire())
    await clock.advance(1.9)
    assert not w.done()
    await clock.advance(0.2)
    assert w.done()


async def test_rate_over_a_long_run_is_exact(clock):
    b = TokenBucket(rate=50, burst=1)
    done = 0

    async def worker():
        nonlocal done
        while True:
            await b.acquire()
            done += 1

    tasks = [asyncio.ensure_future(worker()) for _ in range(4)]
    for _ in range(1000):  # 10 simulated seconds in 10 ms steps
        await clock.advance(0.01)
    for t in tasks:
        t.cancel()
    assert 500 <= done <= 502


def test_invalid_parameters():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


async def test_redis_shared_bucket_holds_two_workers_to_one_quota(redis):
    """Two workers (two clients, one bucket name) share 100 tokens/s with a burst of 5: granting 45 tokens in
    total takes at least (45 - 5) / 100 = 0.4 s, however the grants are split between them."""
    import redis.asyncio as aioredis

    from gateway.ratelimit import RedisTokenBucket

    other = aioredis.Redis(connection_pool=aioredis.ConnectionPool.from_url(
        f"redis://127.0.0.1:{redis.connection_pool.connection_kwargs['port']}/0"))
    a = RedisTokenBucket(redis, "provider-x", rate=100, burst=5)
    b = RedisTokenBucket(other, "provider-x", rate=100, burst=5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    grants = {"a": 0, "b": 0}

    async def take(bucket, name, n):
        for _ in range(n):
            await bucket.acquire()
            grants[name] += 1

    await asyncio.gather(take(a, "a", 25), take(b, "b", 20))
    elapsed = loop.time() - start
    await other.aclose()
    assert grants == {"a": 25, "b": 20}
    assert elapsed >= 0.4 * 0.95  # never faster than the shared quota allows
