"""Applications (Pinpoint projects): CreateApp, GetApp, GetApps, DeleteApp, GetApplicationSettings,
UpdateApplicationSettings."""

from __future__ import annotations

import re

from gateway import models
from gateway.api.appstore import StoredSettings
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.api.tagstore import check_tags
from gateway.api.validation import page_size
from gateway.campaigns.hooks import HookError, check_hook

registry = Registry()
operation = registry.operation

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_NAME = 64


def _tagged(app: models.ApplicationResponse, tags: dict[str, str]) -> models.ApplicationResponse:
    return models.ApplicationResponse(Arn=app.Arn, Id=app.Id, Name=app.Name, CreationDate=app.CreationDate, tags=tags)


async def _with_tags(call: Call, app: models.ApplicationResponse) -> models.ApplicationResponse:
    return _tagged(app, await call.services.tags.get(f"apps/{app.Id}", app.Id))


@operation("CreateApp")
async def create_app(call: Call) -> models.ApplicationResponse:
    req: models.CreateApplicationRequest = call.body
    if not req.Name.strip() or len(req.Name) > MAX_NAME:
        raise BadRequest(f"CreateApplicationRequest.Name must be 1 to {MAX_NAME} characters")
    if req.tags:
        check_tags(req.tags, "CreateApplicationRequest.tags")
    app = await call.services.apps.create(req.Name)
    if req.tags:
        await call.services.tags.add(f"apps/{app.Id}", app.Id, req.tags)
    # a new application has exactly the tags just given: no need to read them back
    return _tagged(app, req.tags or {})


@operation("GetApp", check_app=False)
async def get_app(call: Call) -> models.ApplicationResponse:
    app = await call.services.apps.get(call.app_id)
    if app is None:
        raise NotFound(f"Application {call.app_id} not found")
    return await _with_tags(call, app)


@operation("GetApps")
async def get_apps(call: Call) -> models.ApplicationsResponse:
    apps, token = await call.services.apps.list(page_size(call.params), call.params.get("Token"))
    tags = await call.services.tags.get_many([(f"apps/{a.Id}", a.Id) for a in apps])
    return models.ApplicationsResponse(Item=[_tagged(a, t) for a, t in zip(apps, tags, strict=True)], NextToken=token)


@operation("DeleteApp", check_app=False)
async def delete_app(call: Call) -> models.ApplicationResponse:
    # the tags first (deleting the application unlinks them); AppStore.delete reads the document it removes
    tags = await call.services.tags.get(f"apps/{call.app_id}", call.app_id)
    app = await call.services.apps.delete(call.app_id)
    if app is None:
        raise NotFound(f"Application {call.app_id} not found")
    return _tagged(app, tags)


def _resource(app_id: str, s: StoredSettings) -> models.ApplicationSettingsResource:
    return models.ApplicationSettingsResource(
        ApplicationId=app_id,
        CampaignHook=s.CampaignHook or models.CampaignHook(),
        LastModifiedDate=s.LastModifiedDate,
        Limits=s.Limits or models.CampaignLimits(),
        QuietTime=s.QuietTime or models.QuietTime(),
        JourneyLimits=s.JourneyLimits,
    )


def check_settings(req: models.WriteApplicationSettingsRequest) -> None:
    """Ranges Pinpoint enforces on project settings; the message names the member."""
    root = "WriteApplicationSettingsRequest"
    if req.QuietTime is not None:
        for name in ("Start", "End"):
            value = getattr(req.QuietTime, name)
            if value is not None and not _HHMM.match(value):
                raise BadRequest(f"{root}.QuietTime.{name} must be HH:MM (00:00 to 23:59), got {value!r}")
    if req.Limits is not None:
        lim = req.Limits
        ranges = (("Daily", 0, 100), ("Total", 0, 100), ("Session", 0, 100), ("MessagesPerSecond", 1, 20000))
        for name, lo, hi in ranges:
            value = getattr(lim, name)
            if value is not None and not lo <= value <= hi:
                raise BadRequest(f"{root}.Limits.{name} must be from {lo} to {hi}, got {value}")
        if lim.MaximumDuration is not None and lim.MaximumDuration < 60:
            raise BadRequest(f"{root}.Limits.MaximumDuration must be at least 60 seconds, got {lim.MaximumDuration}")
    if req.CampaignHook is not None:
        try:
            check_hook(req.CampaignHook)
        except HookError as exc:
            raise BadRequest(f"{root}.CampaignHook.{exc}") from None
    if req.JourneyLimits is not None:
        jl = req.JourneyLimits
        for name, value in (("DailyCap", jl.DailyCap), ("TotalCap", jl.TotalCap)):
            if value is not None and value < 0:
                raise BadRequest(f"{root}.JourneyLimits.{name} must not be negative")
        if jl.TimeframeCap is not None:
            for name in ("Cap", "Days"):
                value = getattr(jl.TimeframeCap, name)
                if value is not None and value < 0:
                    raise BadRequest(f"{root}.JourneyLimits.TimeframeCap.{name} must not be negative")


@operation("GetApplicationSettings")
async def get_settings(call: Call) -> models.ApplicationSettingsResource:
    return _resource(call.app_id, await call.services.apps.get_settings(call.app_id))


@operation("UpdateApplicationSettings")
async def update_settings(call: Call) -> models.ApplicationSettingsResource:
    req: models.WriteApplicationSettingsRequest = call.body
    check_settings(req)
    return _resource(call.app_id, await call.services.apps.update_settings(call.app_id, req))
