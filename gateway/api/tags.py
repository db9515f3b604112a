"""Tags on Pinpoint resources: TagResource, UntagResource, ListTagsForResource over `Services.tags` (the
TagStore, gateway/api/tagstore.py, which keeps AWS's tagging rules).

A resource is named by its ARN, `arn:aws:mobiletargeting:REGION:ACCOUNT:RESOURCE`, where RESOURCE is
`apps/ID`, `apps/ID/campaigns/ID`, `apps/ID/segments/ID`, `apps/ID/journeys/ID`, `templates/NAME/TYPE` or
`recommenders/ID`. Region and account are not compared (a migrated ARN keeps its old ones); the application of an
`apps/...` resource must exist.
"""

from __future__ import annotations

import re

from gateway import models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.api.tagstore import check_tags

registry = Registry()
operation = registry.operation

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
