"""The columnar in-memory index of one application's endpoints, built from Redis and kept current from the change
stream every endpoint write appends to (gateway/endpoints/store.py).

Layout (one row per endpoint; rows are never reused, deletes clear the row's `alive` byte):
- ids: one UTF-8 blob + uint32 offsets, and an open-addressing table (int32 rows) for id -> row;
- dictionary-encoded columns (`Column`): each distinct *list* of values (a custom or user attribute) or single value
  (ChannelType, AppVersion, Make, Model, Platform, Country) gets a code; codes are uint8 and widen to uint16/uint32
  as the dictionary grows; code 0 means missing. A criterion becomes a lookup table over codes, built once per
  dictionary entry, so evaluating it is one table load per row whatever the operator;
- float64 columns (NaN = missing) for EffectiveDate (epoch seconds), Latitude, Longitude and each metric;
- for campaign runs (gateway/campaigns/runner.py plans a run from the index, reading no endpoint documents):
  dictionary-encoded OptOut, EndpointStatus, Demographic.Timezone and CohortId, and `addr`, a uint32 hash of the
  Address (`address_hash`: 0 = none), which tells whether an endpoint has an address and which addresses may repeat.
"""

from __future__ import annotations

import asyncio
import gc
import math
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway import _fast, keys
from gateway.endpoints.rules import parse_instant
from gateway.endpoints.store import all_ids_key, changes_key
from gateway.redisconn import text as _s

NAN = math.nan
SET_FIELDS = ("channel", "appversion", "make", "model", "platform", "country", "optout", "status", "timezone", "cohort")


class _Demo(msgspec.Struct, gc=False):
    AppVersion: str | None = None
    Make: str | None = None
    Model: str | None = None
    Platform: str | None = None
    Timezone: str | None = None


class _Loc(msgspec.Struct, gc=False):
    Country: str | None = None
    Latitude: float | None = None
    Longitude: float | None = None


class _User(msgspec.Struct, gc=False):
    UserAttributes: dict[str, tuple[str, ...]] | None = None


class Row(msgspec.Struct, gc=False):
    """The members of a stored EndpointResponse that segments read (msgspec skips the rest while decoding)."""

    Id: str | None = None
    ChannelType: str | None = None
    EffectiveDate: str | None = None
    Address: str | None = None
    CohortId: str | None = None
    EndpointStatus: str | None = None
    OptOut: str | None = None
    Attributes: dict[str, tuple[str, ...]] | None = None  # tuples: dictionary keys as decoded, no copy
    Metrics: dict[str, float] | None = None
    Demographic: _Demo | None = None
    Location: _Loc | None = None
    User: _User | None = None


decode_row = msgspec.json.Decoder(Row).decode


def address_hash(address: str | None) -> int:
    """The `addr` column's value of an Address: 0 for none (or empty), else its CRC-32 (1 when that is 0). Equal
    addresses hash equal; different ones rarely do (a caller that needs certainty reads the documents)."""
    if not address:
        return 0
    return zlib.crc32(address.encode()) or 1
_decode_rows = msgspec.json.Decoder(list[Row]).decode
_WIDTHS = (("B", 0xFF), ("H", 0xFFFF), ("I", 0xFFFFFFFF))


class Column:
    """Dictionary-encoded column: `codes[row]` indexes `values` (a tuple of strings; code 0 = () = missing)."""

    __slots__ = ("codes", "lookup", "values", "width")

    def __init__(self, n: int) -> None:
        self.codes: array[int] = array("B", bytes(n))
        self.values: list[tuple[str, ...]] = [()]
        self.lookup: dict[tuple[str, ...], int] = {(): 0}
        self.width = 0

    def code(self, vals: tuple[str, ...]) -> int:
        c = self.lookup.get(vals)
        if c is None:
            c = len(self.values)
            self.values.append(vals)
            self.lookup[vals] = c
            if c > _WIDTHS[self.width][1]:
                self.width += 1
                self.codes = array(_WIDTHS[self.width][0], self.codes)
        return c

    def nbytes(self) -> int:
        d = sum(sys.getsizeof(v) + sum(sys.getsizeof(s) for s in v) for v in self.values)
        return self.codes.itemsize * len(self.codes) + d + sys.getsizeof(self.lookup)


class EndpointIndex:
    """Columns of one application's endpoints; `upsert`/`delete` keep it current. Not thread-safe (asyncio only)."""

    def __init__(self, kernel: ModuleType, builder: ModuleType | None = None) -> None:
        self.k = kernel
        # Appends rows (gateway/_fast/_segbuild.pyx or its twin); the layout it fills is the one described above.
        self.builder = builder if builder is not None else _fast.load("segbuild")
        self.n = 0
        self.blob = bytearray()
        self.offsets: array[int] = array("I", [0])
        self.table: array[int] = array("i", [-1]) * 16
        self.alive = bytearray()
        self.sets = {f: Column(0) for f in SET_FIELDS}
        self.custom: dict[str, Column] = {}
        self.user: dict[str, Column] = {}
        self.metrics: dict[str, array[float]] = {}
        self.eff: array[float] = array("d")
        self.lat: array[float] = array("d")
        self.lon: array[float] = array("d")
        self.addr: array[int] = array("I")
        self.last_change = "0-0"
        self.luts: dict[Any, bytearray] = {}
        self.live = 0

    # -- id <-> row --------------------------------------------------------------------------------------------

    def row_of(self, endpoint_id: str) -> int:
        """The row of an endpoint id (alive or deleted), or -1."""
        return int(self.k.table_find(self.table, self.blob, self.offsets, endpoint_id.encode()))

    def ids(self, rows: Any) -> list[str]:
        """Endpoint ids of rows (an array('I') from the kernel, or any sequence of ints)."""
        if not isinstance(rows, array) or rows.typecode != "I":
            rows = array("I", rows)
        return list(self.k.ids_of(rows, self.blob, self.offsets))

    def _append_row(self, ep: Row, key: bytes) -> int:
        """Append a row for an endpoint with an Id (the id table is updated by the caller)."""
        row = self.n
        self.builder.append_rows(self, (ep,), Column, parse_instant)
        return row

    def _index_row(self, key: bytes, row: int) -> None:
        if self.n * 2 > len(self.table):
            self.rebuild_table()
        else:
            self.k.table_insert(self.table, key, row)

    def rebuild_table(self) -> None:
        """Rebuild the id table over every row. When an id occurs in several rows (a bulk load may read an id
        twice), the last row wins and the earlier ones are marked dead."""
        size = 16
        while self.n * 2 > size:
            size *= 2
        self.table, superseded = self.k.table_build(self.blob, self.offsets, self.n, size)
        for r in superseded:
            if self.alive[r]:
                self.alive[r] = 0
                self.live -= 1

    # -- writes ------------------------------------------------------------------------------------------------

    def upsert(self, ep: Row) -> None:
        """Add or replace the row of one endpoint."""
        if not ep.Id:
            return
        key = ep.Id.encode()
        row = int(self.k.table_find(self.table, self.blob, self.offsets, key))
        if row < 0:
            self._index_row(key, self._append_row(ep, key))
            return
        if not self.alive[row]:
            self.alive[row] = 1
            self.live += 1
        sets = self.sets
        demo = ep.Demographic
        loc = ep.Location
        _set(sets["channel"], row, ep.ChannelType)
        _set(sets["appversion"], row, demo.AppVersion if demo else None)
        _set(sets["make"], row, demo.Make if demo else None)
        _set(sets["model"], row, demo.Model if demo else None)
        _set(sets["platform"], row, demo.Platform if demo else None)
        _set(sets["country"], row, loc.Country if loc else None)
        _set(sets["optout"], row, ep.OptOut)
        _set(sets["status"], row, ep.EndpointStatus)
        _set(sets["timezone"], row, demo.Timezone if demo else None)
        _set(sets["cohort"], row, ep.CohortId)
        self.addr[row] = address_hash(ep.Address)
        eff = parse_instant(ep.EffectiveDate) if ep.EffectiveDate else None
        self.eff[row] = NAN if eff is None else eff
        lat = loc.Latitude if loc else None
        lon = loc.Longitude if loc else None
        self.lat[row] = NAN if lat is None or lon is None else float(lat)
        self.lon[row] = NAN if lat is None or lon is None else float(lon)
        _set_lists(self.custom, row, ep.Attributes, self.n)
        _set_lists(self.user, row, ep.User.UserAttributes if ep.User else None, self.n)
        metrics = ep.Metrics or {}
        for name, v in metrics.items():
            arr = self.metrics.get(name)
            if arr is None:
                arr = self.metrics[name] = array("d", [NAN]) * self.n
            arr[row] = float(v)
        for name, arr in self.metrics.items():
            if name not in metrics:
                arr[row] = NAN

    def delete(self, endpoint_id: str) -> None:
        row = self.row_of(endpoint_id)
        if row >= 0 and self.alive[row]:
            self.alive[row] = 0
            self.live -= 1

    # -- criteria ----------------------------------------------------------------------------------------------

    def lut(self, key: Any, col: Column, pred: Callable[[tuple[str, ...]], bool]) -> bytearray:
        """The lookup table of `pred` over `col`'s dictionary, cached under `key` and extended as codes appear."""
        lut = self.luts.get(key)
        if lut is None:
            lut = self.luts[key] = bytearray()
        values = col.values
        if len(lut) < len(values):
            lut.extend(1 if pred(values[c]) else 0 for c in range(len(lut), len(values)))
        return lut

    def nbytes(self) -> int:
        """Bytes held by the index's arrays and dictionaries (excluding cached lookup tables)."""
        total = len(self.blob) + self.offsets.itemsize * len(self.offsets) + self.table.itemsize * len(self.table)
        total += len(self.alive) + 8 * (len(self.eff) + len(self.lat) + len(self.lon)) + 4 * len(self.addr)
        for col in [*self.sets.values(), *self.custom.values(), *self.user.values()]:
            total += col.nbytes()
        total += sum(8 * len(m) for m in self.metrics.values())
        return total

    def ingest(self, raws: Iterable[Any]) -> None:
        """Add or replace endpoints from stored EndpointResponse JSON documents (None entries are skipped)."""
        gc_was = gc.isenabled()
        gc.disable()  # many short-lived objects and no cycles: collection passes would only cost time
        try:
            for raw in raws:
                if raw is not None:
                    self.upsert(decode_row(raw))
        finally:
            if gc_was:
                gc.enable()

    def bulk_append(self, raws: Iterable[Any]) -> None:
        """Append endpoints without maintaining the id table: the fast path of a build, which must call
        `rebuild_table()` before the index is used (duplicates are resolved there, the last one winning)."""
        gc_was = gc.isenabled()
        gc.disable()
        try:
            self.builder.append_docs(self, raws, decode_row, Column, parse_instant)
        finally:
            if gc_was:
                gc.enable()


def _set(col: Column, row: int, value: str | None) -> None:
    col.codes[row] = col.code((value,)) if value is not None else 0


def _set_lists(cols: dict[str, Column], row: int, attrs: dict[str, tuple[str, ...]] | None, n: int) -> None:
    attrs = attrs or {}
    for name, vals in attrs.items():
        col = cols.get(name)
        if col is None:
            col = cols[name] = Column(n)
        col.codes[row] = col.code(tuple(vals)) if vals else 0
    for name, col in cols.items():
        if name not in attrs:
            col.codes[row] = 0


def _stream_id(s: str) -> tuple[int, int]:
    a, _, b = s.partition("-")
    return int(a), int(b or 0)


async def _scan(
    redis: aioredis.Redis,
    app: str,
    batch: int,
    slots: asyncio.Semaphore,
    out: asyncio.Queue[asyncio.Future[Any] | None],
) -> None:
    """SSCAN the application's ids and start an MGET of each batch, putting the MGETs in `out` in order, then None
    (also when this fails: the consumer then awaits this task for the error). Each MGET takes one of `slots`,
    which the consumer gives back once it has the reply, so a bounded number of replies is ever held."""
    # Members come back as the bytes the writer's client encoded; a key is the prefix encoded the same way + them.
    encoder: Any = redis.get_encoder()  # type: ignore[no-untyped-call]
    prefix: bytes = encoder.encode(keys.endpoint(app, ""))
    cursor: int = 0
    try:
        while True:
            cursor, ids = await redis.sscan(all_ids_key(app), cursor, count=batch)
            if ids:
                names = [prefix + i if isinstance(i, bytes) else keys.endpoint(app, i) for i in ids]
                await slots.acquire()
                out.put_nowait(asyncio.ensure_future(redis.mget(names)))
            if int(cursor) == 0:
                break
    finally:
        out.put_nowait(None)


async def build(
    redis: aioredis.Redis,
    app: str,
    kernel: ModuleType,
    *,
    batch: int = 5000,
    depth: int = 3,
    builder: ModuleType | None = None,
) -> EndpointIndex:
    """Read every endpoint of `app` into a new index, then catch up with changes made while reading.

    `batch` ids per SSCAN/MGET, `depth` MGETs in flight at most; `builder` appends the rows (default
    `gateway._fast.load("segbuild")`)."""
    cstream = changes_key(app)
    # A marker entry pins our position in the change stream even when it is empty, so trimming is detectable.
    marker = _s(await redis.xadd(cstream, {"ids": "[]"}))
    idx = EndpointIndex(kernel, builder)
    # A scanner task runs SSCAN ahead and keeps up to `depth` MGETs in flight (each on its own pooled connection),
    # so Redis, another process, serializes the next batches while this one is decoded and appended here.
    slots = asyncio.Semaphore(depth)
    pending: asyncio.Queue[asyncio.Future[Any] | None] = asyncio.Queue()
    scanner = asyncio.ensure_future(_scan(redis, app, batch, slots, pending))
    gc_was = gc.isenabled()
    gc.disable()  # the build allocates millions of short-lived objects and no cycles
    try:
        while True:
            fut = await pending.get()
            if fut is None:
                break
            raws = await fut
            slots.release()
            idx.bulk_append(raws)
        await scanner  # its errors, if any
        idx.rebuild_table()
    finally:
        scanner.cancel()
        while not pending.empty():
            left = pending.get_nowait()
            if left is not None:
                left.cancel()
        if gc_was:
            gc.enable()
    idx.last_change = marker
    if not await refresh(redis, app, idx):
        raise RuntimeError("the change stream was trimmed while the index was being built; retry")
    return idx


async def refresh(redis: aioredis.Redis, app: str, idx: EndpointIndex, *, batch: int = 1000) -> bool:
    """Apply changes written since the index last looked; False if the stream was trimmed past that point (the
    caller rebuilds)."""
    cstream = changes_key(app)
    first = True
    while True:
        pipe = redis.pipeline(transaction=False)
        pipe.xrange(cstream, "-", "+", count=1)
        pipe.xrange(cstream, "(" + idx.last_change, "+", count=batch)
        head, entries = await pipe.execute()
        if first:
            first = False
            if not head or _stream_id(_s(head[0][0])) > _stream_id(idx.last_change):
                return False
        if not entries:
            return True
        changed: dict[str, None] = {}
        for _, fields in entries:
            raw = fields.get(b"ids") or fields.get("ids")
            for eid in msgspec.json.decode(raw, type=list[str]):
                changed[eid] = None
        ids = list(changed)
        docs = await redis.mget([keys.endpoint(app, i) for i in ids]) if ids else []
        for eid, raw in zip(ids, docs, strict=True):
            if raw is None:
                idx.delete(eid)
            else:
                idx.upsert(decode_row(raw))
        idx.last_change = _s(entries[-1][0])
        if len(entries) < batch:
            return True


def from_documents(raws: Iterable[bytes], kernel: ModuleType) -> EndpointIndex:
    """An index of stored EndpointResponse JSON documents (tests, benchmarks, offline tools)."""
    idx = EndpointIndex(kernel)
    idx.bulk_append(raws)
    idx.rebuild_table()
    return idx
