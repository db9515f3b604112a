"""Rollups of the events stream: per application, day (UTC), scope (the app, a campaign, a journey) and channel,
the counters the KPIs read, maintained by a consumer group of their own on the events stream.

Layout (all keys in the application's slot, `gw:{app}:kpi:...`, expiring with the events' retention):
- `gw:{app}:kpi:DAY:a` hash, field `SRC|CHANNEL|COUNTER`: SRC is `c:CAMPAIGN`, `j:JOURNEY`, `t` (transactional)
  or `*` (all), CHANNEL a ChannelType or `*` (all);
- `gw:{app}:kpi:DAY:c:CAMPAIGN` / `...:j:JOURNEY` hash, field `ACTIVITY|CHANNEL|COUNTER` (ACTIVITY may be `*`);
- `gw:{app}:kpi:DAY:u:SCOPE:COUNTER` HyperLogLog of endpoint ids (unique deliveries, opens, clicks), SCOPE `a`, `t`,
  `c:CAMPAIGN`, `c:CAMPAIGN:ACTIVITY`, `j:JOURNEY`.

Idempotence (at-least-once delivery of the group): the script that applies a batch adds each entry id to
`gw:{app}:kpi:applied` and skips ids already there; the ids leave the set after the XACK. So an entry redelivered
after a crash between applying and acknowledging is counted once, and the set holds only unacknowledged ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
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


def fact(event_type: str, record: bytes) -> Fact | None:
    """The counters one event record adds, or None (app events, send notices, retried attempts, bad JSON)."""
    try:
        rec = _decode(record)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    a = rec.attributes
    counters: list[str] = []
    engagement = ENGAGEMENT.get(event_type)
    is_outcome = bool(a.delivery_status) and not event_type.endswith(".send") and not (
        a.delivery_status in _RETRIED and "will retry" in a.status_message)
    if is_outcome:
        counters.append("sent")
        if a.delivery_status == "SUCCESSFUL":
            counters.append("delivered")
    if engagement is not None and (is_outcome or not a.delivery_status or engagement in ("opened", "clicked",
                                                                                          "unsubscribed")):
        counters.append(engagement)
    if not counters:
        return None
    channel = a.channel_type or ("EMAIL" if event_type.startswith("_email.") else "")
    return Fact(day=day_of(rec.event_timestamp), channel=channel or "UNKNOWN", counters=tuple(counters),
                endpoint=rec.client.client_id, campaign=a.campaign_id, campaign_activity=a.campaign_activity_id,
                journey=a.journey_id, journey_activity=a.journey_activity_id)


def hash_key(app: str, day: str, scope: str) -> str:
    return keys.app_key(app, "kpi", day, scope)


def hll_key(app: str, day: str, scope: str, counter: str) -> str:
    return keys.app_key(app, "kpi", day, "u", scope, counter)


def applied_key(app: str) -> str:
    return keys.app_key(app, "kpi", "applied")


def source_of(f: Fact) -> str:
    """The app-level source of a fact: its campaign, its journey, or `t` (transactional)."""
    return f"c:{f.campaign}" if f.campaign else f"j:{f.journey}" if f.journey else "t"


def ops(app: str, f: Fact) -> list[tuple[str, str, str]]:
    """The writes of one fact: (`H`, hash key, field) for HINCRBY 1, (`U`, HLL key, member) for PFADD. Each
    counter is also added under the wildcards `*` (every source or activity, every channel), so an ungrouped or
    per-day query reads a few known fields (HMGET), never a whole hash."""
    out: list[tuple[str, str, str]] = []
    src = source_of(f)
    scoped = (hash_key(app, f.day, f"c:{f.campaign}"), f.campaign_activity) if f.campaign else \
        (hash_key(app, f.day, f"j:{f.journey}"), f.journey_activity) if f.journey else None
    app_hash = hash_key(app, f.day, "a")
    for c in f.counters:
        for ch in (f.channel, "*"):
            out += [("H", app_hash, f"{src}|{ch}|{c}"), ("H", app_hash, f"*|{ch}|{c}")]
            if scoped is not None:
                out += [("H", scoped[0], f"{scoped[1]}|{ch}|{c}"), ("H", scoped[0], f"*|{ch}|{c}")]
        if c in UNIQUE and f.endpoint and (c == "delivered" or f.channel == "EMAIL"):
            scopes = ["a", src]
            if f.campaign:
                scopes.append(f"c:{f.campaign}:{f.campaign_activity}")
            for s in scopes:
                out.append(("U", hll_key(app, f.day, s, c), f.endpoint))
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
