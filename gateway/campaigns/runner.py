"""The campaign runner: the I/O shell that runs due campaign runs, inside every worker (gateway/worker.py).

    scheduler = Scheduler(redis, producer=Producer(redis), config=cfg.campaigns)
    await scheduler.tick()      # every poll interval: run what is due now

Each tick walks the applications with campaigns (`gw:camp:apps`) and each one's due index, and runs every due
campaign it can lease. A run: resolve the segment (segments/resolver.py), take its endpoints' planning members from
the segment index (`members_of`: no endpoint document is read), split them
(split.py), plan each treatment (plan.py: recipients and run metrics, local time and quiet time from
schedule.py) and enqueue the recipients as MessageRequests (messages.py) through the producer (an in-app
campaign's recipients instead get its message stored for their app to fetch, inappstore.py), in chunks of
`chunk_requests` requests of at most 100 endpoints: per chunk one pipelined round trip for the XADDs and one
for the cursor script (below), plus one for the Daily/Total counters when the campaign has them. The engine then
sends them
like any request: every channel, status, event, retry and rate limit applies, and every event carries
campaign_id, campaign_activity_id and treatment_id (the request's Context).

Exactly one worker runs a run: it holds the run's lease (SET NX PX, its value a fencing token from INCR), renews it
with every chunk and writes its progress only while the token is still the lease's (WATCH on the lease, in the
campaign's slot; for the cursor, a script that checks the lease and the campaign as it writes). Progress is the
run's cursor per treatment: recipients are sent in a fixed order (delivery time, endpoint id) and the cursor is the
key of the last one enqueued. The stream is in another cluster slot than the campaign, so the XADDs and the cursor
cannot be one transaction: the cursor advances right after the chunk's XADDs succeed. A worker dying between the
two, or one whose lease expired while it enqueued, makes the worker that takes over enqueue that chunk again:
delivery is at least once, with at most one chunk per takeover sent twice, and nothing skipped.

Limits (limits.py) are applied per chunk, just before its XADDs: recipients past MaximumDuration are dropped and
counted EXPIRED (the others' requests carry the deadline, so the engine does not send them later), the rest go
through the shared Daily/Total counters (capstore.py, one script call per chunk);
the counts of those stopped are written with the cursor, so a repeated chunk is counted once.

Between chunks the runner checks the campaign: deleted, it stops at once; paused, it stops and the run stays
in progress (resuming continues it from its cursor). A local-time run reaches each endpoint at its wall time in
its own zone: the runner enqueues the recipients whose time has come and puts the campaign back in the due index
at the next one's time. When a run is done, the campaign is due at its next run (PENDING_NEXT_RUN) or COMPLETED.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple, cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import events, keys, models
from gateway.api.appstore import AppStore
from gateway.campaigns import hooks, runs
from gateway.campaigns.capstore import CapStore
from gateway.campaigns.inappstore import InAppStore
from gateway.campaigns.limits import EXPIRED, Caps, effective_caps, expired, request_deadline_ms
from gateway.campaigns.messages import campaign_context, run_requests
from gateway.campaigns.plan import (
    IN_APP,
    Content,
    Recipient,
    duplicate_endpoints,
    plan_group,
    treatment_content,
    treatment_run,
)
from gateway.campaigns.runs import COMPLETED, RUNNING
from gateway.campaigns.schedule import Run, effective_quiet_time, run_at
from gateway.campaigns.split import partition_audience, plan_split
from gateway.campaigns.store import campaign_key, created_at, iso, queue_next_run
from gateway.channels.custom import CUSTOM, DELIVERY_TTL_S, Delivery, delivery_key
from gateway.channels.webhook import WebhookClient
from gateway.config import CampaignsConfig
from gateway.endpoints.store import EndpointStore
from gateway.errors import NotFound
from gateway.events import EventWriter
from gateway.producer import Producer
from gateway.redisconn import REDIS_DOWN
from gateway.segments.index import EndpointIndex
from gateway.segments.resolver import SegmentResolver
from gateway.templates.store import TemplateStore

log = logging.getLogger("gateway.campaigns")

_decode = msgspec.json.Decoder(models.CampaignResponse).decode
#: Endpoint documents read per MGET (Scheduler._documents), and MGETs in flight.
LOAD_BATCH: Final = 5000
LOAD_AHEAD: Final = 4


class _MemberDemographic(msgspec.Struct, gc=False):
    Timezone: str | None = None


class _MemberUser(msgspec.Struct, gc=False):
    UserId: str | None = None


class Member(msgspec.Struct, gc=False):
    """The members of a stored EndpointResponse that planning a run reads (plan.py; msgspec skips the rest while
    decoding, so a million endpoints load at a fraction of the full decode's cost). Planning takes it where it
    takes an EndpointResponse: keep it in step with what plan.py reads."""

    Id: str | None = None
    Address: str | None = None
    ChannelType: str | None = None
    CohortId: str | None = None
    Demographic: _MemberDemographic | None = None
    EffectiveDate: str | None = None  # plan.duplicate_endpoints: the last written of an address is messaged
    EndpointStatus: str | None = None
    OptOut: str | None = None
    User: _MemberUser | None = None


_decode_member = msgspec.json.Decoder(Member).decode
#: A Member made from the segment index has this Address when the endpoint has one: the index keeps whether there
#: is an address (and its hash), not the address, and planning only asks whether there is one (plan.endpoint_reason;
#: duplicates are decided from the documents, `repeated_addresses`).
ADDRESS_ON_FILE: Final = "(address on file)"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (only around code with no await: the rest of the worker keeps its
    collector). Planning a run allocates millions of tuples and no cycles, and the collection passes they set off
    cost as much as the planning itself (1M endpoints: 4.2 s -> 2.3 s CPU), as for the segment index build."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _single(values: list[tuple[str, ...]]) -> list[str | None]:
    """A single-value dictionary column's values by code (code 0, missing: None)."""
    return [v[0] if v else None for v in values]


def members_of(idx: EndpointIndex, rows: Sequence[int], ids: Sequence[str]) -> list[Member]:
    """The `Member`s of the index's `rows` (ids `ids`), from its planning columns (segments/index.py): Id,
    ChannelType, CohortId, Demographic.Timezone, EndpointStatus and OptOut as stored, Address ADDRESS_ON_FILE or
    None. EffectiveDate and User are not filled: planning reads them only through duplicate_endpoints, which the
    runner gives documents."""
    sets = idx.sets
    channel, cohort, status, optout = (sets[f] for f in ("channel", "cohort", "status", "optout"))
    channels, cohorts = _single(channel.values), _single(cohort.values)
    statuses, optouts = _single(status.values), _single(optout.values)
    # one Demographic per time zone, shared by the members in it (planning only reads them)
    zones = [None if not v else _MemberDemographic(v[0]) for v in sets["timezone"].values]
    cc, kc, sc, oc, zc = channel.codes, cohort.codes, status.codes, optout.codes, sets["timezone"].codes
    addr = idx.addr
    on_file = ADDRESS_ON_FILE
    new = Member
    return [new(eid, on_file if addr[r] else None, channels[cc[r]], cohorts[kc[r]], zones[zc[r]], None,
                statuses[sc[r]], optouts[oc[r]])
            for r, eid in zip(rows, ids, strict=True)]


def repeated_addresses(idx: EndpointIndex, rows: Sequence[int], ids: Sequence[str]) -> list[str]:
    """The ids among `rows` whose address hash (index `addr`) another of them shares: every endpoint that may have
    another's address (a hash collision only adds a document to read). Usually none: the endpoint store keeps one
    ACTIVE endpoint per address."""
    addr = idx.addr
    hashes = [addr[r] for r in rows]
    distinct = set(hashes)
    distinct.discard(0)
    if len(distinct) == len(hashes) - hashes.count(0):
        return []
    seen: set[int] = set()
    repeated: set[int] = set()
    for h in hashes:
        if h in seen:
            repeated.add(h)
        else:
            seen.add(h)
    repeated.discard(0)
    return [eid for eid, h in zip(ids, hashes, strict=True) if h in repeated]


# A chunk's cursor write (Scheduler._advance). KEYS: the lease, the campaign's hash, the run record (one slot).
# ARGV: token, lease ms, cursor field, cursor, sent field, n, then pairs (field, count) to add (limits, hooks). 0: not ours or
# deleted (nothing written); 1: written; 2: written, but the campaign is paused (stop).
_CURSOR: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local state = redis.call('HMGET', KEYS[2], 'latest', 'paused')
if not state[1] then return 0 end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[5], ARGV[6])
for i = 7, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if state[2] == '1' then return 2 end
return 1
"""
_ADVANCED: Final = 1


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaseLost(Exception):
    """The run's lease is no longer ours (expired and taken, or the campaign was deleted): stop writing."""


class Stopping(Exception):
    """The worker is shutting down: stop between chunks, give the lease back (another worker continues)."""


class Lease:
    """A held run lease: the campaign and the fencing token."""

    __slots__ = ("app", "campaign_id", "token")

    def __init__(self, app: str, campaign_id: str, token: str) -> None:
        self.app, self.campaign_id, self.token = app, campaign_id, token


class Scheduler:
    """Runs due campaign runs (module doc). `clock` is the wall clock runs are scheduled by (tests move it);
    `sleep` and `monotonic` pace MessagesPerSecond."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        producer: Producer,
        config: CampaignsConfig | None = None,
        resolver: SegmentResolver | None = None,
        endpoints: EndpointStore | None = None,
        apps: AppStore | None = None,
        inapp: InAppStore | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        owner: str | None = None,
        stopping: asyncio.Event | None = None,
        webhooks: WebhookClient | None = None,
        events_key: str = "gateway:events",
    ) -> None:
        self.redis = redis
        self.producer = producer
        self.config = config or CampaignsConfig()
        # with snapshots: a starting worker loads the application's saved index and replays the changes since
        # (~30x faster than reading every endpoint); the first to build one cold saves it for the others
        self.resolver = resolver or SegmentResolver(redis)
        self.endpoints = endpoints or EndpointStore(redis)
        self.apps = apps or AppStore(redis, "")
        self.inapp = inapp or InAppStore(redis, TemplateStore(redis))
        self.caps = CapStore(redis)
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self.owner = owner or uuid.uuid4().hex[:12]
        self.stopping = stopping or asyncio.Event()
        # campaign hooks (hooks.py): the signed, guarded webhook client, opened on first use
        self.webhooks = webhooks or WebhookClient(self.config.webhooks)
        self.events = EventWriter(redis, events_key)
        self._cursor_script = redis.register_script(_CURSOR)

    async def aclose(self) -> None:
        """Close the hooks' webhook connections (the worker, when it stops)."""
        await self.webhooks.aclose()

    # -- the loop's step ---------------------------------------------------------------------------------------

    async def tick(self) -> int:
        """Run every campaign due now that no other worker holds; returns how many it ran (or continued)."""
        now = self.clock()
        ran = 0
        for raw_app in await self.redis.smembers(runs.APPS_KEY):
            app = runs.member(raw_app)
            due = await self.redis.zrangebyscore(runs.due_key(app), "-inf", runs.ms(now), start=0,
                                                 num=self.config.due_per_poll)
            for raw_id in due:
                if self.stopping.is_set():
                    return ran
                cid = runs.member(raw_id)
                try:
                    ran += await self.run_campaign(app, cid)
                except REDIS_DOWN:
                    raise
                except Exception:  # one broken campaign must not keep the others from running
                    log.exception("campaign %s of %s: run failed; retried at the next poll", cid, app)
        return ran

    async def run_campaign(self, app: str, campaign_id: str, *, now: bool = False) -> bool:
        """Lease the campaign's run and run it (or its part due now); False when another worker holds it.
        `now` starts the campaign's next run at once even when it is scheduled later (`gateway campaign run-now`)."""
        lease = await self.acquire(app, campaign_id)
        if lease is None:
            return False
        try:
            await self._run(lease, force=now)
        except LeaseLost:
            log.warning("campaign %s of %s: lease lost or campaign deleted or paused; run stopped", campaign_id, app)
        except Stopping:
            log.info("campaign %s of %s: stopping; the run is left for another worker", campaign_id, app)
        finally:
            await self.release(lease)
        return True

    # -- the lease ---------------------------------------------------------------------------------------------

    async def acquire(self, app: str, campaign_id: str) -> Lease | None:
        """SET NX PX of the run lease with a new fencing token; None when another worker holds it."""
        token = f"{await self.redis.incr(runs.fence_key(app))}:{self.owner}"
        ok = await self.redis.set(runs.lease_key(app, campaign_id), token, nx=True, px=self.config.lease_ms)
        return Lease(app, campaign_id, token) if ok else None

    async def release(self, lease: Lease) -> None:
        """Delete the lease if it is still ours (never another worker's)."""
        key = runs.lease_key(lease.app, lease.campaign_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if runs.text(await pipe.get(key)) != lease.token:
                    return
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.delete(key)
                await pipe.execute()
            except WatchError:
                pass  # expired and taken meanwhile: it is the other worker's now

    async def _fenced(self, lease: Lease, fill: Callable[[aioredis.client.Pipeline], object]) -> None:
        """Apply `fill`'s commands in one transaction iff the lease is still ours and the campaign exists, renewing
        the lease; LeaseLost otherwise. The lease and the campaign are in the campaign's slot."""
        lease_key = runs.lease_key(lease.app, lease.campaign_id)
        camp_key = campaign_key(lease.app, lease.campaign_id)
        for _ in range(10):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(lease_key, camp_key)
                    if runs.text(await pipe.get(lease_key)) != lease.token or not await pipe.hexists(camp_key, "latest"):
                        raise LeaseLost(lease.campaign_id)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    fill(pipe)
                    pipe.pexpire(lease_key, self.config.lease_ms)
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # the campaign was written meanwhile (an update): check again
        raise LeaseLost(lease.campaign_id)

    # -- one run -----------------------------------------------------------------------------------------------

    async def _run(self, lease: Lease, *, force: bool = False) -> None:
        app, cid = lease.app, lease.campaign_id
        key = campaign_key(app, cid)
        latest, paused, done, active = await self.redis.hmget(key, ["latest", "paused", "done", "active"])
        if latest is None or runs.text(paused) == "1":
            await self._drop_if_idle(app, cid)  # deleted or paused: an update puts it back
            return
        raw = await self.redis.hget(key, f"v{int(latest)}")
        if raw is None:
            return
        doc = _decode(raw)
        assert doc.Schedule is not None
        now = self.clock()
        created = created_at(doc)
        run: Run | None
        number = runs.number(active)
        if number is None:
            run = runs.due_run(doc.Schedule, created, runs.number(done), now)
            if run is None or (run.start > now and not force):
                await self._fenced(lease, lambda p: queue_next_run(p, app, cid, run, ran=runs.number(done) is not None))
                return
            started = run
            await self._fenced(lease, lambda p: self._queue_start(p, app, cid, started))
            number = run.number
        else:
            run = run_at(doc.Schedule, created, number)
        if run is not None:
            # run-now sends what is due at the run's start at once (the rest of a local-time run at its times)
            later = await self._send(lease, doc, run, max(now, run.start) if force else now)
            if later is not None:  # a local-time run with deliveries still ahead: come back then
                await self._fenced(lease, lambda p: p.zadd(runs.due_key(app), {cid: runs.ms(later)}))
                return
        nxt = runs.due_run(doc.Schedule, created, number, now)
        await self._fenced(lease, lambda p: self._queue_finish(p, app, cid, number, nxt, now))
        log.info("campaign %s of %s: run %d completed", cid, app, number)

    async def _drop_if_idle(self, app: str, cid: str) -> None:
        """Take a deleted or paused campaign out of the due index, unless an update (a resume) came meanwhile:
        WATCHed, so a resume's ZADD is never undone."""
        key = campaign_key(app, cid)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    latest, paused = await pipe.hmget(key, ["latest", "paused"])
                    if latest is not None and runs.text(paused) != "1":
                        return
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.zrem(runs.due_key(app), cid)
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    def _queue_start(self, pipe: aioredis.client.Pipeline, app: str, cid: str, run: Run) -> None:
        pipe.hset(campaign_key(app, cid), mapping={"active": run.number, "status": "EXECUTING"})
        record = runs.run_key(app, cid, run.number)
        pipe.hsetnx(record, "start", iso(self.clock()))  # the scheduler's clock, like every other run time
        pipe.hset(record, mapping={"scheduled": iso(run.start), "state": RUNNING})
        pipe.zadd(runs.runs_key(app, cid), {str(run.number): runs.ms(run.start)})

    def _queue_finish(
        self, pipe: aioredis.client.Pipeline, app: str, cid: str, number: int, nxt: Run | None, now: dt.datetime
    ) -> None:
        key = campaign_key(app, cid)
        pipe.hset(runs.run_key(app, cid, number), mapping={"state": COMPLETED, "end": iso(now)})
        pipe.hset(key, mapping={"done": number, "status": "PENDING_NEXT_RUN" if nxt is not None else "COMPLETED"})
        pipe.hdel(key, "active")
        if nxt is None:
            pipe.zrem(runs.due_key(app), cid)
        else:
            pipe.zadd(runs.due_key(app), {cid: runs.ms(nxt.start)})

    async def _audience(
        self, app: str, doc: models.CampaignResponse
    ) -> tuple[list[models.EndpointResponse], frozenset[str]]:
        """The segment's endpoints now (the version the campaign names), in index order, as `Member`s made from the
        segment index's columns (`members_of`: no endpoint document is read), and the ids plan.duplicate_endpoints
        drops, decided over the documents of the few endpoints whose address hash repeats (`repeated_addresses`)."""
        assert doc.SegmentId is not None
        try:
            idx, rows = await self.resolver.rows(app, doc.SegmentId, doc.SegmentVersion)
        except NotFound:
            return [], frozenset()  # the segment is gone: the campaign is DELETED (state.py), its run reaches no one
        ids = idx.ids(rows)
        with gc_paused():
            members = members_of(idx, rows, ids)  # before any await: one consistent cut of the index
            candidates = repeated_addresses(idx, rows, ids)
        duplicates = duplicate_endpoints(await self._documents(app, candidates)) if candidates else frozenset()
        # a Member carries every member of an EndpointResponse that plan.py reads (duck-typed, see Member)
        return cast(list[models.EndpointResponse], members), duplicates

    async def _documents(self, app: str, ids: list[str]) -> list[models.EndpointResponse]:
        """The stored endpoints of `ids` (those that still exist) as `Member`s decoded from their documents, in the
        order given. MGETs of LOAD_BATCH ids, LOAD_AHEAD of them in flight."""
        out: list[Member] = []
        # the keys differ only by the id at their end; as bytes, which the client sends as they are (a str key costs
        # the client's encoder several type checks and an encode each)
        prefix = keys.endpoint(app, "").encode()
        batches = [[prefix + i.encode() for i in ids[i : i + LOAD_BATCH]] for i in range(0, len(ids), LOAD_BATCH)]
        # a sliding window: the next MGETs are served while this process decodes the one that arrived
        ahead = [asyncio.ensure_future(self.redis.mget(part)) for part in batches[:LOAD_AHEAD]]
        try:
            for b in range(len(batches)):
                raws = await ahead[b]
                if b + LOAD_AHEAD < len(batches):
                    ahead.append(asyncio.ensure_future(self.redis.mget(batches[b + LOAD_AHEAD])))
                for eid, raw in zip(ids[b * LOAD_BATCH : (b + 1) * LOAD_BATCH], raws, strict=True):
                    if raw is not None:
                        member = _decode_member(raw)
                        out.append(member if member.Id else msgspec.structs.replace(member, Id=eid))
        finally:
            for pending in ahead:
                pending.cancel()
        return cast(list[models.EndpointResponse], out)

    async def _send(
        self, lease: Lease, doc: models.CampaignResponse, run: Run, horizon: dt.datetime
    ) -> dt.datetime | None:
        """Enqueue every recipient of `run` whose delivery time is at or before `horizon` (normally now); the
        earliest delivery time still ahead (local time), or None when the run is fully enqueued."""
        app, cid = lease.app, lease.campaign_id
        assert doc.Schedule is not None
        endpoints, duplicates = await self._audience(app, doc)
        treatments = doc.AdditionalTreatments or []
        split = plan_split(cid, doc.HoldoutPercent, [t.SizePercent for t in treatments])
        settings = await self.apps.get_settings(app)
        # an in-app campaign's Daily and Total are display caps the SDK and GetInAppMessages apply (inappstore.py),
        # not send limits: storing its message counts toward no limit
        in_app = doc.Schedule.Frequency == "IN_APP_EVENT"
        caps = effective_caps(None if in_app else doc.Limits, None if in_app else settings.Limits)
        created = created_at(doc)
        hook = hooks.effective_hook(doc.Hook, settings.CampaignHook)
        record_key = runs.run_key(app, cid, run.number)
        record = runs.record(await self.redis.hgetall(record_key))
        mps = doc.Limits.MessagesPerSecond if doc.Limits is not None else None
        chunk = self.config.chunk_requests * 100
        if mps is not None:
            chunk = max(1, min(chunk, mps))  # pace in steps of at most a second
        began, enqueued = self.monotonic(), 0
        later: dt.datetime | None = None
        with gc_paused():
            groups = partition_audience(split, endpoints)
        for tid in [0, *(int(t.Id) for t in treatments)]:
            content = treatment_content(doc, tid)
            # a treatment with its own Schedule runs on it: its own start, local time and quiet time (plan.py)
            trun = treatment_run(content.schedule, doc.Schedule, created, run)
            quiet = effective_quiet_time(content.schedule.QuietTime, settings.QuietTime)
            with gc_paused():
                plan = plan_group(doc, tid, trun, len(endpoints), groups.get(tid, []), quiet, duplicates)
                todo = runs.pending(plan.recipients, record.get(f"t{tid}:cursor") or None)
            metrics = json.dumps(dict(sorted(plan.metrics.items())))
            await self._fenced(lease, functools.partial(
                self._queue_metrics, record_key=record_key, tid=tid, metrics=metrics, total=len(plan.recipients)))
            due = runs.due_count(todo, horizon)
            ready = todo if due == len(todo) else todo[:due]
            if len(ready) < len(todo):
                first = todo[len(ready)][1].at
                later = first if later is None else min(later, first)
            activity = runs.activity_id(cid, run.number, tid)
            checked = False  # the previous chunk's cursor script checked the lease and the campaign just now
            for i in range(0, len(ready), chunk):
                part = ready[i : i + chunk]
                if not checked:
                    await self._check(lease)
                elif self.stopping.is_set():
                    raise Stopping(lease.campaign_id)
                admitted, denied = await self._limit(app, cid, run.number, [r for _, r in part], caps)
                # the limits first: a DELIVERY hook delivers what it is given, so it must only get admitted ones
                sent, counts = 0, dict[str, int]()
                if admitted:
                    shot = Shot(app, cid, tid, activity, iso(run.start), content, hook, caps)
                    sent, counts = await self._deliver(shot, admitted)
                await self._advance(lease, record_key, tid, part[-1][0], sent, denied, counts)
                enqueued += len(admitted)
                checked = True
                if mps is not None:
                    ahead = enqueued / mps - (self.monotonic() - began)
                    if ahead > 0:
                        await self.sleep(ahead)
                        checked = False  # a pause or a takeover may have come while it waited
        return later

    async def _advance(
        self, lease: Lease, record_key: str, tid: int, cursor: str, n: int, denied: Counter[str],
        counts: Mapping[str, int],
    ) -> None:
        """After a chunk's XADDs: move the treatment's cursor, add the chunk's `n` sent, the counts the limits
        `denied` (runs.limit_field) and the run metrics decided while sending (`counts`, a hook's: runs.sent_metric),
        with the cursor, so a chunk repeated after a takeover is counted once, and
        renew the lease, iff the lease is still ours and the campaign exists (one script in the campaign's slot: one
        round trip, no WATCH). LeaseLost when it is not, or when the campaign is paused meanwhile (the cursor is
        written: resuming continues after this chunk)."""
        app, cid = lease.app, lease.campaign_id
        args: list[str | int] = [lease.token, self.config.lease_ms, f"t{tid}:cursor", cursor, f"t{tid}:sent", n]
        for reason, count in denied.items():
            args += (runs.limit_field(tid, reason), count)
        for reason, count in counts.items():
            args += (runs.sent_metric(tid, reason), count)
        state = await self._cursor_script(
            keys=[runs.lease_key(app, cid), campaign_key(app, cid), record_key], args=args)
        if int(state) != _ADVANCED:
            raise LeaseLost(cid)

    async def _limit(
        self, app: str, cid: str, number: int, part: list[Recipient], caps: Caps
    ) -> tuple[list[Recipient], Counter[str]]:
        """The chunk's recipients the limits let through (counted in the shared counters, capstore.py), and how many
        each limit stopped: past MaximumDuration (EXPIRED, not enqueued; those enqueued carry the deadline, which
        the engine checks before sending), then Daily and Total."""
        denied: Counter[str] = Counter()
        if caps.max_duration is None and not caps.counted:
            return part, denied  # no limit in force (most campaigns): nothing to look at per recipient
        now = self.clock()
        live = part if caps.max_duration is None else [r for r in part if not expired(r.at, caps, now)]
        if len(live) < len(part):
            denied[EXPIRED] = len(part) - len(live)
        if not caps.counted or not live:
            return live, denied
        reasons = await self.caps.admit(app, cid, number, [r.endpoint_id for r in live], caps, now)
        admitted = []
        for r, why in zip(live, reasons, strict=True):
            if why is None:
                admitted.append(r)
            else:
                denied[why] += 1
        return admitted, denied

    @staticmethod
    def _queue_metrics(pipe: aioredis.client.Pipeline, *, record_key: str, tid: int, metrics: str, total: int) -> None:
        pipe.hset(record_key, mapping={f"t{tid}:metrics": metrics, f"t{tid}:total": total})

    async def _check(self, lease: Lease) -> None:
        """Between chunks: LeaseLost when the lease is no longer ours, the campaign was deleted or paused;
        Stopping when the worker stops."""
        if self.stopping.is_set():
            raise Stopping(lease.campaign_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(runs.lease_key(lease.app, lease.campaign_id))
        pipe.hmget(campaign_key(lease.app, lease.campaign_id), ["latest", "paused"])
        token, (latest, paused) = await pipe.execute()
        if runs.text(token) != lease.token or latest is None or runs.text(paused) == "1":
            raise LeaseLost(lease.campaign_id)

    async def _deliver(self, shot: Shot, recipients: Sequence[Recipient]) -> tuple[int, dict[str, int]]:
        """Send one chunk: through the hook first when there is one (FILTER keeps or changes endpoints, DELIVERY
        delivers them itself), then enqueued. Returns how many were sent (enqueued or delivered by the hook) and
        the run metrics of the others (hooks.py)."""
        counts: dict[str, int] = {}
        configs: dict[str, models.EndpointSendConfiguration] = {}
        if shot.hook is not None:
            recipients, configs, counts = await self._through_hook(shot, recipients)
            if shot.hook.Mode == "DELIVERY":
                return counts.get(hooks.DELIVERED, 0), counts
        await self._enqueue(shot, recipients, configs)
        return len(recipients), counts

    async def _through_hook(
        self, shot: Shot, recipients: Sequence[Recipient]
    ) -> tuple[list[Recipient], dict[str, models.EndpointSendConfiguration], dict[str, int]]:
        hook = shot.hook
        assert hook is not None
        caller = hooks.HookCaller(self.webhooks, attempts=self.config.webhooks.hook_attempts,
                                  backoff_s=self.config.webhooks.hook_backoff_s, sleep=self.sleep)
        messages = shot.content.messages
        ids = [r.endpoint_id for r in recipients]
        # the hook gets whole endpoints (the run's audience holds only what planning reads: runner.Member)
        full = {eid: ep if ep.Id else msgspec.structs.replace(ep, Id=eid)
                for eid, ep in zip(ids, await self.endpoints.get_many(shot.app, ids), strict=True) if ep is not None}

        def body_for(endpoints: Mapping[str, dict[str, Any]]) -> bytes:
            return hooks.event_payload(messages, app=shot.app, campaign_id=shot.campaign_id,
                                       treatment_id=shot.treatment_id, activity_id=shot.activity_id,
                                       scheduled_time=shot.scheduled_time, endpoints=endpoints)

        parts = hooks.batches(ids)
        results = await asyncio.gather(*(
            caller.call(hook, body_for, {eid: full[eid] for eid in part if eid in full})
            for part in parts))
        kept: dict[str, dict[str, list[str]] | None] = {}
        counts: dict[str, int] = {}
        emit: list[bytes | str] = []
        for part, result in zip(parts, results, strict=True):
            if result.error is not None:
                log.warning("campaign %s of %s: hook batch of %d endpoints failed: %s", shot.campaign_id, shot.app,
                            len(part), result.error)
                counts[hooks.FAILED] = counts.get(hooks.FAILED, 0) + len(part)
                emit += self._hook_events(shot, full, part, hooks.EVENT_FAILURE, "PERMANENT_FAILURE", 502,
                                          f"Campaign hook failed: {result.error}; not sent")
                continue
            kept.update(result.kept)
            if hook.Mode == "DELIVERY":
                counts[hooks.DELIVERED] = counts.get(hooks.DELIVERED, 0) + len(result.kept)
                emit += self._hook_events(shot, full, list(result.kept), hooks.EVENT_DELIVERED, "SUCCESSFUL", 200,
                                          "Delivered by the campaign hook (DELIVERY mode)")
            elif len(result.kept) < len(part):
                counts[hooks.FILTERED] = counts.get(hooks.FILTERED, 0) + len(part) - len(result.kept)
        if emit:
            pipe = self.redis.pipeline(transaction=False)
            await self.events.queue(pipe, emit)
            await pipe.execute()
        configs = {eid: models.EndpointSendConfiguration(Substitutions=subs) for eid, subs in kept.items() if subs}
        return [r for r in recipients if r.endpoint_id in kept], configs, counts

    def _hook_events(self, shot: Shot, full: Mapping[str, models.EndpointResponse], ids: Sequence[str],
                     event_type: str, status: str, code: int, message: str) -> list[bytes | str]:
        now_ms = int(time.time() * 1000)
        context = campaign_context(shot.campaign_id, shot.activity_id, shot.treatment_id)
        out: list[bytes | str] = []
        for eid in ids:
            ep = full.get(eid)
            record = events.message_record(
                event_type=event_type, app=shot.app, now_ms=now_ms, message_id=f"{shot.activity_id}:{eid}",
                request_id=shot.activity_id, channel_type=(ep.ChannelType if ep is not None else None) or "",
                address=(ep.Address if ep is not None else None) or "", endpoint_id=eid, delivery_status=status,
                status_code=code, status_message=message[:1000], attempt=1, trace_id=None, context=context)
            out += [shot.app, event_type, record]
        return out

    async def _enqueue(self, shot: Shot, recipients: Sequence[Recipient],
                       configs: Mapping[str, models.EndpointSendConfiguration]) -> None:
        app, content = shot.app, shot.content
        # in-app recipients get the message stored for their app to fetch (inappstore.py: no wire to send on)
        in_app = [r.endpoint_id for r in recipients if r.channel == IN_APP]
        if in_app:
            await self.inapp.store(app, shot.campaign_id, shot.treatment_id, in_app, self.clock())
        custom = [r.endpoint_id for r in recipients if r.channel == CUSTOM]
        others = [r.endpoint_id for r in recipients if r.channel not in (CUSTOM, IN_APP)]
        requests = run_requests(content, others, campaign_id=shot.campaign_id, activity_id=shot.activity_id,
                                treatment_id=shot.treatment_id, configs=configs)
        if custom:
            assert content.custom is not None  # plan.channel_for: CUSTOM only with a custom delivery
            data = content.messages.CustomMessage.Data if (
                content.messages is not None and content.messages.CustomMessage is not None) else None
            delivery = Delivery(uri=content.custom.DeliveryUri, data=data, scheduled_time=shot.scheduled_time)
            # before the messages that read it; rewritten per chunk (the same bytes), kept for their retries
            await self.redis.set(delivery_key(app, shot.campaign_id, shot.activity_id), msgspec.json.encode(delivery),
                                 ex=DELIVERY_TTL_S)
            requests += run_requests(content, custom, campaign_id=shot.campaign_id, activity_id=shot.activity_id,
                                     treatment_id=shot.treatment_id, custom=True, configs=configs)
        if requests:
            deadlines = None
            if shot.caps is not None and shot.caps.max_duration is not None:
                at = {r.endpoint_id: r.at for r in recipients}
                deadlines = [request_deadline_ms((at[e] for e in req.Endpoints or ()), shot.caps) for req in requests]
            await self.producer.send_many(app, requests, deadlines=deadlines)


class Shot(NamedTuple):
    """What every chunk of one treatment's run shares: where it goes and how (its content and hook)."""

    app: str
    campaign_id: str
    treatment_id: int
    activity_id: str
    scheduled_time: str
    content: Content
    hook: models.CampaignHook | None
    caps: Caps | None = None  # their MaximumDuration becomes each request's deadline

