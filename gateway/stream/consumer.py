"""Consumer-group reading of the ingest stream, with the recovery rules of protocols-and-reliability.md §1.

- The group is created idempotently from id 0 (`MKSTREAM`; BUSYGROUP is fine).
- On start a worker first re-reads its own pending entries (id `0`), then new ones (`>`).
- Entries of dead consumers are taken over with XAUTOCLAIM once idle longer than `claim_idle_ms`, following the
  cursor; Redis 6.2 answers with 2 elements and 7+ with 3. Entries whose data was deleted (the third element on
  7+; nil entries without an id on 6.2, looked up among our pending ones) are logged as lost and acknowledged,
  since nothing is left to send.
- A group lost in a Redis restart (NOGROUP) is recreated from id 0 and logged at ERROR: in-flight state is gone.
- Trimming uses MINID below the oldest entry still pending or not yet delivered, never MAXLEN.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from redis.exceptions import ResponseError

from gateway.config import StreamConfig

log = logging.getLogger("gateway.stream")

Entry = tuple[str, dict[bytes, bytes]]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _id(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class StreamConsumer:
    """One consumer of one stream in the group. `reader` (default: `redis`) is the client for the blocking
    XREADGROUP: a worker gives it connections of its own, so a reader waiting for new entries never holds a
    connection of the pool the work needs (with a blocking pool, idle readers re-taking their connection every
    `block_ms` would otherwise starve everything else)."""

    def __init__(self, redis: Any, cfg: StreamConfig, consumer: str | None = None, key: str | None = None, *,
                 reader: Any = None) -> None:
        self.redis = redis
        self.reader = reader if reader is not None else redis
        self.cfg = cfg
        self.key = key or cfg.send_key
        self.group = cfg.group
        self.consumer = consumer or cfg.consumer or default_consumer_name()
        self._backlog = True  # read own pending entries first
        self._backlog_from = "0"
        self._backlog_before = "0"  # where the last backlog read started, for unread()

    @property
    def reading_backlog(self) -> bool:
        """True while this consumer is re-reading its own pending entries (they may have been delivered before)."""
        return self._backlog

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s", self.group, self.key)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _recover_group(self) -> None:
        log.error(
            "consumer group %s on %s is gone (NOGROUP): Redis lost its data, probably restarted without AOF. "
            "Recreating it from id 0; entries that were in flight or undelivered before the restart are lost.",
            self.group, self.key,
        )
        await self.ensure_group()
        self._backlog = False

    async def read(self, count: int, block_ms: int, *, new: bool = True) -> list[Entry]:
        """The next entries for this consumer: its own backlog first, then new entries (blocking up to block_ms);
        `new` False: the backlog only ([] once it is read)."""
        try:
            if self._backlog:
                reply = await self.redis.xreadgroup(self.group, self.consumer, {self.key: self._backlog_from}, count=count)
                entries = _entries(reply)
                # Entries whose data was trimmed come back as (id, None): nothing to send, acknowledge them.
                live = [e for e in entries if e[1]]
                gone = [e[0] for e in entries if not e[1]]
                if gone:
                    log.error("%d pending entries have no data (trimmed): acknowledging them as lost", len(gone))
                    await self.redis.xack(self.key, self.group, *gone)
                if not entries:
                    self._backlog = False
                else:
                    self._backlog_before, self._backlog_from = self._backlog_from, entries[-1][0]
                    if live:
                        return live
                    return await self.read(count, block_ms, new=new)
            if not new:
                return []
            reply = await self.reader.xreadgroup(
                self.group, self.consumer, {self.key: ">"}, count=count, block=block_ms or None
            )
            return _entries(reply)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                await self._recover_group()
                return []
            raise

    def unread(self) -> None:
        """Give back the backlog entries the last read() returned, when they could not be handled (Redis went
        down before they were launched): the next read() returns them again instead of skipping past them."""
        self._backlog = True
        self._backlog_from = self._backlog_before

    async def claim(self, count: int = 100) -> list[Entry]:
        """Take over at most `count` entries idle longer than claim_idle_ms from any consumer (usually a dead one)."""
        out: list[Entry] = []
        cursor = "0-0"
        while True:
            start = cursor
            try:
                # Each page asks only for what is left: a short page (Redis 7 scans at most COUNT*10 pending entries
                # per call; trimmed entries count too) must not let the next one overrun the caller's budget.
                reply = await self.redis.execute_command(
                    "XAUTOCLAIM", self.key, self.group, self.consumer, self.cfg.claim_idle_ms, cursor, "COUNT",
                    count - len(out),
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._recover_group()
                    return out
                raise
            cursor = _id(reply[0])
            claimed = [(_id(i), _fields(f)) for i, f in reply[1] if f]
            # Entries whose data was trimmed: Redis 7+ lists their ids in a third element (already off the pending
            # list); Redis 6.2 answers nil for each, without its id (redis-py: (None, None)), and keeps them pending.
            gone = [_id(i) for i in reply[2]] if len(reply) > 2 and reply[2] else []
            gone += [_id(i) for i, f in reply[1] if not f and i is not None]
            if any(i is None for i, _ in reply[1]):
                gone += await self._trimmed_in_page(start, cursor, {i for i, _ in claimed})
            if gone:
                log.error("%d claimed entries were trimmed before delivery: acknowledging them as lost", len(gone))
                await self.redis.xack(self.key, self.group, *gone)
            out += claimed
            if cursor == "0-0" or len(out) >= count:
                return out

    async def _trimmed_in_page(self, start: str, cursor: str, live: set[str]) -> list[str]:
        """The ids of the entries a Redis 6.2 XAUTOCLAIM page from `start` to `cursor` answered as nil: this
        consumer's pending entries of that range with no data left in the stream. Unacknowledged they would stay
        pending forever, and trim() never trims past the oldest pending entry."""
        rows = await self.redis.xpending_range(
            self.key, self.group, min=start, max="+" if cursor == "0-0" else cursor,
            count=len(live) + max(self.cfg.max_inflight, self.cfg.transactional_inflight) + 100,
            consumername=self.consumer,
        )
        candidates = [i for i in (_id(r["message_id"]) for r in rows) if i not in live and i != cursor]
        if not candidates:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for i in candidates:
            pipe.xrange(self.key, min=i, max=i, count=1)
        found = await pipe.execute()
        return [i for i, data in zip(candidates, found, strict=True) if not data]

    async def delivery_counts(self, ids: list[str]) -> dict[str, int]:
        """How many times each pending entry of this consumer has been delivered."""
        if not ids:
            return {}
        lo = min(ids, key=_id_tuple)
        hi = max(ids, key=_id_tuple)
        rows = await self.redis.xpending_range(self.key, self.group, min=lo, max=hi, count=len(ids) * 2 + 10,
                                               consumername=self.consumer)
        return {_id(r["message_id"]): int(r["times_delivered"]) for r in rows}

    async def trim(self) -> int:
        """XTRIM MINID below the oldest entry that is pending or not yet delivered to the group."""
        try:
            groups = await self.redis.xinfo_groups(self.key)
        except ResponseError:
            return 0
        floor: tuple[int, int] | None = None
        for g in groups:
            last = _id(g.get("last-delivered-id", b"0-0"))
            ms, seq = _id_tuple(last)
            candidate = (ms, seq + 1)
            pending = await self.redis.xpending(self.key, _id(g["name"]))
            if pending and pending.get("pending"):
                candidate = min(candidate, _id_tuple(_id(pending["min"])))
            floor = candidate if floor is None else min(floor, candidate)
        if floor is None or floor == (0, 1):
            return 0
        return int(await self.redis.execute_command("XTRIM", self.key, "MINID", f"{floor[0]}-{floor[1]}"))


def _fields(raw: Any) -> dict[bytes, bytes]:
    if isinstance(raw, dict):
        return raw
    it = iter(raw)
    return dict(zip(it, it, strict=False))


def _entries(reply: Any) -> list[Entry]:
    if not reply:
        return []
    # redis-py (RESP2) returns [[stream, [(id, fields), ...]]]
    _, items = reply[0]
    return [(_id(i), f) for i, f in items]
