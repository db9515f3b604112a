"""One treatment's run planned over endpoints: every endpoint is a recipient or counted under exactly one of
Pinpoint's run-metric reasons, per treatment."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from gateway import models
from gateway.campaigns.plan import (
    Content,
    channel_for,
    duplicate_endpoints,
    endpoint_outcome,
    plan_group,
    plan_treatment,
    treatment_content,
)
from gateway.campaigns.schedule import run_at
from gateway.campaigns.split import HOLDOUT, endpoint_cohort, partition_audience, plan_split
from gateway.campaigns.store import build_response

UTC = dt.UTC
CREATED = dt.datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
EMAIL = models.MessageConfiguration(EmailMessage=models.CampaignEmailMessage(Title="t", HtmlBody="<p>x</p>"))
PUSH = models.MessageConfiguration(DefaultMessage=models.Message(Body="hi"))


def campaign(**kw: object) -> models.CampaignResponse:
    req = models.WriteCampaignRequest(SegmentId="s", MessageConfiguration=EMAIL, **kw)  # type: ignore[arg-type]
    return build_response("app", "camp-1", "arn", req, version=1, segment_version=1, created="t", modified="t")


def ep(i: str, channel: str = "EMAIL", **kw: object) -> models.EndpointResponse:
    fields: dict[str, object] = {"Id": i, "ChannelType": channel, "Address": f"{i}@example.com", "CohortId": "0", **kw}
    return models.EndpointResponse(**fields)  # type: ignore[arg-type]


def test_every_endpoint_is_a_recipient_or_one_reason() -> None:
    c = campaign(Schedule=models.Schedule(StartTime="2026-01-20T09:00:00Z"))
    run = run_at(c.Schedule, CREATED, 0)  # type: ignore[arg-type]
    assert run is not None
    everyone = plan_split("camp-1", None, [])
    endpoints = [
        ep("ok"),
        ep("out", OptOut="ALL"),
        ep("gone", EndpointStatus="INACTIVE"),
        ep("noaddr", Address=None),
        ep("sms", "SMS", Address="+14155550100"),
        ep("ok2", Demographic=models.EndpointDemographic(Timezone="America/New_York")),
    ]
    plan = plan_treatment(c, 0, run, endpoints, everyone, None)
    assert [(r.endpoint_id, r.channel, r.at) for r in plan.recipients] == [
        ("ok", "EMAIL", run.start), ("ok2", "EMAIL", run.start)]
    assert plan.metrics == Counter({"ENDPOINT_PRODUCED": 6, "ENDPOINT_OPT_OUT": 1, "ENDPOINT_INACTIVE": 1,
                                    "ENDPOINT_MISSING_ADDRESS": 1, "ENDPOINT_CHANNEL_MISMATCH": 1})
    # quiet time at 09:00 UTC = 04:00 in New York: quiet there; "ok" has no zone, so quiet time does not apply
    night = models.QuietTime(Start="22:00", End="07:00")
    quiet = plan_treatment(c, 0, run, endpoints, everyone, night)
    assert [r.endpoint_id for r in quiet.recipients] == ["ok"] and quiet.metrics["QUIET_TIME"] == 1


def test_treatments_count_the_others_as_treatment_holdout() -> None:
    sms = models.MessageConfiguration(SMSMessage=models.CampaignSmsMessage(Body="b"))
    c = campaign(Schedule=models.Schedule(StartTime="IMMEDIATE"), HoldoutPercent=20, AdditionalTreatments=[
        models.WriteTreatmentResource(SizePercent=30, MessageConfiguration=sms, TreatmentName="B")])
    run = run_at(c.Schedule, CREATED, 0)  # type: ignore[arg-type]
    assert run is not None
    split = plan_split(c.Id, c.HoldoutPercent, [t.SizePercent for t in c.AdditionalTreatments or []])
    endpoints = [ep(f"e{n}", "EMAIL" if n % 2 else "SMS", CohortId=str(n), Address="a") for n in range(100)]
    a = plan_treatment(c, 0, run, endpoints, split, None)
    b = plan_treatment(c, 1, run, endpoints, split, None)
    assert a.metrics["ENDPOINT_PRODUCED"] == b.metrics["ENDPOINT_PRODUCED"] == 100
    assert a.metrics["TREATMENT_HOLDOUT"] == 50 and b.metrics["TREATMENT_HOLDOUT"] == 70
    # treatment 0 sends email, B sends SMS: each counts the other channel as a mismatch within its cohorts
    assert len(a.recipients) + a.metrics["ENDPOINT_CHANNEL_MISMATCH"] == 50
    assert len(b.recipients) + b.metrics["ENDPOINT_CHANNEL_MISMATCH"] == 30
    assert {r.channel for r in a.recipients} == {"EMAIL"} and {r.channel for r in b.recipients} == {"SMS"}
    held = {f"e{n}" for n in split.cohorts(HOLDOUT)}
    assert not held & {r.endpoint_id for r in a.recipients + b.recipients}


def test_local_time_delivery_and_missing_time_zone() -> None:
    c = campaign(Schedule=models.Schedule(StartTime="2026-01-20T09:00:00", Timezone="UTC+13", IsLocalTime=True))
    run = run_at(c.Schedule, CREATED, 0)  # type: ignore[arg-type]
    assert run is not None
    tokyo = ep("tokyo", Demographic=models.EndpointDemographic(Timezone="Asia/Tokyo"))
    plan = plan_treatment(c, 0, run, [tokyo, ep("nozone")], plan_split("x", 0, []), None)
    assert [(r.endpoint_id, r.at) for r in plan.recipients] == [("tokyo", dt.datetime(2026, 1, 20, 0, tzinfo=UTC))]
    assert plan.metrics["ENDPOINT_MISSING_TIMEZONE"] == 1


def test_channels_of_push_templates_and_custom_delivery() -> None:
    schedule = models.Schedule(StartTime="IMMEDIATE")
    push = Content(PUSH, None, None, schedule)
    assert [channel_for(push, t) for t in ("GCM", "APNS", "APNS_VOIP_SANDBOX", "BAIDU", "EMAIL", "VOICE", None)] == [
        "GCM", "APNS", "APNS_VOIP_SANDBOX", "BAIDU", None, None, None]
    tpl = Content(None, models.TemplateConfiguration(PushTemplate=models.Template(Name="p")), None, schedule)
    assert channel_for(tpl, "ADM") == "ADM" and channel_for(tpl, "SMS") is None
    custom = Content(None, None, models.CustomDeliveryConfiguration(DeliveryUri="https://x.test/h", EndpointTypes=["SMS"]), schedule)
    assert channel_for(custom, "SMS") == "CUSTOM" and channel_for(custom, "EMAIL") is None
    c = campaign(Schedule=schedule, AdditionalTreatments=[models.WriteTreatmentResource(SizePercent=10, MessageConfiguration=PUSH)])
    assert treatment_content(c, 1).messages == PUSH and treatment_content(c, 1).schedule == schedule


def test_planning_by_group_and_kind_agrees_with_endpoint_outcome_for_every_feature() -> None:
    """plan_group over split.partition_audience (kinds decided once) gives each treatment the same recipients and
    run metrics as plan_treatment over the whole audience, and each endpoint the outcome endpoint_outcome gives
    it: in-app (no address needed, the run's start), duplicates, local time, opt-out, inactive, no address, and a
    treatment whose own schedule has no run (None)."""
    in_app = models.MessageConfiguration(InAppMessage=models.CampaignInAppMessage(Body="b"))
    c = campaign(Schedule=models.Schedule(StartTime="2026-01-20T09:00:00Z", IsLocalTime=True), HoldoutPercent=10,
                 AdditionalTreatments=[models.WriteTreatmentResource(SizePercent=30, MessageConfiguration=in_app),
                                       models.WriteTreatmentResource(SizePercent=20)])
    run = run_at(c.Schedule, CREATED, 0)  # type: ignore[arg-type]
    assert run is not None
    zones = [None, "America/New_York", "Asia/Tokyo"]
    kw: list[dict[str, object]] = [{}, {"OptOut": "ALL"}, {"EndpointStatus": "INACTIVE"}, {"Address": None},
                                   {"Address": "dup@example.com"}]
    endpoints = [
        ep(f"e{i:03d}", ["EMAIL", "IN_APP", "SMS"][i % 3], CohortId=str(i % 100),
           Demographic=models.EndpointDemographic(Timezone=zones[i % 3 and 1 + i % 2]), **kw[i % len(kw)])
        for i in range(400)
    ]
    duplicates = duplicate_endpoints(endpoints)
    assert duplicates
    split = plan_split("camp-1", 10, [30, 20])
    groups = partition_audience(split, endpoints)
    for tid in (0, 1, 2):
        for trun in (run, None):
            whole = plan_treatment(c, tid, trun, endpoints, split, None, duplicates)
            grouped = plan_group(c, tid, trun, len(endpoints), groups.get(tid, []), None, duplicates)
            assert grouped == whole
            if trun is None:
                assert whole.recipients == [] and whole.metrics["TREATMENT_SCHEDULE_ENDED"] > 0
                continue
            content = treatment_content(c, tid)
            outcomes = [endpoint_outcome(e, content, run, None, duplicates) for e in endpoints
                        if split.group(endpoint_cohort(e.Id or "", e.CohortId)) == tid]
            assert whole.recipients == [o for o in outcomes if not isinstance(o, str)]
            reasons = Counter(o for o in outcomes if isinstance(o, str))
            assert {k: v for k, v in whole.metrics.items() if k not in ("ENDPOINT_PRODUCED", "TREATMENT_HOLDOUT")} == reasons
    in_app_plan = plan_treatment(c, 1, run, endpoints, split, None, duplicates)
    assert {r.channel for r in in_app_plan.recipients} == {"IN_APP"}
    assert all(r.at == run.start for r in in_app_plan.recipients)
    assert any(e.Address is None for e in endpoints if e.Id in {r.endpoint_id for r in in_app_plan.recipients})


def test_partition_audience_puts_each_endpoint_in_its_cohorts_group() -> None:
    split = plan_split("camp-1", 10, [30, 20])
    cohorts = [None, "7", "07", "99", "100", "abc", "", "42", "7"]
    endpoints = [ep(f"e{i}", CohortId=c) for i, c in enumerate(cohorts * 5)]
    groups = partition_audience(split, endpoints)
    for group, members in groups.items():
        assert members == [e for e in endpoints if split.group(endpoint_cohort(e.Id or "", e.CohortId)) == group]
    assert sum(len(m) for m in groups.values()) == len(endpoints)
