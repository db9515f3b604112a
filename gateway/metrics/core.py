"""The engine's own numbers, kept as plain Python counters (pure: no Redis, no sockets, no clock).

The hot path pays a few dict and list operations per message and no lock: a prometheus_client child's `inc()`
takes a lock (~0.4 µs) and a Histogram's `observe()` two (~0.9 µs), several times the whole cost of what is
recorded here. Everything runs on the event loop's thread, and `/metrics` is served on that same loop
(gateway/metrics/server.py), so a scrape always reads a consistent snapshot. Label children are bound once: a
channel's `ChannelCells` (its outcome counts and histograms) is created the first time the channel is seen and
then found by one dict lookup per batch, not per message.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

import msgspec

#: Seconds: enqueue → outcome spans retries' backoff and queueing, so it reaches further than a round trip.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Hist:
    """A histogram's state: per-bucket counts (the last is +Inf) and the sum; `le` buckets as Prometheus has."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus' cumulative `le` buckets, +Inf last."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(_le, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


class ChannelCells:
    """One ChannelType's pre-bound children: sends, outcomes by DeliveryStatus, and its two histograms."""

    __slots__ = ("dead_lettered", "enqueue_to_outcome", "outcomes", "retried", "send_seconds", "sends")

    def __init__(self) -> None:
        self.sends = 0  # messages handed to the channel (provider calls made)
        self.outcomes: dict[str, int] = {}  # DeliveryStatus -> recipients that ended (or retried) with it
        self.retried = 0  # outcomes that scheduled a retry
        self.dead_lettered = 0  # outcomes that went to the dead-letter stream
        self.enqueue_to_outcome = Hist(LATENCY_BUCKETS)
        self.send_seconds = Hist(SEND_BUCKETS)


class EngineMetrics:
    """What one process's dispatcher recorded. `channel(ct)` binds a ChannelType's cells once."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelCells] = {}
        self.batches = 0
        self.entries = 0
        self.undecodable = 0  # entries dead-lettered before they had recipients

    def channel(self, channel_type: str) -> ChannelCells:
        cells = self.channels.get(channel_type)
        if cells is None:
            cells = self.channels[channel_type] = ChannelCells()
        return cells


API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """The REST API's requests: counts by operation and HTTP status, and a duration histogram per operation."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.seconds: dict[str, Hist] = {}

    def observe(self, operation: str, status: int, seconds: float) -> None:
        key = (operation, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.seconds.get(operation)
        if hist is None:
            hist = self.seconds[operation] = Hist(API_BUCKETS)
        hist.observe(seconds)


class PoolUse(msgspec.Struct, frozen=True):
    """One connection pool at a scrape: `pool` names it within its channel (an origin, a MessageType lane)."""

    pool: str
    open: int  # connections open (or opening)
    busy: int  # in use: checked out, or carrying requests
    limit: int  # the most it opens
    waiting: int = 0  # callers queued for a connection


def h2_pool_use(name: str, pool: Any) -> PoolUse:
    """An HTTP/2 pool's use (gateway/channels/http2/pool.py): busy = connections carrying a request."""
    conns = list(pool.connections)
    return PoolUse(pool=name, open=len(conns), busy=sum(1 for c in conns if c.streams), limit=pool.max_connections,
                   waiting=len(pool._waiters))


def connector_use(name: str, connector: Any) -> PoolUse:
    """An aiohttp TCPConnector's use: busy = connections checked out, open = those plus the idle kept alive."""
    busy = len(connector._acquired)
    idle = sum(len(v) for v in connector._conns.values())
    return PoolUse(pool=name, open=busy + idle, busy=busy, limit=connector.limit,
                   waiting=sum(len(v) for v in connector._waiters.values()))


def redis_pool_use(name: str, pool: Any) -> PoolUse:
    """A redis-py (blocking) connection pool's use."""
    busy = len(pool._in_use_connections)
    return PoolUse(pool=name, open=busy + len(pool._available_connections), busy=busy, limit=pool.max_connections)


def entry_ms(entry_id: str) -> int:
    """A stream entry id's millisecond timestamp: when Redis appended it (`1733612345678-0` → 1733612345678)."""
    return int(entry_id.partition("-")[0])


__all__ = [
    "API_BUCKETS",
    "LATENCY_BUCKETS",
    "SEND_BUCKETS",
    "ApiMetrics",
    "ChannelCells",
    "EngineMetrics",
    "Hist",
    "PoolUse",
    "connector_use",
    "entry_ms",
    "h2_pool_use",
    "redis_pool_use",
]
