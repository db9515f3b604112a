"""Endpoints and users: HTTP handlers over `Services.endpoints` (an EndpointService: the endpoint store itself,
whose merge rules, limits and user sets answer these operations)."""

from __future__ import annotations

from gateway import models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.api.services import EndpointService

registry = Registry()
operation = registry.operation

MAX_BATCH = 100
ATTRIBUTE_TYPES = ("endpoint-custom-attributes", "endpoint-metric-attributes", "endpoint-user-attributes")
_NEEDS = ("endpoints",)


def _svc(call: Call) -> EndpointService:
    assert call.services.endpoints is not None  # every operation here is registered with needs=("endpoints",)
    return call.services.endpoints


def _endpoint(call: Call, ep: models.EndpointResponse | None) -> models.EndpointResponse:
    if ep is None:
        raise NotFound(f"Endpoint {call.params['EndpointId']} not found")
    return ep


def _user_endpoints(call: Call, found: models.EndpointsResponse) -> models.EndpointsResponse:
    if not found.Item:
        raise NotFound(f"User {call.params['UserId']} has no endpoints")
    return found


def _accepted(call: Call) -> models.MessageBody:
    return models.MessageBody(Message="Accepted", RequestID=call.request_id)


@operation("UpdateEndpoint", needs=_NEEDS)
async def update_endpoint(call: Call) -> models.MessageBody:
    await _svc(call).update_endpoint(call.app_id, call.params["EndpointId"], call.body)
    return _accepted(call)


@operation("UpdateEndpointsBatch", needs=_NEEDS)
async def update_endpoints_batch(call: Call) -> models.MessageBody:
    req: models.EndpointBatchRequest = call.body
    if not req.Item or len(req.Item) > MAX_BATCH:
        raise BadRequest(f"EndpointBatchRequest.Item must hold 1 to {MAX_BATCH} endpoints, got {len(req.Item)}")
    for i, item in enumerate(req.Item):
        if not item.Id:
            raise BadRequest(f"EndpointBatchRequest.Item[{i}].Id is required")
    await _svc(call).update_endpoints_batch(call.app_id, req)
    return _accepted(call)


@operation("GetEndpoint", needs=_NEEDS)
async def get_endpoint(call: Call) -> models.EndpointResponse:
    return _endpoint(call, await _svc(call).get(call.app_id, call.params["EndpointId"]))


@operation("DeleteEndpoint", needs=_NEEDS)
async def delete_endpoint(call: Call) -> models.EndpointResponse:
    return _endpoint(call, await _svc(call).delete_endpoint(call.app_id, call.params["EndpointId"]))


@operation("GetUserEndpoints", needs=_NEEDS)
async def get_user_endpoints(call: Call) -> models.EndpointsResponse:
    return _user_endpoints(call, await _svc(call).get_user_endpoints(call.app_id, call.params["UserId"]))


@operation("DeleteUserEndpoints", needs=_NEEDS)
async def delete_user_endpoints(call: Call) -> models.EndpointsResponse:
    return _user_endpoints(call, await _svc(call).delete_user_endpoints(call.app_id, call.params["UserId"]))


@operation("RemoveAttributes", needs=_NEEDS)
async def remove_attributes(call: Call) -> models.AttributesResource:
    kind = call.params["AttributeType"]
    if kind not in ATTRIBUTE_TYPES:
        raise BadRequest(f"attribute-type must be one of {', '.join(ATTRIBUTE_TYPES)}, got {kind[:60]!r}")
    request: models.UpdateAttributesRequest = call.body
    return await _svc(call).remove_attributes(call.app_id, kind, request.Blacklist or [])
