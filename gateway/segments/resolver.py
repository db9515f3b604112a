"""Resolve a segment to endpoint ids: the public API of segments for campaigns and journeys.

    resolver = SegmentResolver(redis)
    ids = await resolver.resolve(app, segment_id)            # latest version
    n = await resolver.count(app, segment_id, version=3)

Each application's index (index.py) is built from Redis once per process and brought up to date from the change
stream before every resolve (one round trip when nothing changed), so a write by any worker is visible to the next
resolve. The segment's tree is compiled once per version; its lookup tables live in the index.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import redis.asyncio as aioredis

from gateway import _fast
from gateway.segments import index as index_mod
from gateway.segments import snapshot
from gateway.segments.definition import Members, Node
from gateway.segments.index import EndpointIndex
from gateway.segments.program import bind
from gateway.segments.store import SegmentStore, tree_of

log = logging.getLogger("gateway.segments")


class _MemberMask:
    """Rows of an imported segment version; ids not yet in the index are retried when the index grows."""

    __slots__ = ("mask", "missing", "seen_n")

    def __init__(self) -> None:
        self.mask = bytearray()
        self.missing: list[str] = []
        self.seen_n = -1


class SegmentResolver:
    """Resolves segments of any application over per-application columnar indexes."""

    def __init__(
        self,
        redis: aioredis.Redis,
        segments: SegmentStore | None = None,
        *,
        kernel: ModuleType | None = None,
        clock: Callable[[], float] = time.time,
        snapshots: bool = True,
    ) -> None:
        self.redis = redis
        self.segments = segments or SegmentStore(redis)
        self.kernel = kernel or _fast.load("segfilter")
        self._clock = clock  # wall clock: recency compares with stored dates, not intervals
        self._indexes: dict[str, EndpointIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._trees: dict[tuple[str, str, int], Node] = {}
        self._members: dict[tuple[str, str, int], _MemberMask] = {}
        self.snapshots = snapshots
        self._background: set[asyncio.Task[Any]] = set()

    async def index(self, app: str) -> EndpointIndex:
        """The application's index, current as of this call."""
        lock = self._locks.setdefault(app, asyncio.Lock())
        async with lock:
            idx = self._indexes.get(app)
            if idx is not None and await index_mod.refresh(self.redis, app, idx):
                return idx
            idx = await snapshot.load(self.redis, app, self.kernel) if self.snapshots else None
            if idx is None:
                idx = await index_mod.build(self.redis, app, self.kernel)
                if self.snapshots:
                    # Dumped now (a consistent cut), written in the background: the caller's resolve goes on.
                    self._spawn(snapshot.write(self.redis, app, snapshot.dump(idx), idx.last_change))
            self._indexes[app] = idx
            self._members = {k: v for k, v in self._members.items() if k[0] != app}
            return idx

    async def save_snapshot(self, app: str) -> str:
        """Save the application's current index as the snapshot other workers start from (run it now and then
        from a periodic task, so a starting worker replays few changes)."""
        idx = await self.index(app)
        return await snapshot.save(self.redis, app, idx)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("saving the index snapshot failed: %r", task.exception())

    async def drain(self) -> None:
        """Wait for background snapshot writes (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def tree(self, app: str, segment_id: str, version: int | None = None) -> Node:
        """The segment version compiled, with source segments expanded (cached per version)."""
        seg = await self.segments.get_version(app, segment_id, version)
        key = (app, seg.Id, seg.Version or 1)
        node = self._trees.get(key)
        if node is None:
            unpinned: list[str] = []
            node = await self.segments.expand(app, tree_of(seg), unpinned)
            if not unpinned:  # a source that follows its latest version may change under us: expand each time
                self._trees[key] = node
        return node

    async def mask(self, app: str, segment_id: str, version: int | None = None) -> tuple[EndpointIndex, bytearray]:
        """The index and the segment's row mask (1 = member)."""
        node = await self.tree(app, segment_id, version)
        idx = await self.index(app)
        member_masks = await self._member_masks(app, node, idx)
        program = bind(node, idx, self._clock(), lambda m: member_masks[(m.segment_id, m.version)])
        return idx, self.kernel.run(program, idx.n)

    async def resolve(self, app: str, segment_id: str, version: int | None = None) -> list[str]:
        """Endpoint ids in the segment (every endpoint, whatever its status; the dispatcher drops opted-out and
        inactive ones when it sends), in index order."""
        idx, m = await self.mask(app, segment_id, version)
        return idx.ids(self.kernel.rows(m))

    async def rows(self, app: str, segment_id: str, version: int | None = None) -> tuple[EndpointIndex, Any]:
        """The index and the segment's rows in it (an array('I'), index order): for callers that read the index's
        columns of the members (campaign runs) instead of their ids alone. Read them before the next await: a later
        refresh may change the rows' columns."""
        idx, m = await self.mask(app, segment_id, version)
        return idx, self.kernel.rows(m)

    async def count(self, app: str, segment_id: str, version: int | None = None) -> int:
        _, m = await self.mask(app, segment_id, version)
        return int(self.kernel.count(m))

    async def sample(
        self, app: str, segment_id: str, k: int = 10, version: int | None = None, rng: random.Random | None = None
    ) -> list[str]:
        """Up to k endpoint ids drawn at random from the segment."""
        idx, m = await self.mask(app, segment_id, version)
        rows = self.kernel.rows(m)
        picked = (rng or random.Random()).sample(range(len(rows)), min(k, len(rows)))
        return idx.ids([rows[i] for i in sorted(picked)]) if picked else []

    async def _member_masks(self, app: str, node: Node, idx: EndpointIndex) -> dict[tuple[str, int], bytearray]:
        out: dict[tuple[str, int], bytearray] = {}
        for m in _members_in(node):
            key = (app, m.segment_id, m.version)
            mm = self._members.get(key)
            if mm is None:
                mm = self._members[key] = _MemberMask()
                mm.missing = await self.segments.members(app, m.segment_id, m.version)
            if len(mm.mask) < idx.n:
                mm.mask.extend(bytes(idx.n - len(mm.mask)))
            if mm.missing and mm.seen_n != idx.n:
                still = []
                for eid in mm.missing:
                    row = idx.row_of(eid)
                    if row >= 0:
                        mm.mask[row] = 1
                    else:
                        still.append(eid)
                mm.missing = still
                mm.seen_n = idx.n
            out[(m.segment_id, m.version)] = mm.mask
        return out


def _members_in(node: Any) -> list[Members]:
    if isinstance(node, Members):
        return [node]
    kids = getattr(node, "children", None)
    if kids is not None:
        return [m for c in kids for m in _members_in(c)]
    child = getattr(node, "child", None)
    return _members_in(child) if child is not None else []
