"""Tags on Pinpoint resources (TagResource, UntagResource, ListTagsForResource) and their store.

A resource is named by its ARN, `arn:aws:mobiletargeting:REGION:ACCOUNT:RESOURCE`, where RESOURCE is
`apps/ID`, `apps/ID/campaigns/ID`, `apps/ID/segments/ID`, `apps/ID/journeys/ID`, `templates/NAME/TYPE` or
`recommenders/ID`. Region and account are not compared (a migrated ARN keeps its old ones); the application of an
`apps/...` resource must exist. Tags of an application's resources live in the application's hash tag
(`gw:{app}:tags:<resource>`), so DeleteApp removes them; others at `gw:tags:<resource>`.
AWS's tagging rules apply: at most 50 tags, keys 1..128 characters not starting with `aws:`, values <= 256.
"""

from __future__ import annotations

import re

import redis.asyncio as aioredis

from gateway import keys, models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, operation

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256

_ARN = re.compile(r"^arn:aws[a-z-]*:mobiletargeting:[a-z0-9-]*:\d*:(?P<resource>.+)$")
_RESOURCE = re.compile(
    r"^(?:apps/(?P<app>[^/{}]+)(?:/(?:campaigns|segments|journeys)/[^/{}]+)?"
    r"|templates/[^/{}]+/(?:EMAIL|SMS|VOICE|PUSH|INAPP)|recommenders/[^/{}]+)$"
)


def parse_arn(arn: str) -> tuple[str, str | None]:
    """(resource, application id or None) of a Pinpoint resource ARN; BadRequest naming the ARN otherwise."""
    m = _ARN.match(arn)
    r = _RESOURCE.match(m.group("resource")) if m else None
    if m is None or r is None:
        raise BadRequest(
            f"ResourceArn {arn!r} is not the ARN of a Pinpoint application, campaign, segment, journey, template "
            "or recommender"
        )
    return m.group("resource"), r.group("app")


def check_tags(tags: dict[str, str], field: str = "tags") -> None:
    """Raise BadRequest naming the first tag that breaks AWS's tagging rules."""
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"{field}: at most {MAX_TAGS} tags per resource, got {len(tags)}")
    for k, v in tags.items():
        if not 1 <= len(k) <= MAX_KEY:
            raise BadRequest(f"{field}: tag key {k[:40]!r} must be 1 to {MAX_KEY} characters")
        if k.lower().startswith("aws:"):
            raise BadRequest(f"{field}: tag key {k[:40]!r} uses the reserved prefix aws:")
        if len(v) > MAX_VALUE:
            raise BadRequest(f"{field}: value of tag {k[:40]!r} exceeds {MAX_VALUE} characters")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TagStore:
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
        """Add or overwrite tags; BadRequest if the result would break the limits (nothing is written then)."""
        if not tags:
            return
        merged = {**await self.get(resource, app_id), **tags}
        check_tags(merged)
        await self.redis.hset(self._key(resource, app_id), mapping=tags)  # type: ignore[arg-type]

    async def remove(self, resource: str, app_id: str | None, tag_keys: list[str]) -> None:
        if tag_keys:
            await self.redis.hdel(self._key(resource, app_id), *tag_keys)

    async def clear(self, resource: str, app_id: str | None) -> None:
        """Remove every tag of a resource that is gone."""
        await self.redis.unlink(self._key(resource, app_id))


async def _resolve(call: Call) -> tuple[str, str | None]:
    resource, app_id = parse_arn(str(call.params["ResourceArn"]))
    if app_id is not None and not await call.services.apps.exists(app_id):
        raise NotFound(f"Resource {call.params['ResourceArn']} not found: application {app_id} does not exist")
    return resource, app_id


@operation("TagResource")
async def tag_resource(call: Call) -> None:
    body: models.TagsModel = call.body
    check_tags(body.tags)
    resource, app_id = await _resolve(call)
    await call.services.tags.add(resource, app_id, body.tags)


@operation("UntagResource")
async def untag_resource(call: Call) -> None:
    resource, app_id = await _resolve(call)
    await call.services.tags.remove(resource, app_id, call.params["TagKeys"])


@operation("ListTagsForResource")
async def list_tags(call: Call) -> models.TagsModel:
    resource, app_id = await _resolve(call)
    return models.TagsModel(tags=await call.services.tags.get(resource, app_id))
