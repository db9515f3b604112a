"""The walk of one message (DESIGN.md): decode → resolve recipients → drop opted-out, suppressed, inactive and
duplicate → render → channel → outcome → events, retries, dead letters → XACK.

A batch of stream entries is processed together so Redis costs a few round trips per batch, not per message:
one for idempotency keys and endpoint/user lookups, one for suppression, then sends run concurrently, then one
MULTI/EXEC transaction writes every event, retry, dead letter, suppression and reply and acknowledges the
entries. Acknowledging in the same transaction as the outcome is what makes delivery at-least-once: a crash
before EXEC leaves the entries pending, to be read again.

A failure is isolated to what caused it, so one poison entry never holds its neighbours: an entry that cannot be
decoded (or breaks the preparation of its batch) is dead-lettered alone with the reason; a recipient whose
screening, composition or outcome fails ends with a status and an event, or dead-lettered, alone. Only Redis
being unreachable (`redisconn.REDIS_DOWN`) leaves a whole batch pending, to be tried again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from gateway import errors, events, keys, phone
from gateway.channels.base import Channel, Composer, Delivered, Outbound, Recipient, Render
from gateway.config import GatewayConfig, Lane
from gateway.endpoints.store import EndpointStore
from gateway.models import (
    DirectMessageConfiguration,
    EndpointMessageResult,
    EndpointResponse,
    MessageRequest,
    MessageResponse,
    MessageResult,
    SendUsersMessageResponse,
)
from gateway.redisconn import REDIS_DOWN
from gateway.sms.optouts import OptOutStore
from gateway.stream import codec, retry
from gateway.suppression import SuppressionList
from gateway.suppression import entry as suppression_entry
from gateway.templates import ProgramCache, TemplateError
from gateway.templates.variables import build_context

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

Dead = tuple[str, dict[bytes, bytes], str, int]  # entry id, fields, reason, attempts


class Route(NamedTuple):
    """How one Pinpoint ChannelType is delivered."""

    channel: Channel
    compose: Composer
    message_substitutions: Callable[[DirectMessageConfiguration], dict[str, list[str]] | None]
    template_attr: str | None  # TemplateConfiguration member, e.g. "EmailTemplate"
    template_type: str | None  # template store type, e.g. "EMAIL"


class Job:
    """One recipient of one entry on its way through the walk."""

    __slots__ = (
        "address",
        "channel_type",
        "code",
        "config",
        "delivered",
        "endpoint",
        "endpoint_id",
        "entry",
        "error",
        "event",
        "key",
        "message",
        "message_id",
        "outbound",
        "retry_after",
        "route",
        "status",
        "user",
    )

    retry_after: float | None

    def __init__(self, entry: codec.SendEntry, key: str, user: str | None, endpoint_id: str | None,
                 config: Any, message_id: str) -> None:
        self.entry = entry
        self.key = key
        self.user = user
        self.endpoint_id = endpoint_id
        self.config = config  # AddressConfiguration or EndpointSendConfiguration
        self.channel_type = getattr(config, "ChannelType", None) or ""
        self.address = key if endpoint_id is None else ""
        self.endpoint: EndpointResponse | None = None
        self.message_id = message_id
        self.status: str | None = None
        self.code = 0
        self.message = ""
        self.event: str | None = None
        self.route: Route | None = None
        self.outbound: Outbound | None = None
        self.error: errors.DeliveryError | None = None
        self.delivered: Delivered | None = None
        self.retry_after = None

    def finish(self, status: str, code: int, message: str, event: str | None = None) -> None:
        self.status, self.code, self.message = status, code, message
        self.event = event or events.rejected_event(self.channel_type, status)


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

    def __init__(self, redis: Any, cfg: GatewayConfig, routes: dict[str, Route], *,
                 templates: Any = None, optouts: Any = None) -> None:
        self.redis = redis
        self.cfg = cfg
        self.routes = routes
        self.endpoints = EndpointStore(redis)
        self.suppression = SuppressionList(redis)
        self.templates = templates  # a TemplateStore, when templates are configured
        self.optouts = optouts if optouts is not None else OptOutStore(redis)
        self.programs = ProgramCache()
        self.ids = MessageIds()
        self.event_writer = events.EventWriter(redis, cfg.stream.events_key)
        self._reply = redis.register_script(_REPLY)
        self.counts: dict[str, int] = {}

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
            await asyncio.gather(*(self._send(j) for j in sending))
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
        user_jobs = [j for j in jobs if j.user is not None]
        for j in user_jobs:
            pipe.smembers(keys.user(j.entry.app, j.user))  # type: ignore[arg-type]
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
            for n, j in enumerate(user_jobs):
                members = sorted(m.decode() for m in results[offset + n])
                ids = j.entry.message_ids or {}
                only = set(j.entry.only) if j.entry.only is not None else None
                kids = []
                for eid in members:
                    key = j.user + USER_SEP + eid  # type: ignore[operator]
                    if only is None or key in only:
                        kids.append(Job(j.entry, key, j.user, eid, j.config, ids.get(key) or self.ids()))
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
        """Decide every recipient that must not be sent to, before any provider call."""
        email: list[Job] = []
        sms: list[Job] = []
        for j in jobs:
            try:
                self._screen_one(j, duplicates)
            except Exception as exc:  # a bug on this recipient's data: it fails alone
                log.exception("screening a recipient of entry %s failed", j.entry.id)
                j.finish("PERMANENT_FAILURE", 500, f"Internal error while screening the recipient: {_describe(exc)}")
                continue
            if j.status is not None:
                continue
            if j.channel_type == "EMAIL":
                email.append(j)
            elif j.channel_type == "SMS" and not (j.entry.request.Context or {}).get(KEYWORD_REPLY):
                sms.append(j)  # a STOP confirmation is sent to the number that has just opted out
        by_app: dict[str, list[Job]] = {}
        for j in email:
            by_app.setdefault(j.entry.app, []).append(j)
        for app, group in by_app.items():
            for j, sup in zip(group, await self.suppression.lookup(app, [j.address for j in group]), strict=True):
                if sup is not None:
                    j.finish("PERMANENT_FAILURE", 400,
                             f"Address is on the suppression list ({sup.reason}); no message was sent")
        if sms:
            by_app = {}
            for j in sms:
                by_app.setdefault(j.entry.app, []).append(j)
            for app, group in by_app.items():
                flags = await self.optouts.opted_out(app, [j.address for j in group])
                for j, opted in zip(group, flags, strict=True):
                    if opted:
                        j.finish("OPT_OUT", 400, "The phone number has opted out of SMS for this application")

    def _screen_one(self, j: Job, duplicates: set[str]) -> None:
        """The checks of one recipient that need no Redis: finishes `j` when it must not be sent, else sets its
        route (and, for an endpoint, its channel type and address)."""
        if j.entry.id in duplicates:
            j.finish("DUPLICATE", 409, "Duplicate request: this idempotency key was already used")
            return
        if j.endpoint_id is not None:
            ep = j.endpoint
            if ep is None:
                j.finish("PERMANENT_FAILURE", 404, "Endpoint not found")
                return
            j.channel_type = ep.ChannelType or ""
            j.address = ep.Address or ""
            if ep.EndpointStatus == "INACTIVE":
                j.finish("PERMANENT_FAILURE", 400, "Endpoint is INACTIVE; messages aren't sent to it")
                return
            if ep.OptOut == "ALL":
                j.finish("OPT_OUT", 400, "Endpoint has opted out of all messages")
                return
            if not j.address:
                j.finish("PERMANENT_FAILURE", 400, "Endpoint has no Address")
                return
        if not j.channel_type:
            j.finish("PERMANENT_FAILURE", 400, "ChannelType is required for each address")
            return
        route = self.routes.get(j.channel_type)
        if route is None:
            j.finish("PERMANENT_FAILURE", 400, f"No channel is configured for ChannelType {j.channel_type}")
            return
        if j.channel_type in _PHONE_CHANNELS:
            try:
                j.address = phone.e164(j.address)
            except phone.InvalidPhoneNumber as exc:
                j.finish("PERMANENT_FAILURE", 400, _not_a_number(j.channel_type, exc))
                return
        j.route = route

    async def _compose_all(self, jobs: list[Job]) -> None:
        # Each template named in this batch is fetched once: (response shape, DefaultSubstitutions) or None.
        templates: dict[tuple[str, str, str | None], tuple[Any, dict[str, Any]] | None] = {}
        for j in jobs:
            if j.status is not None or j.route is None:
                continue
            try:
                await self._compose(j, templates)
            except REDIS_DOWN:
                raise
            except Exception as exc:  # a composer bug on this recipient's data: it fails alone
                log.exception("composing a message of entry %s failed", j.entry.id)
                j.finish("PERMANENT_FAILURE", 500, f"Internal error while composing the message: {_describe(exc)}")

    async def _compose(self, j: Job,
                       templates: dict[tuple[str, str, str | None], tuple[Any, dict[str, Any]] | None]) -> None:
        """Build `j`'s content with its route's composer (sets j.outbound), or finish it with the reason."""
        route = j.route
        assert route is not None
        req = j.entry.request
        config = req.MessageConfiguration
        template = None
        defaults: dict[str, Any] | None = None
        ref = getattr(req.TemplateConfiguration, route.template_attr, None) if route.template_attr else None
        if ref is not None and ref.Name:
            tkey = (ref.Name, route.template_type or "", ref.Version)
            if tkey not in templates:
                templates[tkey] = await self._template(*tkey)
            found = templates[tkey]
            if found is None:
                version = f" version {ref.Version}" if ref.Version else ""
                j.finish("PERMANENT_FAILURE", 404, f"Template {ref.Name!r} ({route.template_type}){version} not found")
                return
            template, defaults = found
        cfg = j.config
        subs = route.message_substitutions(config)
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
            content = route.compose(config, template, recipient, render)
        except errors.DeliveryError as exc:
            j.finish("PERMANENT_FAILURE", exc.code or 400, exc.message, route.channel.failure_event(exc))
            return
        except TemplateError as exc:
            j.finish("PERMANENT_FAILURE", 400, f"Rendering failed: {exc}",
                     events.FAMILY.get(j.channel_type, "_message") + ".rendering_failure")
            return
        j.outbound = Outbound(message_id=j.message_id, app=j.entry.app, recipient=recipient, content=content,
                              attempt=j.entry.attempt, trace_id=req.TraceId)

    async def _template(self, name: str, ttype: str, version: str | None) -> tuple[Any, dict[str, Any]] | None:
        if self.templates is None:
            return None
        try:
            return await self.templates.get(name, ttype, version), await self.templates.defaults(name, ttype, version)
        except TemplateError:  # TemplateNotFound, or a version that is not a number
            return None

    def _renderer(self, recipient: Recipient, defaults: dict[str, Any] | None) -> Render:
        ctx: list[dict[str, Any]] = []

        def render(source: str | None) -> str | None:
            if source is None or "{{" not in source:
                return source
            if not ctx:
                ctx.append(build_context(endpoint=recipient.endpoint, address=recipient.address,
                                         channel_type=recipient.channel_type, default_substitutions=defaults,
                                         substitutions=recipient.substitutions))
            return self.programs.get(source).render(ctx[0])

        return render

    async def _send(self, j: Job) -> None:
        route, msg = j.route, j.outbound
        assert route is not None and msg is not None
        try:
            j.delivered = await route.channel.send(msg)
        except errors.DeliveryError as exc:
            j.error = exc
        except Exception as exc:  # a channel bug: never resend blindly, never lose the outcome
            log.exception("channel %r raised an unexpected error", route.channel)
            j.error = errors.MaybeSent(f"internal error in the channel: {type(exc).__name__}")

    # ---------------------------------------------------------------- outcomes

    def _outcome(self, j: Job, now_ms: int) -> tuple[list[bytes | str], str | None]:
        """Finish `j` from its send's result. Returns its event fields and what else to do: "retry",
        "exhausted" (dead-letter), "suppress" (add the address to the suppression list) or None."""
        emit: list[bytes | str] = []
        plan = None
        if j.outbound is not None and j.route is not None:
            if j.entry.attempt == 1 and j.route.channel.send_event:
                emit += self._record(j, j.route.channel.send_event, "SUCCESSFUL", 200, "Message handed to the channel", now_ms)
            if j.delivered is not None:
                d = j.delivered
                j.finish("SUCCESSFUL", 200, d.status_message or "OK", d.event_type)
            else:
                err = j.error
                assert err is not None
                status = _status_of(err)
                message = err.message
                max_attempts = self.cfg.retry.max_attempts
                if err.retryable:
                    if j.entry.attempt < max_attempts:
                        plan = "retry"
                        j.retry_after = err.retry_after
                        message = f"{message} (attempt {j.entry.attempt} of {max_attempts}; will retry)"
                    else:
                        plan = "exhausted"
                        message = f"{message} (gave up after {j.entry.attempt} attempts)"
                if isinstance(err, errors.RecipientRejected) and j.channel_type == "EMAIL":
                    plan = "suppress"
                j.finish(status, err.code or _default_code(status), message, j.route.channel.failure_event(err))
        assert j.status is not None and j.event is not None
        emit += self._record(j, j.event, j.status, j.code, j.message, now_ms)
        return emit, plan

    async def _finalize(self, entries: list[tuple[codec.SendEntry, dict[bytes, bytes]]], jobs: list[Job],
                        dead: list[Dead], lane: Lane) -> None:
        stream = self.cfg.stream
        now_ms = int(time.time() * 1000)
        emit: list[bytes | str] = []
        retries: dict[str, list[Job]] = {}
        exhausted: dict[str, list[Job]] = {}
        suppress: list[Job] = []
        for j in jobs:
            try:
                records, plan = self._outcome(j, now_ms)
            except Exception as exc:  # deciding or recording this recipient failed: it is dead-lettered alone
                log.exception("deciding the outcome of a recipient of entry %s failed; dead-lettering it", j.entry.id)
                sent = j.outbound is not None
                j.status = "UNKNOWN_FAILURE" if sent else "PERMANENT_FAILURE"
                j.code = 500
                j.message = f"Internal error while deciding the outcome: {_describe(exc)}; dead-lettered"
                exhausted.setdefault(j.entry.id, []).append(j)
            else:
                emit += records
                if plan == "retry":
                    retries.setdefault(j.entry.id, []).append(j)
                elif plan == "exhausted":
                    exhausted.setdefault(j.entry.id, []).append(j)
                elif plan == "suppress":
                    suppress.append(j)
            assert j.status is not None
            self.counts[j.status] = self.counts.get(j.status, 0) + 1

        pipe = self.redis.pipeline(transaction=True)
        if emit:
            await self.event_writer.queue(pipe, emit)
        raw_by_id = {entry.id: (entry, fields) for entry, fields in entries}
        for entry_id, group in retries.items():
            entry, fields = raw_by_id[entry_id]
            fields_out = codec.retry_fields(entry, fields[b"request"], [j.key for j in group],
                                            {j.key: j.message_id for j in group})
            delay = max(retry.backoff_s(self.cfg.retry, entry.attempt, j.retry_after) for j in group)
            pipe.zadd(lane.retry_key, {retry.schedule_member(fields_out, self.ids()): now_ms + int(delay * 1000)})
        for entry_id, group in exhausted.items():
            entry, fields = raw_by_id[entry_id]
            out = codec.retry_fields(entry, fields[b"request"], [j.key for j in group], {j.key: j.message_id for j in group})
            reason = "; ".join(sorted({j.message for j in group}))[:2000]
            pipe.xadd(stream.dead_key, retry.dead_fields(out, reason, entry.attempt, now_ms, lane.send_key))
        for _, fields, reason, attempts in dead:
            original = {k.decode(): v for k, v in fields.items()}
            pipe.xadd(stream.dead_key, retry.dead_fields(original, reason, attempts, now_ms, lane.send_key))
        for j in suppress:
            pipe.hset(keys.suppressed(j.entry.app), j.address.lower(), suppression_entry("BOUNCE", j.message))
        waiting = [entry for entry, _ in entries if entry.reply_to and entry.attempt == 1]
        if waiting:
            by_entry: dict[str, list[Job]] = {}
            for j in jobs:
                by_entry.setdefault(j.entry.id, []).append(j)
            for entry in waiting:
                try:
                    reply = self._response(entry, by_entry.get(entry.id, []))
                except Exception:  # the outcome is still written; the caller's wait times out naming the entry
                    log.exception("building the reply of entry %s failed", entry.id)
                    continue
                await self._reply(keys=[entry.reply_to], args=[reply, REPLY_TTL_S], client=pipe)
        ack = [e.id for e, _ in entries] + [d[0] for d in dead]
        if ack:
            pipe.xack(lane.send_key, stream.group, *ack)
        # Redis runs every command of the transaction even when one fails (a reply key of the wrong type):
        # the others, the acknowledgement included, are applied, so a failure is logged, not raised.
        for result in await pipe.execute(raise_on_error=False):
            if isinstance(result, Exception):
                log.error("writing outcomes: %s", result)

    def _record(self, j: Job, event_type: str, status: str, code: int, message: str, now_ms: int) -> list[bytes | str]:
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
            from_address=getattr(out.content, "sender", None) if out is not None else None,
        )
        return [j.entry.app, event_type, record]

    def _response(self, entry: codec.SendEntry, mine: list[Job]) -> bytes:
        if entry.kind == "users":
            # A user with no endpoints gets an empty map: nothing was sent, and the caller can see that.
            users: dict[str, dict[str, EndpointMessageResult]] = {u: {} for u in entry.request.Users}  # type: ignore[union-attr]
            for j in mine:
                users.setdefault(j.user or "", {})[j.endpoint_id or ""] = _endpoint_result(j)
            return _encode(SendUsersMessageResponse(ApplicationId=entry.app, RequestId=entry.request_id, Result=users))
        result = {j.key: MessageResult(DeliveryStatus=j.status, StatusCode=j.code, StatusMessage=j.message,  # type: ignore[arg-type]
                                       MessageId=j.message_id) for j in mine if j.endpoint_id is None}
        endpoint_result = {j.key: _endpoint_result(j) for j in mine if j.endpoint_id is not None}
        return _encode(MessageResponse(ApplicationId=entry.app, RequestId=entry.request_id,
                                       Result=result or None, EndpointResult=endpoint_result or None))


_PHONE_CHANNELS = frozenset({"SMS", "VOICE"})


def _not_a_number(channel_type: str, exc: phone.InvalidPhoneNumber) -> str:
    """The StatusMessage for an SMS or voice address that is not a phone number."""
    return (f"Address is not a valid phone number ({str(exc).removeprefix('invalid phone number: ')}); "
            f"{channel_type} addresses must be in E.164 format (+<country code><number>): no message was sent")


def _describe(exc: BaseException) -> str:
    """An unexpected exception in a status message or dead-letter reason: its class and, shortened, its text."""
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _merged_context(request_context: dict[str, str] | None, recipient_config: Any) -> dict[str, str]:
    """The request's Context overlaid with the recipient's (AddressConfiguration / EndpointSendConfiguration)."""
    own = getattr(recipient_config, "Context", None)
    if not own:
        return request_context or {}
    return {**(request_context or {}), **own}


def _endpoint_result(j: Job) -> EndpointMessageResult:
    return EndpointMessageResult(Address=j.address or None, DeliveryStatus=j.status,  # type: ignore[arg-type]
                                 StatusCode=j.code, StatusMessage=j.message, MessageId=j.message_id)


def _status_of(err: errors.DeliveryError) -> str:
    if isinstance(err, errors.OptedOut):
        return "OPT_OUT"
    if isinstance(err, errors.Throttled):
        return "THROTTLED"
    if isinstance(err, errors.MaybeSent):
        return "UNKNOWN_FAILURE"
    if err.retryable:
        return "TEMPORARY_FAILURE"
    return "PERMANENT_FAILURE"


def _default_code(status: str) -> int:
    return {"THROTTLED": 429, "TEMPORARY_FAILURE": 503, "UNKNOWN_FAILURE": 500}.get(status, 400)


__all__ = ["Dispatcher", "Job", "Route"]
