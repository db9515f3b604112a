"""Journey definitions in Redis, as Pinpoint's JourneyResponse JSON (no runtime yet: docs/journeys.md).

Keys, all under the application's hash tag (one cluster slot, so every transaction here is slot-local):
- `gw:{app}:journeys`: zset journey id -> creation time (ms), for ListJourneys pages, oldest first;
- `gw:{app}:journey:<id>`: hash `doc` -> the JourneyResponse JSON (with its stored State, without tags), `etag`
  -> a counter every write bumps in the same transaction, so the runtime can notice an edit or a state change by
  reading one field.

Every CreateJourney and UpdateJourney is checked in full (validate.py, then the templates and segments it names,
then the custom DeliveryUris' HEAD check) before anything is written. UpdateJourney merges the request over the
stored journey (members it sets replace, the others are kept) and follows state.py's rules; UpdateJourneyState
moves State by Pinpoint's transitions. Tags live in the API's TagStore under `apps/APP/journeys/ID`, so TagResource
and GetJourney agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gateway import keys, models
from gateway.api.tagstore import TagStore
from gateway.campaigns.store import iso
from gateway.channels.webhook import HeadCheckFailed
from gateway.errors import InvalidRequest, NotFound
from gateway.journeys import state as states
from gateway.journeys.errors import JourneyNotFound, JourneyValidationError
from gateway.journeys.validate import ROOT, Lookups, check_journey, merge
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore
from gateway.versions import page_ids, page_start

_decode = msgspec.json.Decoder(models.JourneyResponse).decode
_encode = msgspec.json.Encoder().encode


def list_key(app: str) -> str:
    return keys.app_key(app, "journeys")


def journey_key(app: str, journey_id: str) -> str:
    return keys.app_key(app, "journey", journey_id)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_response(
    app: str, journey_id: str, req: models.WriteJourneyRequest, *, state: models.State, created: str, modified: str
) -> models.JourneyResponse:
    """The stored JourneyResponse (tags are added when answering)."""
    fields = {f: getattr(req, f) for f in models.WriteJourneyRequest.__struct_fields__}
    fields.update(ApplicationId=app, Id=journey_id, State=state, CreationDate=created, LastModifiedDate=modified)
    return models.JourneyResponse(**fields)


class JourneyStore:
    """CreateJourney, GetJourney, ListJourneys, UpdateJourney, UpdateJourneyState, DeleteJourney for any
    application (the API's JourneyService). `clock` gives the current time (tests fix it); `head_check` is the
    HEAD check of a CUSTOM activity's DeliveryUri (webhook.WebhookClient.head_check, as campaigns'; None: not
    checked)."""

    def __init__(
        self, redis: aioredis.Redis, segments: SegmentStore, templates: TemplateStore, tags: TagStore | None = None,
        *, clock: Callable[[], dt.datetime] = _utcnow, head_check: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.segments = segments
        self.templates = templates
        self.tags = tags
        self._clock = clock
        self._head_check = head_check

    @staticmethod
    def resource(app: str, journey_id: str) -> str:
        """The journey's resource in its ARN and in the TagStore."""
        return f"apps/{app}/journeys/{journey_id}"

    # -- writes -------------------------------------------------------------------------------------------------

    async def create_journey(self, app: str, request: models.WriteJourneyRequest) -> models.JourneyResponse:
        """CreateJourney: State DRAFT unless the request says ACTIVE. (WriteJourneyRequest has no tags: TagResource
        tags a journey.)"""
        now = self._clock()
        await self._check(app, request, check_journey(request, now=now), None)
        journey_id = uuid.uuid4().hex
        stamp = iso(now)
        doc = build_response(app, journey_id, request, state=request.State or "DRAFT", created=stamp, modified=stamp)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(journey_key(app, journey_id), mapping={"doc": _encode(doc), "etag": 1})
        pipe.zadd(list_key(app), {journey_id: int(now.timestamp() * 1000)})
        await pipe.execute()
        return await self._answer_one(app, doc)

    async def update_journey(
        self, app: str, journey_id: str, request: models.WriteJourneyRequest
    ) -> models.JourneyResponse:
        """UpdateJourney: the request merged over the stored journey (validate.merge), under state.py's rules."""

        async def write(prev: models.JourneyResponse, now: dt.datetime) -> models.JourneyResponse:
            # the state as reported: a published journey past its EndTime is COMPLETED, which is final
            states.check_update(msgspec.structs.replace(prev, State=states.reported_state(prev, now)), request)
            merged = merge(prev, request)
            await self._check(app, merged, check_journey(merged, now=now, previous=prev), prev)
            return build_response(app, journey_id, merged, state=merged.State or prev.State or "DRAFT",
                                  created=prev.CreationDate or iso(now), modified=iso(now))

        return await self._rewrite(app, journey_id, write)

    async def update_journey_state(
        self, app: str, journey_id: str, request: models.JourneyStateRequest
    ) -> models.JourneyResponse:
        """UpdateJourneyState: ACTIVE -> PAUSED, PAUSED -> ACTIVE, not final -> CANCELLED (state.transition)."""

        async def write(prev: models.JourneyResponse, now: dt.datetime) -> models.JourneyResponse:
            current = states.reported_state(prev, now)
            new = states.transition(current, request.State, refresh=prev.RefreshFrequency is not None)
            return msgspec.structs.replace(prev, State=new, LastModifiedDate=iso(now))

        return await self._rewrite(app, journey_id, write)

    async def delete_journey(self, app: str, journey_id: str) -> models.JourneyResponse:
        """DeleteJourney: removes the journey and its tags; answers it as it was."""
        doc = await self._get(app, journey_id)
        answered = await self._answer_one(app, doc)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(journey_key(app, journey_id))
        pipe.zrem(list_key(app), journey_id)
        await pipe.execute()
        if self.tags is not None:
            await self.tags.clear(self.resource(app, journey_id), app)
        return answered

    # -- reads --------------------------------------------------------------------------------------------------

    async def get_journey(self, app: str, journey_id: str) -> models.JourneyResponse:
        """GetJourney."""
        return await self._answer_one(app, await self._get(app, journey_id))

    async def list_journeys(self, app: str, page_size: int | None, token: str | None) -> models.JourneysResponse:
        """ListJourneys: oldest first; NextToken continues."""
        ids, next_token = await page_ids(self.redis, list_key(app), page_start(token, JourneyValidationError),
                                         page_size)
        pipe = self.redis.pipeline(transaction=False)
        for journey_id in ids:
            pipe.hget(journey_key(app, journey_id), "doc")
        docs = [_decode(raw) for raw in await pipe.execute() if raw is not None]  # deleted meanwhile: skipped
        return models.JourneysResponse(Item=await self._answer(app, docs), NextToken=next_token)

    async def etag(self, app: str, journey_id: str) -> int:
        """The journey's write counter (bumped by every write): the runtime compares it to notice edits."""
        value = await self.redis.hget(journey_key(app, journey_id), "etag")
        if value is None:
            raise JourneyNotFound(f"Journey {journey_id} not found in application {app}")
        return int(value)

    # -- internals ----------------------------------------------------------------------------------------------

    async def _get(self, app: str, journey_id: str) -> models.JourneyResponse:
        raw = await self.redis.hget(journey_key(app, journey_id), "doc")
        if raw is None:
            raise JourneyNotFound(f"Journey {journey_id} not found in application {app}")
        return _decode(raw)

    async def _rewrite(
        self, app: str, journey_id: str,
        write: Callable[[models.JourneyResponse, dt.datetime], Awaitable[models.JourneyResponse]],
    ) -> models.JourneyResponse:
        """Read, build the new document with `write`, and store it only if nothing else wrote meanwhile (etag
        unchanged; otherwise start over from the new document)."""
        key = journey_key(app, journey_id)
        while True:
            raw_prev, tag = await self.redis.hmget(key, ["doc", "etag"])
            if raw_prev is None:
                raise JourneyNotFound(f"Journey {journey_id} not found in application {app}")
            doc = await write(_decode(raw_prev), self._clock())
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    if await pipe.hget(key, "etag") != tag:
                        continue
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, "doc", _encode(doc))
                    pipe.hincrby(key, "etag", 1)
                    await pipe.execute()
                except WatchError:
                    continue
            return await self._answer_one(app, doc)

    async def _check(
        self, app: str, req: models.WriteJourneyRequest, lookups: Lookups, prev: models.JourneyResponse | None
    ) -> None:
        """What validate.py left to the stores, then the HEAD check of each new custom DeliveryUri."""
        for seg in lookups.segments:
            try:
                segment = await self.segments.get(app, seg.segment_id)
            except NotFound:
                raise JourneyValidationError(
                    f"{seg.member}: segment {seg.segment_id} does not exist in application {app}"
                ) from None
            if seg.dynamic and segment.SegmentType == "IMPORT":
                raise JourneyValidationError(
                    f"{seg.member}: an event-started journey needs a dynamic segment, {seg.segment_id} is imported"
                )
        for ref in lookups.templates:
            await self._check_template(ref.member, ref.kinds, ref.name, ref.version)
        if self._head_check is None:
            return
        known = {a.CUSTOM.DeliveryUri for a in (prev.Activities or {}).values() if a.CUSTOM is not None} if prev else set()
        for activity_id, activity in (req.Activities or {}).items():
            uri = activity.CUSTOM.DeliveryUri if activity.CUSTOM is not None else None
            if uri is None or uri in known:
                continue
            try:
                await self._head_check(uri)
            except HeadCheckFailed as exc:
                raise JourneyValidationError(f"{ROOT}.Activities.{activity_id}.CUSTOM.DeliveryUri: {exc}") from None
            known.add(uri)

    async def _check_template(self, member: str, kinds: tuple[str, ...], name: str, version: str | None) -> None:
        for kind in kinds:
            try:
                await self.templates.get(name, kind, version)
                return
            except NotFound:
                continue
            except InvalidRequest as exc:
                raise JourneyValidationError(f"{member}: {exc}") from None
        raise JourneyValidationError(
            f"{member}: template {name!r} ({' or '.join(kinds)}, version {version or 'active'}) does not exist"
        )

    async def _answer_one(self, app: str, doc: models.JourneyResponse) -> models.JourneyResponse:
        return (await self._answer(app, [doc]))[0]

    async def _answer(self, app: str, docs: list[models.JourneyResponse]) -> list[models.JourneyResponse]:
        """Stored journeys as answered: the State as reported (state.reported_state) and the tags."""
        if not docs:
            return docs
        tags = (
            await self.tags.get_many([(self.resource(app, d.Id), app) for d in docs]) if self.tags is not None
            else [{} for _ in docs]
        )
        now = self._clock()
        return [msgspec.structs.replace(d, State=states.reported_state(d, now), tags=tags[i] or None)
                for i, d in enumerate(docs)]
