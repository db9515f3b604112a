# ruff: noqa: E501
"""Campaigns end to end: boto3's pinpoint client → API → the real campaign, segment and template stores in
Redis, each operation called as Pinpoint's API reference shows it (CreateCampaign with WriteCampaignRequest,
UpdateCampaign, GetCampaignVersion with Version as a string, pages with PageSize and Token)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.conftest import error_of

IOS = {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}
EMAIL = {"EmailMessage": {"FromAddress": "news@example.com", "Title": "Hello", "HtmlBody": "<p>Hi {{User.UserAttributes.FirstName}}</p>"}}


def _later(days: float = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def segment(live_pp: Any, live_app: str) -> str:
    return str(live_pp.create_segment(ApplicationId=live_app, WriteSegmentRequest={"Name": "ios", "Dimensions": IOS})["SegmentResponse"]["Id"])


def _request(segment: str, **extra: Any) -> dict[str, Any]:
    return {"Name": "winter", "SegmentId": segment, "MessageConfiguration": EMAIL,
            "Schedule": {"StartTime": _later(), "Frequency": "ONCE", "Timezone": "UTC"}, **extra}


def test_campaign_lifecycle_with_versions_states_and_tags(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    created = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_request(
        segment, HoldoutPercent=10, tags={"team": "growth"},
        AdditionalTreatments=[{"SizePercent": 40, "TreatmentName": "B", "MessageConfiguration": {"SMSMessage": {"Body": "Hi", "MessageType": "PROMOTIONAL"}}}]))
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    camp = created["CampaignResponse"]
    cid = camp["Id"]
    assert camp["ApplicationId"] == app and camp["Version"] == 1 and camp["SegmentId"] == segment
    assert camp["SegmentVersion"] == 1  # the segment's latest version when none is given
    assert camp["Arn"] == f"arn:aws:mobiletargeting:eu-west-1:123456789012:apps/{app}/campaigns/{cid}"
    assert camp["State"] == {"CampaignStatus": "SCHEDULED"} and camp["DefaultState"] == {"CampaignStatus": "SCHEDULED"}
    assert camp["IsPaused"] is False and camp["tags"] == {"team": "growth"}
    [treatment] = camp["AdditionalTreatments"]
    assert (treatment["Id"], treatment["SizePercent"], treatment["TreatmentName"]) == ("1", 40, "B")
    assert treatment["State"] == {"CampaignStatus": "SCHEDULED"}
    assert camp["CreationDate"] == camp["LastModifiedDate"] and camp["CreationDate"].endswith("Z")
    assert pp.get_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"] == camp

    # UpdateCampaign: a new version; members not given are kept; tags in an update are ignored (deprecated)
    updated = pp.update_campaign(ApplicationId=app, CampaignId=cid, WriteCampaignRequest={
        "Name": "winter-2", "IsPaused": True, "tags": {"ignored": "yes"}})["CampaignResponse"]
    assert (updated["Version"], updated["Name"], updated["IsPaused"]) == (2, "winter-2", True)
    assert updated["State"] == {"CampaignStatus": "PAUSED"} and updated["DefaultState"] == {"CampaignStatus": "PAUSED"}
    assert updated["CreationDate"] == camp["CreationDate"] and updated["MessageConfiguration"] == camp["MessageConfiguration"]
    assert updated["HoldoutPercent"] == 10 and updated["tags"] == {"team": "growth"}
    resumed = pp.update_campaign(ApplicationId=app, CampaignId=cid, WriteCampaignRequest={"IsPaused": False})["CampaignResponse"]
    assert resumed["Version"] == 3 and resumed["State"] == {"CampaignStatus": "SCHEDULED"}

    v1 = pp.get_campaign_version(ApplicationId=app, CampaignId=cid, Version="1")["CampaignResponse"]
    assert v1 == camp
    page = pp.get_campaign_versions(ApplicationId=app, CampaignId=cid, PageSize="2")["CampaignsResponse"]
    assert [c["Version"] for c in page["Item"]] == [3, 2] and page["NextToken"]
    rest = pp.get_campaign_versions(ApplicationId=app, CampaignId=cid, PageSize="2", Token=page["NextToken"])["CampaignsResponse"]
    assert [c["Version"] for c in rest["Item"]] == [1] and "NextToken" not in rest
    code, status, message = error_of(lambda: pp.get_campaign_version(ApplicationId=app, CampaignId=cid, Version="9"))
    assert (code, status) == ("NotFoundException", 404) and "version 9" in message
    assert error_of(lambda: pp.get_campaign_version(ApplicationId=app, CampaignId=cid, Version="x"))[:2] == ("BadRequestException", 400)

    # tags: CreateCampaign's, TagResource's and GetCampaign's are one set; DeleteCampaign removes them
    pp.tag_resource(ResourceArn=camp["Arn"], TagsModel={"tags": {"env": "prod"}})
    assert pp.get_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"]["tags"] == {"team": "growth", "env": "prod"}
    pp.untag_resource(ResourceArn=camp["Arn"], TagKeys=["team"])
    assert pp.get_campaigns(ApplicationId=app)["CampaignsResponse"]["Item"][0]["tags"] == {"env": "prod"}

    deleted = pp.delete_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"]
    assert deleted["Version"] == 3 and deleted["State"] == {"CampaignStatus": "DELETED"}
    assert deleted["AdditionalTreatments"][0]["State"] == {"CampaignStatus": "DELETED"}
    assert pp.list_tags_for_resource(ResourceArn=camp["Arn"])["TagsModel"]["tags"] == {}
    assert pp.get_campaigns(ApplicationId=app)["CampaignsResponse"]["Item"] == []
    for call in (lambda: pp.get_campaign(ApplicationId=app, CampaignId=cid),
                 lambda: pp.get_campaign_versions(ApplicationId=app, CampaignId=cid),
                 lambda: pp.get_campaign_version(ApplicationId=app, CampaignId=cid, Version="1"),
                 lambda: pp.delete_campaign(ApplicationId=app, CampaignId=cid),
                 lambda: pp.update_campaign(ApplicationId=app, CampaignId=cid, WriteCampaignRequest={"Name": "n"})):
        assert error_of(call)[:2] == ("NotFoundException", 404)


def test_get_campaigns_pages(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    ids = [pp.create_campaign(ApplicationId=app, WriteCampaignRequest={**_request(segment), "Name": f"c{i}"})["CampaignResponse"]["Id"]
           for i in range(5)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"Token": token} if token else {}
        resp = pp.get_campaigns(ApplicationId=app, PageSize="2", **kwargs)["CampaignsResponse"]
        seen += [c["Id"] for c in resp["Item"]]
        pages += 1
        token = resp.get("NextToken")
        if not token:
            break
    assert seen == ids and pages == 3
    assert error_of(lambda: pp.get_campaigns(ApplicationId=app, Token="x"))[0] == "BadRequestException"


def test_deleting_the_segment_makes_its_campaigns_deleted(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    cid = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_request(segment))["CampaignResponse"]["Id"]
    pp.delete_segment(ApplicationId=app, SegmentId=segment)
    camp = pp.get_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"]
    assert camp["State"] == {"CampaignStatus": "DELETED"} and camp["DefaultState"] == {"CampaignStatus": "DELETED"}


def test_segment_version_and_templates_are_checked(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    pp.update_segment(ApplicationId=app, SegmentId=segment, WriteSegmentRequest={"Name": "v2", "Dimensions": IOS})
    pinned = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_request(segment, SegmentVersion=1))["CampaignResponse"]
    assert pinned["SegmentVersion"] == 1
    latest = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_request(segment))["CampaignResponse"]
    assert latest["SegmentVersion"] == 2
    pp.create_email_template(TemplateName="welcome", EmailTemplateRequest={"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    with_template = pp.create_campaign(ApplicationId=app, WriteCampaignRequest={
        **_request(segment), "MessageConfiguration": {"EmailMessage": {"FromAddress": "news@example.com"}},
        "TemplateConfiguration": {"EmailTemplate": {"Name": "welcome", "Version": "1"}}})["CampaignResponse"]
    assert with_template["TemplateConfiguration"] == {"EmailTemplate": {"Name": "welcome", "Version": "1"}}


def _refused(pp: Any, app: str, request: dict[str, Any]) -> str:
    code, status, message = error_of(lambda: pp.create_campaign(ApplicationId=app, WriteCampaignRequest=request))
    assert (code, status) == ("BadRequestException", 400), message
    return message


def test_bad_campaigns_are_refused_naming_the_member(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    base = _request(segment)
    sched = base["Schedule"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "Schedule": {**sched, "StartTime": "2020-01-01T00:00:00Z"}}, "Schedule.StartTime: 2020-01-01T00:00:00Z is in the past"),
        ({**base, "Schedule": {**sched, "StartTime": "next tuesday"}}, "Schedule.StartTime: must be IMMEDIATE or an ISO 8601"),
        ({**base, "Schedule": {**sched, "EndTime": sched["StartTime"]}}, "Schedule.EndTime"),
        ({**base, "Schedule": {**sched, "Timezone": "Europe/Paris"}}, "Schedule.Timezone"),
        ({**base, "Schedule": {**sched, "QuietTime": {"Start": "22:00"}}}, "Schedule.QuietTime: needs both Start and End"),
        ({**base, "Schedule": {**sched, "QuietTime": {"Start": "22:00", "End": "7:00"}}}, "Schedule.QuietTime.End"),
        ({**base, "Schedule": {**sched, "Frequency": "EVENT"}}, "Schedule.EventFilter: is required when Frequency is EVENT"),
        ({**base, "Schedule": {**sched, "EventFilter": {"FilterType": "SYSTEM", "Dimensions": {"EventType": {"Values": ["_session.start"]}}}}},
         "Schedule.EventFilter: applies only to EVENT and IN_APP_EVENT"),
        ({**base, "Schedule": {**sched, "Frequency": "EVENT", "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
            "EventType": {"Values": ["buy"]}, "Metrics": {"price": {"ComparisonOperator": "ABOUT", "Value": 1}}}}}},
         "Schedule.EventFilter.Dimensions.Metrics.price.ComparisonOperator"),
        ({**base, "Schedule": {**sched, "Frequency": "EVENT", "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
            "EventType": {"Values": ["buy"]}, "Attributes": {"at": {"AttributeType": "AFTER", "Values": ["soon"]}}}}}},
         "Schedule.EventFilter.Dimensions.Attributes.at.Values: 'soon' is not an ISO 8601 date-time"),
        ({**base, "Schedule": {**sched, "Frequency": "EVENT", "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
            "Attributes": {"sku": {"Values": ["1"]}}}}}}, "Schedule.EventFilter.Dimensions.EventType: is required"),
        ({**base, "SegmentId": "nope"}, "SegmentId: segment nope"),
        ({**base, "SegmentVersion": 7}, "SegmentVersion: segment"),
        ({k: v for k, v in base.items() if k != "SegmentId"}, "SegmentId: is required"),
        ({k: v for k, v in base.items() if k != "Schedule"}, "Schedule: is required"),
        ({**base, "HoldoutPercent": 101}, "HoldoutPercent: must be 0 to 100"),
        ({**base, "HoldoutPercent": 30, "AdditionalTreatments": [{"SizePercent": 50, "MessageConfiguration": EMAIL},
                                                                  {"SizePercent": 30, "MessageConfiguration": EMAIL}]},
         "add up to 110, over 100"),
        ({**base, "AdditionalTreatments": [{"SizePercent": 10}]}, "AdditionalTreatments[0].MessageConfiguration: a treatment needs content"),
        ({**base, "AdditionalTreatments": [{"SizePercent": 5, "MessageConfiguration": EMAIL}] * 5}, "at most 4 treatments"),
        ({k: v for k, v in base.items() if k != "MessageConfiguration"}, "MessageConfiguration: a treatment needs content"),
        ({**base, "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@example.com"}}}, "EmailMessage: needs a Body or an HtmlBody"),
        ({**base, "MessageConfiguration": {"SMSMessage": {"MessageType": "PROMOTIONAL"}}}, "SMSMessage.Body: is required"),
        ({**base, "MessageConfiguration": {"GCMMessage": {"Body": "x" * 201}}}, "GCMMessage.Body: at most 200"),
        ({**base, "MessageConfiguration": {"EmailMessage": {**EMAIL["EmailMessage"], "Headers": [{"Name": f"X-{i}", "Value": "v"} for i in range(16)]}}},
         "EmailMessage.Headers: at most 15"),
        ({**base, "MessageConfiguration": {"CustomMessage": {"Data": "x" * 5121}}, "CustomDeliveryConfiguration": {"DeliveryUri": "https://hooks.example.com/x"}},
         "CustomMessage.Data: at most 5120 bytes"),
        ({**base, "MessageConfiguration": {"InAppMessage": {"Layout": "TOP_BANNER", "Content": [{"BackgroundColor": "#fff"}]}}},
         "in-app content (InAppMessage, InAppTemplate) goes with Frequency IN_APP_EVENT"),
        ({**base, "TemplateConfiguration": {"EmailTemplate": {"Name": "missing"}}}, "TemplateConfiguration.EmailTemplate: template 'missing' (EMAIL, version active) does not exist"),
        ({**base, "TemplateConfiguration": {"VoiceTemplate": {"Name": "v"}}}, "TemplateConfiguration.VoiceTemplate: is not supported for campaigns"),
        ({**base, "Limits": {"Daily": 101}}, "Limits.Daily: must be 0 to 100"),
        ({**base, "Limits": {"Total": 101}}, "Limits.Total: must be 0 to 100"),
        ({**base, "Limits": {"MessagesPerSecond": 20001}}, "Limits.MessagesPerSecond: must be 1 to 20000"),
        ({**base, "Limits": {"MaximumDuration": 59}}, "Limits.MaximumDuration: must be at least 60"),
        ({**base, "Priority": 6}, "Priority: must be 1 (highest) to 5"),
        ({**base, "Hook": {"LambdaFunctionName": "fn", "Mode": "FILTER"}}, "Hook.LambdaFunctionName"),
        ({**base, "Hook": {"WebUrl": "http://hooks.example.com/x", "Mode": "FILTER"}}, "Hook.WebUrl: must be an https URL"),
        ({**base, "CustomDeliveryConfiguration": {"DeliveryUri": "arn:aws:lambda:us-east-1:123456789012:function:f"}},
         "CustomDeliveryConfiguration.DeliveryUri: Gateway runs no AWS Lambda"),
        ({**base, "CustomDeliveryConfiguration": {"DeliveryUri": "http://hooks.example.com/x"}}, "CustomDeliveryConfiguration.DeliveryUri: must be an https URL"),
        ({**base, "tags": {"aws:x": "y"}}, "reserved prefix aws:"),
    ]
    for request, expected in cases:
        message = _refused(pp, app, request)
        assert expected in message, (expected, message)
        assert message.startswith("WriteCampaignRequest.") or "tags" in message, message
    assert pp.get_campaigns(ApplicationId=app)["CampaignsResponse"]["Item"] == []  # nothing was stored


def test_event_campaign_on_an_imported_segment_is_refused(live_api: Any, live_pp: Any, live_app: str) -> None:
    import uuid

    from gateway import models
    from gateway.segments.store import SegmentStore

    store = SegmentStore(live_api.redis)
    imported = live_api.call(store.create_import_version(live_app, None, f"imp-{uuid.uuid4().hex[:6]}", models.SegmentImportResource(
        ExternalId="x", Format="CSV", RoleArn="arn:aws:iam::1:role/r", S3Url="s3://b/k", Size=1), ["e1"]))
    event = {"Frequency": "EVENT", "StartTime": _later(), "EndTime": _later(30),
             "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]}}}}
    message = _refused(live_pp, live_app, {**_request(imported.Id), "Schedule": event})
    assert "SegmentId: an EVENT campaign needs a dynamic segment" in message
    # on a dynamic segment the EVENT campaign is created, its filter kept as given; a ONCE campaign may use the
    # imported segment
    dynamic = live_pp.create_segment(ApplicationId=live_app, WriteSegmentRequest={"Name": "d", "Dimensions": IOS})["SegmentResponse"]["Id"]
    created = live_pp.create_campaign(ApplicationId=live_app, WriteCampaignRequest={**_request(dynamic), "Schedule": event})
    got = live_pp.get_campaign(ApplicationId=live_app, CampaignId=created["CampaignResponse"]["Id"])["CampaignResponse"]
    assert got["Schedule"]["Frequency"] == "EVENT" and got["Schedule"]["EventFilter"] == event["EventFilter"]
    assert live_pp.create_campaign(ApplicationId=live_app, WriteCampaignRequest=_request(imported.Id))["CampaignResponse"]["SegmentId"] == imported.Id


def test_update_is_checked_like_create_and_keeps_a_past_start(live_pp: Any, live_app: str, segment: str) -> None:
    pp, app = live_pp, live_app
    cid = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_request(segment))["CampaignResponse"]["Id"]
    code, _, message = error_of(lambda: pp.update_campaign(ApplicationId=app, CampaignId=cid, WriteCampaignRequest={"HoldoutPercent": 150}))
    assert code == "BadRequestException" and "HoldoutPercent" in message
    code, _, message = error_of(lambda: pp.update_campaign(ApplicationId=app, CampaignId=cid, WriteCampaignRequest={
        "Schedule": {"StartTime": "2021-05-01T00:00:00Z"}}))
    assert code == "BadRequestException" and "in the past" in message
    assert pp.get_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"]["Version"] == 1  # nothing written


def test_members_the_runner_does_not_honour_are_refused(live_pp: Any, live_app: str, segment: str) -> None:
    """What Pinpoint accepts but this gateway's campaign runner does not run yet is refused by CreateCampaign and
    UpdateCampaign, naming the member, instead of being stored and silently ignored."""
    pp, app = live_pp, live_app
    base = _request(segment)
    sched = base["Schedule"]
    event = {"Frequency": "EVENT", "StartTime": _later(), "EndTime": _later(30),
             "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"Values": ["open"]}}}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "Schedule": event, "Limits": {"MessagesPerSecond": 10}},
         "Limits.MessagesPerSecond: not supported yet by this gateway: MessagesPerSecond on an EVENT campaign"),
        ({**base, "Hook": {"WebUrl": "https://hooks.example.com/x", "Mode": "FILTER"}}, "Hook: not supported yet by this gateway: CampaignHook"),
        ({**base, "CustomDeliveryConfiguration": {"DeliveryUri": "https://hooks.example.com/x", "EndpointTypes": ["EMAIL"]}},
         "CustomDeliveryConfiguration: not supported yet by this gateway"),
        ({**base, "MessageConfiguration": {**EMAIL, "CustomMessage": {"Data": "x"}}}, "MessageConfiguration.CustomMessage: not supported yet"),
        ({**base, "Limits": {"Daily": 1, "Session": 1}}, "Limits.Session: not supported yet by this gateway"),
        ({**base, "AdditionalTreatments": [{"SizePercent": 10, "MessageConfiguration": EMAIL, "Schedule": {**sched, "Frequency": "WEEKLY"}}]},
         "AdditionalTreatments[0].Schedule.Frequency: not supported yet by this gateway: a treatment Frequency"),
    ]
    for request, expected in cases:
        message = _refused(pp, app, request)
        assert message.startswith("WriteCampaignRequest." + expected), (expected, message)
    assert pp.get_campaigns(ApplicationId=app)["CampaignsResponse"]["Item"] == []  # nothing was stored
    # Daily, Total, MaximumDuration and MessagesPerSecond are honoured, a treatment may have its own start; an
    # update is refused alike
    limits = {"MessagesPerSecond": 50, "Daily": 2, "Total": 5, "MaximumDuration": 600}
    ok = pp.create_campaign(ApplicationId=app, WriteCampaignRequest={**base, "Limits": limits,
        "AdditionalTreatments": [{"SizePercent": 10, "MessageConfiguration": EMAIL, "Schedule": {**sched, "StartTime": _later(2)}}]})["CampaignResponse"]
    assert ok["Limits"] == limits
    code, _, message = error_of(lambda: pp.update_campaign(ApplicationId=app, CampaignId=ok["Id"], WriteCampaignRequest={"Limits": {"Session": 2}}))
    assert code == "BadRequestException" and message.startswith("WriteCampaignRequest.Limits.Session: not supported yet")
    assert pp.get_campaign(ApplicationId=app, CampaignId=ok["Id"])["CampaignResponse"]["Version"] == 1


def test_a_run_shows_in_get_campaign_activities_and_state(live_api: Any, live_pp: Any, live_app: str) -> None:
    """GetCampaignActivities and State as boto3 reads them once a worker's scheduler ran an IMMEDIATE campaign."""
    from gateway.campaigns.runner import Scheduler
    from gateway.producer import Producer

    pp, app = live_pp, live_app
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": f"ep{i}", "ChannelType": "EMAIL", "Address": f"u{i}@example.com",
         "Demographic": {"Platform": "ios"}, "OptOut": "ALL" if i == 0 else "NONE"} for i in range(20)]})
    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "ios", "Dimensions": IOS})["SegmentResponse"]["Id"]
    cid = pp.create_campaign(ApplicationId=app, WriteCampaignRequest={
        **_request(seg), "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}})["CampaignResponse"]["Id"]
    assert pp.get_campaign_activities(ApplicationId=app, CampaignId=cid)["ActivitiesResponse"]["Item"] == []
    assert live_api.call(Scheduler(live_api.redis, producer=Producer(live_api.redis)).tick()) == 1

    camp = pp.get_campaign(ApplicationId=app, CampaignId=cid)["CampaignResponse"]
    assert camp["State"] == {"CampaignStatus": "COMPLETED"}
    [act] = pp.get_campaign_activities(ApplicationId=app, CampaignId=cid, PageSize="5")["ActivitiesResponse"]["Item"]
    assert (act["CampaignId"], act["ApplicationId"], act["TreatmentId"], act["State"], act["Result"]) == (cid, app, "0", "COMPLETED", "SUCCESS")
    assert act["TotalEndpointCount"] == act["SuccessfulEndpointCount"] == 19  # the opted-out endpoint is not messaged
    assert act["ExecutionMetrics"] == {"ENDPOINT_PRODUCED": "20", "ENDPOINT_OPT_OUT": "1"}
    assert act["ScheduledStart"] == camp["CreationDate"] and act["Start"] and act["End"]
    assert error_of(lambda: pp.get_campaign_activities(ApplicationId=app, CampaignId="nope"))[:2] == ("NotFoundException", 404)
