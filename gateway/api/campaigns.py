"""Campaigns: HTTP handlers over `Services.campaigns` (a CampaignService). A missing campaign is the store's
CampaignNotFound (404); a refused member its CampaignValidationError (400, naming the member)."""

from __future__ import annotations

from gateway import models
from gateway.api.registry import Call, Registry
from gateway.api.services import CampaignService
from gateway.api.validation import page_size

registry = Registry()
operation = registry.operation

_NEEDS = ("campaigns",)


def _svc(call: Call) -> CampaignService:
    assert call.services.campaigns is not None
    return call.services.campaigns


@operation("CreateCampaign", needs=_NEEDS)
async def create_campaign(call: Call) -> models.CampaignResponse:
    return await _svc(call).create_campaign(call.app_id, call.body)


@operation("GetCampaign", needs=_NEEDS)
async def get_campaign(call: Call) -> models.CampaignResponse:
    return await _svc(call).get_campaign(call.app_id, call.params["CampaignId"], None)


@operation("GetCampaignVersion", needs=_NEEDS)
async def get_campaign_version(call: Call) -> models.CampaignResponse:
    return await _svc(call).get_campaign(call.app_id, call.params["CampaignId"], call.params["Version"])


@operation("GetCampaigns", needs=_NEEDS)
async def get_campaigns(call: Call) -> models.CampaignsResponse:
    return await _svc(call).list_campaigns(call.app_id, page_size(call.params), call.params.get("Token"))


@operation("GetCampaignVersions", needs=_NEEDS)
async def get_campaign_versions(call: Call) -> models.CampaignsResponse:
    return await _svc(call).list_campaign_versions(
        call.app_id, call.params["CampaignId"], page_size(call.params), call.params.get("Token")
    )


@operation("UpdateCampaign", needs=_NEEDS)
async def update_campaign(call: Call) -> models.CampaignResponse:
    return await _svc(call).update_campaign(call.app_id, call.params["CampaignId"], call.body)


@operation("DeleteCampaign", needs=_NEEDS)
async def delete_campaign(call: Call) -> models.CampaignResponse:
    return await _svc(call).delete_campaign(call.app_id, call.params["CampaignId"])


@operation("GetCampaignActivities", needs=_NEEDS)
async def get_campaign_activities(call: Call) -> models.ActivitiesResponse:
    return await _svc(call).list_activities(
        call.app_id, call.params["CampaignId"], page_size(call.params), call.params.get("Token")
    )


@operation("GetInAppMessages", needs=_NEEDS)
async def get_in_app_messages(call: Call) -> models.InAppMessagesResponse:
    return await _svc(call).get_in_app_messages(call.app_id, call.params["EndpointId"])
