"""Rollups of the events: per application, day (UTC), scope (the app, a campaign, a journey) and channel, the
counters the KPIs read, maintained by the writers of the events stream as they write (:class:`Tally`, one script
call per application after each batch), so the KPIs need no reader of their own.

Layout (all keys in the application's slot, `gw:{app}:kpi:...`, expiring with the events' retention):
- `gw:{app}:kpi:DAY:a` hash, field `SRC|CHANNEL|COUNTER`: SRC is `c:CAMPAIGN`, `j:JOURNEY`, `t` (transactional)
  or `*` (all), CHANNEL a ChannelType or `*` (all);
- `gw:{app}:kpi:DAY:c:CAMPAIGN` / `...:j:JOURNEY` hash, field `ACTIVITY|CHANNEL|COUNTER` (ACTIVITY may be `*`);
- `gw:{app}:kpi:DAY:bc:CHANNEL:COUNTER` hash, field CAMPAIGN (CHANNEL may be `*`): the same counters by campaign,
  for queries grouped by campaign;
- `gw:{app}:kpi:DAY:u:SCOPE:COUNTER` HyperLogLog of endpoint ids (unique deliveries, opens, clicks), SCOPE `a`, `t`,
  `c:CAMPAIGN`, `c:CAMPAIGN:ACTIVITY`, `j:JOURNEY`.

Exactness: the events stream and an application's keys are in different cluster slots, so a batch's events and
its rollup increments are two writes: the rollups go right after the events are written. A process that dies
between the two leaves those events uncounted (an under-count, never a double count); the raw events stay in the
stream, from which `gateway kpi rebuild APP` (gateway.kpi.rebuild) recomputes an application's
rollups.

The :class:`RollupConsumer` (group `kpi-rollup`) reads the events stream back and applies it idempotently; no
worker runs it any more (kept for tools that replay the stream). Its script adds each entry id to
`gw:{app}:kpi:applied` and skips ids already there; the ids leave the set after the XACK, so an entry
redelivered after a crash is counted once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from gateway import keys
from gateway.stream.consumer import _entries

log = logging.getLogger(__name__)

GROUP = "kpi-rollup"

#: Counters kept per channel. `sent` = final outcomes, `delivered` = final outcomes with delivery_status
#: SUCCESSFUL; the rest count events of their type (docs/analytics.md).
ENGAGEMENT = {
    "_email.open": "opened", "_email.click": "clicked", "_email.unsubscribe": "unsubscribed",
    "_email.hardbounce": "hardbounced", "_email.softbounce": "softbounced", "_email.complaint": "complained",
    "_email.rejected": "rejected",
}
#: Which counters also feed a HyperLogLog of endpoint ids (unique-deliveries, txn-emails-unique-opens/-clicks).
UNIQUE = ("delivered", "opened", "clicked")
_RETRIED = ("TEMPORARY_FAILURE", "THROTTLED")


class _Attrs(msgspec.Struct):
    channel_type: str = ""
    delivery_status: str = ""
    status_message: str = ""
    campaign_id: str = ""
    campaign_activity_id: str = ""
    journey_id: str = ""
    journey_activity_id: str = ""


class _Client(msgspec.Struct):
    client_id: str = ""


class _Record(msgspec.Struct):
    event_timestamp: int = 0
    attributes: _Attrs = msgspec.field(default_factory=_Attrs)
    client: _Client = msgspec.field(default_factory=_Client)


_decode = msgspec.json.Decoder(_Record).decode


class Fact(msgspec.Struct, frozen=True):
    """What one event adds: `counters` (each +1) for its `channel`, on `day`, in its campaign/journey scope."""

    day: str
    channel: str
    counters: tuple[str, ...]
    endpoint: str
    campaign: str = ""
    campaign_activity: str = ""
    journey: str = ""
    journey_activity: str = ""


def day_of(ms: int) -> str:
    """The UTC day of a millisecond timestamp, as YYYY-MM-DD."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")


_COUNTERS: dict[tuple[str, str, bool], tuple[str, ...]] = {}


def counters_of(event_type: str, delivery_status: str, status_message: str) -> tuple[str, ...]:
    """The counters one event adds (empty for app events, send notices and attempts that will be retried)."""
    retried = delivery_status in _RETRIED and "will retry" in status_message
    got = _COUNTERS.get((event_type, delivery_status, retried))
    if got is not None:
        return got
    counters: list[str] = []
    engagement = ENGAGEMENT.get(event_type)
    is_outcome = bool(delivery_status) and not event_type.endswith(".send") and not retried
    if is_outcome:
        counters.append("sent")
        if delivery_status == "SUCCESSFUL":
            counters.append("delivered")
    if engagement is not None and (is_outcome or not delivery_status or engagement in ("opened", "clicked",
                                                                                        "unsubscribed")):
        counters.append(engagement)
    if len(_COUNTERS) < 4096:  # event types and statuses are few; a flood of odd ones is not remembered
        _COUNTERS[(event_type, delivery_status, retried)] = tuple(counters)
    return tuple(counters)


def channel_of(event_type: str, channel_type: str) -> str:
    return channel_type or ("EMAIL" if event_type.startswith("_email.") else "UNKNOWN")


def fact(event_type: str, record: bytes) -> Fact | None:
    """The counters one event record adds, or None (app events, send notices, retried attempts, bad JSON)."""
    try:
        rec = _decode(record)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    a = rec.attributes
    counters = counters_of(event_type, a.delivery_status, a.status_message)
    if not counters:
        return None
    return Fact(day=day_of(rec.event_timestamp), channel=channel_of(event_type, a.channel_type), counters=counters,
                endpoint=rec.client.client_id, campaign=a.campaign_id, campaign_activity=a.campaign_activity_id,
                journey=a.journey_id, journey_activity=a.journey_activity_id)


def hash_key(app: str, day: str, scope: str) -> str:
    return keys.app_key(app, "kpi", day, scope)


def hll_key(app: str, day: str, scope: str, counter: str) -> str:
    return keys.app_key(app, "kpi", day, "u", scope, counter)


def by_campaign_key(app: str, day: str, channel: str, counter: str) -> str:
    """`gw:{app}:kpi:DAY:bc:CHANNEL:COUNTER` hash, field CAMPAIGN: one counter of every campaign, so a query
    grouped by campaign reads exactly the counters it needs (not the day's whole application hash)."""
    return keys.app_key(app, "kpi", day, "bc", channel, counter)


def applied_key(app: str) -> str:
    return keys.app_key(app, "kpi", "applied")


def source_of(f: Fact) -> str:
    """The app-level source of a fact: its campaign, its journey, or `t` (transactional)."""
    return f"c:{f.campaign}" if f.campaign else f"j:{f.journey}" if f.journey else "t"


def writes(app: str, f: Fact) -> tuple[list[tuple[str, str]], list[str]]:
    """What one fact adds: the (hash key, field) pairs each incremented by one, and the HyperLogLog keys its
    endpoint goes into. Each counter is also added under the wildcards `*` (every source or activity, every
    channel), so an ungrouped or per-day query reads a few known fields (HMGET), never a whole hash."""
    fields: list[tuple[str, str]] = []
    hlls: list[str] = []
    src = source_of(f)
    scoped = (hash_key(app, f.day, f"c:{f.campaign}"), f.campaign_activity) if f.campaign else \
        (hash_key(app, f.day, f"j:{f.journey}"), f.journey_activity) if f.journey else None
    app_hash = hash_key(app, f.day, "a")
    for c in f.counters:
        for ch in (f.channel, "*"):
            fields += [(app_hash, f"{src}|{ch}|{c}"), (app_hash, f"*|{ch}|{c}")]
            if scoped is not None:
                fields += [(scoped[0], f"{scoped[1]}|{ch}|{c}"), (scoped[0], f"*|{ch}|{c}")]
            if f.campaign:
                fields.append((by_campaign_key(app, f.day, ch, c), f.campaign))
        if c in UNIQUE and (c == "delivered" or f.channel == "EMAIL"):
            scopes = ["a", src]
            if f.campaign:
                scopes.append(f"c:{f.campaign}:{f.campaign_activity}")
            hlls += [hll_key(app, f.day, s, c) for s in scopes]
    return fields, hlls


def ops(app: str, f: Fact) -> list[tuple[str, str, str]]:
    """The writes of one fact: (`H`, hash key, field) for HINCRBY 1, (`U`, HLL key, member) for PFADD."""
    fields, hlls = writes(app, f)
    out = [("H", key, field) for key, field in fields]
    if f.endpoint:
        out += [("U", key, f.endpoint) for key in hlls]
    return out


# KEYS[1] applied set, KEYS[2..] the keys written; ARGV[1] ttl seconds, then per entry: id, n, n * (op, key#, arg)
APPLY = """
local ttl = tonumber(ARGV[1])
local i, applied = 2, 0
local touched = {}
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = redis.call('SADD', KEYS[1], id) == 1
  if fresh then applied = applied + 1 end
  for _ = 1, n do
    if fresh then
      local k = tonumber(ARGV[i + 1])
      if ARGV[i] == 'H' then redis.call('HINCRBY', KEYS[k], ARGV[i + 2], 1)
      else redis.call('PFADD', KEYS[k], ARGV[i + 2]) end
      touched[k] = true
    end
    i = i + 3
  end
end
for k in pairs(touched) do redis.call('EXPIRE', KEYS[k], ttl) end
return applied
"""


def script_args(app: str, entries: Iterable[tuple[str, Fact | None]], ttl_s: int) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of one APPLY call for `app`'s entries (an entry with no fact is still marked applied)."""
    key_list = [applied_key(app)]
    index: dict[str, int] = {}
    argv = [str(ttl_s)]
    for entry_id, f in entries:
        writes = ops(app, f) if f is not None else []
        argv += [entry_id, str(len(writes))]
        for op, key, arg in writes:
            k = index.get(key)
            if k is None:
                key_list.append(key)
                k = index[key] = len(key_list)
            argv += [op, str(k), arg]
    return key_list, argv


class RollupConsumer:
    """Reads the events stream in its own consumer group and applies each batch to the rollups (one script call
    per application in one pipeline), then acknowledges it and clears its applied-markers."""

    def __init__(self, redis: Any, events_key: str, consumer: str, *, retention_days: int, batch: int = 1000,
                 claim_idle_ms: int = 60_000) -> None:
        self.redis = redis
        self.key = events_key
        self.consumer = consumer
        self.ttl_s = (retention_days + 1) * 86_400
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self._apply = redis.register_script(APPLY)
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the group at the stream's start (so every retained event is counted), once per consumer."""
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def step(self, block_ms: int | None = None) -> int:
        """Claim entries another consumer left pending too long, else read new ones; apply and ack them. Returns
        how many entries were handled. `block_ms` None: do not block on an idle stream."""
        reply = await self.redis.xautoclaim(self.key, GROUP, self.consumer, self.claim_idle_ms, "0-0",
                                            count=self.batch)
        claimed = _entries([[self.key, reply[1]]]) if reply and reply[1] else []
        if claimed:
            return await self.apply(claimed)
        got = await self.redis.xreadgroup(GROUP, self.consumer, {self.key: ">"}, count=self.batch, block=block_ms)
        return await self.apply(_entries(got)) if got else 0

    async def apply(self, entries: list[Any]) -> int:
        """Apply `entries` (ids and fields) to the rollups, ack them, then drop their applied-markers."""
        by_app = await self.write(entries)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.key, GROUP, *(e[0] for e in entries))
        for app, ids in by_app.items():
            pipe.srem(applied_key(app), *ids)
        await pipe.execute()
        return len(entries)

    async def write(self, entries: list[Any]) -> dict[str, list[str]]:
        """Apply `entries` to the rollups (idempotently, one script call per application, one round trip);
        returns the entry ids by application, whose markers go once the entries are acknowledged."""
        by_app: dict[str, list[tuple[str, Fact | None]]] = {}
        for entry_id, fields in entries:
            if not fields:  # trimmed while pending (Redis 6.2 claims it with no fields): only acknowledged
                continue
            app = fields.get(b"app", b"").decode()
            if app:
                by_app.setdefault(app, []).append(
                    (str(entry_id), fact(fields.get(b"event_type", b"").decode(), fields.get(b"record", b""))))
        pipe = self.redis.pipeline(transaction=False)
        for app, items in by_app.items():
            key_list, argv = script_args(app, items, self.ttl_s)
            await self._apply(keys=key_list, args=argv, client=pipe)
        await pipe.execute()
        return {app: [i for i, _ in items] for app, items in by_app.items()}


# ------------------------------------------------------------------------------------- write-time rollups

DAY_MS = 86_400_000
#: Endpoints per PFADD in the ROLL script (Lua's unpack has a stack limit).
_PFADD_CHUNK = 500
#: (app, day number, channel, counters, campaign, campaign activity, journey, journey activity)
TallyKey = tuple[str, int, str, tuple[str, ...], str, str, str, str]

# One application's batch of rollup increments and attribution records. KEYS: every key written; ARGV[1] one JSON
# array [ttl, [[key#, field, n], ...] (HINCRBYs), [[key#, value, ttl], ...] (SETs), [[[key#, ...], [endpoint, ...]],
# ...] (the same endpoints PFADDed into each of those HyperLogLogs)]. One argument rather than one per field and
# endpoint: the client packs a few KB with msgspec instead of hundreds of arguments one by one (measured: ~2.8 µs
# of client CPU per message in a 100-message batch as separate arguments).
ROLL = """
local a = cjson.decode(ARGV[1])
local ttl = a[1]
local touched = {}
for _, h in ipairs(a[2]) do
  redis.call('HINCRBY', KEYS[h[1]], h[2], h[3])
  touched[h[1]] = true
end
for _, m in ipairs(a[3]) do
  redis.call('SET', KEYS[m[1]], m[2], 'EX', m[3])
end
for _, g in ipairs(a[4]) do
  for _, k in ipairs(g[1]) do
    redis.call('PFADD', KEYS[k], unpack(g[2]))
    touched[k] = true
  end
end
for k in pairs(touched) do redis.call('EXPIRE', KEYS[k], ttl) end
return #a[2]
"""
_encode_args = msgspec.json.Encoder().encode


class Tally:
    """The rollup increments of a batch of events, gathered by the writer as it builds the records (from the
    fields at hand: no record is decoded again): one dict increment per counted event, plus its endpoint in a
    list when the event feeds a unique count. `marks` are small per-message records (engagement attribution,
    gateway.kpi.attribution) written in the same script call as the application's rollups."""

    __slots__ = ("counts", "marks", "members")

    def __init__(self) -> None:
        self.counts: dict[TallyKey, int] = {}
        self.members: dict[TallyKey, list[str]] = {}
        self.marks: dict[str, list[tuple[str, bytes, int]]] = {}

    def __bool__(self) -> bool:
        return bool(self.counts or self.marks)

    def add(self, app: str, event_type: str, event_ms: int, attributes: Mapping[str, Any], client_id: str) -> None:
        """Count one event of `app` (its record's event_type, event_timestamp, attributes and client_id)."""
        get = attributes.get
        counters = counters_of(event_type, get("delivery_status") or "", get("status_message") or "")
        if not counters:
            return
        key = (app, event_ms // DAY_MS, channel_of(event_type, get("channel_type") or ""), counters,
               get("campaign_id") or "", get("campaign_activity_id") or "", get("journey_id") or "",
               get("journey_activity_id") or "")
        self.counts[key] = self.counts.get(key, 0) + 1
        if client_id and ("delivered" in counters or "opened" in counters or "clicked" in counters):
            members = self.members.get(key)
            if members is None:
                self.members[key] = [client_id]
            else:
                members.append(client_id)

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Count one event record in Pinpoint's envelope (gateway.events.envelope), as a dict (one without an
        event_timestamp or attributes counts nothing)."""
        when, attributes = record.get("event_timestamp"), record.get("attributes")
        if not isinstance(when, int) or not isinstance(attributes, dict):
            return
        client = record.get("client") or {}
        self.add(record["application"]["app_id"], record["event_type"], when, attributes,
                 client.get("client_id") or "")

    def mark(self, app: str, key: str, value: bytes, ttl_s: int) -> None:
        """Also SET `key` (in `app`'s slot) to `value` for `ttl_s` seconds."""
        self.marks.setdefault(app, []).append((key, value, ttl_s))

    def script_calls(self, ttl_s: int) -> list[tuple[list[str], list[bytes]]]:
        """KEYS and ARGV of one ROLL call per application: the increments summed per (key, field), the endpoints
        deduplicated per HyperLogLog."""
        incr: dict[str, dict[tuple[str, str], int]] = {}
        hll: dict[str, dict[tuple[str, ...], set[str]]] = {}
        days: dict[int, str] = {}
        for tk, n in self.counts.items():
            app, d, channel, counters, camp, cact, jour, jact = tk
            day = days.get(d)
            if day is None:
                day = days[d] = day_of(d * DAY_MS)
            fields, hlls = writes(app, Fact(day, channel, counters, "", camp, cact, jour, jact))
            app_incr = incr.setdefault(app, {})
            for kf in fields:
                app_incr[kf] = app_incr.get(kf, 0) + n
            members = self.members.get(tk)
            if members and hlls:
                hll.setdefault(app, {}).setdefault(tuple(hlls), set()).update(members)
        calls = []
        for app in {*incr, *self.marks}:
            key_list: list[str] = []
            k = functools.partial(_key_number, key_list, {})
            app_incr, marks = incr.get(app, {}), self.marks.get(app, [])
            increments = [(k(key), field, n) for (key, field), n in app_incr.items()]
            sets = [(k(key), value.decode(), mark_ttl) for key, value, mark_ttl in marks]
            groups: list[tuple[list[int], list[str]]] = []
            for hll_keys, members_ in hll.get(app, {}).items():
                numbers = [k(key) for key in hll_keys]
                ordered = list(members_)
                for i in range(0, len(ordered), _PFADD_CHUNK):
                    groups.append((numbers, ordered[i:i + _PFADD_CHUNK]))
            argv = [_encode_args((ttl_s, increments, sets, groups))]
            calls.append((key_list, argv))
        return calls


def _key_number(key_list: list[str], index: dict[str, int], key: str) -> int:
    """The 1-based KEYS position of `key`, appended to `key_list` the first time."""
    i = index.get(key)
    if i is None:
        key_list.append(key)
        i = index[key] = len(key_list)
    return i


class Roller:
    """Writes tallies: one ROLL script call per application, the applications' calls concurrently (each in its
    own slot). A failure is logged and counted, not raised: the events are written by then, and writing them
    again would count them twice."""

    def __init__(self, redis: Any, *, retention_days: int) -> None:
        self.redis = redis
        self.ttl_s = (retention_days + 1) * 86_400
        self._roll = redis.register_script(ROLL)
        self.failures = 0

    async def write_or_raise(self, tally: Tally) -> None:
        """Write `tally` (nothing when it is empty); a failure is raised."""
        if not tally:
            return
        calls = [self._roll(keys=key_list, args=argv) for key_list, argv in tally.script_calls(self.ttl_s)]
        if len(calls) == 1:
            await calls[0]
        else:
            await asyncio.gather(*calls)

    async def write(self, tally: Tally) -> None:
        """Write `tally` (nothing when it is empty); a failure is logged and counted."""
        try:
            await self.write_or_raise(tally)
        except Exception as exc:
            self.failures += 1
            log.error("writing the KPI rollups of %d events failed (%s): the KPIs under-count them until `gateway "
                      "kpi rebuild`", sum(tally.counts.values()), exc)
