"""Journeys: HTTP handlers over `Services.journeys` (a JourneyService). A missing journey is the store's
JourneyNotFound (404); a refused member or state change its JourneyValidationError (400, naming the member)."""

from __future__ import annotations

from gateway import models
from gateway.api.registry import Call, Registry
from gateway.api.services import JourneyService
from gateway.api.validation import page_size

registry = Registry()
operation = registry.operation

_NEEDS = ("journeys",)


def _svc(call: Call) -> JourneyService:
    assert call.services.journeys is not None
    return call.services.journeys


@operation("CreateJourney", needs=_NEEDS)
async def create_journey(call: Call) -> models.JourneyResponse:
    return await _svc(call).create_journey(call.app_id, call.body)


@operation("GetJourney", needs=_NEEDS)
async def get_journey(call: Call) -> models.JourneyResponse:
    return await _svc(call).get_journey(call.app_id, call.params["JourneyId"])


@operation("ListJourneys", needs=_NEEDS)
async def list_journeys(call: Call) -> models.JourneysResponse:
    return await _svc(call).list_journeys(call.app_id, page_size(call.params), call.params.get("Token"))


@operation("UpdateJourney", needs=_NEEDS)
async def update_journey(call: Call) -> models.JourneyResponse:
    return await _svc(call).update_journey(call.app_id, call.params["JourneyId"], call.body)


@operation("UpdateJourneyState", needs=_NEEDS)
async def update_journey_state(call: Call) -> models.JourneyResponse:
    return await _svc(call).update_journey_state(call.app_id, call.params["JourneyId"], call.body)


@operation("DeleteJourney", needs=_NEEDS)
async def delete_journey(call: Call) -> models.JourneyResponse:
    return await _svc(call).delete_journey(call.app_id, call.params["JourneyId"])
