"""The event listener: the I/O shell that sends EVENT campaigns when their events arrive, inside every worker.

    listener = EventListener(redis, producer=Producer(redis), stream=cfg.stream, config=cfg.campaigns)
    await listener.run(stopping)      # or `await listener.step()` for one batch (tests)

It reads the events stream (`gateway:events`: PutEvents' records and the engine's own) in the consumer group
`campaigns.events_group`, so the group keeps one cursor for all workers, each entry goes to one of them, entries
read but not acknowledged are read again by the same worker when it restarts (its backlog first) or taken over
from a dead one (XAUTOCLAIM): at least once. A blocked read returns as soon as an entry arrives, so a trigger is
handled within milliseconds of the event.

While no application has an EVENT campaign (the hash `gw:camp:eventapps` of triggers.py is empty) the listener
does not read the stream at all: it moves the group's cursor past the stream's last entry and waits
`events_block_ms` (EventListener.step says why no event that could trigger a campaign is skipped).

Matching is cheap: the filters of each application's EVENT campaigns (triggers.py) are compiled once and kept
until a campaign write bumps the application's generation counter (read once per batch for the applications in
it, not per event); an entry is screened on its `app` and `event_type` fields before its record is decoded, and
matched in O(EVENT campaigns of its application).

On a match the campaign goes to the event's endpoint through the same path as a scheduled run: the endpoint must
be in the campaign's segment (the reference evaluator of gateway/segments/reference.py, for one endpoint), then
plan.py's plan_treatment per treatment (split by CohortId, opt-out, inactive, channel, quiet time, the same run
metrics) and messages.py's MessageRequest, whose Context gives every event of the send campaign_id,
campaign_activity_id and treatment_id. Pinpoint's five-minute rule (triggers.py) drops a message it is too late
for: run metric EVENT_EXPIRED and a `_campaign.send` event with campaign_send_status EXPIRED. The request it
enqueues carries the same bound as its `deadline_ms`: a message that waits in the stream (or for a retry) past the
five minutes is not sent either; it ends PERMANENT_FAILURE with its event.

Each (campaign, event) is handled once: its run metrics are counted in the same script that sets the handled
marker (SET NX, in the campaign's slot), so a redelivered entry counts nothing twice; the request carries the
idempotency key `campaign-event:<campaign>:<entry id>`, so even a worker dying between the enqueue and the marker
makes the redelivery's second request a DUPLICATE the dispatcher refuses, never a second message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec
import redis.asyncio as aioredis

from gateway import events, models
from gateway.api.appstore import AppStore
from gateway.campaigns import runs, triggers
from gateway.campaigns.capstore import CapStore
from gateway.campaigns.limits import effective_caps
from gateway.campaigns.messages import campaign_context, run_requests
from gateway.campaigns.plan import TreatmentPlan, plan_treatment, treatment_content
from gateway.campaigns.schedule import effective_quiet_time
from gateway.campaigns.split import plan_split
from gateway.campaigns.store import campaign_key, created_at, iso
from gateway.campaigns.triggers import EventFacts, Trigger
from gateway.config import CampaignsConfig, StreamConfig
from gateway.endpoints.store import EndpointStore
from gateway.errors import NotFound
from gateway.producer import Producer
from gateway.redisconn import REDIS_DOWN, next_delay, text
from gateway.segments.reference import segment_match
from gateway.segments.store import SegmentStore, members_key
from gateway.stream.consumer import Entry, StreamConsumer

log = logging.getLogger("gateway.campaigns")

_decode_campaign = msgspec.json.Decoder(models.CampaignResponse).decode
_decode_record = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode

# Move the group's cursor forward to ARGV[2], never back (another worker may have read past it meanwhile): the
# cursor only says which entries are new to the group. KEYS: the stream. ARGV: group, entry id. 1 if moved.
_ADVANCE: Final = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if name == ARGV[1] then
    local lm, ls = parse(last)
    local tm, ts = parse(ARGV[2])
    if tm > lm or (tm == lm and ts > ls) then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
"""

# Mark (campaign, event) handled and count its run metrics, once: nothing if already marked or the campaign is gone.
# KEYS: marker, run record, runs zset, campaign hash (one slot). ARGV: ttl_s, start (ISO), start (ms), then
# field/increment pairs of the run record.
_RECORD: Final = """
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HSETNX', KEYS[2], 'start', ARGV[2])
redis.call('HSETNX', KEYS[2], 'scheduled', ARGV[2])
redis.call('HSETNX', KEYS[2], 'state', 'RUNNING')
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], '0')
redis.call('HSET', KEYS[4], 'status', 'EXECUTING')
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def idempotency_key(campaign_id: str, entry_id: str) -> str:
    """The request's idempotency key: one message per (campaign, event) even across redeliveries."""
    return f"campaign-event:{campaign_id}:{entry_id}"


def metric_fields(plans: Iterable[TreatmentPlan], held: tuple[int, str] | None) -> dict[str, int]:
    """The run-record increments of one handled event: each treatment's run metrics (`t<T>:m:<REASON>`), its
    recipients planned (`t<T>:total`) and enqueued (`t<T>:sent`); `held` is (treatment, reason) when the chosen
    recipient was not sent (EVENT_EXPIRED past the five minutes, DAILY_CAP or CAMPAIGN_CAP over a limit), counted
    under that reason instead of sent."""
    out: dict[str, int] = {}
    for plan in plans:
        tid = plan.treatment_id
        metrics = Counter(plan.metrics)
        if plan.recipients:
            out[f"t{tid}:total"] = len(plan.recipients)
            if held is not None and tid == held[0]:
                metrics[held[1]] += len(plan.recipients)
            else:
                out[f"t{tid}:sent"] = len(plan.recipients)
        for reason, n in metrics.items():
            out[f"t{tid}:m:{reason}"] = n
    return out


class _AppTriggers:
    """One application's compiled EVENT campaigns at one generation: the active ones' triggers, and the ids of all
    of them (paused ones too: their sends' events must not trigger the others)."""

    __slots__ = ("campaign_ids", "generation", "triggers")

    def __init__(self, generation: int, found: list[Trigger], campaign_ids: frozenset[str]) -> None:
        self.generation = generation
        self.triggers = found
        self.campaign_ids = campaign_ids


class EventListener:
    """Sends EVENT campaigns on their events (module doc). `reader` is the client of the blocking read (default
    `redis`); `clock` is the wall clock of the five-minute rule and of the run records (tests move it)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        producer: Producer,
        stream: StreamConfig | None = None,
        config: CampaignsConfig | None = None,
        consumer: str | None = None,
        reader: aioredis.Redis | None = None,
        segments: SegmentStore | None = None,
        endpoints: EndpointStore | None = None,
        apps: AppStore | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.redis = redis
        self.producer = producer
        self.config = config or CampaignsConfig()
        stream = stream or StreamConfig()
        self.events_key = stream.events_key
        group = msgspec.structs.replace(stream, group=self.config.events_group)
        # `reader` (default `redis`) takes the blocking XREADGROUP: a worker gives it a connection of its own, so
        # a read waiting for events never holds a connection of the pool the sends need
        self.consumer = StreamConsumer(redis, group, consumer, key=self.events_key, reader=reader)
        self.segments = segments or SegmentStore(redis)
        self.endpoints = endpoints or EndpointStore(redis)
        self.apps = apps or AppStore(redis, "")
        self.clock = clock
        self._record = redis.register_script(_RECORD)
        self._advance = redis.register_script(_ADVANCE)
        self.caps = CapStore(redis)
        self._cache: dict[str, _AppTriggers] = {}
        self.handled = 0  # entries acknowledged

    # -- the loop ----------------------------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Read and handle events until `stopping` is set; Redis outages are waited out with backoff."""
        delay = 0.0
        while not stopping.is_set():
            try:
                await self.consumer.ensure_group()
                break
            except REDIS_DOWN:
                delay = next_delay(delay)
                await _wait(stopping, delay)
        claim_every = self.consumer.cfg.claim_interval_ms / 1000
        loop = asyncio.get_running_loop()
        next_claim = loop.time() + claim_every
        delay = 0.0
        while not stopping.is_set():
            try:
                await self.step()
                if loop.time() >= next_claim:
                    next_claim = loop.time() + claim_every
                    await self.claim_once()
                delay = 0.0
            except REDIS_DOWN as exc:
                log.warning("event listener: Redis unavailable (%s); retrying", exc)
                delay = next_delay(delay)
                await _wait(stopping, delay)
            except Exception:  # keep the listener up, say why, back off
                log.exception("event listener failed; retrying")
                delay = next_delay(delay)
                await _wait(stopping, delay)

    async def step(self, block_ms: int | None = None) -> int:
        """Read one batch (this consumer's backlog first, then new entries, waiting up to `block_ms`), handle it
        and acknowledge it; returns the number of entries handled."""
        block = self.config.events_block_ms if block_ms is None else block_ms
        if await self._skipped():
            # nothing to read: this consumer's backlog first (acknowledged by handle, which finds no trigger), then
            # wait instead of a blocked read (a campaign created meanwhile has its events read at the next step)
            entries = await self.consumer.read(self.config.events_batch, block, new=False)
            if entries:
                await self.handle(entries)
            else:
                await asyncio.sleep(block / 1000)
            return len(entries)
        entries = await self.consumer.read(self.config.events_batch, block)
        if entries:
            await self.handle(entries)
        return len(entries)

    async def _skipped(self) -> bool:
        """When no application has an EVENT campaign, move the group's cursor past the stream's last entry (True)
        instead of reading what no campaign can take; otherwise False (read as usual). Each command touches one key.

        Exact: (1) L, the stream's last id, is read before (2) the count of `gw:camp:eventapps`. A write making a
        campaign EVENT adds its application there before it reads the clock for the campaign's start (store.py),
        so if (2) saw none, that write's start is after (2), hence after every entry up to L was added, hence
        after their arrival times (stamped before each XADD; one clock assumed); and triggers.triggered takes no
        event that arrived before the campaign's start (for a campaign turned EVENT by an update, the start is
        the update: triggers.compile_trigger's `since`). Entries after L stay new to the group for the next read.
        A stale entry in the hash only makes the listener read."""
        last = await self.redis.xrevrange(self.events_key, "+", "-", count=1)  # (1)
        if await self.redis.hlen(triggers.EVENT_APPS_KEY):  # (2)
            return False
        if last and last[0][0] is not None:
            await self._advance(keys=[self.events_key], args=[self.consumer.group, text(last[0][0])])
        return True

    async def claim_once(self) -> int:
        """Take over and handle entries a dead worker left pending longer than the stream's claim_idle_ms."""
        entries = await self.consumer.claim(self.config.events_batch)
        if entries:
            log.warning("event listener: claimed %d events-stream entries of a dead worker", len(entries))
            await self.handle(entries)
        return len(entries)

    async def handle(self, entries: list[Entry]) -> None:
        """Fire every trigger the entries match, then acknowledge them. When Redis fails on the way nothing is
        acknowledged: the entries come back (this consumer's backlog, or a claim) and the handled markers keep
        what was already done from being done twice."""
        apps = {text(f.get(b"app", b"")) for _, f in entries}
        cache = await self._triggers(apps)
        now = self.clock()
        for entry_id, fields in entries:
            app = text(fields.get(b"app", b""))
            compiled = cache.get(app)
            if compiled is None or not compiled.triggers:
                continue
            found = compiled.triggers
            event_type = text(fields.get(b"event_type", b""))
            if not triggers.could_match(found, event_type):
                continue
            try:
                record = _decode_record(fields.get(b"record", b"{}"))
            except msgspec.DecodeError:
                log.error("events-stream entry %s: its record is not JSON; no campaign can take it", entry_id)
                continue
            event = triggers.facts(app, event_type, record)
            for trigger in found:
                if triggers.triggered(trigger, event, compiled.campaign_ids):
                    try:
                        await self.fire(trigger, event, entry_id, now)
                    except REDIS_DOWN:
                        raise
                    except Exception:  # one broken campaign must not hold up the stream or the other campaigns
                        log.exception("campaign %s of %s: trigger on event %s failed", trigger.campaign.Id, app,
                                      entry_id)
        await self.redis.xack(self.events_key, self.consumer.group, *[e[0] for e in entries])
        self.handled += len(entries)

    # -- the compiled filters ----------------------------------------------------------------------------------

    async def _triggers(self, apps: set[str]) -> dict[str, _AppTriggers]:
        """The active triggers of each application, recompiled for those whose generation moved."""
        ordered = sorted(a for a in apps if a)
        if not ordered:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for app in ordered:
            pipe.get(triggers.generation_key(app))
        generations = [int(g or 0) for g in await pipe.execute()]
        out: dict[str, _AppTriggers] = {}
        for app, gen in zip(ordered, generations, strict=True):
            cached = self._cache.get(app)
            if cached is None or cached.generation != gen:
                cached = await self._compile(app, gen) if gen else _AppTriggers(gen, [], frozenset())
                self._cache[app] = cached
            out[app] = cached
        return out

    async def _compile(self, app: str, generation: int) -> _AppTriggers:
        ids = sorted(runs.member(i) for i in await self.redis.smembers(triggers.events_key(app)))
        found: list[Trigger] = []
        for cid in ids:
            latest, since = await self.redis.hmget(campaign_key(app, cid), ["latest", "evsince"])
            raw = None if latest is None else await self.redis.hget(campaign_key(app, cid), f"v{int(latest)}")
            if raw is None:
                continue
            doc = _decode_campaign(raw)
            trigger = triggers.compile_trigger(doc, created_at(doc), None if since is None else int(since))
            if trigger is not None:
                found.append(trigger)
        return _AppTriggers(generation, found, frozenset(ids))

    # -- one trigger -------------------------------------------------------------------------------------------

    async def fire(self, trigger: Trigger, event: EventFacts, entry_id: str, now: dt.datetime) -> bool:
        """Send (or drop, or count why not) campaign `trigger` for `event`; False when it was handled before."""
        doc, app = trigger.campaign, event.app
        cid = doc.Id
        marker = triggers.handled_key(app, cid, entry_id)
        if await self.redis.exists(marker):
            return False
        assert event.endpoint_id is not None  # triggered() requires it
        endpoint = (await self.endpoints.get_many(app, [event.endpoint_id]))[0]
        if endpoint is None:
            return False  # not an endpoint (a system event about an address, or a deleted one): nobody to message
        if not endpoint.Id:
            endpoint = msgspec.structs.replace(endpoint, Id=event.endpoint_id)
        tids = [0, *(int(t.Id) for t in doc.AdditionalTreatments or [])]
        if not await self._member(app, doc, endpoint, now):
            return await self._count(trigger, app, entry_id, {f"t{tid}:m:{triggers.FILTERED_OUT}": 1 for tid in tids}, now)
        assert doc.Schedule is not None
        schedule = msgspec.structs.replace(doc.Schedule, IsLocalTime=False)  # an event run is sent now, everywhere
        local = msgspec.structs.replace(doc, Schedule=schedule, AdditionalTreatments=[
            msgspec.structs.replace(t, Schedule=None) for t in doc.AdditionalTreatments or []] or None)
        split = plan_split(cid, doc.HoldoutPercent, [t.SizePercent for t in doc.AdditionalTreatments or []])
        settings = await self.apps.get_settings(app)
        quiet = effective_quiet_time(schedule.QuietTime, settings.QuietTime)
        run = triggers.event_run(now)
        plans = [plan_treatment(local, tid, run, [endpoint], split, quiet) for tid in tids]
        chosen = next((p for p in plans if p.recipients), None)
        held: tuple[int, str] | None = None
        if chosen is not None:
            activity = runs.activity_id(cid, triggers.EVENT_RUN, chosen.treatment_id)
            if triggers.expired(event.arrival_ms, int(now.timestamp() * 1000)):
                held = (chosen.treatment_id, triggers.EXPIRED_METRIC)
                await self._emit_expired(app, event.endpoint_id, cid, activity, chosen.treatment_id, now)
            else:
                # Daily and Total count every event's message (each event is its own member of the counters, so a
                # redelivered event is not counted twice); MaximumDuration has no meaning here: the five-minute
                # rule bounds an event's send
                caps = effective_caps(doc.Limits, settings.Limits)._replace(max_duration=None)
                [why] = await self.caps.admit(app, cid, f"e{entry_id}", [event.endpoint_id], caps, now)
                if why is not None:
                    held = (chosen.treatment_id, why)
                else:
                    content = treatment_content(local, chosen.treatment_id)
                    [request] = run_requests(content, [event.endpoint_id], campaign_id=cid, activity_id=activity,
                                             treatment_id=chosen.treatment_id)
                    # the five minutes bound the send too, however long the message waits in the stream
                    await self.producer.send_messages(app, request, idempotency_key=idempotency_key(cid, entry_id),
                                                      deadline_ms=event.arrival_ms + triggers.EXPIRY_MS)
        fields = metric_fields(plans, held)
        return await self._count(trigger, app, entry_id, fields, now)

    async def _count(self, trigger: Trigger, app: str, entry_id: str, fields: dict[str, int], now: dt.datetime) -> bool:
        cid = trigger.campaign.Id
        start = dt.datetime.fromtimestamp(trigger.start_ms / 1000, dt.UTC)
        args: list[str | int] = [self.config.events_handled_ttl_s, iso(start), trigger.start_ms]
        for field, n in sorted(fields.items()):
            args += [field, n]
        keys = [triggers.handled_key(app, cid, entry_id), runs.run_key(app, cid, triggers.EVENT_RUN),
                runs.runs_key(app, cid), campaign_key(app, cid)]
        return bool(await self._record(keys=keys, args=args))

    async def _member(self, app: str, doc: models.CampaignResponse, endpoint: models.EndpointResponse,
                      now: dt.datetime) -> bool:
        """Whether the endpoint is in the campaign's segment version now (False once the segment is gone)."""
        assert doc.SegmentId is not None
        found: dict[tuple[str, int | None], models.SegmentResponse] = {}
        imported: dict[tuple[str, int], set[str]] = {}
        try:
            seg = await self.segments.get_version(app, doc.SegmentId, doc.SegmentVersion)
            await self._sources(app, seg, endpoint.Id or "", found, imported, 0)
        except NotFound:
            return False
        return segment_match(seg, msgspec.to_builtins(endpoint), now.timestamp(), lambda i, v: found[(i, v)],
                             lambda i, v: imported[(i, v)])

    async def _sources(self, app: str, seg: models.SegmentResponse, endpoint_id: str,
                       found: dict[tuple[str, int | None], models.SegmentResponse],
                       imported: dict[tuple[str, int], set[str]], depth: int) -> None:
        """Load what segment_match will look up for one endpoint: the source segments, and whether the endpoint is
        in each imported version (one SISMEMBER, not the whole list)."""
        if depth > 20:
            raise ValueError("segment references nest too deeply (a cycle?)")
        if seg.SegmentType == "IMPORT":
            version = seg.Version or 1
            hit = await self.redis.sismember(members_key(app, seg.Id, version), endpoint_id)
            imported[(seg.Id, version)] = {endpoint_id} if hit else set()
        for group in (seg.SegmentGroups.Groups or []) if seg.SegmentGroups is not None else []:
            for source in group.SourceSegments or []:
                if (source.Id, source.Version) not in found:
                    src = await self.segments.get_version(app, source.Id, source.Version)
                    found[(source.Id, source.Version)] = src
                    await self._sources(app, src, endpoint_id, found, imported, depth + 1)

    async def _emit_expired(self, app: str, endpoint_id: str, cid: str, activity: str, tid: int,
                            now: dt.datetime) -> None:
        """The `_campaign.send` event of a message dropped by the five-minute rule."""
        attributes: dict[str, Any] = {**campaign_context(cid, activity, tid),
                                      "campaign_send_status": triggers.EXPIRED_STATUS}
        record = events.envelope("_campaign.send", app, attributes, client_id=endpoint_id,
                                 now_ms=int(now.timestamp() * 1000))
        await self.redis.xadd(self.events_key, {"app": app, "event_type": "_campaign.send", "record": _encode(record)})


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass
