"""How a gateway process talks to Redis: one bounded, blocking connection pool sized from config, what counts as
"Redis is down", waiting for it at start, and logging an outage once instead of once per attempt.

The pool blocks: when every connection is busy a command waits (up to `redis_pool_timeout_s`) for one to come
back instead of failing with "Too many connections", so a burst slows the work down instead of losing it. Only a
wait longer than that is an error, and it is a ConnectionError like any other outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.config import GatewayConfig

#: Errors meaning Redis cannot be reached right now (refused, reset, timed out, no free connection): the work
#: is left pending and tried again later. Anything else Redis answers (WRONGTYPE…) is an answer, not an outage.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

#: Waits between attempts while Redis is down: doubling from BACKOFF_BASE_S up to BACKOFF_CAP_S.
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0


def pool_busy(exc: BaseException) -> bool:
    """`exc` is the blocking pool's "no free connection within redis_pool_timeout_s": every connection is lent to
    work that will give it back, so Redis is busy, not down (redis-py raises a plain ConnectionError for it)."""
    return isinstance(exc, RedisConnectionError) and str(exc).startswith("No connection available")


def text(value: bytes | str) -> str:
    """A reply as text. The gateway's clients return bytes (no decode_responses), but redis-py's types cannot tell
    a client's replies apart, so they say `bytes | str`."""
    return value.decode() if isinstance(value, bytes) else value


#: The Redis of a configuration that names none, outside `gateway serve` (which starts its embedded one instead).
DEFAULT_URL = "redis://127.0.0.1:6379/0"


def url_of(cfg: GatewayConfig) -> str:
    """`cfg.redis_url`, or DEFAULT_URL when the configuration names no Redis."""
    return cfg.redis_url or DEFAULT_URL


def connect(cfg: GatewayConfig, *, max_connections: int | None = None) -> aioredis.Redis:
    """A client on a blocking pool of `redis_max_connections` (or `max_connections`) connections to
    `url_of(cfg)`; closing the client closes the pool."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url_of(cfg), max_connections=max_connections or cfg.redis_max_connections,
        timeout=cfg.redis_pool_timeout_s,
    )
    return aioredis.Redis.from_pool(pool)


def redact(url: str) -> str:
    """`url` fit for a log line or an error message: scheme, user, host, port and database, never a password
    (neither `user:password@` nor a `?password=` query)."""
    try:
        u = urllib.parse.urlsplit(url)
        netloc = u.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if u.port is not None:
            netloc += f":{u.port}"
    except ValueError:  # not even a URL: say so rather than echo it
        return "<unparseable redis_url>"
    if u.username:
        netloc = f"{u.username}@{netloc}"
    return f"{u.scheme}://{netloc}{u.path}"


def next_delay(previous: float, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """The wait after `previous` (0 before the first retry): doubling from `base`, capped at `cap`."""
    return min(cap, previous * 2 if previous else base)


class Outage:
    """The log of Redis outages for one process: a line when the first failure of an outage is reported and a
    line when an operation succeeds again, nothing in between (every retrying loop reports to the same object)."""

    def __init__(self, url: str, log: logging.Logger, clock: Any = time.monotonic) -> None:
        self.where = redact(url)
        self.log = log
        self.clock = clock
        self.since: float | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, doing: str) -> None:
        """An operation failed because Redis is down (`exc` is one of REDIS_DOWN)."""
        if self.since is None:
            self.since = self.clock()
            self.log.error("Redis at %s is unavailable (%s while %s); work stays pending, retrying with backoff "
                           "until it is back", self.where, _reason(exc), doing)

    def ok(self) -> None:
        """An operation succeeded: ends the outage, if there was one."""
        if self.since is not None:
            self.log.warning("Redis at %s is back after %.1fs", self.where, self.clock() - self.since)
            self.since = None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


class RedisUnreachable(Exception):
    """Redis did not answer within the startup timeout; the message is the one line to print."""


async def wait_until_up(client: aioredis.Redis, url: str, timeout: float | None, stop: asyncio.Event | None = None,
                        outage: Outage | None = None) -> bool:
    """PING until Redis answers (True), backing off between attempts, or until `stop` is set (False). `outage`
    (default: one on the `gateway.redis` logger) gets a line when the first attempt fails and one when Redis
    answers, nothing in between. With a `timeout`, RedisUnreachable (one line saying where it tried, why and what
    to do) once that many seconds have passed without an answer; without one it retries until `stop`."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    stop = stop or asyncio.Event()
    outage = outage or Outage(url, logging.getLogger("gateway.redis"))
    delay = 0.0
    while not stop.is_set():
        try:
            attempt = BACKOFF_CAP_S if deadline is None else max(deadline - loop.time(), 0.05)
            await asyncio.wait_for(client.ping(), attempt)
            outage.ok()
            return True
        except REDIS_DOWN as exc:  # asyncio's TimeoutError is an OSError
            last = exc
            outage.failed(exc, "waiting for it at start")
        delay = next_delay(delay)
        if deadline is not None and loop.time() + delay > deadline:
            raise RedisUnreachable(
                f"cannot reach Redis at {redact(url)} ({_reason(last) if str(last) else 'no answer'}; waited "
                f"{timeout:g}s). Start Redis there, or point the gateway at yours with --redis URL, REDIS_URL or "
                "redis_url in the config file (redis_startup_timeout_s sets how long to wait)."
            ) from None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return False
