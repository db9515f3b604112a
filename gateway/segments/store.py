"""Segments with versions, stored in Redis as Pinpoint's SegmentResponse JSON.

Keys: `gw:{app}:segs` (zset id -> creation time, for GetSegments pages), `gw:{app}:seg:<id>` (hash: `latest` ->
version number, `v<N>` -> SegmentResponse JSON of version N), `gw:{app}:segmem:<id>:<N>` (set of endpoint ids of
an imported segment's version N). Every CreateSegment/UpdateSegment is checked (definition.py) before it is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import keys
from gateway.endpoints.rules import now_iso
from gateway.models import SegmentImportResource, SegmentResponse, SegmentsResponse, WriteSegmentRequest
from gateway.segments.definition import (
    TRUE,
    And,
    Members,
    Node,
    Not,
    Or,
    Ref,
    SegmentNotFound,
    SegmentValidationError,
    check_write_request,
    compile_dimensions,
    compile_groups,
)
from gateway.versions import latest_page, versions_page

_decode = msgspec.json.Decoder(SegmentResponse).decode
_encode = msgspec.json.Encoder().encode
MAX_DEPTH = 16


def list_key(app: str) -> str:
    return keys.app_key(app, "segs")


def seg_key(app: str, segment_id: str) -> str:
    return keys.app_key(app, "seg", segment_id)


def members_key(app: str, segment_id: str, version: int) -> str:
    return keys.app_key(app, "segmem", segment_id, str(version))


def _s(b: Any) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


def tree_of(seg: SegmentResponse) -> Node:
    """The compiled tree of one stored segment version (source segments still as Ref nodes)."""
    if seg.SegmentType == "IMPORT":
        return Members(seg.Id, seg.Version or 1)
    if seg.Dimensions is not None:
        return compile_dimensions(seg.Dimensions)
    if seg.SegmentGroups is not None:
        return compile_groups(seg.SegmentGroups)
    return TRUE


def _page(page_size: str | int | None, token: str | None) -> tuple[int, int | None]:
    try:
        start = int(token) if token else 0
        size = int(page_size) if page_size not in (None, "") else None
    except ValueError:
        raise SegmentValidationError("PageSize and Token must be integers") from None
    if start < 0 or (size is not None and size <= 0):
        raise SegmentValidationError("PageSize must be positive and Token non-negative")
    return start, size


class SegmentStore:
    """CreateSegment, GetSegment(s), UpdateSegment, DeleteSegment, GetSegmentVersion(s) for any application."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        arn_prefix: str = "arn:aws:mobiletargeting:local:000000000000",
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.redis = redis
        self.arn_prefix = arn_prefix
        self._clock = clock

    async def create(self, app: str, req: WriteSegmentRequest) -> SegmentResponse:
        """CreateSegment: a DIMENSIONAL segment, version 1."""
        check_write_request(req)
        segment_id = uuid.uuid4().hex
        await self._check_sources(app, segment_id, req)
        now = self._clock()
        seg = SegmentResponse(
            ApplicationId=app,
            Arn=f"{self.arn_prefix}:apps/{app}/segments/{segment_id}",
            CreationDate=now,
            Dimensions=req.Dimensions,
            Id=segment_id,
            LastModifiedDate=now,
            Name=req.Name,
            SegmentGroups=req.SegmentGroups,
            SegmentType="DIMENSIONAL",
            tags=req.tags,
            Version=1,
        )
        await self._store(app, seg, created=True)
        return seg

    async def create_import_version(
        self,
        app: str,
        segment_id: str | None,
        name: str | None,
        definition: SegmentImportResource,
        member_ids: Iterable[str],
    ) -> SegmentResponse:
        """Store an imported (static) segment: a new segment, or a new version of `segment_id`."""
        now = self._clock()
        ids = list(dict.fromkeys(member_ids))
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    prev = None
                    if segment_id:
                        await pipe.watch(seg_key(app, segment_id))
                        prev = await self._latest(pipe, app, segment_id)
                        if prev.SegmentType != "IMPORT":
                            raise SegmentValidationError(f"segment {segment_id!r} is not an imported segment")
                    sid = segment_id or uuid.uuid4().hex
                    version = (prev.Version or 1) + 1 if prev else 1
                    seg = SegmentResponse(
                        ApplicationId=app,
                        Arn=f"{self.arn_prefix}:apps/{app}/segments/{sid}",
                        CreationDate=prev.CreationDate if prev else now,
                        Id=sid,
                        ImportDefinition=definition,
                        LastModifiedDate=now,
                        Name=name or (prev.Name if prev else None),
                        SegmentType="IMPORT",
                        tags=prev.tags if prev else None,
                        Version=version,
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    for i in range(0, len(ids), 10000):
                        pipe.sadd(members_key(app, sid, version), *ids[i : i + 10000])
                    self._queue_store(pipe, app, seg, created=prev is None)
                    await pipe.execute()
                    return seg
                except WatchError:
                    continue

    async def get(self, app: str, segment_id: str) -> SegmentResponse:
        """GetSegment: the latest version."""
        return await self._latest(self.redis, app, segment_id)

    async def get_version(self, app: str, segment_id: str, version: int | str | None) -> SegmentResponse:
        """GetSegmentVersion (None = latest)."""
        if version is None:
            return await self.get(app, segment_id)
        raw = await self.redis.hget(seg_key(app, segment_id), f"v{int(version)}")
        if raw is None:
            raise SegmentNotFound(f"segment {segment_id!r} version {version} not found in application {app!r}")
        return _decode(raw)

    async def list_segments(
        self, app: str, page_size: str | int | None = None, token: str | None = None
    ) -> SegmentsResponse:
        """GetSegments: latest versions, oldest first; NextToken continues the listing."""
        start, size = _page(page_size, token)
        raws, next_token = await latest_page(self.redis, list_key(app), lambda i: seg_key(app, i), start, size)
        return SegmentsResponse(Item=[_decode(r) for r in raws], NextToken=next_token)

    async def versions(
        self, app: str, segment_id: str, page_size: str | int | None = None, token: str | None = None
    ) -> SegmentsResponse:
        """GetSegmentVersions: every version, newest first."""
        latest = await self.get(app, segment_id)
        start, size = _page(page_size, token)
        raws, next_token = await versions_page(self.redis, seg_key(app, segment_id), latest.Version or 1, start, size)
        return SegmentsResponse(Item=[_decode(r) for r in raws], NextToken=next_token)

    async def update(self, app: str, segment_id: str, req: WriteSegmentRequest) -> SegmentResponse:
        """UpdateSegment: a new version; an imported segment may only change its Name and tags."""
        check_write_request(req)
        await self._check_sources(app, segment_id, req)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(seg_key(app, segment_id))
                    prev = await self._latest(pipe, app, segment_id)
                    if prev.SegmentType == "IMPORT" and (req.Dimensions or req.SegmentGroups):
                        raise SegmentValidationError("an imported segment's endpoints come from its import job")
                    changes: dict[str, Any]
                    if prev.SegmentType == "IMPORT":
                        changes = {"Name": req.Name or prev.Name, "tags": req.tags or prev.tags}
                    else:
                        changes = {
                            "Name": req.Name if req.Name is not None else prev.Name,
                            "tags": req.tags if req.tags is not None else prev.tags,
                            "Dimensions": req.Dimensions,
                            "SegmentGroups": req.SegmentGroups,
                        }
                    seg = msgspec.structs.replace(
                        prev, Version=(prev.Version or 1) + 1, LastModifiedDate=self._clock(), **changes
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if prev.SegmentType == "IMPORT":  # the new version lists the same endpoints
                        pipe.sunionstore(
                            members_key(app, segment_id, seg.Version or 1),
                            [members_key(app, segment_id, prev.Version or 1)],
                        )
                    self._queue_store(pipe, app, seg, created=False)
                    await pipe.execute()
                    return seg
                except WatchError:
                    continue

    async def delete(self, app: str, segment_id: str) -> SegmentResponse:
        """DeleteSegment: removes every version; returns the latest."""
        seg = await self.get(app, segment_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(seg_key(app, segment_id))
        pipe.zrem(list_key(app), segment_id)
        for v in range(1, (seg.Version or 1) + 1):
            pipe.delete(members_key(app, segment_id, v))
        await pipe.execute()
        return seg

    async def members(self, app: str, segment_id: str, version: int) -> list[str]:
        """Endpoint ids of an imported segment version."""
        return [_s(m) for m in await self.redis.smembers(members_key(app, segment_id, version))]

    async def expand(self, app: str, node: Node, unpinned: list[str] | None = None, _depth: int = 0) -> Node:
        """Replace every Ref (source segment) by that segment's tree, recursively. Ids of sources referenced
        without a Version (they follow the latest version) are appended to `unpinned`."""
        if _depth > MAX_DEPTH:
            raise SegmentValidationError("source segments nest too deeply or form a cycle")
        if isinstance(node, Ref):
            if node.version is None and unpinned is not None:
                unpinned.append(node.segment_id)
            seg = await self.get_version(app, node.segment_id, node.version)
            return await self.expand(app, tree_of(seg), unpinned, _depth + 1)
        if isinstance(node, (And, Or)):
            kids = tuple([await self.expand(app, c, unpinned, _depth) for c in node.children])
            return And(kids) if isinstance(node, And) else Or(kids)
        if isinstance(node, Not):
            return Not(await self.expand(app, node.child, unpinned, _depth))
        return node

    # -- internals ---------------------------------------------------------------------------------------------

    async def _check_sources(self, app: str, segment_id: str, req: WriteSegmentRequest) -> None:
        groups = req.SegmentGroups.Groups or [] if req.SegmentGroups is not None else []
        for gi, g in enumerate(groups):
            srcs = g.SourceSegments or []
            types = []
            for s in srcs:
                if s.Id == segment_id:
                    raise SegmentValidationError(f"SegmentGroups.Groups[{gi}]: a segment cannot be its own source")
                try:
                    types.append((await self.get_version(app, s.Id, s.Version)).SegmentType)
                except SegmentNotFound:
                    raise SegmentValidationError(
                        f"SegmentGroups.Groups[{gi}]: source segment {s.Id!r} (version {s.Version}) does not exist"
                    ) from None
            if "IMPORT" in types and len(srcs) > 1:
                raise SegmentValidationError(
                    f"SegmentGroups.Groups[{gi}]: specify several dimensional source segments or one imported one"
                )
        if groups and req.SegmentGroups is not None:
            await self._no_cycle(app, segment_id, compile_groups(req.SegmentGroups))

    async def _no_cycle(self, app: str, segment_id: str, node: Node, _depth: int = 0) -> None:
        if _depth > MAX_DEPTH:
            raise SegmentValidationError("source segments nest too deeply")
        if isinstance(node, Ref):
            if node.segment_id == segment_id:
                raise SegmentValidationError(f"source segments would form a cycle through {segment_id!r}")
            seg = await self.get_version(app, node.segment_id, node.version)
            await self._no_cycle(app, segment_id, tree_of(seg), _depth + 1)
        elif isinstance(node, (And, Or)):
            for c in node.children:
                await self._no_cycle(app, segment_id, c, _depth)
        elif isinstance(node, Not):
            await self._no_cycle(app, segment_id, node.child, _depth)

    async def _latest(self, client: aioredis.Redis, app: str, segment_id: str) -> SegmentResponse:
        v = await client.hget(seg_key(app, segment_id), "latest")
        if v is None:
            raise SegmentNotFound(f"segment {segment_id!r} not found in application {app!r}")
        raw = await client.hget(seg_key(app, segment_id), f"v{int(v)}")
        if raw is None:
            raise SegmentNotFound(f"segment {segment_id!r} not found in application {app!r}")
        return _decode(raw)

    async def _store(self, app: str, seg: SegmentResponse, *, created: bool) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self._queue_store(pipe, app, seg, created=created)
        await pipe.execute()

    @staticmethod
    def _queue_store(pipe: aioredis.client.Pipeline, app: str, seg: SegmentResponse, *, created: bool) -> None:
        v = seg.Version or 1
        pipe.hset(seg_key(app, seg.Id), mapping={f"v{v}": _encode(seg), "latest": v})
        if created:
            pipe.zadd(list_key(app), {seg.Id: time.time()})
