"""Recommender configurations in Redis. Account-wide, like templates (Pinpoint's /v1/recommenders is not scoped to
an application), so every configuration has its own hash tag:

    gw:rec:{<id>}      STRING  the RecommenderConfigurationResponse as JSON
    gw:rec:index       ZSET    id scored by creation time (ms): GetRecommenderConfigurations pages through it
    gw:rec:builtin     SET     ids of the configurations whose provider is `gateway:builtin`

No command touches two of these keys, so each stays in its own slot on Redis Cluster; a create or delete writes the
configuration first and the index after (a listing never names a configuration that is not there yet).

`learning()` says whether the built-in recommender should learn from PutEvents: whether any configuration names
`gateway:builtin`. It is cached for `flag_ttl_s` (another API process sees a new built-in configuration within
that time; this process at once) so PutEvents pays nothing for it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Final, cast

import msgspec
import redis.asyncio as aioredis

from gateway import models
from gateway.endpoints.rules import now_iso
from gateway.errors import InvalidRequest, NotFound
from gateway.recommenders.validate import BUILTIN, RecommenderRequest
from gateway.redisconn import text

INDEX_KEY: Final = "gw:rec:index"
BUILTIN_KEY: Final = "gw:rec:builtin"
_decode = msgspec.json.Decoder(models.RecommenderConfigurationResponse).decode
_encode = msgspec.json.Encoder().encode


def config_key(recommender_id: str) -> str:
    return "gw:rec:{" + recommender_id + "}"


class RecommenderNotFound(NotFound):
    """No recommender configuration with that id."""


def _check_id(recommender_id: str) -> None:
    # ids are ours (uuid hex); anything with braces or odd characters cannot be one and must not reach a key
    if not (1 <= len(recommender_id) <= 64 and recommender_id.replace("-", "").isalnum()):
        raise RecommenderNotFound(f"Recommender configuration {recommender_id[:70]!r} not found")


class RecommenderStore:
    """Create, get, list, update and delete recommender configurations (already validated: validate.normalize)."""

    def __init__(self, redis: aioredis.Redis, *, flag_ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.flag_ttl_s = flag_ttl_s
        self._clock = clock
        self._flag: tuple[float, bool] | None = None  # (checked at, answer)

    def _response(self, rid: str, req: RecommenderRequest, created: str, modified: str
                  ) -> models.RecommenderConfigurationResponse:
        return models.RecommenderConfigurationResponse(
            Attributes=req.Attributes, CreationDate=created, Description=req.Description, Id=rid,
            LastModifiedDate=modified, Name=req.Name, RecommendationProviderIdType=req.RecommendationProviderIdType,
            RecommendationProviderRoleArn=req.RecommendationProviderRoleArn,
            RecommendationProviderUri=req.RecommendationProviderUri,
            RecommendationTransformerUri=req.RecommendationTransformerUri,
            RecommendationsDisplayName=req.RecommendationsDisplayName,
            RecommendationsPerMessage=req.RecommendationsPerMessage,
        )

    async def _mark_builtin(self, rid: str, uri: str) -> None:
        if uri == BUILTIN:
            await self.redis.sadd(BUILTIN_KEY, rid)
        else:
            await self.redis.srem(BUILTIN_KEY, rid)
        self._flag = None

    async def create(self, req: RecommenderRequest) -> models.RecommenderConfigurationResponse:
        rid = uuid.uuid4().hex
        now = now_iso()
        doc = self._response(rid, req, now, now)
        if not await self.redis.set(config_key(rid), _encode(doc), nx=True):  # pragma: no cover - a uuid4 collision
            raise InvalidRequest("recommender id collision; retry")
        await self._mark_builtin(rid, req.RecommendationProviderUri)
        await self.redis.zadd(INDEX_KEY, {rid: time.time() * 1000})
        return doc

    async def get(self, recommender_id: str) -> models.RecommenderConfigurationResponse:
        _check_id(recommender_id)
        raw = await self.redis.get(config_key(recommender_id))
        if raw is None:
            raise RecommenderNotFound(f"Recommender configuration {recommender_id} not found")
        return _decode(raw)

    async def list(self, page_size: int, token: str | None) -> models.ListRecommenderConfigurationsResponse:
        """Oldest first; NextToken (an offset) continues the listing."""
        try:
            start = int(token) if token else 0
        except ValueError:
            raise InvalidRequest(f"Token {str(token)[:40]!r} is not a token this service returned") from None
        if start < 0:
            raise InvalidRequest(f"Token {token!r} is not a token this service returned")
        ids = await self.redis.zrange(INDEX_KEY, start, start + page_size)  # one more: is there a next page?
        more = len(ids) > page_size
        pipe = self.redis.pipeline(transaction=False)
        for rid in ids[:page_size]:
            pipe.get(config_key(text(cast("bytes | str", rid))))
        items = [_decode(raw) for raw in await pipe.execute() if raw is not None]
        return models.ListRecommenderConfigurationsResponse(
            Item=items, NextToken=str(start + page_size) if more else None
        )

    async def update(self, recommender_id: str, req: RecommenderRequest) -> models.RecommenderConfigurationResponse:
        """Replace every member (UpdateRecommenderConfiguration is a PUT: an absent member takes its default);
        Id and CreationDate stay."""
        old = await self.get(recommender_id)
        doc = self._response(recommender_id, req, old.CreationDate, now_iso())
        if not await self.redis.set(config_key(recommender_id), _encode(doc), xx=True):
            raise RecommenderNotFound(f"Recommender configuration {recommender_id} not found")
        await self._mark_builtin(recommender_id, req.RecommendationProviderUri)
        return doc

    async def delete(self, recommender_id: str) -> models.RecommenderConfigurationResponse:
        doc = await self.get(recommender_id)
        await self.redis.zrem(INDEX_KEY, recommender_id)
        await self.redis.srem(BUILTIN_KEY, recommender_id)
        await self.redis.delete(config_key(recommender_id))
        self._flag = None
        return doc

    async def learning(self) -> bool:
        """Whether some configuration names the built-in recommender (cached for `flag_ttl_s`)."""
        now = self._clock()
        if self._flag is not None and now - self._flag[0] < self.flag_ttl_s:
            return self._flag[1]
        answer = bool(await self.redis.scard(BUILTIN_KEY))
        self._flag = (now, answer)
        return answer
