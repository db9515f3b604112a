# ruff: noqa: E501
"""Journeys (the definition layer) end to end: boto3's pinpoint client → API → the real journey, segment and
template stores in Redis. Each operation is called as Pinpoint's API reference shows it (CreateJourney with
WriteJourneyRequest, UpdateJourneyState with JourneyStateRequest, ListJourneys pages with PageSize and Token); the
journey is the developer guide's re-engagement flow: an email, a wait, a yes/no split on the email being opened, an
SMS to those who did not open."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from tests.api.conftest import error_of

IOS = {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}


def _later(days: float = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def setup(live_pp: Any, live_app: str) -> tuple[Any, str, str]:
    """An application with a dynamic segment and EMAIL, SMS and PUSH templates named after the channel."""
    pp = live_pp
    segment = pp.create_segment(ApplicationId=live_app, WriteSegmentRequest={"Name": "ios", "Dimensions": IOS})["SegmentResponse"]["Id"]
    for name in ("jemail", "jsms", "jpush"):  # templates are global: tolerate a previous test's
        for delete in (pp.delete_email_template, pp.delete_sms_template, pp.delete_push_template):
            error_of(lambda d=delete, n=name: d(TemplateName=n))  # type: ignore[misc]
    pp.create_email_template(TemplateName="jemail", EmailTemplateRequest={"Subject": "We miss you", "HtmlPart": "<p>Come back</p>"})
    pp.create_sms_template(TemplateName="jsms", SMSTemplateRequest={"Body": "Come back"})
    pp.create_push_template(TemplateName="jpush", PushNotificationTemplateRequest={"Default": {"Title": "Hi", "Body": "Come back"}})
    return pp, live_app, str(segment)


def _activities() -> dict[str, Any]:
    return {
        "welcome": {"Description": "re-engagement email", "EMAIL": {"TemplateName": "jemail", "TemplateVersion": "1", "NextActivity": "wait2d",
                                                                     "MessageConfig": {"FromAddress": "news@example.com"}}},
        "wait2d": {"Wait": {"WaitTime": {"WaitFor": "P2D"}, "NextActivity": "opened"}},
        "opened": {"ConditionalSplit": {
            "Condition": {"Conditions": [{"EventCondition": {"MessageActivity": "welcome", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}}}}], "Operator": "ALL"},
            "EvaluationWaitTime": {"WaitFor": "PT1H"}, "TrueActivity": "done", "FalseActivity": "nudge"}},
        "nudge": {"SMS": {"TemplateName": "jsms", "MessageConfig": {"MessageType": "PROMOTIONAL"}}},
        "done": {"Holdout": {"Percentage": 0}},
    }


def _request(segment: str, **extra: Any) -> dict[str, Any]:
    return {"Name": "re-engagement", "Activities": _activities(), "StartActivity": "welcome",
            "StartCondition": {"Description": "ios users", "SegmentStartCondition": {"SegmentId": segment}},
            "Schedule": {"StartTime": _later(), "EndTime": _later(30), "Timezone": "UTC"},
            "Limits": {"DailyCap": 3, "TotalCap": 10, "EndpointReentryCap": 0, "EndpointReentryInterval": "PT12H",
                       "MessagesPerSecond": 100, "TimeframeCap": {"Cap": 5, "Days": 7}},
            "QuietTime": {"Start": "22:00", "End": "07:00"}, "RefreshFrequency": "PT1H", "LocalTime": False, **extra}


def test_journey_lifecycle_create_get_list_update_state_delete(setup: tuple[Any, str, str]) -> None:
    pp, app, segment = setup
    created = pp.create_journey(ApplicationId=app, WriteJourneyRequest=_request(segment))
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    j = created["JourneyResponse"]
    jid = j["Id"]
    assert len(jid) == 32 and int(jid, 16) >= 0
    assert j["ApplicationId"] == app and j["State"] == "DRAFT" and j["Name"] == "re-engagement"
    assert j["Activities"] == _activities() and j["StartActivity"] == "welcome"
    assert j["Limits"]["TimeframeCap"] == {"Cap": 5, "Days": 7} and j["RefreshFrequency"] == "PT1H"
    assert j["CreationDate"] == j["LastModifiedDate"] and j["CreationDate"].endswith("Z")
    assert pp.get_journey(ApplicationId=app, JourneyId=jid)["JourneyResponse"] == j

    # a DRAFT can be edited freely, and published with State ACTIVE
    edited = _activities()
    edited["nudge"] = {"PUSH": {"TemplateName": "jpush", "MessageConfig": {"TimeToLive": "3600"}}}
    updated = pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "re-engagement-2", "Activities": edited})["JourneyResponse"]
    assert updated["Name"] == "re-engagement-2" and updated["Activities"]["nudge"] == edited["nudge"]
    assert updated["CreationDate"] == j["CreationDate"] and updated["Limits"] == j["Limits"]  # kept
    published = pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "re-engagement-2", "State": "ACTIVE"})["JourneyResponse"]
    assert published["State"] == "ACTIVE"

    # once published, the activities cannot be edited; other members can
    code, status, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "x", "Activities": _activities()}))
    assert (code, status) == ("BadRequestException", 400) and "WriteJourneyRequest.Activities" in message and "published" in message
    code, _, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "x", "StartActivity": "wait2d"}))
    assert code == "BadRequestException" and "WriteJourneyRequest.StartActivity" in message
    code, _, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "x", "State": "DRAFT"}))
    assert code == "BadRequestException" and "WriteJourneyRequest.State" in message and "DRAFT" in message
    renamed = pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "renamed", "Activities": edited, "Limits": {"DailyCap": 1}})["JourneyResponse"]
    assert renamed["Name"] == "renamed" and renamed["Limits"] == {"DailyCap": 1} and renamed["State"] == "ACTIVE"

    # UpdateJourneyState: pause, resume, cancel; CANCELLED is final
    def state(s: str) -> Any:
        return pp.update_journey_state(ApplicationId=app, JourneyId=jid, JourneyStateRequest={"State": s})["JourneyResponse"]

    assert state("PAUSED")["State"] == "PAUSED"
    code, _, message = error_of(lambda: state("PAUSED"))
    assert code == "BadRequestException" and "JourneyStateRequest.State" in message and "only an ACTIVE journey" in message
    assert state("ACTIVE")["State"] == "ACTIVE"
    code, _, message = error_of(lambda: state("ACTIVE"))
    assert code == "BadRequestException" and "resumes a PAUSED journey" in message
    code, _, message = error_of(lambda: state("DRAFT"))
    assert code == "BadRequestException" and "must be ACTIVE, PAUSED or CANCELLED" in message
    assert state("CANCELLED")["State"] == "CANCELLED"
    for s in ("ACTIVE", "PAUSED", "CANCELLED"):
        code, _, message = error_of(lambda s=s: state(s))  # type: ignore[misc]
        assert code == "BadRequestException" and "CANCELLED, which is final" in message
    code, _, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "again"}))
    assert code == "BadRequestException" and "CANCELLED, which is final" in message
    assert pp.get_journey(ApplicationId=app, JourneyId=jid)["JourneyResponse"]["State"] == "CANCELLED"

    # tags through TagResource; GetJourney answers them; DeleteJourney removes journey and tags
    arn = f"arn:aws:mobiletargeting:eu-west-1:123456789012:apps/{app}/journeys/{jid}"
    pp.tag_resource(ResourceArn=arn, TagsModel={"tags": {"team": "growth"}})
    assert pp.get_journey(ApplicationId=app, JourneyId=jid)["JourneyResponse"]["tags"] == {"team": "growth"}
    deleted = pp.delete_journey(ApplicationId=app, JourneyId=jid)["JourneyResponse"]
    assert deleted["Id"] == jid and deleted["State"] == "CANCELLED"
    assert pp.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {}
    assert pp.list_journeys(ApplicationId=app)["JourneysResponse"]["Item"] == []
    for call in (lambda: pp.get_journey(ApplicationId=app, JourneyId=jid),
                 lambda: pp.delete_journey(ApplicationId=app, JourneyId=jid),
                 lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "n"}),
                 lambda: pp.update_journey_state(ApplicationId=app, JourneyId=jid, JourneyStateRequest={"State": "PAUSED"})):
        assert error_of(call)[:2] == ("NotFoundException", 404)


def test_create_active_and_pause_needs_a_refresh_interval(setup: tuple[Any, str, str]) -> None:
    pp, app, segment = setup
    request = {k: v for k, v in _request(segment, State="ACTIVE").items() if k != "RefreshFrequency"}
    j = pp.create_journey(ApplicationId=app, WriteJourneyRequest=request)["JourneyResponse"]
    assert j["State"] == "ACTIVE"
    code, _, message = error_of(lambda: pp.update_journey_state(ApplicationId=app, JourneyId=j["Id"], JourneyStateRequest={"State": "PAUSED"}))
    assert code == "BadRequestException" and "segment refresh interval (RefreshFrequency)" in message
    # a DRAFT is cancelled directly
    d = pp.create_journey(ApplicationId=app, WriteJourneyRequest=_request(segment))["JourneyResponse"]
    assert pp.update_journey_state(ApplicationId=app, JourneyId=d["Id"], JourneyStateRequest={"State": "CANCELLED"})["JourneyResponse"]["State"] == "CANCELLED"


def test_list_journeys_pages(setup: tuple[Any, str, str]) -> None:
    pp, app, segment = setup
    ids = [pp.create_journey(ApplicationId=app, WriteJourneyRequest={**_request(segment), "Name": f"j{i}"})["JourneyResponse"]["Id"] for i in range(5)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"Token": token} if token else {}
        resp = pp.list_journeys(ApplicationId=app, PageSize="2", **kwargs)["JourneysResponse"]
        seen += [j["Id"] for j in resp["Item"]]
        pages += 1
        token = resp.get("NextToken")
        if not token:
            break
    assert seen == ids and pages == 3
    assert error_of(lambda: pp.list_journeys(ApplicationId=app, Token="x"))[0] == "BadRequestException"


def test_event_started_journey_and_its_imported_segment(live_api: Any, setup: tuple[Any, str, str]) -> None:
    from gateway import models
    from gateway.segments.store import SegmentStore

    pp, app, segment = setup
    event = {"EventStartCondition": {"EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
        "EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]}}}, "SegmentId": segment}}
    j = pp.create_journey(ApplicationId=app, WriteJourneyRequest=_request(segment, StartCondition=event))["JourneyResponse"]
    assert j["StartCondition"] == event
    imported = live_api.call(SegmentStore(live_api.redis).create_import_version(app, None, f"imp-{uuid.uuid4().hex[:6]}", models.SegmentImportResource(
        ExternalId="x", Format="CSV", RoleArn="arn:aws:iam::1:role/r", S3Url="s3://b/k", Size=1), ["e1"]))
    on_imported = {"EventStartCondition": {**event["EventStartCondition"], "SegmentId": imported.Id}}
    message = _refused(pp, app, _request(segment, StartCondition=on_imported))
    assert "WriteJourneyRequest.StartCondition.EventStartCondition.SegmentId: an event-started journey needs a dynamic segment" in message
    # a segment start may use the imported segment
    seg_start = {"SegmentStartCondition": {"SegmentId": imported.Id}}
    assert pp.create_journey(ApplicationId=app, WriteJourneyRequest=_request(segment, StartCondition=seg_start))["JourneyResponse"]["StartCondition"] == seg_start


def _refused(pp: Any, app: str, request: dict[str, Any]) -> str:
    code, status, message = error_of(lambda: pp.create_journey(ApplicationId=app, WriteJourneyRequest=request))
    assert (code, status) == ("BadRequestException", 400), message
    return message


def _with(activity_id: str, activity: dict[str, Any]) -> dict[str, Any]:
    acts = _activities()
    acts[activity_id] = activity
    return acts


def test_bad_journeys_are_refused_naming_the_member(setup: tuple[Any, str, str]) -> None:
    pp, app, segment = setup
    base = _request(segment)
    many = {f"a{i}": {"Wait": {"WaitTime": {"WaitFor": "PT1H"}}} for i in range(41)}
    loop = _with("done", {"Holdout": {"Percentage": 10, "NextActivity": "opened"}})  # opened -> done -> opened, no Wait
    branch = {"Condition": {"SegmentCondition": {"SegmentId": segment}}, "NextActivity": "done"}
    cases: list[tuple[dict[str, Any], str]] = [
        # the activity graph
        ({**base, "Activities": _with("welcome", {"EMAIL": {"TemplateName": "jemail", "NextActivity": "nowhere"}})},
         "Activities.welcome.EMAIL.NextActivity: 'nowhere' is not an activity of this journey"),
        ({**base, "StartActivity": "missing"}, "StartActivity: 'missing' is not an activity"),
        ({**base, "Activities": _with("opened", {"ConditionalSplit": {**_activities()["opened"]["ConditionalSplit"], "FalseActivity": "ghost"}})},
         "Activities.opened.ConditionalSplit.FalseActivity: 'ghost'"),
        ({**base, "Activities": loop}, "form a cycle with no Wait activity"),
        ({**base, "Activities": many, "StartActivity": "a0"}, "Activities: at most 40 activities per journey, got 41"),
        ({**base, "Activities": _with("bad-id", {"Wait": {"WaitTime": {"WaitFor": "PT1H"}}})}, "Activities.bad-id: an activity id is 1 to 100 alphanumeric"),
        ({**base, "Activities": _with("empty", {"Description": "nothing"})}, "Activities.empty: an activity has exactly one of"),
        ({**base, "Activities": _with("call", {"ContactCenter": {"NextActivity": "done"}})}, "Activities.call.ContactCenter: Amazon Connect is not available"),
        ({**base, "JourneyChannelSettings": {"ConnectCampaignArn": "arn:aws:connect:x"}}, "JourneyChannelSettings: Amazon Connect is not available"),
        # branches
        ({**base, "Activities": _with("multi", {"MultiCondition": {"Branches": [branch] * 5, "DefaultActivity": "done"}})},
         "Activities.multi.MultiCondition.Branches: 1 to 4 branches"),
        ({**base, "Activities": _with("multi", {"MultiCondition": {"Branches": [{"NextActivity": "done"}], "DefaultActivity": "done"}})},
         "Activities.multi.MultiCondition.Branches[0].Condition: is required"),
        ({**base, "Activities": _with("rand", {"RandomSplit": {"Branches": [{"Percentage": 50, "NextActivity": "done"}, {"Percentage": 40, "NextActivity": "nudge"}]}})},
         "Activities.rand.RandomSplit.Branches: the branches' Percentage values must add up to 100, got 90"),
        ({**base, "Activities": _with("rand", {"RandomSplit": {"Branches": [{"Percentage": 10, "NextActivity": "done"}] * 6}})},
         "Activities.rand.RandomSplit.Branches: 1 to 5 branches"),
        ({**base, "Activities": _with("done", {"Holdout": {"Percentage": 101}})}, "Activities.done.Holdout.Percentage: must be 0 to 100"),
        ({**base, "Activities": _with("opened", {"ConditionalSplit": {"TrueActivity": "done"}})}, "Activities.opened.ConditionalSplit.Condition.Conditions: needs at least one"),
        ({**base, "Activities": _with("opened", {"ConditionalSplit": {"Condition": {"Conditions": [{"EventCondition": {"MessageActivity": "wait2d"}}]}}})},
         "Activities.opened.ConditionalSplit.Condition.Conditions[0].EventCondition.MessageActivity: 'wait2d' is not a message activity"),
        ({**base, "Activities": _with("opened", {"ConditionalSplit": {"Condition": {"Conditions": [{"SegmentCondition": {"SegmentId": "nope"}}]}}})},
         "Activities.opened.ConditionalSplit.Condition.Conditions[0].SegmentCondition.SegmentId: segment nope does not exist"),
        # durations and times
        ({**base, "Activities": _with("wait2d", {"Wait": {"WaitTime": {"WaitFor": "2 days"}, "NextActivity": "opened"}})},
         "Activities.wait2d.Wait.WaitTime.WaitFor: '2 days' is not an ISO 8601 duration"),
        ({**base, "Activities": _with("wait2d", {"Wait": {"WaitTime": {"WaitUntil": "tomorrow"}}})}, "Activities.wait2d.Wait.WaitTime.WaitUntil: 'tomorrow' is not an ISO 8601 date-time"),
        ({**base, "Activities": _with("wait2d", {"Wait": {"WaitTime": {"WaitFor": "P1D", "WaitUntil": _later()}}})}, "Activities.wait2d.Wait.WaitTime: needs exactly one of WaitFor"),
        ({**base, "Activities": _with("opened", {"ConditionalSplit": {**_activities()["opened"]["ConditionalSplit"], "EvaluationWaitTime": {"WaitFor": "P1M"}}})},
         "Activities.opened.ConditionalSplit.EvaluationWaitTime.WaitFor: 'P1M': years and months"),
        ({**base, "RefreshFrequency": "hourly"}, "RefreshFrequency: 'hourly' is not an ISO 8601 duration"),
        # message activities
        ({**base, "Activities": _with("welcome", {"EMAIL": {"NextActivity": "wait2d"}})}, "Activities.welcome.EMAIL.TemplateName: is required"),
        ({**base, "Activities": _with("welcome", {"EMAIL": {"TemplateName": "absent", "NextActivity": "wait2d"}})},
         "Activities.welcome.EMAIL.TemplateName: template 'absent' (EMAIL, version active) does not exist"),
        ({**base, "Activities": _with("welcome", {"EMAIL": {"TemplateName": "jsms", "NextActivity": "wait2d"}})}, "Activities.welcome.EMAIL.TemplateName: template 'jsms' (EMAIL"),
        ({**base, "Activities": _with("welcome", {"EMAIL": {"TemplateName": "jemail", "TemplateVersion": "latest", "NextActivity": "wait2d"}})},
         "Activities.welcome.EMAIL.TemplateVersion: template version must be a positive integer"),
        ({**base, "Activities": _with("welcome", {"EMAIL": {"TemplateName": "jemail", "TemplateVersion": "7", "NextActivity": "wait2d"}})},
         "Activities.welcome.EMAIL.TemplateName: template 'jemail' (EMAIL, version 7) does not exist"),
        ({**base, "Activities": _with("nudge", {"PUSH": {"TemplateName": "jpush", "MessageConfig": {"TimeToLive": "an hour"}}})}, "Activities.nudge.PUSH.MessageConfig.TimeToLive"),
        ({**base, "Activities": _with("hook", {"CUSTOM": {"DeliveryUri": "http://hooks.example.com/x", "EndpointTypes": ["CUSTOM"]}})},
         "Activities.hook.CUSTOM.DeliveryUri: must be an https URL"),
        ({**base, "Activities": _with("hook", {"CUSTOM": {"DeliveryUri": "arn:aws:lambda:us-east-1:123456789012:function:f", "EndpointTypes": ["CUSTOM"]}})},
         "Activities.hook.CUSTOM.DeliveryUri: Gateway runs no AWS Lambda"),
        ({**base, "Activities": _with("hook", {"CUSTOM": {"DeliveryUri": "https://hooks.example.com/x"}})}, "Activities.hook.CUSTOM.EndpointTypes: needs at least one"),
        ({**base, "Activities": _with("hook", {"CUSTOM": {"DeliveryUri": "https://hooks.example.com/x", "EndpointTypes": ["CUSTOM"], "MessageConfig": {"Data": "x" * 5121}}})},
         "Activities.hook.CUSTOM.MessageConfig.Data: at most 5120 bytes"),
        ({**base, "Activities": _with("hook", {"CUSTOM": {"DeliveryUri": "https://127.0.0.1/x", "EndpointTypes": ["CUSTOM"]}})},
         "Activities.hook.CUSTOM.DeliveryUri: refused by the SSRF guard"),
        # start condition
        ({**base, "StartCondition": {"Description": "none"}}, "StartCondition: needs exactly one of SegmentStartCondition and EventStartCondition"),
        ({**base, "StartCondition": {"SegmentStartCondition": {"SegmentId": "nope"}}}, "StartCondition.SegmentStartCondition.SegmentId: segment nope does not exist"),
        ({**base, "StartCondition": {"EventStartCondition": {"SegmentId": segment}}}, "StartCondition.EventStartCondition.EventFilter: is required"),
        ({**base, "StartCondition": {"EventStartCondition": {"EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {"Attributes": {"sku": {"Values": ["1"]}}}}}}},
         "StartCondition.EventStartCondition.EventFilter.Dimensions.EventType: is required"),
        ({**base, "StartCondition": {"EventStartCondition": {"EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
            "EventType": {"Values": ["buy"]}, "Metrics": {"price": {"ComparisonOperator": "ABOUT", "Value": 1}}}}}}},
         "StartCondition.EventStartCondition.EventFilter.Dimensions.Metrics.price.ComparisonOperator"),
        # limits
        ({**base, "Limits": {"DailyCap": 101}}, "Limits.DailyCap: must be 0 to 100, got 101"),
        ({**base, "Limits": {"TotalCap": 101}}, "Limits.TotalCap: must be 0 to 100"),
        ({**base, "Limits": {"EndpointReentryCap": 101}}, "Limits.EndpointReentryCap: must be 0 to 100"),
        ({**base, "Limits": {"MessagesPerSecond": 0}}, "Limits.MessagesPerSecond: must be 1 to 20000"),
        ({**base, "Limits": {"TimeframeCap": {"Cap": 101, "Days": 1}}}, "Limits.TimeframeCap.Cap: must be 0 to 100"),
        ({**base, "Limits": {"TimeframeCap": {"Cap": 1, "Days": 31}}}, "Limits.TimeframeCap.Days: must be 0 to 30"),
        ({**base, "Limits": {"EndpointReentryInterval": "1h"}}, "Limits.EndpointReentryInterval: '1h' is not an ISO 8601 duration"),
        # schedule, quiet time, sending schedule
        ({**base, "Schedule": {"StartTime": _later(2), "EndTime": _later(1)}}, "Schedule.EndTime:"),
        ({**base, "Schedule": {"StartTime": "2020-01-01T00:00:00Z", "EndTime": "2020-02-01T00:00:00Z"}}, "Schedule.EndTime: 2020-02-01T00:00:00Z is in the past"),
        ({**base, "Schedule": {"StartTime": _later(1), "EndTime": _later(600)}}, "Schedule.EndTime: a journey runs at most 540 days"),
        ({**base, "Schedule": {"StartTime": _later(), "Timezone": "Europe/Paris"}}, "Schedule.Timezone: 'Europe/Paris' is not one of Pinpoint's values"),
        ({**base, "QuietTime": {"Start": "22:00"}}, "QuietTime: needs both Start and End"),
        ({**base, "QuietTime": {"Start": "22:00", "End": "7:00"}}, "QuietTime.End: '7:00' is not HH:MM"),
        ({**base, "OpenHours": {"EMAIL": {"MONDAY": [{"StartTime": "09:00", "EndTime": "17:00"}]}}}, "OpenHours: takes effect only with SendingSchedule true"),
        ({**base, "SendingSchedule": True, "OpenHours": {"EMAIL": {"MONDAY": [{"StartTime": "17:00", "EndTime": "09:00"}]}}}, "OpenHours.EMAIL.MONDAY[0].EndTime: must be after StartTime"),
        ({**base, "SendingSchedule": True, "OpenHours": {"SMS": {"FUNDAY": [{"StartTime": "09:00", "EndTime": "17:00"}]}}}, "OpenHours.SMS.FUNDAY: is not a day of the week"),
        ({**base, "SendingSchedule": True, "OpenHours": {"PUSH": {"MONDAY": [{"StartTime": "09:00", "EndTime": "9:30"}]}}}, "OpenHours.PUSH.MONDAY[0].EndTime: '9:30' is not HH:MM"),
        ({**base, "SendingSchedule": True, "OpenHours": {"EMAIL": {"MONDAY": [{"StartTime": f"{h:02d}:00", "EndTime": f"{h:02d}:30"} for h in range(8)]}}},
         "OpenHours.EMAIL.MONDAY: at most 7 rules per day, got 8"),
        ({**base, "SendingSchedule": True, "ClosedDays": {"EMAIL": [{"Name": "xmas", "StartDateTime": "2026-12-25T00:00:00Z", "EndDateTime": "2026-12-24T00:00:00Z"}]}},
         "ClosedDays.EMAIL[0].EndDateTime: must be after StartDateTime"),
        ({**base, "SendingSchedule": True, "ClosedDays": {"SMS": [{"Name": "d", "StartDateTime": "2026-12-25T00:00:00Z", "EndDateTime": "2026-12-26T00:00:00Z"}] * 21}},
         "ClosedDays.SMS: at most 20 rules per channel, got 21"),
        # states
        ({**base, "State": "PAUSED"}, "State: must be DRAFT or ACTIVE when creating or updating a journey, got PAUSED"),
        ({**base, "State": "ACTIVE", "StartCondition": None}, "StartCondition: is required to publish a journey"),
        ({**base, "Name": " "}, "Name: is required"),
    ]
    for request, expected in cases:
        request = {k: v for k, v in request.items() if v is not None}
        message = _refused(pp, app, request)
        assert expected in message, (expected, message)
        assert message.startswith("WriteJourneyRequest."), message
    assert pp.list_journeys(ApplicationId=app)["JourneysResponse"]["Item"] == []  # nothing was stored


def test_update_is_checked_like_create(setup: tuple[Any, str, str]) -> None:
    pp, app, segment = setup
    jid = pp.create_journey(ApplicationId=app, WriteJourneyRequest=_request(segment))["JourneyResponse"]["Id"]
    code, _, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "x", "StartActivity": "ghost"}))
    assert code == "BadRequestException" and "WriteJourneyRequest.StartActivity: 'ghost'" in message
    code, _, message = error_of(lambda: pp.update_journey(ApplicationId=app, JourneyId=jid, WriteJourneyRequest={"Name": "x", "State": "COMPLETED"}))
    assert code == "BadRequestException" and "WriteJourneyRequest.State: must be DRAFT or ACTIVE" in message
    assert pp.get_journey(ApplicationId=app, JourneyId=jid)["JourneyResponse"]["Name"] == "re-engagement"
