"""Token buckets that keep each provider within its limits.

:class:`TokenBucket` is local to one process: `rate` tokens per second up to `burst`, timed on the event
loop's clock, FIFO (a later caller never overtakes an earlier one), a cancelled waiter takes nothing, and
`pause(seconds)` lets a provider push back (429 Retry-After, ESME_RTHROTTLED). The fast path (tokens available,
nobody waiting) does not suspend.

Both count the acquisitions that had to wait (`waits`) and the seconds waited (`waited_s`); the limiters built by
:func:`from_config` are listed by :func:`limiters` for `/metrics` (gateway/metrics/).

:class:`RedisTokenBucket` shares one quota between several worker processes exactly: a GCRA (generic cell rate
algorithm) evaluated atomically in Redis, so the sum over workers never exceeds `rate` with bursts of `burst`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any, Protocol


class RateLimiter(Protocol):
    async def acquire(self, amount: float = 1) -> None: ...

    def pause(self, seconds: float) -> None: ...


class TokenBucket:
    """A local token bucket on the loop clock. See the module docstring."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None
        self._paused_until = 0.0
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.name = ""  # the quota's name, set by from_config
        self.waits = 0  # acquisitions that had to wait
        self.waited_s = 0.0  # how long they waited, in all

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
            return
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def try_acquire(self, amount: float = 1) -> bool:
        """Take `amount` tokens if available now and nobody is queued; never waits."""
        now = asyncio.get_running_loop().time()
        self._refill(now)
        if not self._waiters and now >= self._paused_until and self._tokens >= amount:
            self._tokens -= amount
            return True
        return False

    async def acquire(self, amount: float = 1) -> None:
        """Wait until `amount` tokens are available, in arrival order."""
        if amount > self.burst:
            raise ValueError(f"cannot acquire {amount} tokens from a bucket of burst {self.burst:g}")
        if self.try_acquire(amount):
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append((amount, fut))
        self._schedule(loop)
        try:
            await fut
            self.waits += 1
            self.waited_s += loop.time() - started
        except asyncio.CancelledError:
            # The tokens were never taken for a cancelled waiter (_wake skips done futures), unless the
            # cancellation raced with a grant: then give them back.
            if fut.done() and not fut.cancelled():
                self._tokens += amount
            self._schedule(loop)
            raise

    def pause(self, seconds: float) -> None:
        """Stop granting tokens for `seconds` (provider back-pressure); extends, never shortens, a pause."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiters and self._waiters[0][1].done():
            self._waiters.popleft()
        if not self._waiters or self._timer is not None:
            return
        now = loop.time()
        self._refill(now)
        need = self._waiters[0][0]
        at = max(self._paused_until, now + max(0.0, need - self._tokens) / self.rate)
        self._timer = loop.call_at(at, self._wake)

    def _wake(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._refill(now)
        if now >= self._paused_until:
            while self._waiters:
                amount, fut = self._waiters[0]
                if fut.done():
                    self._waiters.popleft()
                    continue
                if self._tokens + 1e-9 < amount:
                    break
                self._tokens -= amount
                self._waiters.popleft()
                fut.set_result(None)
        self._schedule(loop)

    def __repr__(self) -> str:
        return f"<TokenBucket rate={self.rate:g}/s burst={self.burst:g} tokens={self._tokens:.2f} queued={len(self._waiters)}>"


# GCRA: the key holds the theoretical arrival time (TAT) in microseconds. A request of n cells is allowed when
# TAT - now <= burst_offset; it then moves TAT forward by n emission intervals. Returns the wait in µs (0 = go).
_GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst_offset = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local new_tat = tat + interval * n
local allow_at = new_tat - burst_offset
if allow_at > now then
  return allow_at - now
end
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class RedisTokenBucket:
    """A token bucket shared through Redis by every worker using the same `name`."""

    def __init__(self, redis: Any, name: str, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.redis = redis
        self.key = f"gw:ratelimit:{{{name}}}"
        self.interval_us = 1_000_000 / rate
        self.burst = burst
        self._script = redis.register_script(_GCRA)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO among this process's callers
        self.name = name
        self.waits = 0  # acquisitions that had to wait (for the lock, a pause or the shared quota)
        self.waited_s = 0.0

    async def acquire(self, amount: float = 1) -> None:
        if amount > self.burst:
            raise ValueError(f"cannot acquire {amount} tokens from a bucket of burst {self.burst}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        waited = self._lock.locked()
        async with self._lock:
            while True:
                delay = self._paused_until - loop.time()
                if delay > 0:
                    waited = True
                    await asyncio.sleep(delay)
                    continue
                wait_us = int(
                    await self._script(
                        keys=[self.key], args=[self.interval_us, self.interval_us * self.burst, amount]
                    )
                )
                if wait_us <= 0:
                    if waited:
                        self.waits += 1
                        self.waited_s += loop.time() - started
                    return
                waited = True
                await asyncio.sleep(wait_us / 1_000_000)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, asyncio.get_running_loop().time() + seconds)


def from_config(rate_limit: Any, name: str, redis: Any) -> RateLimiter | None:
    """The limiter a channel's `rate_limit` setting asks for: None when unset, a RedisTokenBucket shared by every
    worker when `shared` (and a Redis client is at hand), else a local TokenBucket. `name` identifies the quota."""
    if rate_limit is None:
        return None
    limiter: TokenBucket | RedisTokenBucket
    if rate_limit.shared and redis is not None:
        limiter = RedisTokenBucket(redis, name, rate_limit.rate, rate_limit.burst)
    else:
        limiter = TokenBucket(rate_limit.rate, rate_limit.burst)
        limiter.name = name
    _LIMITERS.add(limiter)
    return limiter


# Every limiter from_config built that is still in use, for /metrics (a weak set: a closed channel's goes away).
_LIMITERS: weakref.WeakSet[TokenBucket | RedisTokenBucket] = weakref.WeakSet()


def limiters() -> list[TokenBucket | RedisTokenBucket]:
    """The limiters from_config built that are still alive (each has `name`, `waits` and `waited_s`)."""
    return list(_LIMITERS)
