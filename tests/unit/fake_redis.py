"""An in-memory stand-in for redis.asyncio.Redis with just the commands the worker, the stream consumer and the
retry mover send, answering in the shapes redis-py 8 returns for them (checked against a real Redis 6.2):

- streams with one or more consumer groups, each with its pending entries list (owner, delivery count, time of
  the last delivery); XREADGROUP (`>` and history ids, BLOCK), XACK, XGROUP CREATE, XAUTOCLAIM, XPENDING (summary
  and range), XINFO GROUPS, XTRIM MINID, XRANGE;
- XAUTOCLAIM as Redis 6.2 answers it (`version=6`: 2 elements, an entry whose data was deleted comes back as
  `(None, None)` and stays pending) or as Redis 7 does (`version=7`: 3 elements, the deleted ids listed in the
  third and dropped from the pending list, and at most COUNT*10 pending entries scanned per call);
- sorted sets (ZADD) and the retry mover's Lua script (gateway.stream.retry._MOVE), run here in Python;
- pipelines (queued commands applied together by `execute()`).

Time is the fake's own clock `now_ms` (entry ids and idle times come from it): a test advances it instead of
sleeping. `down = True` makes every command fail as a refused connection does, until it is reset;
`fail_next(command, exc)` makes the next call of one command raise `exc`. Every command is a suspension point, as a
round trip is, and every change wakes the waiters of `changes.until(...)`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway.stream import retry

StreamId = tuple[int, int]


class Changes:
    """Wakes every waiter when something changed; `until(predicate)` waits for a state, bounded so that a broken
    test fails instead of hanging."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def wait(self) -> Coroutine[Any, Any, Literal[True]]:
        """The next change (bound now: a change between this call and the first await of the result counts)."""
        return self._event.wait()

    async def until(self, predicate: Callable[[], Any], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


def parse_id(raw: Any, *, default_seq: int = 0) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    ms, sep, seq = text.partition("-")
    try:
        return int(ms), int(seq) if sep else default_seq
    except ValueError:
        raise ResponseError("Invalid stream ID specified as stream command argument") from None


def fmt(sid: StreamId) -> bytes:
    return f"{sid[0]}-{sid[1]}".encode()


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


@dataclass
class Pending:
    owner: str
    delivered_ms: int
    count: int


@dataclass
class Group:
    last: StreamId
    pel: dict[StreamId, Pending] = field(default_factory=dict)
    consumers: set[str] = field(default_factory=set)


@dataclass
class Stream:
    entries: dict[StreamId, dict[bytes, bytes]] = field(default_factory=dict)  # in id order
    groups: dict[str, Group] = field(default_factory=dict)
    last_id: StreamId = (0, 0)


class FakeRedis:
    """See the module docstring."""

    def __init__(self, *, version: int = 7, now_ms: int = 1_700_000_000_000) -> None:
        self.version = version
        self.now_ms = now_ms
        self.streams: dict[str, Stream] = {}
        self.zsets: dict[str, dict[bytes, float]] = {}
        self.down = False
        self.changes = Changes()
        self.calls: list[tuple[Any, ...]] = []
        self.reading: dict[str, int] = {}  # XREADGROUP calls in progress, by stream key
        self.closed = False
        self._fail: dict[str, list[tuple[BaseException, Callable[[tuple[Any, ...]], bool] | None]]] = {}

    # -- test controls -------------------------------------------------------------------------------------------

    def fail_next(self, command: str, exc: BaseException, when: Callable[[tuple[Any, ...]], bool] | None = None) -> None:
        """The next call of `command` (whose arguments satisfy `when`, if given) raises `exc`."""
        self._fail.setdefault(command.upper(), []).append((exc, when))

    def set_down(self, down: bool) -> None:
        self.down = down
        self.changes.notify()  # blocked readers notice

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        self.changes.notify()

    def add(self, key: str, fields: dict[Any, Any] | None = None) -> str:
        """XADD without a round trip (what a producer did); returns the id."""
        stream = self.streams.setdefault(key, Stream())
        ms = max(self.now_ms, stream.last_id[0])
        sid = (ms, stream.last_id[1] + 1) if ms == stream.last_id[0] else (ms, 0)
        stream.entries[sid] = {_bytes(k): _bytes(v) for k, v in (fields or {b"n": b"1"}).items()}
        stream.last_id = sid
        self.changes.notify()
        return fmt(sid).decode()

    def group(self, key: str, group: str = "gateway", last: str = "0-0") -> Group:
        stream = self.streams.setdefault(key, Stream())
        return stream.groups.setdefault(group, Group(parse_id(last)))

    def deliver(self, key: str, consumer: str, ids: list[str], *, group: str = "gateway", count: int = 1,
                ago_ms: int = 0) -> None:
        """Put entries in `consumer`'s pending list, as if it had read them `count` times, last `ago_ms` ago."""
        g = self.group(key, group)
        for i in ids:
            sid = parse_id(i)
            g.pel[sid] = Pending(consumer, self.now_ms - ago_ms, count)
            g.last = max(g.last, sid)
            g.consumers.add(consumer)

    def delete(self, key: str, entry_id: str) -> None:
        """XDEL: the data goes, a pending entry for it stays pending (as in Redis)."""
        del self.streams[key].entries[parse_id(entry_id)]

    def pending(self, key: str, group: str = "gateway") -> dict[str, tuple[str, int]]:
        """Pending entries: id -> (owner, delivery count)."""
        g = self.streams[key].groups[group]
        return {fmt(i).decode(): (p.owner, p.count) for i, p in sorted(g.pel.items())}

    def entries(self, key: str) -> list[tuple[str, dict[bytes, bytes]]]:
        stream = self.streams.get(key)
        return [(fmt(i).decode(), dict(f)) for i, f in stream.entries.items()] if stream else []

    def restart(self) -> None:
        """A Redis restart without persistence: every key is gone."""
        self.streams.clear()
        self.zsets.clear()
        self.changes.notify()

    # -- plumbing ------------------------------------------------------------------------------------------------

    async def _round_trip(self, command: str, *args: Any) -> None:
        await asyncio.sleep(0)  # other tasks run while a command is on the wire
        self.calls.append((command, *args))
        self._check_up()
        queued = self._fail.get(command)
        if queued and (queued[0][1] is None or queued[0][1](args)):
            raise queued.pop(0)[0]

    def _check_up(self) -> None:
        if self.down:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def _group(self, key: str, group: str, command: str) -> tuple[Stream, Group]:
        stream = self.streams.get(key)
        g = stream.groups.get(group) if stream else None
        if stream is None or g is None:
            raise ResponseError(f"NOGROUP No such key '{key}' or consumer group '{group}' in {command} with GROUP option")
        return stream, g

    def calls_of(self, command: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == command]

    # -- streams -------------------------------------------------------------------------------------------------

    async def xadd(self, name: str, fields: dict[Any, Any], id: str = "*") -> bytes:
        await self._round_trip("XADD", name)
        return self.add(name, fields).encode()

    async def xgroup_create(self, name: str, groupname: str, id: str = "$", mkstream: bool = False) -> bool:
        await self._round_trip("XGROUP CREATE", name, groupname, id)
        stream = self.streams.get(name)
        if stream is None:
            if not mkstream:
                raise ResponseError("The XGROUP subcommand requires the key to exist.")
            stream = self.streams[name] = Stream()
        if groupname in stream.groups:
            raise ResponseError("BUSYGROUP Consumer Group name already exists")
        stream.groups[groupname] = Group(stream.last_id if id == "$" else parse_id(id))
        self.changes.notify()
        return True

    async def xreadgroup(self, groupname: str, consumername: str, streams: dict[str, Any], count: int | None = None,
                         block: int | None = None, noack: bool = False) -> list[Any]:
        ((key, start),) = streams.items()
        self.reading[key] = self.reading.get(key, 0) + 1
        self.changes.notify()
        try:
            await self._round_trip("XREADGROUP", key, _bytes(start).decode(), count, block)
            stream, g = self._group(key, groupname, "XREADGROUP")
            g.consumers.add(consumername)
            if _bytes(start) != b">":
                after = parse_id(start)
                mine = sorted(i for i, p in g.pel.items() if p.owner == consumername and i > after)[:count]
                items: list[Any] = []
                for sid in mine:  # a history read counts as a delivery
                    g.pel[sid].count += 1
                    g.pel[sid].delivered_ms = self.now_ms
                    items.append((fmt(sid), dict(stream.entries.get(sid, {}))))  # deleted data reads as {}
                return [[key.encode(), items]]
            loop = asyncio.get_running_loop()
            deadline = None if block is None else loop.time() + block / 1000
            while True:
                stream, g = self._group(key, groupname, "XREADGROUP")
                new = [sid for sid in stream.entries if sid > g.last][:count]
                if new:
                    break
                if deadline is None or loop.time() >= deadline:
                    return []  # nil: redis-py gives []
                # BLOCK: wait for an XADD (or the connection dropping); Redis's own timeout bounds the wait
                try:
                    await asyncio.wait_for(self.changes.wait(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    return []
                self._check_up()
            for sid in new:
                g.last = sid
                g.pel[sid] = Pending(consumername, self.now_ms, 1)
            self.changes.notify()
            return [[key.encode(), [(fmt(sid), dict(stream.entries[sid])) for sid in new]]]
        finally:
            self.reading[key] -= 1
            self.changes.notify()

    async def xack(self, name: str, groupname: str, *ids: Any) -> int:
        await self._round_trip("XACK", name, groupname, *ids)
        return self._ack(name, groupname, ids)

    def _ack(self, name: str, groupname: str, ids: Any) -> int:
        sids = [parse_id(i) for i in ids]  # Redis checks every id first
        stream = self.streams.get(name)
        g = stream.groups.get(groupname) if stream else None
        if g is None:
            return 0
        n = sum(1 for sid in sids if g.pel.pop(sid, None) is not None)
        self.changes.notify()
        return n

    async def xpending(self, name: str, groupname: str) -> dict[str, Any]:
        await self._round_trip("XPENDING", name, groupname)
        _, g = self._group(name, groupname, "XPENDING")
        ids = sorted(g.pel)
        owners: dict[str, int] = {}
        for p in g.pel.values():
            owners[p.owner] = owners.get(p.owner, 0) + 1
        return {"pending": len(ids), "min": fmt(ids[0]) if ids else None, "max": fmt(ids[-1]) if ids else None,
                "consumers": [{"name": o.encode(), "pending": n} for o, n in owners.items()]}

    async def xpending_range(self, name: str, groupname: str, min: Any, max: Any, count: int,
                             consumername: str | None = None, idle: int | None = None) -> list[dict[str, Any]]:
        await self._round_trip("XPENDING", name, groupname, min, max, count, consumername)
        _, g = self._group(name, groupname, "XPENDING")
        lo = (0, 0) if min == "-" else parse_id(min)
        hi = (2**64, 0) if max == "+" else parse_id(max, default_seq=2**64)
        rows = []
        for sid, p in sorted(g.pel.items()):
            if lo <= sid <= hi and (consumername is None or p.owner == consumername):
                rows.append({"message_id": fmt(sid), "consumer": p.owner.encode(),
                             "time_since_delivered": self.now_ms - p.delivered_ms, "times_delivered": p.count})
        return rows[:count]

    async def xinfo_groups(self, name: str) -> list[dict[str, Any]]:
        await self._round_trip("XINFO GROUPS", name)
        stream = self.streams.get(name)
        if stream is None:
            raise ResponseError("no such key")
        return [{"name": n.encode(), "consumers": len(g.consumers), "pending": len(g.pel),
                 "last-delivered-id": fmt(g.last)} for n, g in stream.groups.items()]

    async def xrange(self, name: str, min: Any = "-", max: Any = "+", count: int | None = None) -> list[Any]:
        await self._round_trip("XRANGE", name, min, max)
        return self._xrange(name, min, max, count)

    def _xrange(self, name: str, min: Any, max: Any, count: int | None) -> list[Any]:
        stream = self.streams.get(name)
        if stream is None:
            return []
        lo = (0, 0) if min == "-" else parse_id(min)
        hi = (2**64, 0) if max == "+" else parse_id(max, default_seq=2**64)
        out = [(fmt(sid), dict(f)) for sid, f in stream.entries.items() if lo <= sid <= hi]
        return out[:count] if count is not None else out

    async def execute_command(self, *args: Any) -> Any:
        command = str(args[0]).upper()
        await self._round_trip(command, *args[1:])
        if command == "XAUTOCLAIM":
            return self._xautoclaim(*args[1:])
        if command == "XTRIM":
            key, how, floor = args[1:4]
            assert str(how).upper() == "MINID", "the gateway trims with MINID only"
            stream = self.streams.get(key)
            if stream is None:
                return 0
            below = [sid for sid in stream.entries if sid < parse_id(floor)]
            for sid in below:
                del stream.entries[sid]
            return len(below)
        raise NotImplementedError(f"FakeRedis does not know {command}")

    def _xautoclaim(self, key: str, group: str, consumer: str, min_idle: Any, start: Any, *opts: Any) -> list[Any]:
        stream, g = self._group(key, group, "XAUTOCLAIM")
        count = int(opts[opts.index("COUNT") + 1]) if "COUNT" in opts else 100
        attempts = count * 10 if self.version >= 7 else None
        claimed: list[Any] = []
        deleted: list[bytes] = []
        cursor = b"0-0"
        left = count
        for sid in sorted(i for i in g.pel if i >= parse_id(start)):
            if left == 0 or attempts == 0:
                cursor = fmt(sid)
                break
            if attempts is not None:
                attempts -= 1
            p = g.pel[sid]
            if self.now_ms - p.delivered_ms < int(min_idle):
                continue
            left -= 1
            if sid not in stream.entries and self.version >= 7:
                del g.pel[sid]
                deleted.append(fmt(sid))
                continue
            g.pel[sid] = Pending(consumer, self.now_ms, p.count + 1)
            g.consumers.add(consumer)
            # Redis 6.2 answers nil for an entry whose data is gone; redis-py parses that as (None, None)
            claimed.append((fmt(sid), dict(stream.entries[sid])) if sid in stream.entries else (None, None))
        self.changes.notify()
        return [cursor, claimed, deleted] if self.version >= 7 else [cursor, claimed]

    # -- sorted sets and scripts ---------------------------------------------------------------------------------

    async def zadd(self, name: str, mapping: dict[Any, float]) -> int:
        await self._round_trip("ZADD", name)
        return self._zadd(name, mapping)

    def _zadd(self, name: str, mapping: dict[Any, float]) -> int:
        zset = self.zsets.setdefault(name, {})
        new = sum(1 for m in mapping if _bytes(m) not in zset)
        zset.update({_bytes(m): float(s) for m, s in mapping.items()})
        self.changes.notify()
        return new

    def register_script(self, script: str) -> FakeScript:
        return FakeScript(self, script)

    def _move(self, keys: list[str], args: list[Any]) -> int:
        """gateway.stream.retry._MOVE, line by line."""
        zset = self.zsets.get(keys[0], {})
        due = sorted((s, m) for m, s in zset.items() if s <= float(args[0]))[: int(args[1])]
        for _, member in due:
            flat = json.loads(member)  # cjson.decode
            self.add(keys[1], dict(zip(flat[::2], flat[1::2], strict=True)))
            del zset[member]
        return len(due)

    # -- transactions --------------------------------------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    async def aclose(self) -> None:
        self.closed = True


class FakeScript:
    def __init__(self, redis: FakeRedis, script: str) -> None:
        self.redis = redis
        self.script = script

    async def __call__(self, keys: list[str], args: list[Any]) -> int:
        await self.redis._round_trip("EVALSHA", *keys)
        if self.script == retry._MOVE:
            return self.redis._move(keys, args)
        raise NotImplementedError("FakeRedis runs only the retry mover's script")


class FakePipeline:
    """Queues commands; `execute()` applies them all at once (one round trip), or none when Redis is down."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.queued: list[tuple[str, tuple[Any, ...]]] = []

    def xadd(self, name: str, fields: dict[Any, Any]) -> FakePipeline:
        self.queued.append(("XADD", (name, fields)))
        return self

    def xack(self, name: str, groupname: str, *ids: Any) -> FakePipeline:
        self.queued.append(("XACK", (name, groupname, *ids)))
        return self

    def xrange(self, name: str, min: Any = "-", max: Any = "+", count: int | None = None) -> FakePipeline:
        self.queued.append(("XRANGE", (name, min, max, count)))
        return self

    def zadd(self, name: str, mapping: dict[Any, float]) -> FakePipeline:
        self.queued.append(("ZADD", (name, mapping)))
        return self

    async def execute(self) -> list[Any]:
        r = self.redis
        await r._round_trip("EXEC", *(c for c, _ in self.queued))
        out: list[Any] = []
        for command, args in self.queued:
            if command == "XADD":
                out.append(r.add(args[0], args[1]).encode())
            elif command == "XACK":
                out.append(r._ack(args[0], args[1], args[2:]))
            elif command == "XRANGE":
                out.append(r._xrange(*args))
            else:
                out.append(r._zadd(*args))
        self.queued = []
        return out
