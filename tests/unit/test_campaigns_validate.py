"""WriteCampaignRequest checks with a fixed clock: the past is judged against `now`, an update may keep the start
it had, and a merged update keeps what it does not set."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway import models
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.store import build_response
from gateway.campaigns.validate import check_campaign, merge

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SMS = models.MessageConfiguration(SMSMessage=models.CampaignSmsMessage(Body="hi"))


def _req(start: str, **kw: object) -> models.WriteCampaignRequest:
    return models.WriteCampaignRequest(
        SegmentId="s", MessageConfiguration=SMS, Schedule=models.Schedule(StartTime=start, Frequency="DAILY"), **kw  # type: ignore[arg-type]
    )


def test_start_in_the_past_is_judged_against_now_and_the_campaign_zone() -> None:
    check_campaign(_req("2026-03-01T12:00:00Z"), now=NOW)  # exactly now is not the past
    with pytest.raises(CampaignValidationError, match=r"Schedule.StartTime: 2026-03-01T11:59:59Z is in the past"):
        check_campaign(_req("2026-03-01T11:59:59Z"), now=NOW)
    # without an offset the time is read in Schedule.Timezone: 13:30 at UTC+02 is 11:30 UTC, the past
    local = models.Schedule(StartTime="2026-03-01T13:30:00", Timezone="UTC+02", IsLocalTime=True)
    with pytest.raises(CampaignValidationError, match="in the past"):
        check_campaign(models.WriteCampaignRequest(SegmentId="s", MessageConfiguration=SMS, Schedule=local), now=NOW)
    check_campaign(_req("IMMEDIATE"), now=NOW)


def test_an_update_may_keep_a_start_that_has_since_passed() -> None:
    created = NOW - dt.timedelta(days=2)
    first = _req("2026-02-28T09:00:00Z")
    check_campaign(first, now=created)
    prev = build_response("app", "c", "arn", first, version=1, segment_version=1, created="t", modified="t")
    merged = merge(prev, models.WriteCampaignRequest(Name="renamed"))
    assert merged.Name == "renamed" and merged.Schedule == first.Schedule and merged.SegmentVersion == 1
    check_campaign(merged, now=NOW, previous=prev)  # its start is now past, but unchanged
    moved = merge(prev, models.WriteCampaignRequest(Schedule=models.Schedule(StartTime="2026-02-28T10:00:00Z")))
    with pytest.raises(CampaignValidationError, match="in the past"):
        check_campaign(moved, now=NOW, previous=prev)


def test_merge_follows_a_new_segment_s_latest_version_unless_pinned() -> None:
    prev = build_response("app", "c", "arn", _req("IMMEDIATE", SegmentVersion=3), version=1, segment_version=3,
                          created="t", modified="t")
    assert merge(prev, models.WriteCampaignRequest(SegmentId="other")).SegmentVersion is None
    assert merge(prev, models.WriteCampaignRequest(SegmentId="other", SegmentVersion=2)).SegmentVersion == 2
    assert merge(prev, models.WriteCampaignRequest(SegmentId="s")).SegmentVersion == 3


def test_treatment_percentages_and_event_campaigns() -> None:
    t = models.WriteTreatmentResource(SizePercent=45, MessageConfiguration=SMS)
    check_campaign(_req("IMMEDIATE", HoldoutPercent=10, AdditionalTreatments=[t, t]), now=NOW)  # 100 exactly
    with pytest.raises(CampaignValidationError, match="add up to 101"):
        check_campaign(_req("IMMEDIATE", HoldoutPercent=11, AdditionalTreatments=[t, t]), now=NOW)
    with pytest.raises(CampaignValidationError, match=r"AdditionalTreatments\[1\].SizePercent: must be 0 to 100"):
        check_campaign(_req("IMMEDIATE", AdditionalTreatments=[t, models.WriteTreatmentResource(SizePercent=-1)]), now=NOW)
    event = models.Schedule(StartTime="IMMEDIATE", Frequency="EVENT", EventFilter=models.CampaignEventFilter(
        FilterType="ENDPOINT", Dimensions=models.EventDimensions(EventType=models.SetDimension(Values=["buy"]))))
    lookups = check_campaign(models.WriteCampaignRequest(SegmentId="s", MessageConfiguration=SMS, Schedule=event), now=NOW)
    assert lookups.dynamic_segment
    assert not check_campaign(_req("IMMEDIATE"), now=NOW).dynamic_segment


def test_event_campaigns_are_supported_but_not_their_messages_per_second() -> None:
    from gateway.campaigns.validate import check_supported

    event = models.Schedule(StartTime="IMMEDIATE", Frequency="EVENT", EventFilter=models.CampaignEventFilter(
        FilterType="SYSTEM", Dimensions=models.EventDimensions(EventType=models.SetDimension(Values=["_email.delivered"]))))
    req = models.WriteCampaignRequest(SegmentId="s", MessageConfiguration=SMS, Schedule=event)
    check_supported(req)  # EVENT campaigns run (campaigns/listener.py)
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest.Limits.MessagesPerSecond: not supported"):
        check_supported(models.WriteCampaignRequest(SegmentId="s", MessageConfiguration=SMS, Schedule=event,
                                                    Limits=models.CampaignLimits(MessagesPerSecond=10)))
