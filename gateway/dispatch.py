"""The walk of one message (DESIGN.md): decode → resolve recipients → drop opted-out, suppressed, inactive and
duplicate → render → channel → outcome → events, retries, dead letters → XACK.

A batch of stream entries is processed together so Redis costs a few round trips per batch, not per message:
one for idempotency keys and endpoint/user lookups, one for suppression, then sends run concurrently. Then every
recipient's result (a channel's Delivered or error, or a refusal decided before any channel ran) goes through
`gateway.outcome.decide`, the one place that says what it means, and the plan is written: first the
per-application writes its actions ask for (suppression, deactivation: idempotent), then one MULTI/EXEC
transaction that writes every event, retry, dead letter and reply and acknowledges the entries. Acknowledging in
the same transaction as the outcome is what makes delivery at-least-once: a crash before EXEC leaves the entries
pending, to be read again. The dispatcher knows no channel by name: what to screen, compose and call events
comes from each route's `Family`.

A failure is isolated to what caused it, so one poison entry never holds its neighbours: an entry that cannot be
decoded (or breaks the preparation of its batch) is dead-lettered alone with the reason; a recipient whose
screening, composition or outcome fails ends with a status and an event, or dead-lettered, alone. Only Redis
being unreachable (`redisconn.REDIS_DOWN`) leaves a whole batch pending, to be tried again (the per-application
writes, which come after the sends, first wait a busy Redis out for a few seconds: PER_APP_RETRY).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import msgspec
import redis.asyncio as aioredis

from gateway import errors, events, keys
from gateway.channels import families
from gateway.channels.base import AnyRoute, BatchChannel, Delivered, Outbound, Recipient, Render, Screen
from gateway.channels.custom import CHANNEL_CONTEXT_KEY
from gateway.config import GatewayConfig, Lane, RetryConfig
from gateway.endpoints.rules import iso_from_epoch
from gateway.endpoints.store import EndpointStore
from gateway.kpi import attribution
from gateway.kpi.rollup import Tally
from gateway.metrics.core import LATENCY_BUCKETS, SEND_BUCKETS, ChannelCells, EngineMetrics, entry_ms
from gateway.models import (
    AddressConfiguration,
    DeliveryStatus,
    EndpointMessageResult,
    EndpointResponse,
    EndpointSendConfiguration,
    MessageRequest,
    MessageResponse,
    MessageResult,
    SendUsersMessageRequest,
    SendUsersMessageResponse,
)
from gateway.outcome import Action, Outcome, Refused, Result, decide
from gateway.redisconn import REDIS_DOWN, pool_busy
from gateway.sms.optouts import OptOutStore
from gateway.stream import codec, retry
from gateway.stream.retry import backoff_s
from gateway.suppression import SuppressionList
from gateway.suppression import entry as suppression_entry
from gateway.templates import ProgramCache, TemplateError
from gateway.templates.variables import build_context
from gateway.tracking.finish import tracker_from_config

if TYPE_CHECKING:
    from gateway.templates.store import TemplateResponseT, TemplateStore

log = logging.getLogger("gateway.dispatch")

_encode = msgspec.json.Encoder().encode


USER_SEP = "\x1f"
KEYWORD_REPLY = "gateway.keyword_reply"  # Context key marking the automatic reply to an inbound keyword
REPLY_TTL_S = 300  # how long an unread reply list lives

# LPUSH the reply and (re)arm its expiry, but only on a list or a new key: a reply key that holds anything else
# is left exactly as it is (no WRONGTYPE half-write followed by an EXPIRE of somebody else's data).
_REPLY = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'list' and t ~= 'none' then
  return redis.error_reply('WRONGTYPE reply_to key holds a ' .. t .. ', not a list: no reply written')
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# SET with EX many keys of one hash slot: KEYS = keys, ARGV[1] = TTL, ARGV[i + 1] = the value of KEYS[i].
_SET_MANY = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
end
return #KEYS
"""

#: The per-application writes wait out a busy Redis (a small blocking pool timing out under a burst of dead
#: tokens: "No connection available") before giving up on the batch: 8 attempts, 50 ms doubling to 2 s, about 6 s
#: in all. Giving up at once leaves the batch pending, and when it is claimed again every recipient of it is sent
#: again and its deactivated endpoints are refused as INACTIVE instead of reported as the dead tokens they were.
PER_APP_RETRY = RetryConfig(max_attempts=8, base_s=0.05, cap_s=2.0)

Dead = tuple[str, dict[bytes, bytes], str, int]  # entry id, fields, reason, attempts
RecipientConfig = AddressConfiguration | EndpointSendConfiguration  # a recipient's own settings in the request


class Job:
    """One recipient of one entry on its way through the walk."""

    __slots__ = (
        "address",
        "channel_type",
        "config",
        "endpoint",
        "endpoint_id",
        "entry",
        "key",
        "message_id",
        "outbound",
        "outcome",
        "result",
        "route",
        "send_s",
        "user",
    )

    def __init__(self, entry: codec.SendEntry, key: str, user: str | None, endpoint_id: str | None,
                 config: RecipientConfig, message_id: str) -> None:
        self.entry = entry
        self.key = key
        self.user = user
        self.endpoint_id = endpoint_id
        self.config = config  # AddressConfiguration or EndpointSendConfiguration
        self.channel_type = getattr(config, "ChannelType", None) or ""
        self.address = key if endpoint_id is None else ""
        self.endpoint: EndpointResponse | None = None
        self.message_id = message_id
        self.route: AnyRoute | None = None
        self.outbound: Outbound[Any] | None = None
        self.result: Result | None = None  # what happened: set once, by a refusal or by the send
        self.outcome: Outcome | None = None  # what it means: set by _decide
        self.send_s: float | None = None  # how long channel.send took, once it returned or raised

    @property
    def done(self) -> bool:
        """Whether this recipient's result is known (refused before sending, or sent)."""
        return self.result is not None

    def refuse(self, status: DeliveryStatus, code: int, message: str, *, rendering: bool = False) -> None:
        """Decide not to send to this recipient (nothing was sent)."""
        self.result = Refused(status, code, message, rendering)


class MessageIds:
    """Unique, cheap message ids: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n:012x}"


class Dispatcher:
    """Processes batches of raw stream entries end to end (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis, cfg: GatewayConfig, routes: dict[str, AnyRoute], *,
                 templates: TemplateStore | None = None, optouts: OptOutStore | None = None,
                 metrics: EngineMetrics | None = None) -> None:
        self.redis = redis
        self.cfg = cfg
        self.routes = routes
        self.endpoints = EndpointStore(redis)
        self.suppression = SuppressionList(redis)
        self.templates = templates  # a TemplateStore, when templates are configured
        self.optouts = optouts if optouts is not None else OptOutStore(redis)
        self.programs = ProgramCache()
        self.ids = MessageIds()
        self.event_writer = events.EventWriter(redis, cfg.stream.events_key, rollups=cfg.events.rollups,
                                               retention_days=cfg.events.retention_days)
        self._reply = redis.register_script(_REPLY)
        self._set_many = redis.register_script(_SET_MANY)
        self.counts: dict[str, int] = {}
        self.metrics = metrics  # recorded once a batch's outcomes are written (gateway/metrics/)
        # channels that take a batch of recipients per call (base.BatchChannel: the custom channel's webhook)
        self._batching = {id(r.channel) for r in routes.values() if hasattr(r.channel, "send_batch")}
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the per-application writes' backoff
        self.wall: Callable[[], float] = time.time  # the clock entries' deadlines (deadline_ms) are checked against
        # email open/click tracking and unsubscribe URLs (the [tracking] section), applied after composition
        self.tracker = tracker_from_config(cfg.tracking)

    # ---------------------------------------------------------------- the walk

    async def process(self, raw: list[tuple[str, dict[bytes, bytes]]], lane: Lane | None = None) -> None:
        """Process entries of `lane` (default: the default lane) end to end; returns once their outcomes are
        written and the entries acknowledged."""
        lane = lane or self.cfg.stream.lanes[-1]
        dead: list[Dead] = []
        entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]] = []
        for entry_id, fields in raw:
            try:
                entries.append((codec.decode(entry_id, fields), fields))
            except errors.DecodeError as exc:
                dead.append((entry_id, fields, f"undecodable entry: {exc}", 0))
            except Exception as exc:  # a decoder bug: this entry's, not its neighbours'
                log.exception("decoding entry %s failed unexpectedly", entry_id)
                dead.append((entry_id, fields, f"undecodable entry: {_describe(exc)}", 0))
        entries, jobs = await self._prepare_isolated(entries, dead)
        sending = [j for j in jobs if j.outbound is not None]
        if sending:
            await asyncio.gather(*self._sends(sending))
        await self._finalize(entries, jobs, dead, lane)

    async def _prepare(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]]) -> list[Job]:
        """Everything before the sends: recipients, lookups, screening and composition (no provider call)."""
        jobs = self._expand(entries)
        duplicates = await self._lookup(entries, jobs)
        await self._screen(jobs, duplicates)
        await self._compose_all(jobs)
        return jobs

    async def _prepare_isolated(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]], dead: list[Dead],
                                ) -> tuple[list[tuple[codec.SendEntry, dict[bytes, bytes]]], list[Job]]:
        """_prepare, with an entry that breaks it dead-lettered alone: nothing has been sent yet, so when the batch
        fails (for any reason but Redis being down) each entry is prepared on its own to find the one that does.
        Returns the entries still going and their jobs."""
        try:
            return entries, await self._prepare(entries)
        except REDIS_DOWN:
            raise
        except Exception as exc:
            if len(entries) == 1:
                entry, fields = entries[0]
                log.exception("preparing entry %s failed; dead-lettering it", entry.id)
                dead.append((entry.id, fields, f"cannot prepare the entry: {_describe(exc)}", entry.attempt))
                return [], []
        kept: list[tuple[codec.SendEntry, dict[bytes, bytes]]] = []
        jobs: list[Job] = []
        for one in entries:
            ok, mine = await self._prepare_isolated([one], dead)
            kept += ok
            jobs += mine
        return kept, jobs

    def _expand(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]]) -> list[Job]:
        jobs: list[Job] = []
        for entry, _ in entries:
            ids = entry.message_ids or {}
            only = set(entry.only) if entry.only is not None else None
            req = entry.request
            if isinstance(req, MessageRequest):
                for addr, acfg in (req.Addresses or {}).items():
                    if only is None or addr in only:
                        jobs.append(Job(entry, addr, None, None, acfg, ids.get(addr) or self.ids()))
                for eid, ecfg in (req.Endpoints or {}).items():
                    if only is None or eid in only:
                        jobs.append(Job(entry, eid, None, eid, ecfg, ids.get(eid) or self.ids()))
            else:
                # Users are expanded to endpoints in _lookup, once their endpoint ids are known.
                for uid, ucfg in req.Users.items():
                    jobs.append(Job(entry, uid, uid, None, ucfg, ""))
        return jobs

    async def _lookup(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]], jobs: list[Job]) -> set[str]:
        """Idempotency keys, user endpoint sets and endpoint documents, in as few round trips as possible.
        Returns the ids of entries that are duplicates."""
        pipe = self.redis.pipeline(transaction=False)
        idem: list[codec.SendEntry] = []
        ttl = self.cfg.idempotency.ttl_s
        for entry, _ in entries:
            if entry.idempotency_key:
                k = keys.idempotency(entry.app, entry.idempotency_key)
                pipe.set(k, entry.request_id, nx=True, ex=ttl)
                pipe.get(k)
                idem.append(entry)
        user_jobs = [(j, j.user) for j in jobs if j.user is not None]
        for j, user in user_jobs:
            pipe.smembers(keys.user(j.entry.app, user))
        results = await pipe.execute() if (idem or user_jobs) else []
        duplicates: set[str] = set()
        for i, entry in enumerate(idem):
            owner = results[2 * i + 1]
            if owner is not None and owner.decode() != entry.request_id:
                duplicates.add(entry.id)
        # Replace each user job by one job per endpoint of that user (sorted, for stable results).
        if user_jobs:
            offset = 2 * len(idem)
            expanded: dict[int, list[Job]] = {}
            for n, (j, user) in enumerate(user_jobs):
                members = sorted(m.decode() for m in results[offset + n])
                ids = j.entry.message_ids or {}
                only = set(j.entry.only) if j.entry.only is not None else None
                kids = []
                for eid in members:
                    key = user + USER_SEP + eid
                    if only is None or key in only:
                        kids.append(Job(j.entry, key, user, eid, j.config, ids.get(key) or self.ids()))
                expanded[id(j)] = kids
            jobs[:] = [k for j in jobs for k in (expanded.get(id(j), [j]) if j.user is not None else [j])]
        # Endpoint documents through the store, one MGET per application (one Cluster slot each).
        by_app: dict[str, tuple[list[Job], list[str]]] = {}
        for j in jobs:
            if j.endpoint_id is not None:
                group, wanted = by_app.setdefault(j.entry.app, ([], []))
                group.append(j)
                wanted.append(j.endpoint_id)
        for app, (group, wanted) in by_app.items():
            for j, endpoint in zip(group, await self.endpoints.get_many(app, wanted), strict=True):
                j.endpoint = endpoint
        return duplicates

    async def _screen(self, jobs: list[Job], duplicates: set[str]) -> None:
        """Decide every recipient that must not be sent to, before any provider call: per recipient, then against
        the lists its family is screened with (one lookup per list and application)."""
        lists: dict[tuple[Screen, str], list[Job]] = {}
        now_ms = int(self.wall() * 1000)
        for j in jobs:
            try:
                self._screen_one(j, duplicates, now_ms)
            except Exception as exc:  # a bug on this recipient's data: it fails alone
                log.exception("screening a recipient of entry %s failed", j.entry.id)
                j.refuse("PERMANENT_FAILURE", 500, f"Internal error while screening the recipient: {_describe(exc)}")
                continue
            if j.done or j.route is None:
                continue
            screen = j.route.family.screen
            if screen is Screen.OPT_OUTS and (j.entry.request.Context or {}).get(KEYWORD_REPLY):
                continue  # a STOP confirmation is sent to the number that has just opted out
            if screen is not Screen.NONE:
                lists.setdefault((screen, j.entry.app), []).append(j)
        for (screen, app), group in lists.items():
            addresses = [j.address for j in group]
            if screen is Screen.SUPPRESSION:
                for j, sup in zip(group, await self.suppression.lookup(app, addresses), strict=True):
                    if sup is not None:
                        j.refuse("PERMANENT_FAILURE", 400,
                                 f"Address is on the suppression list ({sup.reason}); no message was sent")
            else:
                for j, opted in zip(group, await self.optouts.opted_out_e164(app, addresses), strict=True):
                    if opted:
                        j.refuse("OPT_OUT", 400, "The phone number has opted out of SMS for this application")

    def _screen_one(self, j: Job, duplicates: set[str], now_ms: int) -> None:
        """The checks of one recipient that need no Redis: refuses `j` when it must not be sent, else sets its
        route (and, for an endpoint, its channel type and address; the address as its family normalizes it)."""
        # a campaign's custom delivery: every recipient through that channel, whatever its own type
        forced = (j.entry.request.Context or {}).get(CHANNEL_CONTEXT_KEY)
        if forced:
            j.channel_type = forced
        if j.entry.id in duplicates:
            j.refuse("DUPLICATE", 409, "Duplicate request: this idempotency key was already used")
            return
        if j.endpoint_id is not None:
            ep = j.endpoint
            if ep is None:
                j.refuse("PERMANENT_FAILURE", 404, "Endpoint not found")
                return
            j.channel_type = forced or ep.ChannelType or ""
            j.address = ep.Address or ""
            if ep.EndpointStatus == "INACTIVE":
                j.refuse("PERMANENT_FAILURE", 400, "Endpoint is INACTIVE; messages aren't sent to it")
                return
            if ep.OptOut == "ALL":
                j.refuse("OPT_OUT", 400, "Endpoint has opted out of all messages")
                return
            if not j.address:
                j.refuse("PERMANENT_FAILURE", 400, "Endpoint has no Address")
                return
        if past_deadline(j.entry.deadline_ms, now_ms):  # after the endpoint's type: its family names the event
            j.refuse("PERMANENT_FAILURE", 410, expired_message(j.entry.deadline_ms))
            return
        if not j.channel_type:
            j.refuse("PERMANENT_FAILURE", 400, "ChannelType is required for each address")
            return
        route = self.routes.get(j.channel_type)
        if route is None:
            j.refuse("PERMANENT_FAILURE", 400, f"No channel is configured for ChannelType {j.channel_type}")
            return
        check = route.family.address
        if check is not None:
            try:
                j.address = check(j.address)
            except ValueError as exc:
                j.refuse("PERMANENT_FAILURE", 400, str(exc))
                return
        j.route = route

    async def _compose_all(self, jobs: list[Job]) -> None:
        # Each template named in this batch is fetched once: (response shape, DefaultSubstitutions) or None.
        templates: dict[tuple[str, str, str | None], tuple[TemplateResponseT, dict[str, Any]] | None] = {}
        for j in jobs:
            if j.done or j.route is None:
                continue
            try:
                await self._compose(j, templates)
            except REDIS_DOWN:
                raise
            except Exception as exc:  # a composer bug on this recipient's data: it fails alone
                log.exception("composing a message of entry %s failed", j.entry.id)
                j.refuse("PERMANENT_FAILURE", 500, f"Internal error while composing the message: {_describe(exc)}")

    async def _compose(self, j: Job,
                       templates: dict[tuple[str, str, str | None], tuple[TemplateResponseT, dict[str, Any]] | None]) -> None:
        """Build `j`'s content with its family's composer (sets j.outbound), or refuse it with the reason."""
        route = j.route
        assert route is not None
        family = route.family
        req = j.entry.request
        config = req.MessageConfiguration
        template = None
        defaults: dict[str, Any] | None = None
        ref = getattr(req.TemplateConfiguration, family.template_member, None)
        if ref is not None and ref.Name:
            tkey = (ref.Name, family.template_type, ref.Version)
            if tkey not in templates:
                templates[tkey] = await self._template(*tkey)
            found = templates[tkey]
            if found is None or not isinstance(found[0], family.template_class):
                version = f" version {ref.Version}" if ref.Version else ""
                j.refuse("PERMANENT_FAILURE", 404, f"Template {ref.Name!r} ({family.template_type}){version} not found")
                return
            template, defaults = found
        cfg = j.config
        subs = family.substitutions(config)
        if cfg is not None and cfg.Substitutions:
            subs = {**subs, **cfg.Substitutions} if subs else cfg.Substitutions
        recipient = Recipient(
            key=j.key, address=j.address, channel_type=j.channel_type, endpoint_id=j.endpoint_id,
            endpoint=j.endpoint, substitutions=subs or {},
            body_override=getattr(cfg, "BodyOverride", None), title_override=getattr(cfg, "TitleOverride", None),
            raw_content=getattr(cfg, "RawContent", None),
            context=_merged_context(req.Context, cfg),
        )
        render = self._renderer(recipient, defaults)
        try:
            content = family.compose(config, template, recipient, render)
        except errors.DeliveryError as exc:  # the request cannot make a valid message for this recipient
            j.result = exc
            return
        except TemplateError as exc:
            j.refuse("PERMANENT_FAILURE", 400, f"Rendering failed: {exc}", rendering=True)
            return
        j.outbound = Outbound(message_id=j.message_id, app=j.entry.app, recipient=recipient, content=content,
                              attempt=j.entry.attempt, trace_id=req.TraceId)
        if self.tracker is not None:
            j.outbound = self.tracker(j.outbound)

    async def _template(self, name: str, ttype: str, version: str | None,
                        ) -> tuple[TemplateResponseT, dict[str, Any]] | None:
        if self.templates is None:
            return None
        try:
            return await self.templates.get(name, ttype, version), await self.templates.defaults(name, ttype, version)
        except TemplateError:  # TemplateNotFound, or a version that is not a number
            return None

    def _renderer(self, recipient: Recipient, defaults: dict[str, Any] | None) -> Render:
        ctx: list[dict[str, Any]] = []
        tracker = self.tracker

        def render(source: str | None) -> str | None:
            if source is None or "{{" not in source:
                return source
            if not ctx:
                ctx.append(build_context(endpoint=recipient.endpoint, address=recipient.address,
                                         channel_type=recipient.channel_type, default_substitutions=defaults,
                                         substitutions=recipient.substitutions))
                if tracker is not None and recipient.channel_type == "EMAIL":
                    tracker.add_variables(ctx[0])
            return self.programs.get(source).render(ctx[0])

        return render

    def _sends(self, jobs: list[Job]) -> list[Awaitable[None]]:
        """One send per recipient, except that a batching channel's recipients go to it together."""
        sends: list[Awaitable[None]] = []
        batches: dict[int, list[Job]] = {}
        for j in jobs:
            assert j.route is not None
            if self._batching and id(j.route.channel) in self._batching:
                batches.setdefault(id(j.route.channel), []).append(j)
            else:
                sends.append(self._send(j))
        sends += [self._send_batch(group) for group in batches.values()]
        return sends

    async def _send_batch(self, group: list[Job]) -> None:
        route = group[0].route
        assert route is not None
        try:
            channel = cast("BatchChannel[Any]", route.channel)
            results = await channel.send_batch([j.outbound for j in group if j.outbound is not None])
            if len(results) != len(group):
                raise RuntimeError(f"send_batch returned {len(results)} results for {len(group)} messages")
        except errors.DeliveryError as exc:
            results = [exc] * len(group)
        except Exception as exc:  # a channel bug: never resend blindly, never lose the outcome
            log.exception("channel %r raised an unexpected error", route.channel)
            results = [errors.MaybeSent(f"internal error in the channel: {type(exc).__name__}")] * len(group)
        for j, result in zip(group, results, strict=True):
            j.result = result

    async def _send(self, j: Job) -> None:
        route, msg = j.route, j.outbound
        assert route is not None and msg is not None
        started = time.perf_counter()
        try:
            j.result = await route.channel.send(msg)
        except errors.DeliveryError as exc:
            j.result = exc
        except Exception as exc:  # a channel bug: never resend blindly, never lose the outcome
            log.exception("channel %r raised an unexpected error", route.channel)
            j.result = errors.MaybeSent(f"internal error in the channel: {type(exc).__name__}")
        j.send_s = time.perf_counter() - started

    # ---------------------------------------------------------------- outcomes

    def _decide(self, j: Job, now_ms: int, tally: Tally | None = None) -> list[bytes | str]:
        """Decide `j`'s outcome from its result (`outcome.decide`) and return its event records: the family's send
        event on a first attempt that reached the channel, then the outcome's. A recipient refused before its
        route was set (a duplicate, an address its family refuses) still has its configured route's names: the
        static table is only for a ChannelType no channel is configured for."""
        route = j.route or self.routes.get(j.channel_type)
        names = route.family.events if route is not None else families.for_channel_type(j.channel_type)
        if j.result is None:
            raise RuntimeError("recipient left without a result")  # a dispatcher bug: dead-lettered alone
        emit: list[bytes | str] = []
        if j.outbound is not None and j.entry.attempt == 1 and names.send:
            emit += self._record(j, names.send, "SUCCESSFUL", 200, "Message handed to the channel", now_ms, tally)
        o = j.outcome = decide(names, j.result, j.entry.attempt, self.cfg.retry)
        emit += self._record(j, o.event, o.status, o.code, o.message, now_ms, tally)
        return emit

    async def _finalize(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]], jobs: list[Job],
                        dead: list[Dead], lane: Lane) -> None:
        """Decide every recipient, then write the plan: the per-application writes first (idempotent, so a crash
        before the acknowledgement repeats nothing harmful), then one transaction with the events, retries, dead
        letters and replies, and the XACK."""
        now_ms = int(time.time() * 1000)
        emit: list[bytes | str] = []
        retries: dict[str, list[Job]] = {}
        exhausted: dict[str, list[Job]] = {}
        per_app: list[Job] = []
        tally = Tally()  # the batch's KPI rollups, written after its events (docs/analytics.md)
        for j in jobs:
            try:
                emit += self._decide(j, now_ms, tally)
            except Exception as exc:  # deciding or recording this recipient failed: it is dead-lettered alone
                log.exception("deciding the outcome of a recipient of entry %s failed; dead-lettering it", j.entry.id)
                j.outcome = Outcome("UNKNOWN_FAILURE" if j.outbound is not None else "PERMANENT_FAILURE", 500,
                                    f"Internal error while deciding the outcome: {_describe(exc)}; dead-lettered",
                                    "", Action.DEAD_LETTER)
            if self.tracker is not None and j.outbound is not None and isinstance(j.result, Delivered):
                try:
                    self._attribute(j.outbound, tally)
                except Exception:  # the message is sent and decided: a missing attribution is no reason to fail it
                    log.exception("recording the campaign attribution of message %s failed", j.message_id)
            o = j.outcome
            assert o is not None
            if o.action is Action.RETRY:
                retries.setdefault(j.entry.id, []).append(j)
            elif o.action is Action.DEAD_LETTER:
                exhausted.setdefault(j.entry.id, []).append(j)
            elif o.action is not Action.DONE:
                per_app.append(j)
            self.counts[o.status] = self.counts.get(o.status, 0) + 1
        if per_app:
            await self._per_app_writes_patiently(per_app)

        while True:
            try:
                await self._outcome_transaction(entries, jobs, dead, lane, emit, retries, exhausted, now_ms)
                break
            except REDIS_DOWN as exc:
                # no connection free within the pool's timeout: the transaction never left, so it is built again
                # and sent once one is; giving up would redeliver, and resend, a batch already sent
                if not pool_busy(exc):
                    raise
                await self.sleep(PER_APP_RETRY.base_s)
        await self.event_writer.roll(tally)
        if self.metrics is not None:  # after the transaction: a batch left pending is counted when it is done
            try:
                _observe(self.metrics, jobs, len(entries) + len(dead), len(dead), int(time.time() * 1000))
            except Exception:  # the outcomes are written and acknowledged: a metrics bug must not say otherwise
                log.exception("recording the metrics of a batch failed")

    def _attribute(self, out: Outbound[Any], tally: Tally) -> None:
        """Remember which campaign or journey sent a tracked email, for its opens, clicks and unsubscribes
        (gateway.kpi.attribution; written with the batch's rollups, in the application's slot)."""
        if self.tracker is None or out.recipient.channel_type != "EMAIL":
            return
        attrs = attribution.of(out.recipient.context)
        if attrs is not None:
            tally.mark(out.app, attribution.key(out.app, out.message_id), attribution.value(attrs),
                       self.tracker.cfg.attribution_days * 86_400)

    async def _outcome_transaction(
        self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]], jobs: list[Job], dead: list[Dead],
        lane: Lane, emit: list[bytes | str], retries: dict[str, list[Job]], exhausted: dict[str, list[Job]],
        now_ms: int,
    ) -> None:
        """The batch's one transaction: events, retries, dead letters, replies and the XACK (_finalize)."""
        stream = self.cfg.stream
        pipe = self.redis.pipeline(transaction=True)
        if emit:
            await self.event_writer.queue(pipe, emit)
        # What channels asked to remember (an email's Message-ID, for late bounces): no round trip of its own, and
        # one script call per hash tag and TTL (one SET each cost the client ~3x more: measured in
        # benchmarks/bench_bounce_record.py)
        remember: dict[tuple[str, int], tuple[list[str], list[bytes | int]]] = {}
        for j in jobs:
            if isinstance(j.result, Delivered) and j.result.remember is not None:
                key, value, ttl = j.result.remember
                rkeys, rargs = remember.setdefault((keys.hash_tag(key), ttl), ([], [ttl]))
                rkeys.append(key)
                rargs.append(value)
        for rkeys, rargs in remember.values():
            await self._set_many(keys=rkeys, args=rargs, client=pipe)
        raw_by_id = {entry.id: (entry, fields) for entry, fields in entries}
        for entry_id, group in retries.items():
            entry, fields = raw_by_id[entry_id]
            fields_out = codec.retry_fields(entry, fields[b"request"], [j.key for j in group],
                                            {j.key: j.message_id for j in group})
            delay = max(_outcome(j).delay_s for j in group)
            pipe.zadd(lane.retry_key, {retry.schedule_member(fields_out, self.ids()): now_ms + int(delay * 1000)})
        for entry_id, group in exhausted.items():
            entry, fields = raw_by_id[entry_id]
            out = codec.retry_fields(entry, fields[b"request"], [j.key for j in group], {j.key: j.message_id for j in group})
            reason = "; ".join(sorted({_outcome(j).message for j in group}))[:2000]
            pipe.xadd(stream.dead_key, retry.dead_fields(out, reason, entry.attempt, now_ms, lane.send_key))
        for _, fields, reason, attempts in dead:
            pipe.xadd(stream.dead_key, retry.dead_fields(retry.text_fields(fields), reason, attempts, now_ms, lane.send_key))
        waiting = [(entry, entry.reply_to) for entry, _ in entries if entry.reply_to and entry.attempt == 1]
        if waiting:
            by_entry: dict[str, list[Job]] = {}
            for j in jobs:
                by_entry.setdefault(j.entry.id, []).append(j)
            for entry, reply_to in waiting:
                try:
                    reply = self._response(entry, by_entry.get(entry.id, []))
                except Exception:  # the outcome is still written; the caller's wait times out naming the entry
                    log.exception("building the reply of entry %s failed", entry.id)
                    continue
                await self._reply(keys=[reply_to], args=[reply, REPLY_TTL_S], client=pipe)
        ack = [e.id for e, _ in entries] + [d[0] for d in dead]
        if ack:
            pipe.xack(lane.send_key, stream.group, *ack)
        # Redis runs every command of the transaction even when one fails (a reply key of the wrong type):
        # the others, the acknowledgement included, are applied, so a failure is logged, not raised.
        for result in await pipe.execute(raise_on_error=False):
            if isinstance(result, Exception):
                log.error("writing outcomes: %s", result)

    async def _per_app_writes_patiently(self, jobs: list[Job]) -> None:
        """_per_app_writes, repeated while Redis is down (they are idempotent) for up to PER_APP_RETRY's attempts;
        then Redis being down is raised and the batch stays pending. A busy pool (every connection lent out) is
        waited out without counting attempts: the connections come back, and giving up would redeliver, and so
        resend, a batch whose messages were already sent."""
        attempt = 1
        while True:
            try:
                await self._per_app_writes(jobs)
                return
            except REDIS_DOWN as exc:
                busy = pool_busy(exc)
                if attempt >= PER_APP_RETRY.max_attempts and not busy:
                    raise
                if not busy:
                    log.warning("Redis unavailable for the per-application writes of a batch (attempt %d of %d): %s",
                                attempt, PER_APP_RETRY.max_attempts, _describe(exc))
                await self.sleep(backoff_s(PER_APP_RETRY, min(attempt, PER_APP_RETRY.max_attempts), None))
                attempt += 0 if busy else 1

    async def _per_app_writes(self, jobs: list[Job]) -> None:
        """The SUPPRESS and DEACTIVATE actions: an application's suppression list (one pipeline) and endpoint
        statuses. Redis being down is raised (the caller retries, then leaves the batch pending); an endpoint
        deleted meanwhile is no reason to fail the batch."""
        pipe = self.redis.pipeline(transaction=False)
        deactivate: list[Job] = []
        for j in jobs:
            if _outcome(j).action is Action.SUPPRESS:
                pipe.hset(keys.suppressed(j.entry.app), j.address.lower(), suppression_entry("BOUNCE", _outcome(j).message))
            elif j.endpoint_id is not None:
                deactivate.append(j)
        if len(pipe):
            await pipe.execute()
        for j, done in zip(deactivate, await asyncio.gather(*(self._deactivate(j) for j in deactivate),
                                                             return_exceptions=True), strict=True):
            if isinstance(done, REDIS_DOWN):
                raise done
            if isinstance(done, BaseException):
                log.error("marking endpoint INACTIVE failed (app %s): %s", j.entry.app, _describe(done))

    async def _deactivate(self, j: Job) -> None:
        err = j.result
        assert isinstance(err, errors.DeliveryError) and j.endpoint_id is not None
        await self.endpoints.set_status(j.entry.app, j.endpoint_id, "INACTIVE", reason=err.detail or err.message[:200],
                                        since_ms=err.provider_ms)

    def _record(self, j: Job, event_type: str, status: str, code: int, message: str, now_ms: int,
                tally: Tally | None = None) -> list[bytes | str]:
        req = j.entry.request
        out = j.outbound
        # computed once per recipient when it was composed; only recipients that never got that far merge here
        context = out.recipient.context if out is not None else _merged_context(req.Context, j.config)
        record = events.message_record(
            event_type=event_type, app=j.entry.app, now_ms=now_ms, message_id=j.message_id,
            request_id=j.entry.request_id, channel_type=j.channel_type, address=j.address,
            endpoint_id=j.endpoint_id, delivery_status=status, status_code=code, status_message=message,
            attempt=j.entry.attempt, trace_id=req.TraceId,
            context=context or None,
            from_address=getattr(out.content, "sender", None) if out is not None else None, tally=tally,
        )
        return [j.entry.app, event_type, record]

    def _response(self, entry: codec.SendEntry, mine: list[Job]) -> bytes:
        if isinstance(entry.request, SendUsersMessageRequest):
            # A user with no endpoints gets an empty map: nothing was sent, and the caller can see that.
            users: dict[str, dict[str, EndpointMessageResult]] = {u: {} for u in entry.request.Users}
            for j in mine:
                users.setdefault(j.user or "", {})[j.endpoint_id or ""] = _endpoint_result(j)
            return _encode(SendUsersMessageResponse(ApplicationId=entry.app, RequestId=entry.request_id, Result=users))
        result = {j.key: MessageResult(DeliveryStatus=_outcome(j).status, StatusCode=_outcome(j).code,
                                       StatusMessage=_outcome(j).message, MessageId=j.message_id)
                  for j in mine if j.endpoint_id is None}
        endpoint_result = {j.key: _endpoint_result(j) for j in mine if j.endpoint_id is not None}
        return _encode(MessageResponse(ApplicationId=entry.app, RequestId=entry.request_id,
                                       Result=result or None, EndpointResult=endpoint_result or None))


def _observe(m: EngineMetrics, jobs: list[Job], entries: int, dead: int, now_ms: int) -> None:
    """Add a written batch to `m`: per ChannelType (cells bound once per run of jobs of one type), each
    recipient's outcome, its enqueue → outcome latency (from its entry id's timestamp, parsed once per entry) and,
    when it reached the channel, the send's duration. Inlined histogram updates: this runs for every recipient."""
    m.batches += 1
    m.entries += entries
    m.undecodable += dead
    channel_type: str | None = None
    cells = ChannelCells()  # a placeholder, replaced at the first job (channel_type None matches no job)
    entry_id = ""
    waited = 0.0
    bucket = 0
    for j in jobs:
        o = j.outcome
        if o is None:
            continue
        if j.channel_type != channel_type:
            channel_type = j.channel_type
            cells = m.channel(channel_type)
        if j.entry.id != entry_id:
            entry_id = j.entry.id
            waited = (now_ms - entry_ms(entry_id)) / 1000
            bucket = bisect_left(LATENCY_BUCKETS, waited)
        outcomes = cells.outcomes
        outcomes[o.status] = outcomes.get(o.status, 0) + 1
        if o.action is not Action.DONE:
            if o.action is Action.RETRY:
                cells.retried += 1
            elif o.action is Action.DEAD_LETTER:
                cells.dead_lettered += 1
        latency = cells.enqueue_to_outcome
        latency.counts[bucket] += 1
        latency.sum += waited
        sent = j.send_s
        if sent is not None:
            cells.sends += 1
            hist = cells.send_seconds
            hist.counts[bisect_left(SEND_BUCKETS, sent)] += 1
            hist.sum += sent


def past_deadline(deadline_ms: int | None, now_ms: int) -> bool:
    """An entry with a deadline (its `deadline_ms` field) is no longer sent once the deadline has passed."""
    return deadline_ms is not None and now_ms > deadline_ms


def expired_message(deadline_ms: int | None) -> str:
    when = iso_from_epoch((deadline_ms or 0) / 1000)
    return f"Not sent: the request's deadline ({when}) passed before it could be sent"


def _describe(exc: BaseException) -> str:
    """An unexpected exception in a status message or dead-letter reason: its class and, shortened, its text."""
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _merged_context(request_context: dict[str, str] | None, recipient_config: RecipientConfig) -> dict[str, str]:
    """The request's Context overlaid with the recipient's (AddressConfiguration / EndpointSendConfiguration)."""
    own = getattr(recipient_config, "Context", None)
    if not own:
        return request_context or {}
    return {**(request_context or {}), **own}


def _outcome(j: Job) -> Outcome:
    """A decided recipient's outcome."""
    assert j.outcome is not None
    return j.outcome


def _endpoint_result(j: Job) -> EndpointMessageResult:
    o = _outcome(j)
    return EndpointMessageResult(Address=j.address or None, DeliveryStatus=o.status,
                                 StatusCode=o.code, StatusMessage=o.message, MessageId=j.message_id)


__all__ = ["Dispatcher", "Job"]
