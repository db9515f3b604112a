"""Endpoints and users: HTTP handlers over `Services.endpoints` (an EndpointService)."""

from __future__ import annotations

from gateway import models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, operation

MAX_BATCH = 100
ATTRIBUTE_TYPES = ("endpoint-custom-attributes", "endpoint-metric-attributes", "endpoint-user-attributes")
_NEEDS = ("endpoints",)


def _accepted(call: Call) -> models.MessageBody:
    return models.MessageBody(Message="Accepted", RequestID=call.request_id)


@operation("UpdateEndpoint", needs=_NEEDS)
async def update_endpoint(call: Call) -> models.MessageBody:
    assert call.services.endpoints is not None
    await call.services.endpoints.update_endpoint(call.app_id, call.params["EndpointId"], call.body)
    return _accepted(call)


@operation("UpdateEndpointsBatch", needs=_NEEDS)
async def update_endpoints_batch(call: Call) -> models.MessageBody:
    assert call.services.endpoints is not None
    req: models.EndpointBatchRequest = call.body
    if not req.Item or len(req.Item) > MAX_BATCH:
        raise BadRequest(f"EndpointBatchRequest.Item must hold 1 to {MAX_BATCH} endpoints, got {len(req.Item)}")
    for i, item in enumerate(req.Item):
        if not item.Id:
            raise BadRequest(f"EndpointBatchRequest.Item[{i}].Id is required")
    await call.services.endpoints.update_endpoints_batch(call.app_id, req)
    return _accepted(call)


@operation("GetEndpoint", needs=_NEEDS)
async def get_endpoint(call: Call) -> models.EndpointResponse:
    assert call.services.endpoints is not None
    ep = await call.services.endpoints.get_endpoint(call.app_id, call.params["EndpointId"])
    if ep is None:
        raise NotFound(f"Endpoint {call.params['EndpointId']} not found")
    return ep


@operation("DeleteEndpoint", needs=_NEEDS)
async def delete_endpoint(call: Call) -> models.EndpointResponse:
    assert call.services.endpoints is not None
    ep = await call.services.endpoints.delete_endpoint(call.app_id, call.params["EndpointId"])
    if ep is None:
        raise NotFound(f"Endpoint {call.params['EndpointId']} not found")
    return ep


@operation("GetUserEndpoints", needs=_NEEDS)
async def get_user_endpoints(call: Call) -> models.EndpointsResponse:
    assert call.services.endpoints is not None
    items = await call.services.endpoints.get_user_endpoints(call.app_id, call.params["UserId"])
    if not items:
        raise NotFound(f"User {call.params['UserId']} has no endpoints")
    return models.EndpointsResponse(Item=items)


@operation("DeleteUserEndpoints", needs=_NEEDS)
async def delete_user_endpoints(call: Call) -> models.EndpointsResponse:
    assert call.services.endpoints is not None
    items = await call.services.endpoints.delete_user_endpoints(call.app_id, call.params["UserId"])
    if not items:
        raise NotFound(f"User {call.params['UserId']} has no endpoints")
    return models.EndpointsResponse(Item=items)


@operation("RemoveAttributes", needs=_NEEDS)
async def remove_attributes(call: Call) -> models.AttributesResource:
    assert call.services.endpoints is not None
    kind = call.params["AttributeType"]
    if kind not in ATTRIBUTE_TYPES:
        raise BadRequest(f"attribute-type must be one of {', '.join(ATTRIBUTE_TYPES)}, got {kind[:60]!r}")
    return await call.services.endpoints.remove_attributes(call.app_id, kind, call.body)
