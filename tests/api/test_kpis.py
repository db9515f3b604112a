"""GetApplicationDateRangeKpi, GetCampaignDateRangeKpi, GetJourneyDateRangeKpi through boto3: values from the
rollups equal the raw-events scan (tests/kpi_data.py), Pinpoint's response shape, and refused names and ranges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis

from gateway.events import EventWriter
from gateway.kpi.rollup import Tally
from tests import kpi_data
from tests.api.conftest import ApiServer, error_of

KEY = "gateway:events"


def _load(api_server: ApiServer, sync_redis: redis.Redis, app: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Events written as the engine's writers write them: the events, then their rollups (EventWriter.roll)."""
    tally = Tally()
    pipe = sync_redis.pipeline(transaction=False)
    for a, et, rec in kpi_data.generate(app, int(now.timestamp() * 1000), 400, days=5, tally=tally):
        pipe.xadd(KEY, {"app": a, "event_type": et, "record": rec})
    pipe.execute()
    api_server.call(EventWriter(api_server.services.apps.redis, KEY).roll(tally))
    return kpi_data.scan(sync_redis.xrange(KEY), app)


def test_kpis_through_boto3(pp: Any, app_id: str, api_server: ApiServer, sync_redis: redis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    facts = _load(api_server, sync_redis, app_id, now)
    start, end = now - dt.timedelta(days=6), now
    days = [(start + dt.timedelta(days=i)).date().isoformat() for i in range(7)]
    if days[-1] != end.date().isoformat():
        days.append(end.date().isoformat())

    resp = pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="successful-delivery-rate-grouped-by-date",
                                             StartTime=start, EndTime=end)["ApplicationDateRangeKpiResponse"]
    assert resp["ApplicationId"] == app_id and resp["KpiName"] == "successful-delivery-rate-grouped-by-date"
    assert abs(resp["StartTime"] - start) < dt.timedelta(seconds=1) and abs(resp["EndTime"] - end) < dt.timedelta(seconds=1)
    rows = resp["KpiResult"]["Rows"]
    want = kpi_data.oracle(facts, "application", "", "successful-delivery-rate-grouped-by-date", days)
    assert [r["GroupedBys"] for r in rows] == [[{"Key": "Date", "Type": "String", "Value": d}] for d in days]
    for r in rows:
        (v,) = r["Values"]
        assert v["Key"] == "SuccessfulDeliveryRate" and v["Type"] == "Double"
        assert float(v["Value"]) == want[r["GroupedBys"][0]["Value"]]

    camp = pp.get_campaign_date_range_kpi(ApplicationId=app_id, CampaignId="camp1", KpiName="hard-bounce-rate-grouped-by-campaign-activity",
                                          StartTime=start, EndTime=end)["CampaignDateRangeKpiResponse"]
    assert camp["CampaignId"] == "camp1"
    want = kpi_data.oracle(facts, "campaign", "camp1", "hard-bounce-rate-grouped-by-campaign-activity", days)
    got = {r["GroupedBys"][0]["Value"]: float(r["Values"][0]["Value"]) for r in camp["KpiResult"]["Rows"]}
    assert got == {k: v for k, v in want.items() if k in got} and set(got) == {"act10", "act11"}
    assert all(r["GroupedBys"][0]["Key"] == "CampaignActivityId" for r in camp["KpiResult"]["Rows"])

    jour = pp.get_journey_date_range_kpi(ApplicationId=app_id, JourneyId="jour1", KpiName="journey-emails-delivered",
                                         StartTime=start, EndTime=end)["JourneyDateRangeKpiResponse"]
    assert jour["JourneyId"] == "jour1"
    (row,) = jour["KpiResult"]["Rows"]
    assert row["GroupedBys"] == [] and row["Values"][0]["Key"] == "JourneyEmailsDelivered"
    assert float(row["Values"][0]["Value"]) == kpi_data.oracle(facts, "journey", "jour1", "journey-emails-delivered",
                                                               days)[""] > 0
    # no range: the preceding 31 days
    full = pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-sent")
    assert float(full["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"][0]["Values"][0]["Value"]) > 0


def test_refused_kpi_names_and_ranges(pp: Any, app_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    cases = [
        (lambda: pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="no-such-kpi"), "no-such-kpi"),
        (lambda: pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="journey-emails-sent"),
         "not an application metric"),
        (lambda: pp.get_journey_date_range_kpi(ApplicationId=app_id, JourneyId="j", KpiName="txn-emails-sent"),
         "not a journey metric"),
        (lambda: pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-sent", StartTime=now,
                                                   EndTime=now - dt.timedelta(days=1)), "before EndTime"),
        (lambda: pp.get_campaign_date_range_kpi(ApplicationId=app_id, CampaignId="c", KpiName="email-open-rate",
                                                StartTime=now - dt.timedelta(days=32), EndTime=now), "31 days"),
        (lambda: pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-sent",
                                                   StartTime=now - dt.timedelta(days=95),
                                                   EndTime=now - dt.timedelta(days=70)), "90 days"),
    ]
    for call, words in cases:
        code, status, message = error_of(call)
        assert (code, status) == ("BadRequestException", 400) and words in message, message
    assert error_of(lambda: pp.get_application_date_range_kpi(ApplicationId="0" * 32, KpiName="txn-emails-sent")
                    )[:2] == ("NotFoundException", 404)


def test_kpis_answer_by_default(pp: Any, app_id: str, api_server: ApiServer, sync_redis: redis.Redis) -> None:
    # no config, no rollup consumer, no group on the events stream: the rollups are written with the events, so
    # the KPIs answer (they were refused while a consumer group had to be running)
    sync_redis.xadd(KEY, {"app": app_id, "event_type": "_email.send", "record": "{}"})
    assert not sync_redis.xinfo_groups(KEY)
    got = pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-sent")
    assert got["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"][0]["Values"][0]["Value"] in ("0", "0.0")
    # events put through the API are counted as they are written: an engagement event type counts like the engine's
    now = dt.datetime.now(dt.UTC)
    pp.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {"ep1": {
        "Endpoint": {}, "Events": {"e1": {"EventType": "_email.open", "Timestamp": now.isoformat(),
                                          "Attributes": {"channel_type": "EMAIL"}}}}}})
    got = pp.get_application_date_range_kpi(ApplicationId=app_id, KpiName="txn-emails-opened")
    assert float(got["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"][0]["Values"][0]["Value"]) == 1.0


def test_kpis_are_refused_when_the_deployment_keeps_no_rollups(pp: Any, app_id: str, api_server: ApiServer) -> None:
    api_server.services.settings.rollups = False  # [events] rollups = false
    try:
        code, status, message = error_of(lambda: pp.get_application_date_range_kpi(ApplicationId=app_id,
                                                                                   KpiName="txn-emails-sent"))
    finally:
        api_server.services.settings.rollups = True
    assert (code, status) == ("BadRequestException", 400) and "[events] rollups is false" in message, message
