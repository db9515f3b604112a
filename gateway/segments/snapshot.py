"""Index snapshots in Redis: a worker that built an application's index from the endpoints saves its columns
(raw array bytes and dictionaries, msgpack) tagged with its position in the change stream; other workers, and this
one after a restart, load the snapshot and replay only the changes since, instead of reading every endpoint.

Keys: `gw:{app}:ixsnap` (the current generation id) and `gw:{app}:ixsnap:<gen>` (hash of chunks `c0`, `c1`, ...).
A snapshot is only used when it was written by the same array layout (byte order, item sizes) and the change
stream still holds every entry after its position; otherwise the caller builds from the endpoints.
"""

from __future__ import annotations

import sys
from array import array
from types import ModuleType
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from gateway import keys
from gateway.segments.index import Column, EndpointIndex, refresh

FORMAT = 2  # 2: the planning columns (optout, status, timezone, cohort sets and addr)
CHUNK = 32 * 1024 * 1024
_LAYOUT = f"{sys.byteorder}:{array('I').itemsize}:{array('i').itemsize}:{array('H').itemsize}"


class _Col(msgspec.Struct, array_like=True):
    typecode: str
    codes: bytes
    values: list[list[str]]


class _Snap(msgspec.Struct, array_like=True):
    format: int
    layout: str
    n: int
    live: int
    last_change: str
    blob: bytes
    offsets: bytes
    alive: bytes
    eff: bytes
    lat: bytes
    lon: bytes
    addr: bytes
    sets: dict[str, _Col]
    custom: dict[str, _Col]
    user: dict[str, _Col]
    metrics: dict[str, bytes]


def _s(b: Any) -> str:
    return b.decode() if isinstance(b, bytes) else (b or "")


def pointer_key(app: str) -> str:
    return keys.app_key(app, "ixsnap")


def gen_key(app: str, gen: str) -> str:
    return keys.app_key(app, "ixsnap", gen)


def _col(c: Column) -> _Col:
    return _Col(c.codes.typecode, c.codes.tobytes(), [list(v) for v in c.values])


def dump(idx: EndpointIndex) -> bytes:
    """The index as bytes (synchronous, so it is a consistent cut even while resolves keep running)."""
    snap = _Snap(
        format=FORMAT,
        layout=_LAYOUT,
        n=idx.n,
        live=idx.live,
        last_change=idx.last_change,
        blob=bytes(idx.blob),
        offsets=idx.offsets.tobytes(),
        alive=bytes(idx.alive),
        eff=idx.eff.tobytes(),
        lat=idx.lat.tobytes(),
        lon=idx.lon.tobytes(),
        addr=idx.addr.tobytes(),
        sets={k: _col(c) for k, c in idx.sets.items()},
        custom={k: _col(c) for k, c in idx.custom.items()},
        user={k: _col(c) for k, c in idx.user.items()},
        metrics={k: m.tobytes() for k, m in idx.metrics.items()},
    )
    return msgspec.msgpack.encode(snap)


def _uncol(c: _Col) -> Column:
    col = Column(0)
    col.codes = array(c.typecode)
    col.codes.frombytes(c.codes)
    col.values = [tuple(v) for v in c.values]
    col.lookup = {v: i for i, v in enumerate(col.values)}
    col.width = "BHI".index(c.typecode)
    return col


def _arr(typecode: str, raw: bytes) -> array[Any]:
    a = array(typecode)
    a.frombytes(raw)
    return a


def restore(raw: bytes, kernel: ModuleType) -> EndpointIndex | None:
    """An index from `dump` output, or None when the snapshot has another format or array layout."""
    try:
        snap = msgspec.msgpack.decode(raw, type=_Snap)
    except msgspec.DecodeError:
        return None
    if snap.format != FORMAT or snap.layout != _LAYOUT:
        return None
    idx = EndpointIndex(kernel)
    idx.n, idx.live, idx.last_change = snap.n, snap.live, snap.last_change
    idx.blob = bytearray(snap.blob)
    idx.offsets = _arr("I", snap.offsets)
    idx.alive = bytearray(snap.alive)
    idx.eff, idx.lat, idx.lon = _arr("d", snap.eff), _arr("d", snap.lat), _arr("d", snap.lon)
    idx.addr = _arr("I", snap.addr)
    idx.sets = {k: _uncol(c) for k, c in snap.sets.items()}
    idx.custom = {k: _uncol(c) for k, c in snap.custom.items()}
    idx.user = {k: _uncol(c) for k, c in snap.user.items()}
    idx.metrics = {k: _arr("d", m) for k, m in snap.metrics.items()}
    idx.rebuild_table()  # the id table's hash is per implementation (and per process for the twin)
    return idx


async def save(redis: aioredis.Redis, app: str, idx: EndpointIndex) -> str:
    """Store a snapshot of `idx` as the application's current one; returns its generation id."""
    return await write(redis, app, dump(idx), idx.last_change)


async def write(redis: aioredis.Redis, app: str, raw: bytes, gen: str) -> str:
    """Store `dump` output taken at change-stream position `gen` as the application's current snapshot."""
    chunks: dict[FieldT, EncodableT] = {f"c{i // CHUNK}": raw[i : i + CHUNK] for i in range(0, len(raw), CHUNK)} or {"c0": b""}
    old = _s(await redis.get(pointer_key(app)))
    pipe = redis.pipeline(transaction=True)
    pipe.delete(gen_key(app, gen))
    pipe.hset(gen_key(app, gen), mapping=chunks)
    pipe.set(pointer_key(app), gen)
    if old and old != gen:
        pipe.delete(gen_key(app, old))
    await pipe.execute()
    return gen


async def load(redis: aioredis.Redis, app: str, kernel: ModuleType) -> EndpointIndex | None:
    """The application's saved index brought up to date, or None (no usable snapshot: build from endpoints)."""
    gen = _s(await redis.get(pointer_key(app)))
    if not gen:
        return None
    parts: dict[Any, Any] = await redis.hgetall(gen_key(app, gen))
    if not parts:
        return None
    raw = b"".join(parts[f"c{i}".encode()] for i in range(len(parts)))
    idx = restore(raw, kernel)
    if idx is None or not await refresh(redis, app, idx):
        return None
    return idx
