"""The Redis side of `/metrics`: stream lengths, consumer-group lag and pending, retry backlog, dead letters.

Read by a collector task every `metrics.sample_interval_ms` (one pipelined round trip, plus one small script per
group on Redis < 7), never per message; a scrape serves the last sample. Every consumer group of the send lanes
and of the events stream is reported, so an event destination reading the events stream through a group of its
own shows up with its lag without anything here knowing it.

A group's lag is how many entries were appended after the last one it was given. Redis 7 reports it (`lag` in
XINFO GROUPS); where it does not (6.2, or 7 when entries were deleted in between) it is counted with XRANGE from
the group's last-delivered id, up to LAG_CAP (a lag that large is reported as LAG_CAP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway.config import GatewayConfig
from gateway.metrics.core import entry_ms

LAG_CAP = 1_000

_COUNT_AFTER = """
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
"""


class GroupStats(msgspec.Struct, frozen=True):
    """One consumer group of one stream."""

    stream: str
    group: str
    lag: int  # entries not yet delivered to the group (LAG_CAP at most when counted)
    pending: int  # delivered, not yet acknowledged
    consumers: int
    oldest_pending_age_s: float | None = None  # of the send lanes' group: how long its oldest pending entry waits


class Sample(msgspec.Struct, frozen=True):
    """What one sampling read."""

    at_ms: int
    lengths: dict[str, int]  # stream key -> XLEN (send lanes, events, dead letters)
    groups: list[GroupStats]
    retry_scheduled: dict[str, int]  # lane -> ZCARD of its retry schedule
    retry_due: dict[str, int]  # lane -> scheduled retries already due (the mover is behind when this stays up)
    dead_letters: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def group_info(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """One XINFO GROUPS element with text keys (redis-py answers bytes or str keys by client setting)."""
    return {_text(k): v for k, v in raw.items()}


def reported_lag(info: Mapping[str, Any]) -> int | None:
    """The lag Redis reports for a group (7+), or None when it does not (6.2) or cannot (deleted entries)."""
    lag = info.get("lag")
    return int(lag) if lag is not None else None


class Sampler:
    """Reads a Sample of `cfg`'s streams (see the module docstring); `last` is the newest one."""

    def __init__(self, redis: aioredis.Redis, cfg: GatewayConfig) -> None:
        self.redis = redis
        self.cfg = cfg
        self.last: Sample | None = None
        self._count_after = redis.register_script(_COUNT_AFTER)

    async def sample(self, now_ms: int) -> Sample:
        stream = self.cfg.stream
        lanes = stream.lanes
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.xlen(lane.send_key)
            pipe.xinfo_groups(lane.send_key)
            pipe.xpending(lane.send_key, stream.group)
            pipe.zcard(lane.retry_key)
            pipe.zcount(lane.retry_key, "-inf", now_ms)
        pipe.xlen(stream.events_key)
        pipe.xinfo_groups(stream.events_key)
        pipe.xlen(stream.dead_key)
        # A stream or group that does not exist yet answers an error: it is reported as empty, not as a failure.
        res = await pipe.execute(raise_on_error=False)
        lengths: dict[str, int] = {}
        groups: list[GroupStats] = []
        scheduled: dict[str, int] = {}
        due: dict[str, int] = {}
        for n, lane in enumerate(lanes):
            length, infos, pending, zcard, zdue = res[5 * n:5 * n + 5]
            lengths[lane.send_key] = _int(length)
            oldest = None
            if isinstance(pending, dict) and pending.get("min") is not None:
                oldest = max(0.0, (now_ms - entry_ms(_text(pending["min"]))) / 1000)
            groups += await self._groups(lane.send_key, infos, {stream.group: oldest})
            scheduled[lane.name] = _int(zcard)
            due[lane.name] = _int(zdue)
        events_len, events_groups, dead = res[5 * len(lanes):]
        lengths[stream.events_key] = _int(events_len)
        groups += await self._groups(stream.events_key, events_groups, {})
        lengths[stream.dead_key] = _int(dead)
        self.last = Sample(at_ms=now_ms, lengths=lengths, groups=groups, retry_scheduled=scheduled, retry_due=due,
                           dead_letters=_int(dead))
        return self.last

    async def _groups(self, key: str, infos: Any, oldest: dict[str, float | None]) -> list[GroupStats]:
        if not isinstance(infos, list):
            return []
        out = []
        for raw in infos:
            info = group_info(raw)
            name = _text(info["name"])
            lag = reported_lag(info)
            if lag is None:
                lag = int(await self._count_after(keys=[key], args=[_text(info["last-delivered-id"]), LAG_CAP]))
            out.append(GroupStats(stream=key, group=name, lag=lag, pending=int(info.get("pending") or 0),
                                  consumers=int(info.get("consumers") or 0), oldest_pending_age_s=oldest.get(name)))
        return out


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | bytes | str) else 0


__all__ = ["LAG_CAP", "GroupStats", "Sample", "Sampler", "group_info", "reported_lag"]
