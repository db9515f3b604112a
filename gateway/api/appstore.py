"""The application store: Pinpoint projects, their settings and their event-stream configuration, in Redis.

Keys: the index `gw:apps` (a sorted set, all scores 0, so pages are ranges by id and a NextToken is the last id
returned: stable under concurrent creates and deletes), and per application `gw:{app}:app` (ApplicationResponse
JSON without tags), `gw:{app}:settings`, `gw:{app}:eventstream`. Deleting an application unlinks every
`gw:{app}:*` key, i.e. its endpoints, segments and everything else stored under its hash tag.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import redis.asyncio as aioredis

from gateway import keys, models

APPS_INDEX = "gw:apps"


def now_iso() -> str:
    """Pinpoint's timestamp format: ISO 8601 UTC with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoredSettings(models.Shape, kw_only=True):
    """Everything UpdateApplicationSettings accepted (including members the resource does not echo)."""

    CampaignHook: models.CampaignHook | None = None
    CloudWatchMetricsEnabled: bool | None = None
    EventTaggingEnabled: bool | None = None
    Limits: models.CampaignLimits | None = None
    QuietTime: models.QuietTime | None = None
    JourneyLimits: models.ApplicationSettingsJourneyLimits | None = None
    LastModifiedDate: str | None = None


_enc = msgspec.json.Encoder().encode
_dec_app = msgspec.json.Decoder(models.ApplicationResponse).decode
_dec_settings = msgspec.json.Decoder(StoredSettings).decode
_dec_stream = msgspec.json.Decoder(models.EventStream).decode


def _app_key(app_id: str) -> str:
    return keys.app_key(app_id, "app")


class AppStore:
    """Applications of one Gateway deployment."""

    def __init__(self, redis: aioredis.Redis, arn_prefix: str) -> None:
        self.redis = redis
        self.arn_prefix = arn_prefix  # "arn:aws:mobiletargeting:REGION:ACCOUNT:"

    async def create(self, name: str) -> models.ApplicationResponse:
        app_id = uuid.uuid4().hex
        doc = models.ApplicationResponse(
            Arn=f"{self.arn_prefix}apps/{app_id}", Id=app_id, Name=name, CreationDate=now_iso()
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_app_key(app_id), _enc(doc))
        pipe.zadd(APPS_INDEX, {app_id: 0})
        await pipe.execute()
        return doc

    async def exists(self, app_id: str) -> bool:
        return bool(await self.redis.exists(_app_key(app_id)))

    async def get(self, app_id: str) -> models.ApplicationResponse | None:
        raw = await self.redis.get(_app_key(app_id))
        return None if raw is None else _dec_app(raw)

    async def list(self, page_size: int, token: str | None) -> tuple[list[models.ApplicationResponse], str | None]:
        """One page of applications ordered by id, and the token of the next page (None on the last)."""
        start = "-" if not token else "(" + token
        ids = await self.redis.zrangebylex(APPS_INDEX, start, "+", start=0, num=page_size + 1)
        more = len(ids) > page_size
        ids = ids[:page_size]
        if not ids:
            return [], None
        names = [i.decode() if isinstance(i, bytes) else i for i in ids]
        raws = await self.redis.mget([_app_key(i) for i in names])
        apps = [_dec_app(r) for r in raws if r is not None]
        return apps, (names[-1] if more else None)

    async def delete(self, app_id: str) -> models.ApplicationResponse | None:
        doc = await self.get(app_id)
        if doc is None:
            return None
        await self.redis.zrem(APPS_INDEX, app_id)
        pattern = keys.app_key(app_id, "*").replace("{", "\\{").replace("}", "\\}")
        batch: list[bytes] = []
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.redis.unlink(*batch)
                batch = []
        if batch:
            await self.redis.unlink(*batch)
        return doc

    async def get_settings(self, app_id: str) -> StoredSettings:
        raw = await self.redis.get(keys.app_key(app_id, "settings"))
        return StoredSettings() if raw is None else _dec_settings(raw)

    async def update_settings(self, app_id: str, request: models.WriteApplicationSettingsRequest) -> StoredSettings:
        """Replace the members the request sets; keep the others."""
        current = await self.get_settings(app_id)
        changes = {f: v for f in request.__struct_fields__ if (v := getattr(request, f)) is not None}
        updated = msgspec.structs.replace(current, **changes, LastModifiedDate=now_iso())
        await self.redis.set(keys.app_key(app_id, "settings"), _enc(updated))
        return updated

    async def get_event_stream(self, app_id: str) -> models.EventStream | None:
        raw = await self.redis.get(keys.app_key(app_id, "eventstream"))
        return None if raw is None else _dec_stream(raw)

    async def put_event_stream(self, app_id: str, request: models.WriteEventStream) -> models.EventStream:
        doc = models.EventStream(
            ApplicationId=app_id,
            DestinationStreamArn=request.DestinationStreamArn,
            RoleArn=request.RoleArn,
            LastModifiedDate=now_iso(),
        )
        await self.redis.set(keys.app_key(app_id, "eventstream"), _enc(doc))
        return doc

    async def delete_event_stream(self, app_id: str) -> models.EventStream | None:
        key = keys.app_key(app_id, "eventstream")
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(key)
        pipe.delete(key)
        raw, _ = await pipe.execute()
        return None if raw is None else _dec_stream(raw)
