"""The tags of Pinpoint resources, in Redis, under AWS's tagging rules.

Tags of an application's resources live in the application's hash tag (`gw:{app}:tags:<resource>`), so DeleteApp
removes them; others (templates, recommenders) at `gw:tags:<resource>`. A resource is named as in its ARN
(`apps/ID/segments/ID`, `templates/NAME/TYPE`...). AWS's tagging rules apply: at most 50 tags, keys 1..128
characters not starting with `aws:`, values <= 256.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway import keys
from gateway.errors import InvalidRequest
from gateway.redisconn import text as _text

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256


def check_tags(tags: dict[str, str], field: str = "tags") -> None:
    """Raise InvalidRequest naming the first tag that breaks AWS's tagging rules."""
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"{field}: at most {MAX_TAGS} tags per resource, got {len(tags)}")
    for k, v in tags.items():
        if not 1 <= len(k) <= MAX_KEY:
            raise InvalidRequest(f"{field}: tag key {k[:40]!r} must be 1 to {MAX_KEY} characters")
        if k.lower().startswith("aws:"):
            raise InvalidRequest(f"{field}: tag key {k[:40]!r} uses the reserved prefix aws:")
        if len(v) > MAX_VALUE:
            raise InvalidRequest(f"{field}: value of tag {k[:40]!r} exceeds {MAX_VALUE} characters")


class TagStore:
    """Tags by resource; `app_id` is the application a resource belongs to (None for account-wide ones)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    @staticmethod
    def _key(resource: str, app_id: str | None) -> str:
        return keys.app_key(app_id, "tags", resource) if app_id else "gw:tags:" + resource

    async def get(self, resource: str, app_id: str | None) -> dict[str, str]:
        raw = await self.redis.hgetall(self._key(resource, app_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def get_many(self, resources: list[tuple[str, str | None]]) -> list[dict[str, str]]:
        """Tags of several resources in one round trip, in the order asked."""
        pipe = self.redis.pipeline(transaction=False)
        for resource, app_id in resources:
            pipe.hgetall(self._key(resource, app_id))
        return [{_text(k): _text(v) for k, v in raw.items()} for raw in await pipe.execute()]

    async def add(self, resource: str, app_id: str | None, tags: dict[str, str]) -> None:
        """Add or overwrite tags; InvalidRequest if the result would break the limits (nothing is written then)."""
        if not tags:
            return
        merged = {**await self.get(resource, app_id), **tags}
        check_tags(merged)
        await self.redis.hset(self._key(resource, app_id), mapping={k: v for k, v in tags.items()})

    async def remove(self, resource: str, app_id: str | None, tag_keys: list[str]) -> None:
        if tag_keys:
            await self.redis.hdel(self._key(resource, app_id), *tag_keys)

    async def clear(self, resource: str, app_id: str | None) -> None:
        """Remove every tag of a resource that is gone."""
        await self.redis.unlink(self._key(resource, app_id))
