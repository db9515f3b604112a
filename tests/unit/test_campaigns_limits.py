"""The pure decisions behind campaign limits, duplicate addresses and a treatment's own schedule: which limits are
in force (the campaign's over the application's defaults), when a recipient has expired, which endpoints of a
run are duplicates, and what the validator now accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway import models
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.limits import Caps, effective_caps, expired
from gateway.campaigns.plan import duplicate_endpoints, plan_treatment, treatment_run
from gateway.campaigns.schedule import run_at
from gateway.campaigns.split import plan_split
from gateway.campaigns.store import build_response
from gateway.campaigns.validate import check_supported

UTC = dt.UTC
CREATED = dt.datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
EMAIL = models.MessageConfiguration(EmailMessage=models.CampaignEmailMessage(Title="t", HtmlBody="<p>x</p>"))
L = models.CampaignLimits


def test_the_campaigns_limits_override_the_applications_defaults() -> None:
    assert effective_caps(None, None) == Caps(None, None, None, False, None)
    assert not effective_caps(None, None).counted
    # the application's Daily counts every campaign's messages; its Total and MaximumDuration are defaults
    app = L(Daily=2, Total=5, MaximumDuration=300)
    assert effective_caps(None, app) == Caps(None, 5, 2, True, dt.timedelta(seconds=300))
    # a campaign's own Daily replaces the application's (its messages still count towards the application's)
    assert effective_caps(L(Daily=4, Total=1, MaximumDuration=60), app) == Caps(4, 1, None, True, dt.timedelta(seconds=60))
    # 0 is no limit, and still overrides the application's
    assert effective_caps(L(Daily=0, Total=0), app) == Caps(None, None, None, True, dt.timedelta(seconds=300))
    assert effective_caps(L(MessagesPerSecond=10), None).counted is False


def test_a_recipient_expires_maximum_duration_after_its_own_delivery_time() -> None:
    caps = effective_caps(L(MaximumDuration=60), None)
    at = dt.datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
    assert not expired(at, caps, at + dt.timedelta(seconds=60))
    assert expired(at, caps, at + dt.timedelta(seconds=61))
    assert not expired(at, effective_caps(None, None), at + dt.timedelta(days=30))


def ep(i: str, address: str, channel: str = "EMAIL", date: str = "2026-01-01T00:00:00Z", **kw: object) -> models.EndpointResponse:
    fields: dict[str, object] = {"Id": i, "ChannelType": channel, "Address": address, "CohortId": "0",
                                 "EffectiveDate": date, **kw}
    return models.EndpointResponse(**fields)  # type: ignore[arg-type]


def test_duplicate_addresses_keep_the_endpoint_written_last() -> None:
    endpoints = [
        ep("a", "x@example.com"),
        ep("b", "x@example.com", date="2026-02-01T00:00:00Z"),  # written last: kept
        ep("c", "x@example.com"),
        ep("d", "x@example.com", "SMS"),  # another channel: not a duplicate (addresses differ in practice)
        ep("e", "y@example.com"),
        ep("f", "y@example.com"),  # as late as e: the smaller Id is kept
        ep("g", "y@example.com", OptOut="ALL"),  # could not be messaged: not counted as a duplicate
        ep("h", "y@example.com", EndpointStatus="INACTIVE"),
    ]
    assert duplicate_endpoints(endpoints) == {"a", "c", "f"}
    assert duplicate_endpoints(endpoints[::-1]) == {"a", "c", "f"}  # whatever the order the segment gives
    c = build_response("app", "camp-1", "arn", models.WriteCampaignRequest(
        SegmentId="s", MessageConfiguration=EMAIL, Schedule=models.Schedule(StartTime="IMMEDIATE")),
        version=1, segment_version=1, created="t", modified="t")
    assert c.Schedule is not None
    run = run_at(c.Schedule, CREATED, 0)
    plan = plan_treatment(c, 0, run, endpoints, plan_split("camp-1", None, []), None, duplicate_endpoints(endpoints))
    assert [r.endpoint_id for r in plan.recipients] == ["b", "e"]
    assert plan.metrics["DUPLICATE_ENDPOINT"] == 3 and plan.metrics["ENDPOINT_CHANNEL_MISMATCH"] == 1


def test_a_treatment_with_its_own_schedule_has_its_own_runs() -> None:
    campaign = models.Schedule(StartTime="2026-01-20T09:00:00Z", Frequency="DAILY")
    run = run_at(campaign, CREATED, 3)
    assert run is not None
    assert treatment_run(campaign, campaign, CREATED, run) is run
    own = models.Schedule(StartTime="2026-01-20T15:00:00Z", Frequency="DAILY", EndTime="2026-01-22T00:00:00Z")
    mine = treatment_run(own, campaign, CREATED, run)
    assert mine is None  # its EndTime came before its run 3
    early = run_at(own, CREATED, 1)
    assert early is not None and early.start == dt.datetime(2026, 1, 21, 15, 0, tzinfo=UTC)
    c = build_response("app", "camp-1", "arn", models.WriteCampaignRequest(
        SegmentId="s", MessageConfiguration=EMAIL, Schedule=campaign, AdditionalTreatments=[
            models.WriteTreatmentResource(SizePercent=100, MessageConfiguration=EMAIL, Schedule=own)]),
        version=1, segment_version=1, created="t", modified="t")
    plan = plan_treatment(c, 1, None, [ep("a", "a@example.com")], plan_split("camp-1", None, [100]), None)
    assert plan.recipients == [] and plan.metrics["TREATMENT_SCHEDULE_ENDED"] == 1


def _request(**kw: object) -> models.WriteCampaignRequest:
    base: dict[str, object] = {"SegmentId": "s", "MessageConfiguration": EMAIL,
                               "Schedule": models.Schedule(StartTime="IMMEDIATE", Frequency="DAILY")}
    return models.WriteCampaignRequest(**{**base, **kw})  # type: ignore[arg-type]


def test_limits_and_a_treatment_schedule_are_accepted_session_and_another_frequency_are_not() -> None:
    check_supported(_request(Limits=L(Daily=1, Total=3, MaximumDuration=600, MessagesPerSecond=5)))
    own = models.Schedule(StartTime="2030-01-01T10:00:00Z", Frequency="DAILY", IsLocalTime=True,
                          QuietTime=models.QuietTime(Start="22:00", End="07:00"))
    check_supported(_request(AdditionalTreatments=[models.WriteTreatmentResource(
        SizePercent=10, MessageConfiguration=EMAIL, Schedule=own)]))
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest\.Limits\.Session: not supported yet"):
        check_supported(_request(Limits=L(Session=1)))
    weekly = models.Schedule(StartTime="IMMEDIATE", Frequency="WEEKLY")
    with pytest.raises(CampaignValidationError,
                       match=r"^WriteCampaignRequest\.AdditionalTreatments\[0\]\.Schedule\.Frequency: not supported yet"):
        check_supported(_request(AdditionalTreatments=[models.WriteTreatmentResource(
            SizePercent=10, MessageConfiguration=EMAIL, Schedule=weekly)]))
