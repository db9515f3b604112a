"""Campaigns with versions, stored in Redis as Pinpoint's CampaignResponse JSON.

Keys, all under the application's hash tag (one cluster slot, so every transaction here is slot-local):
- `gw:{app}:camps`: zset campaign id -> creation time (ms), for GetCampaigns pages, oldest first;
- `gw:{app}:camp:<id>`: hash `latest` -> version number, `v<N>` -> CampaignResponse JSON of version N (without
  State, DefaultState and tags, which are worked out when answering), and the run state (runs.py: `paused`,
  `done`, `active`, `status`) and `evsince`, the ms an update made it an EVENT campaign;
- `gw:{app}:camp:due` (runs.py): every write puts the campaign there at its next run, or takes it out (paused,
  no run left), in the same transaction as the version; the application joins `gw:camp:apps`;
- `gw:{app}:camp:events` and `gw:{app}:camp:gen` (triggers.py): the EVENT campaigns, and a counter every write
  bumps, in the same transaction, so the workers' event listeners recompile their filters.

Every CreateCampaign and UpdateCampaign is checked in full (validate.py, then the segment and templates it names)
before anything is written; each UpdateCampaign stores a new version, as Pinpoint does. Tags live in the API's
TagStore under the campaign's ARN resource (`apps/APP/campaigns/ID`), so TagResource and GetCampaign agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import keys, models
from gateway.api.tagstore import TagStore, check_tags
from gateway.campaigns import runs, triggers
from gateway.campaigns.capstore import forget_campaign
from gateway.campaigns.errors import CampaignNotFound, CampaignValidationError
from gateway.campaigns.schedule import Run, parse_instant
from gateway.campaigns.state import campaign_status
from gateway.campaigns.validate import ROOT, Lookups, check_campaign, check_supported, merge
from gateway.channels.webhook import HeadCheckFailed
from gateway.errors import InvalidRequest, NotFound
from gateway.segments.store import SegmentStore, seg_key
from gateway.templates.store import TemplateStore
from gateway.versions import latest_page, page_start, versions_page

_decode = msgspec.json.Decoder(models.CampaignResponse).decode
_encode = msgspec.json.Encoder().encode

# Delete an application's gw:camp:eventapps entry only if it still holds the token. KEYS: the hash; ARGV: app, token.
_FORGET_EVENT_APP = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def list_key(app: str) -> str:
    return keys.app_key(app, "camps")


def campaign_key(app: str, campaign_id: str) -> str:
    return keys.app_key(app, "camp", campaign_id)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """Pinpoint's timestamp form: ISO 8601 UTC with milliseconds and Z."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The statuses a run sets in the campaign's hash (`status`), as CampaignStatus values.
_RUN_STATUSES: dict[str | None, models.CampaignStatus] = {
    "EXECUTING": "EXECUTING", "PENDING_NEXT_RUN": "PENDING_NEXT_RUN", "COMPLETED": "COMPLETED"
}


def created_at(doc: models.CampaignResponse) -> dt.datetime:
    """When the campaign was created (IMMEDIATE runs start then)."""
    return parse_instant(doc.CreationDate)


def queue_due(
    pipe: aioredis.client.Pipeline, app: str, doc: models.CampaignResponse, *, done: int | None, active: int | None,
    now: dt.datetime,
) -> None:
    """Queue on `pipe` (a transaction on the campaign's slot) the run state a newly written version implies:
    `paused`; paused: out of the due index (a run in progress stops at its next chunk); a run in progress: due
    now (a resumed run continues where it stopped); else due at its next run, or COMPLETED when none is left."""
    pipe.hset(campaign_key(app, doc.Id), "paused", int(bool(doc.IsPaused)))
    if doc.IsPaused:
        pipe.zrem(runs.due_key(app), doc.Id)
        return
    if active is not None:
        pipe.zadd(runs.due_key(app), {doc.Id: runs.ms(now)})
        return
    assert doc.Schedule is not None
    queue_next_run(pipe, app, doc.Id, runs.due_run(doc.Schedule, created_at(doc), done, now), ran=done is not None)


def queue_next_run(
    pipe: aioredis.client.Pipeline, app: str, campaign_id: str, run: Run | None, *, ran: bool
) -> None:
    """Queue on `pipe` the campaign due at `run`'s start; with no run left, out of the due index, and COMPLETED
    once a run has finished (`ran`)."""
    if run is None:
        pipe.zrem(runs.due_key(app), campaign_id)
        if ran:
            pipe.hset(campaign_key(app, campaign_id), "status", "COMPLETED")
    else:
        pipe.zadd(runs.due_key(app), {campaign_id: runs.ms(run.start)})


def queue_event_index(pipe: aioredis.client.Pipeline, app: str, campaign_id: str, doc: models.CampaignResponse | None,
                      token: str | None = None) -> None:
    """Queue on `pipe` the event-trigger index a write implies (triggers.py): the campaign in the application's
    set of EVENT campaigns iff its latest version `doc` is one (None: deleted), and the generation bumped, so every
    worker's listener recompiles the application's filters before its next event."""
    if triggers.is_event(doc):
        pipe.sadd(triggers.events_key(app), campaign_id)
        if token is not None:
            pipe.set(triggers.event_token_key(app), token)
    else:
        pipe.srem(triggers.events_key(app), campaign_id)
    pipe.incr(triggers.generation_key(app))


def version_number(value: str | int) -> int:
    """A campaign version from the path; CampaignValidationError unless a positive integer."""
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise CampaignValidationError(f"Version must be a positive integer, got {text[:20]!r}")
    return int(text)


def build_response(
    app: str, campaign_id: str, arn: str, req: models.WriteCampaignRequest, *, version: int, segment_version: int,
    created: str, modified: str,
) -> models.CampaignResponse:
    """The stored CampaignResponse of one version (State, DefaultState and tags are added when answering).
    Additional treatments get Ids 1 to 4 in the order given (the default treatment is 0)."""
    treatments = None if req.AdditionalTreatments is None else [
        models.TreatmentResource(
            Id=str(i + 1),
            SizePercent=t.SizePercent,
            CustomDeliveryConfiguration=t.CustomDeliveryConfiguration,
            MessageConfiguration=t.MessageConfiguration,
            Schedule=t.Schedule,
            TemplateConfiguration=t.TemplateConfiguration,
            TreatmentDescription=t.TreatmentDescription,
            TreatmentName=t.TreatmentName,
        )
        for i, t in enumerate(req.AdditionalTreatments)
    ]
    assert req.SegmentId is not None  # check_campaign requires it
    return models.CampaignResponse(
        AdditionalTreatments=treatments,
        ApplicationId=app,
        Arn=arn,
        CreationDate=created,
        CustomDeliveryConfiguration=req.CustomDeliveryConfiguration,
        Description=req.Description,
        HoldoutPercent=req.HoldoutPercent,
        Hook=req.Hook,
        Id=campaign_id,
        IsPaused=bool(req.IsPaused),
        LastModifiedDate=modified,
        Limits=req.Limits,
        MessageConfiguration=req.MessageConfiguration,
        Name=req.Name,
        Schedule=req.Schedule,
        SegmentId=req.SegmentId,
        SegmentVersion=segment_version,
        TemplateConfiguration=req.TemplateConfiguration,
        TreatmentDescription=req.TreatmentDescription,
        TreatmentName=req.TreatmentName,
        Version=version,
        Priority=req.Priority,
    )


class CampaignStore:
    """CreateCampaign, GetCampaign(s), UpdateCampaign, DeleteCampaign, GetCampaignVersion(s) for any application
    (the API's CampaignService). `clock` gives the current time (tests fix it)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        segments: SegmentStore,
        templates: TemplateStore,
        tags: TagStore | None = None,
        *,
        arn_prefix: str = "arn:aws:mobiletargeting:local:000000000000",
        clock: Callable[[], dt.datetime] = _utcnow,
        head_check: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.segments = segments
        self.templates = templates
        self.tags = tags
        self.arn_prefix = arn_prefix
        self._clock = clock
        from gateway.campaigns.inappstore import InAppStore  # it reads campaigns by this module's keys

        #: GetInAppMessages and the display counts PutEvents records (inappstore.py).
        self.inapp = InAppStore(redis, templates, clock=clock)
        # Pinpoint's HEAD check of a custom channel's DeliveryUri (webhook.WebhookClient.head_check); raises
        # HeadCheckFailed. None: not checked (tools that store campaigns without the API's configuration)
        self._head_check = head_check
        self._forget = redis.register_script(_FORGET_EVENT_APP)

    @staticmethod
    def resource(app: str, campaign_id: str) -> str:
        """The campaign's resource in its ARN and in the TagStore."""
        return f"apps/{app}/campaigns/{campaign_id}"

    # -- writes -------------------------------------------------------------------------------------------------

    async def create_campaign(self, app: str, request: models.WriteCampaignRequest) -> models.CampaignResponse:
        """CreateCampaign: version 1, after every member is checked."""
        # first, and before the clock is read: the listeners skip the events stream while gw:camp:eventapps is
        # empty, and this order puts every event they skipped before the campaign's start (listener.py,
        # EventListener.step); a write refused below leaves an entry that only costs reading
        token = await self._mark_event_app(app) if triggers.is_event(request) else None
        now = self._clock()
        if request.tags:
            check_tags(request.tags, f"{ROOT}.tags")
        lookups = check_campaign(request, now=now)
        segment_version = await self._check_lookups(app, request, lookups)
        check_supported(request)
        await self._check_delivery_uris(request, None)
        campaign_id = uuid.uuid4().hex
        stamp = iso(now)
        doc = build_response(
            app, campaign_id, f"{self.arn_prefix}:{self.resource(app, campaign_id)}", request,
            version=1, segment_version=segment_version, created=stamp, modified=stamp,
        )
        await self.redis.sadd(runs.APPS_KEY, app)  # first: a scheduler must find the app once the campaign is due
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(campaign_key(app, campaign_id), mapping={"v1": _encode(doc), "latest": 1})
        pipe.zadd(list_key(app), {campaign_id: int(now.timestamp() * 1000)})
        queue_due(pipe, app, doc, done=None, active=None, now=now)
        queue_event_index(pipe, app, campaign_id, doc, token)
        await pipe.execute()
        if self.tags is not None and request.tags:
            await self.tags.add(self.resource(app, campaign_id), app, request.tags)
        return (await self._answer(app, [doc]))[0]

    async def update_campaign(
        self, app: str, campaign_id: str, request: models.WriteCampaignRequest
    ) -> models.CampaignResponse:
        """UpdateCampaign: a new version from the latest with the members the request sets (see validate.merge).
        `tags` are ignored, as Pinpoint has since May 2023 (TagResource manages them)."""
        key = campaign_key(app, campaign_id)
        while True:
            prev = await self._latest(app, campaign_id)
            merged = merge(prev, request)
            token = await self._mark_event_app(app) if triggers.is_event(merged) else None  # as in create_campaign
            now = self._clock()
            lookups = check_campaign(merged, now=now, previous=prev)
            segment_version = await self._check_lookups(app, merged, lookups)
            check_supported(merged)
            await self._check_delivery_uris(merged, prev)
            version = (prev.Version or 1) + 1
            doc = build_response(
                app, campaign_id, prev.Arn, merged, version=version, segment_version=segment_version,
                created=prev.CreationDate, modified=iso(now),
            )
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    latest, done, active = await pipe.hmget(key, ["latest", "done", "active"])
                    if runs.text(latest) != str(prev.Version):
                        continue  # changed (or deleted) since it was read: check again against the new latest
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping={f"v{version}": _encode(doc), "latest": version})
                    queue_due(pipe, app, doc, done=runs.number(done), active=runs.number(active), now=now)
                    queue_event_index(pipe, app, campaign_id, doc, token)
                    if not triggers.is_event(doc):
                        pipe.hdel(key, "evsince")
                    elif not triggers.is_event(prev):  # its trigger starts no earlier than now (compile_trigger)
                        pipe.hset(key, "evsince", int(now.timestamp() * 1000))
                    await pipe.execute()
                except WatchError:
                    continue
            if triggers.is_event(prev) and not triggers.is_event(doc):
                await self._forget_event_app(app)
            return (await self._answer(app, [doc]))[0]

    async def delete_campaign(self, app: str, campaign_id: str) -> models.CampaignResponse:
        """DeleteCampaign: removes every version and the tags; answers the latest version, State DELETED."""
        answered = (await self._answer(app, [await self._latest(app, campaign_id)]))[0]
        numbers = await self.redis.zrange(runs.runs_key(app, campaign_id), 0, -1)
        pipe = self.redis.pipeline(transaction=True)
        # the campaign's hash going is what a run in progress checks between chunks: it stops there
        pipe.delete(campaign_key(app, campaign_id), runs.runs_key(app, campaign_id),
                    *[runs.run_key(app, campaign_id, int(runs.member(n))) for n in numbers])
        pipe.zrem(list_key(app), campaign_id)
        pipe.zrem(runs.due_key(app), campaign_id)
        queue_event_index(pipe, app, campaign_id, None)
        await pipe.execute()
        if triggers.is_event(answered):
            await self._forget_event_app(app)
        await forget_campaign(self.redis, app, campaign_id)  # its per-endpoint limit counters
        if self.tags is not None:
            await self.tags.clear(self.resource(app, campaign_id), app)
        deleted = models.CampaignState(CampaignStatus="DELETED")
        treatments = None if answered.AdditionalTreatments is None else [
            msgspec.structs.replace(t, State=deleted) for t in answered.AdditionalTreatments
        ]
        return msgspec.structs.replace(answered, State=deleted, DefaultState=deleted, AdditionalTreatments=treatments)

    async def _mark_event_app(self, app: str) -> str:
        """Put the application in gw:camp:eventapps with a new token, before a write making a campaign EVENT; the
        write's transaction records the token in the application's slot (queue_event_index)."""
        token = uuid.uuid4().hex
        await self.redis.hset(triggers.EVENT_APPS_KEY, app, token)
        return token

    async def _forget_event_app(self, app: str) -> None:
        """Take the application out of gw:camp:eventapps once it has no EVENT campaign left (after the transaction
        that removed one). The two keys are in different slots, so: read the entry's token, check in the app's slot
        that no EVENT campaign is left and that the last committed EVENT write is that token's (a write that set
        a newer token is still in flight), then delete the entry only if it still holds the token (no write
        started meanwhile). Any race leaves the entry: a stale entry only costs the listeners reading."""
        token = await self.redis.hget(triggers.EVENT_APPS_KEY, app)
        if token is None:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.scard(triggers.events_key(app))
        pipe.get(triggers.event_token_key(app))
        left, committed = await pipe.execute()
        if left == 0 and committed == token:
            await self._forget(keys=[triggers.EVENT_APPS_KEY], args=[app, token])

    # -- in-app -------------------------------------------------------------------------------------------------

    async def get_in_app_messages(self, app: str, endpoint_id: str) -> models.InAppMessagesResponse:
        """GetInAppMessages: the in-app messages the endpoint is eligible for now (inapp.py)."""
        return await self.inapp.get_in_app_messages(app, endpoint_id)

    async def record_in_app_events(self, app: str, endpoint_id: str, events: Mapping[str, models.Event]) -> None:
        """Count PutEvents' accepted `_inapp.message_displayed` events of the endpoint (by event id) toward its
        in-app caps."""
        await self.inapp.record_displays(app, endpoint_id, events)

    # -- reads --------------------------------------------------------------------------------------------------

    async def get_campaign(self, app: str, campaign_id: str, version: str | None) -> models.CampaignResponse:
        """GetCampaign (`version` None: the latest) and GetCampaignVersion."""
        if version is None:
            doc = await self._latest(app, campaign_id)
        else:
            number = version_number(version)
            raw = await self.redis.hget(campaign_key(app, campaign_id), f"v{number}")
            if raw is None:
                raise CampaignNotFound(f"Campaign {campaign_id} version {number} not found in application {app}")
            doc = _decode(raw)
        return (await self._answer(app, [doc]))[0]

    async def list_campaigns(self, app: str, page_size: int | None, token: str | None) -> models.CampaignsResponse:
        """GetCampaigns: the latest version of each campaign, oldest first; NextToken continues."""
        start, size = page_start(token, CampaignValidationError), page_size
        raws, next_token = await latest_page(self.redis, list_key(app), lambda i: campaign_key(app, i), start, size)
        return models.CampaignsResponse(Item=await self._answer(app, [_decode(r) for r in raws]), NextToken=next_token)

    async def list_campaign_versions(
        self, app: str, campaign_id: str, page_size: int | None, token: str | None
    ) -> models.CampaignsResponse:
        """GetCampaignVersions: every version, newest first."""
        latest = await self._latest(app, campaign_id)
        start, size = page_start(token, CampaignValidationError), page_size
        raws, next_token = await versions_page(
            self.redis, campaign_key(app, campaign_id), latest.Version or 1, start, size
        )
        return models.CampaignsResponse(Item=await self._answer(app, [_decode(r) for r in raws]), NextToken=next_token)

    async def list_activities(
        self, app: str, campaign_id: str, page_size: int | None, token: str | None
    ) -> models.ActivitiesResponse:
        """GetCampaignActivities: one activity per treatment and run, newest run first (runs.activities)."""
        latest = await self._latest(app, campaign_id)
        start, size = page_start(token, CampaignValidationError), page_size
        stop = -1 if size is None else start + size
        numbers = [int(runs.member(n)) for n in await self.redis.zrevrange(runs.runs_key(app, campaign_id), start, stop)]
        more = size is not None and len(numbers) > size
        numbers = numbers[:size] if size is not None else numbers
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.hgetall(runs.run_key(app, campaign_id, n))
        records = [runs.record(r) for r in await pipe.execute()]
        treatments = [0, *(int(t.Id) for t in latest.AdditionalTreatments or [])]
        items = runs.activities(app, campaign_id, numbers, records, treatments, paused=bool(latest.IsPaused))
        return models.ActivitiesResponse(Item=items, NextToken=str(start + len(numbers)) if more else None)

    # -- internals ----------------------------------------------------------------------------------------------

    async def _latest(self, app: str, campaign_id: str) -> models.CampaignResponse:
        key = campaign_key(app, campaign_id)
        v = await self.redis.hget(key, "latest")
        raw = None if v is None else await self.redis.hget(key, f"v{int(v)}")
        if raw is None:
            raise CampaignNotFound(f"Campaign {campaign_id} not found in application {app}")
        return _decode(raw)

    async def _check_delivery_uris(self, req: models.WriteCampaignRequest, prev: models.CampaignResponse | None) -> None:
        """HEAD-check every custom DeliveryUri the campaign names that its previous version did not (Pinpoint checks
        at creation; an update that keeps the URI is not checked again)."""
        if self._head_check is None:
            return
        known = set() if prev is None else {c.DeliveryUri for c in _customs(prev)}
        for member, custom in _members(req):
            if custom.DeliveryUri in known:
                continue
            try:
                await self._head_check(custom.DeliveryUri)
            except HeadCheckFailed as exc:
                raise CampaignValidationError(f"{ROOT}.{member}CustomDeliveryConfiguration.DeliveryUri: {exc}") from None
            known.add(custom.DeliveryUri)

    async def _check_lookups(self, app: str, req: models.WriteCampaignRequest, lookups: Lookups) -> int:
        """Check what validate.py left to the stores; returns the segment version the campaign uses."""
        assert req.SegmentId is not None
        try:
            if req.SegmentVersion is None:
                segment = await self.segments.get(app, req.SegmentId)
            else:
                segment = await self.segments.get_version(app, req.SegmentId, req.SegmentVersion)
        except NotFound:
            which = "SegmentId" if req.SegmentVersion is None else "SegmentVersion"
            raise CampaignValidationError(
                f"{ROOT}.{which}: segment {req.SegmentId} (version {req.SegmentVersion or 'latest'}) does not exist "
                f"in application {app}"
            ) from None
        if lookups.dynamic_segment and segment.SegmentType == "IMPORT":
            raise CampaignValidationError(
                f"{ROOT}.SegmentId: an EVENT campaign needs a dynamic segment, {req.SegmentId} is imported"
            )
        for ref in lookups.templates:
            try:
                await self.templates.get(ref.name, ref.kind, ref.version)
            except NotFound:
                raise CampaignValidationError(
                    f"{ref.member}: template {ref.name!r} ({ref.kind}, version {ref.version or 'active'}) does not exist"
                ) from None
            except InvalidRequest as exc:
                raise CampaignValidationError(f"{ref.member}: {exc}") from None
        return segment.Version or 1

    async def _answer(self, app: str, docs: list[models.CampaignResponse]) -> list[models.CampaignResponse]:
        """Stored versions as answered: State and DefaultState (from IsPaused and the segment's existence), each
        treatment's State, and the campaign's tags."""
        if not docs:
            return docs
        pipe = self.redis.pipeline(transaction=False)
        for doc in docs:
            pipe.exists(seg_key(app, doc.SegmentId))
            pipe.hget(campaign_key(app, doc.Id), "status")
        replies = await pipe.execute()
        found, statuses = replies[0::2], [runs.text(r) for r in replies[1::2]]
        tags = (
            await self.tags.get_many([(self.resource(app, d.Id), app) for d in docs]) if self.tags is not None
            else [{} for _ in docs]
        )
        out = []
        now = self._clock()
        for i, doc in enumerate(docs):
            status = campaign_status(
                is_paused=bool(doc.IsPaused), segment_exists=bool(found[i]), run_status=_RUN_STATUSES.get(statuses[i]),
                ended=_event_campaign_ended(doc, now),
            )
            state = models.CampaignState(CampaignStatus=status)
            treatments = None if doc.AdditionalTreatments is None else [
                msgspec.structs.replace(t, State=state) for t in doc.AdditionalTreatments
            ]
            out.append(msgspec.structs.replace(
                doc, State=state, DefaultState=state, AdditionalTreatments=treatments, tags=tags[i] or None
            ))
        return out


def _event_campaign_ended(doc: models.CampaignResponse, now: dt.datetime) -> bool:
    """An EVENT campaign past its EndTime: its listener triggers no more (triggers.py), so it is over. (Scheduled
    campaigns end through their runs.)"""
    schedule = doc.Schedule
    if schedule is None or schedule.Frequency != "EVENT" or schedule.EndTime is None:
        return False
    try:
        return parse_instant(schedule.EndTime) <= now
    except ValueError:  # checked at create: a stored one always parses
        return False


def _members(req: models.WriteCampaignRequest) -> list[tuple[str, models.CustomDeliveryConfiguration]]:
    out = [("", req.CustomDeliveryConfiguration)] if req.CustomDeliveryConfiguration is not None else []
    for i, t in enumerate(req.AdditionalTreatments or []):
        if t.CustomDeliveryConfiguration is not None:
            out.append((f"AdditionalTreatments[{i}].", t.CustomDeliveryConfiguration))
    return out


def _customs(doc: models.CampaignResponse) -> list[models.CustomDeliveryConfiguration]:
    out = [doc.CustomDeliveryConfiguration] if doc.CustomDeliveryConfiguration is not None else []
    return out + [t.CustomDeliveryConfiguration for t in doc.AdditionalTreatments or []
                  if t.CustomDeliveryConfiguration is not None]
