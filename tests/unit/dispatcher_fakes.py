"""In-memory fakes for the Dispatcher's unit tests: a Redis that knows only the commands the dispatcher and its
stores use, and records what was written, in order; a channel that answers as told; a template store.

No server and no sockets. The fake applies each command's effect the way Redis would (a pipeline's commands in
order, a transaction's all together at EXEC), and the two Lua scripts the dispatcher runs are replaced by their
effect (EventWriter's XADD of each record, the reply's LPUSH + EXPIRE). A script it does not know fails the test:
whoever adds one teaches the fake what it does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway import dispatch, events
from gateway.channels.base import Delivered, Outbound
from gateway.errors import DeliveryError
from gateway.kpi import rollup
from gateway.templates.store import TemplateNotFound


def _b(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (int, float)):
        return str(value).encode()
    raise TypeError(f"the fake Redis stores bytes, str and numbers, not {type(value).__name__}")


@dataclass
class Executed:
    """One round trip the fake served: a pipeline (transaction or not) or a lone command, with its commands."""

    transaction: bool
    commands: list[str]


Op = Callable[[], Any]


class FakeRedis:
    """Just the commands the Dispatcher uses (see the module docstring). `down` names commands that fail with a
    ConnectionError, as when Redis cannot be reached: a round trip holding one of them applies nothing. `flaky`
    maps a command to how many more round trips holding it fail that way (a pool busy for a while)."""

    def __init__(self) -> None:
        self.strings: dict[str, bytes] = {}
        self.sets: dict[str, set[bytes]] = {}
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.zsets: dict[str, dict[bytes, float]] = {}
        self.streams: dict[str, list[tuple[str, dict[bytes, bytes]]]] = {}
        self.ttl: dict[str, int] = {}
        self.acks: list[tuple[str, str, str]] = []  # (stream, group, entry id), one per acknowledged id
        self.log: list[Executed] = []
        self.down: set[str] = set()
        self.flaky: dict[str, int] = {}
        self.failures = 0  # round trips refused as if Redis were down
        self.busy: dict[str, int] = {}  # round trips with these commands refused as a busy blocking pool refuses them
        self._seq = 0

    # -- what tests read ---------------------------------------------------------------------------------------

    def stream(self, key: str) -> list[dict[bytes, bytes]]:
        return [f for _, f in self.streams.get(key, [])]

    def event_records(self, key: str = "gateway:events") -> list[dict[str, Any]]:
        out = []
        for fields in self.stream(key):
            record = msgspec.json.decode(fields[b"record"])
            assert fields[b"event_type"].decode() == record["event_type"]
            assert fields[b"app"].decode() == record["application"]["app_id"]
            out.append(record)
        return out

    def index_of(self, command: str) -> int:
        """The position in `log` of the (only) round trip that ran `command`."""
        found = [i for i, e in enumerate(self.log) if command in e.commands]
        assert len(found) == 1, f"{command} ran in {len(found)} round trips: {self.log}"
        return found[0]

    # -- the client surface ------------------------------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self, transaction)

    def register_script(self, source: str) -> FakeScript:
        return FakeScript(self, source)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return self._lone("mget", lambda: [self._string(k) for k in keys])

    async def hmget(self, key: str, fields: Sequence[str]) -> list[bytes | None]:
        return self._lone("hmget", lambda: [self._hash(key).get(_b(f)) for f in fields])

    async def smismember(self, key: str, members: Sequence[str]) -> list[int]:
        return self._lone("smismember", lambda: [int(_b(m) in self._set(key)) for m in members])

    async def hset(self, key: str, field: str, value: Any) -> int:
        return self._lone("hset", lambda: self.op_hset(key, field, value))

    def _lone(self, name: str, op: Op) -> Any:
        self.check_up([name])
        self.log.append(Executed(False, [name]))
        return op()

    def check_up(self, names: Iterable[str]) -> None:
        for name in set(names):
            if self.busy.get(name, 0) > 0:
                self.busy[name] -= 1
                raise RedisConnectionError("No connection available.")
        hit = sorted(set(names) & self.down)
        for name in set(names):
            if self.flaky.get(name, 0) > 0:
                self.flaky[name] -= 1
                hit.append(name)
        if hit:
            self.failures += 1
            raise RedisConnectionError(f"fake Redis is down ({', '.join(hit)})")

    # -- typed access: WRONGTYPE like Redis ---------------------------------------------------------------------

    def _kind(self, key: str) -> str:
        for kind, space in (("string", self.strings), ("set", self.sets), ("hash", self.hashes),
                            ("list", self.lists), ("zset", self.zsets), ("stream", self.streams)):
            if key in space:
                return kind
        return "none"

    def _typed(self, key: str, kind: str) -> None:
        if self._kind(key) not in (kind, "none"):
            raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    def _string(self, key: str) -> bytes | None:
        self._typed(key, "string")
        return self.strings.get(key)

    def _set(self, key: str) -> set[bytes]:
        self._typed(key, "set")
        return self.sets.get(key, set())

    def _hash(self, key: str) -> dict[bytes, bytes]:
        self._typed(key, "hash")
        return self.hashes.get(key, {})

    # -- command effects ---------------------------------------------------------------------------------------

    def op_set(self, key: str, value: Any, nx: bool = False, ex: int | None = None) -> bool | None:
        self._typed(key, "string")
        if nx and key in self.strings:
            return None
        self.strings[key] = _b(value)
        if ex is not None:
            self.ttl[key] = ex
        return True

    def op_hset(self, key: str, field: str, value: Any) -> int:
        self._typed(key, "hash")
        h = self.hashes.setdefault(key, {})
        new = _b(field) not in h
        h[_b(field)] = _b(value)
        return int(new)

    def op_xadd(self, key: str, fields: Mapping[Any, Any]) -> bytes:
        self._typed(key, "stream")
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self.streams.setdefault(key, []).append((entry_id, {_b(k): _b(v) for k, v in fields.items()}))
        return entry_id.encode()

    def op_zadd(self, key: str, mapping: Mapping[Any, float]) -> int:
        self._typed(key, "zset")
        z = self.zsets.setdefault(key, {})
        added = sum(1 for m in mapping if _b(m) not in z)
        z.update({_b(m): float(s) for m, s in mapping.items()})
        return added

    def op_xack(self, key: str, group: str, ids: Sequence[str]) -> int:
        self.acks += [(key, group, i) for i in ids]
        return len(ids)

    def op_lpush_expire(self, key: str, value: Any, ttl: int) -> int:
        kind = self._kind(key)
        if kind not in ("list", "none"):  # what the reply script answers
            raise ResponseError(f"WRONGTYPE reply_to key holds a {kind}, not a list: no reply written")
        self.lists.setdefault(key, []).insert(0, _b(value))
        self.ttl[key] = int(ttl)
        return 1


class FakePipeline:
    """Queues commands and applies them at execute(), in order. After `watch()` and before `multi()` commands run
    at once (awaitable), as in redis-py, which is how EndpointStore reads the document it is about to change."""

    def __init__(self, redis: FakeRedis, transaction: bool) -> None:
        self.redis = redis
        self.transaction = transaction
        self.queued: list[tuple[str, Op]] = []
        self._immediate = False

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.queued.clear()

    def __len__(self) -> int:
        return len(self.queued)

    def _cmd(self, name: str, op: Op) -> Any:
        if self._immediate:
            return self._now(name, op)
        self.queued.append((name, op))
        return self

    async def _now(self, name: str, op: Op) -> Any:
        return self.redis._lone(name, op)

    async def watch(self, *keys: str) -> None:
        self.redis.check_up(["watch"])
        self._immediate = True

    def multi(self) -> None:
        self._immediate = False

    def set(self, key: str, value: Any, nx: bool = False, ex: int | None = None) -> Any:
        return self._cmd("set", lambda: self.redis.op_set(key, value, nx=nx, ex=ex))

    def get(self, key: str) -> Any:
        return self._cmd("get", lambda: self.redis._string(key))

    def smembers(self, key: str) -> Any:
        return self._cmd("smembers", lambda: set(self.redis._set(key)))

    def hset(self, key: str, field: str, value: Any) -> Any:
        return self._cmd("hset", lambda: self.redis.op_hset(key, field, value))

    def xadd(self, key: str, fields: Mapping[Any, Any], maxlen: int | None = None, approximate: bool = True) -> Any:
        return self._cmd("xadd", lambda: self.redis.op_xadd(key, fields))

    def zadd(self, key: str, mapping: Mapping[Any, float]) -> Any:
        return self._cmd("zadd", lambda: self.redis.op_zadd(key, mapping))

    def xack(self, key: str, group: str, *ids: str) -> Any:
        return self._cmd("xack", lambda: self.redis.op_xack(key, group, ids))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        names = [n for n, _ in self.queued]
        self.redis.check_up(names)
        self.redis.log.append(Executed(self.transaction, names))
        results: list[Any] = []
        for _, op in self.queued:  # like EXEC: every command runs, a failing one answers with its error
            try:
                results.append(op())
            except ResponseError as exc:
                results.append(exc)
        self.queued.clear()
        if raise_on_error:
            for r in results:
                if isinstance(r, Exception):
                    raise r
        return results


class FakeScript:
    """A registered Lua script, replaced by its effect: only the dispatcher's three scripts are known."""

    def __init__(self, redis: FakeRedis, source: str) -> None:
        self.redis = redis
        if source == events._EMIT:
            self.name = "emit"
        elif source == dispatch._REPLY:
            self.name = "reply"
        elif source == dispatch._SET_MANY:
            self.name = "set_many"
        elif source == rollup.ROLL:
            self.name = "roll"
        else:
            raise AssertionError(f"the fake Redis does not know this script:\n{source}")

    def _effect(self, keys: Sequence[str], args: Sequence[Any]) -> Op:
        if self.name == "emit":
            def emit() -> int:
                for i in range(0, len(args), 3):
                    self.redis.op_xadd(keys[0], {"app": args[i], "event_type": args[i + 1], "record": args[i + 2]})
                return len(args) // 3
            return emit
        if self.name == "set_many":
            def set_many() -> int:
                for key, value in zip(keys, args[1:], strict=True):
                    self.redis.op_set(key, value, ex=int(args[0]))
                return len(keys)
            return set_many
        if self.name == "roll":
            def roll() -> int:  # the KPI rollups and attribution marks: HINCRBYs and SETs (PFADDs: not kept)
                _ttl, increments, sets, _groups = json.loads(args[0])
                for k, field, n in increments:
                    h = self.redis.hashes.setdefault(keys[k - 1], {})
                    h[_b(field)] = str(int(h.get(_b(field), b"0")) + n).encode()
                for k, value, ttl in sets:
                    self.redis.op_set(keys[k - 1], value, ex=ttl)
                return len(increments)
            return roll
        return lambda: self.redis.op_lpush_expire(keys[0], args[0], args[1])

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        op = self._effect(list(keys), list(args))
        if isinstance(client, FakePipeline):
            return client._cmd(f"evalsha:{self.name}", op)
        return self.redis._lone(f"evalsha:{self.name}", op)


# ------------------------------------------------------------------------------------------------- channels


@dataclass
class FakeChannel:
    """Answers each address as `answers` says (a DeliveryError is raised, anything else returned); Delivered by
    default. Records every message it was handed."""

    answers: dict[str, Delivered | DeliveryError | Exception] = field(default_factory=dict)
    sent: list[Outbound[str]] = field(default_factory=list)
    channel_types: frozenset[str] = frozenset()

    async def start(self) -> None:
        return None

    async def send(self, msg: Outbound[str], /) -> Delivered:
        self.sent.append(msg)
        answer = self.answers.get(msg.recipient.address)
        if isinstance(answer, Exception):
            raise answer
        return answer or Delivered(event_type="_fake.delivered", status_message="accepted")

    async def aclose(self) -> None:
        return None

    @property
    def addresses(self) -> list[str]:
        return [m.recipient.address for m in self.sent]


class FakeTemplates:
    """A template store holding (name, type) → (response shape, DefaultSubstitutions); anything else is not
    found, as TemplateStore says it."""

    def __init__(self, templates: dict[tuple[str, str], tuple[Any, dict[str, Any]]] | None = None) -> None:
        self.templates = templates or {}
        self.gets: list[tuple[str, str, str | None]] = []

    async def get(self, name: str, type_: str, version: str | None = None) -> Any:
        self.gets.append((name, type_, version))
        if (name, type_) not in self.templates:
            raise TemplateNotFound(f"template {name!r} not found")
        return self.templates[name, type_][0]

    async def defaults(self, name: str, type_: str, version: str | None) -> dict[str, Any]:
        return self.templates[name, type_][1]

