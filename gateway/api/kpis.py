"""Analytics KPIs: GetApplicationDateRangeKpi, GetCampaignDateRangeKpi, GetJourneyDateRangeKpi, answered from
the rollups the writers of the events stream maintain (gateway/kpi, docs/analytics.md). An unknown KPI name or a date range Pinpoint
would refuse is a BadRequestException. PageSize and NextToken are accepted and ignored, as Pinpoint documents
for these metrics (every row comes in one page)."""

from __future__ import annotations

import datetime as dt

from gateway import models
from gateway.api.errors import BadRequest
from gateway.api.registry import Call, Registry
from gateway.campaigns.store import iso
from gateway.kpi import catalog, query

registry = Registry()
operation = registry.operation


def _time(call: Call, name: str) -> dt.datetime | None:
    value = call.params.get(name)
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date and time, e.g. 2026-07-26T20:00:00Z") from None


def _check_rollups(call: Call) -> None:
    """Refuse when this deployment keeps no rollups ([events] rollups = false): they would read as zeros, not as
    the application's numbers (docs/analytics.md)."""
    if not call.services.settings.rollups:
        raise BadRequest(query.NOT_COMPUTED)


async def _rows(call: Call, level: str, target: str) -> tuple[dt.datetime, dt.datetime, models.BaseKpiResult]:
    now = dt.datetime.now(dt.UTC)
    try:
        start, end = catalog.date_range(_time(call, "StartTime"), _time(call, "EndTime"), now)
        rows = await query.date_range_kpi(call.services.apps.redis, call.app_id, level, target,
                                          str(call.params["KpiName"]), start, end)
    except catalog.RangeError as exc:
        raise BadRequest(str(exc)) from None
    _check_rollups(call)  # after the name and the range: those errors are the caller's first
    return start, end, models.BaseKpiResult(Rows=rows)


@operation("GetApplicationDateRangeKpi")
async def get_application_date_range_kpi(call: Call) -> models.ApplicationDateRangeKpiResponse:
    start, end, result = await _rows(call, catalog.APP, "")
    return models.ApplicationDateRangeKpiResponse(ApplicationId=call.app_id, KpiName=call.params["KpiName"],
                                                  KpiResult=result, StartTime=iso(start), EndTime=iso(end))


@operation("GetCampaignDateRangeKpi")
async def get_campaign_date_range_kpi(call: Call) -> models.CampaignDateRangeKpiResponse:
    start, end, result = await _rows(call, catalog.CAMPAIGN, str(call.params["CampaignId"]))
    return models.CampaignDateRangeKpiResponse(ApplicationId=call.app_id, CampaignId=call.params["CampaignId"],
                                               KpiName=call.params["KpiName"], KpiResult=result,
                                               StartTime=iso(start), EndTime=iso(end))


@operation("GetJourneyDateRangeKpi")
async def get_journey_date_range_kpi(call: Call) -> models.JourneyDateRangeKpiResponse:
    start, end, result = await _rows(call, catalog.JOURNEY, str(call.params["JourneyId"]))
    return models.JourneyDateRangeKpiResponse(ApplicationId=call.app_id, JourneyId=call.params["JourneyId"],
                                              KpiName=call.params["KpiName"], KpiResult=result,
                                              StartTime=iso(start), EndTime=iso(end))
