"""Recommender configurations (Create/Get/Update/DeleteRecommenderConfiguration, GetRecommenderConfigurations):
HTTP handlers over `Services.recommenders`. Account-wide, as in Pinpoint. Every member is checked by
gateway/recommenders/validate.py before anything is stored."""

from __future__ import annotations

from gateway import models
from gateway.api.registry import Call, Registry
from gateway.api.services import RecommenderService
from gateway.api.validation import page_size
from gateway.recommenders.validate import normalize

registry = Registry()
operation = registry.operation
_NEEDS = ("recommenders",)


def _svc(call: Call) -> RecommenderService:
    assert call.services.recommenders is not None
    return call.services.recommenders


@operation("CreateRecommenderConfiguration", needs=_NEEDS)
async def create(call: Call) -> models.RecommenderConfigurationResponse:
    svc = _svc(call)
    return await svc.create(normalize("CreateRecommenderConfiguration", call.body, svc.allow))


@operation("GetRecommenderConfiguration", needs=_NEEDS)
async def get(call: Call) -> models.RecommenderConfigurationResponse:
    return await _svc(call).get(call.params["RecommenderId"])


@operation("GetRecommenderConfigurations", needs=_NEEDS)
async def list_configurations(call: Call) -> models.ListRecommenderConfigurationsResponse:
    return await _svc(call).list(page_size(call.params), call.params.get("Token"))


@operation("UpdateRecommenderConfiguration", needs=_NEEDS)
async def update(call: Call) -> models.RecommenderConfigurationResponse:
    svc = _svc(call)
    req = normalize("UpdateRecommenderConfiguration", call.body, svc.allow)
    return await svc.update(call.params["RecommenderId"], req)


@operation("DeleteRecommenderConfiguration", needs=_NEEDS)
async def delete(call: Call) -> models.RecommenderConfigurationResponse:
    return await _svc(call).delete(call.params["RecommenderId"])
