# ruff: noqa: E501
"""In-app campaigns end to end: boto3 creates IN_APP endpoints, a segment and in-app campaigns, a worker's scheduler
runs them (storing each message for the segment's in-app endpoints), and the app's calls are boto3's
get_in_app_messages and put_events, as Pinpoint's developer guide shows them. Eligibility is judged by the in-app
store's clock, which the test moves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.conftest import error_of

APP_USERS = {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["android"]}}}
FILTER = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["level_up"]}}}
BANNER = {"Layout": "TOP_BANNER", "CustomConfig": {"k": "v"}, "Content": [{
    "BackgroundColor": "#FFFFFF",
    "HeaderConfig": {"Header": "Level up!", "Alignment": "CENTER", "TextColor": "#000000"},
    "BodyConfig": {"Body": "Claim your reward", "Alignment": "LEFT", "TextColor": "#333333"},
    "ImageUrl": "https://cdn.example.com/reward.png",
    "PrimaryBtn": {"DefaultConfig": {"Text": "Claim", "ButtonAction": "DEEP_LINK", "Link": "game://rewards"},
                   "Web": {"ButtonAction": "LINK", "Link": "https://example.com/rewards"}},
    "SecondaryBtn": {"DefaultConfig": {"Text": "Later", "ButtonAction": "CLOSE"}},
}]}


def _at(days: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in_app(segment: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "SegmentId": segment, "MessageConfiguration": {"InAppMessage": BANNER},
            "Schedule": {"StartTime": "IMMEDIATE", "EndTime": _at(7), "Frequency": "IN_APP_EVENT", "EventFilter": FILTER},
            **extra}


def _displayed(pp: Any, app: str, endpoint: str, campaign: str, n: int, when: dt.datetime) -> None:
    pp.put_events(ApplicationId=app, EventsRequest={"BatchItem": {endpoint: {"Endpoint": {}, "Events": {
        f"e{campaign}{i}": {"EventType": "_inapp.message_displayed", "Timestamp": when.isoformat(),
                            "Attributes": {"campaign_id": campaign, "treatment_id": "0"}} for i in range(n)}}}})


def test_in_app_campaigns_reach_the_app_through_get_in_app_messages(
    live_api: Any, live_pp: Any, live_app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.campaigns.runner import Scheduler
    from gateway.producer import Producer

    pp, app = live_pp, live_app
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": "phone", "ChannelType": "IN_APP", "Demographic": {"Platform": "android"}},
        {"Id": "quitter", "ChannelType": "IN_APP", "Demographic": {"Platform": "android"}, "OptOut": "ALL"},
        {"Id": "mail", "ChannelType": "EMAIL", "Address": "u@example.com", "Demographic": {"Platform": "android"}}]})
    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "app", "Dimensions": APP_USERS})["SegmentResponse"]["Id"]
    low = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_in_app(seg, "low", Priority=4, Limits={"Total": 2}))["CampaignResponse"]
    top = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_in_app(seg, "top", Priority=1, Limits={"Session": 1, "Daily": 3}))["CampaignResponse"]
    assert (top["Priority"], top["Schedule"]["Frequency"], top["Limits"]) == (1, "IN_APP_EVENT", {"Session": 1, "Daily": 3})
    assert pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"].get("InAppMessageCampaigns", []) == []

    assert live_api.call(Scheduler(live_api.redis, producer=Producer(live_api.redis)).tick()) == 2
    got = pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]
    assert [m["CampaignId"] for m in got] == [top["Id"], low["Id"]]  # highest priority (1) first
    first = got[0]
    assert first["TreatmentId"] == "0" and first["Priority"] == 1
    assert first["InAppMessage"] == BANNER  # Layout, Content (header, body, image, buttons), CustomConfig as created
    assert first["Schedule"]["EventFilter"] == FILTER  # the SDK shows it when level_up fires on the device
    assert first["Schedule"]["EndDate"].startswith(top["Schedule"]["EndTime"][:19])
    assert (first["SessionCap"], first["DailyCap"], first.get("TotalCap")) == (1, 3, None)
    assert got[1]["TotalCap"] == 2
    for other in ("quitter", "mail", "unknown"):  # opted out, not an in-app endpoint, no such endpoint
        assert pp.get_in_app_messages(ApplicationId=app, EndpointId=other)["InAppMessagesResponse"].get("InAppMessageCampaigns", []) == []
    [act] = pp.get_campaign_activities(ApplicationId=app, CampaignId=top["Id"])["ActivitiesResponse"]["Item"]
    assert (act["State"], act["SuccessfulEndpointCount"]) == ("COMPLETED", 1)
    assert act["ExecutionMetrics"] == {"ENDPOINT_PRODUCED": "3", "ENDPOINT_OPT_OUT": "1", "ENDPOINT_CHANNEL_MISMATCH": "1"}

    # the SDK's display events come back through PutEvents and count toward TotalCap and DailyCap
    store = live_api.services.campaigns.inapp
    now = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(store, "clock", lambda: now)  # the API server outlives the test: monkeypatch restores it
    _displayed(pp, app, "phone", low["Id"], 2, now)
    got = pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]
    assert [m["CampaignId"] for m in got] == [top["Id"]]  # low reached its TotalCap of 2
    _displayed(pp, app, "phone", top["Id"], 1, now - dt.timedelta(days=1))  # yesterday's display is not today's
    assert len(pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]) == 1  # 2 today
    _displayed(pp, app, "phone", low["Id"], 2, now)  # the same event ids again (a resent batch): not counted again
    assert len(pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]) == 1
    _displayed(pp, app, "phone", "another", 1, now)  # DailyCap counts every in-app display of the endpoint, as the SDK
    assert pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"].get("InAppMessageCampaigns", []) == []  # 3 today: DailyCap 3 reached
    monkeypatch.setattr(store, "clock", lambda: now + dt.timedelta(days=1))  # the next day: DailyCap counts afresh
    assert [m["CampaignId"] for m in pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]] == [top["Id"]]

    pp.update_campaign(ApplicationId=app, CampaignId=top["Id"], WriteCampaignRequest={"IsPaused": True})
    assert pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"].get("InAppMessageCampaigns", []) == []
    pp.update_campaign(ApplicationId=app, CampaignId=top["Id"], WriteCampaignRequest={"IsPaused": False, "Priority": 2})
    [resumed] = pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]
    assert resumed["Priority"] == 2  # the campaign's latest version answers
    pp.delete_campaign(ApplicationId=app, CampaignId=low["Id"])
    assert [m["CampaignId"] for m in pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]] == [top["Id"]]
    key = f"gw:{{{app}}}:inapp:phone"
    assert live_api.call(live_api.redis.zrange(key, 0, -1)) == [f"{top['Id']}:0".encode()]  # the deleted one's reference dropped
    monkeypatch.setattr(store, "clock", lambda: now + dt.timedelta(days=8))  # past EndTime: expired
    assert pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"].get("InAppMessageCampaigns", []) == []
    assert live_api.call(live_api.redis.zcard(key)) == 0


def test_in_app_templates_are_the_message_of_a_campaign_that_names_one(live_api: Any, live_pp: Any, live_app: str) -> None:
    from gateway.campaigns.runner import Scheduler
    from gateway.producer import Producer

    pp, app = live_pp, live_app
    pp.update_endpoint(ApplicationId=app, EndpointId="phone", EndpointRequest={"ChannelType": "IN_APP", "Demographic": {"Platform": "android"}})
    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "app", "Dimensions": APP_USERS})["SegmentResponse"]["Id"]
    pp.create_in_app_template(TemplateName="promo", InAppTemplateRequest={"Layout": "CAROUSEL", "Content": BANNER["Content"] * 2})
    request = {**_in_app(seg, "tpl"), "TemplateConfiguration": {"InAppTemplate": {"Name": "promo"}}}
    del request["MessageConfiguration"]
    cid = pp.create_campaign(ApplicationId=app, WriteCampaignRequest=request)["CampaignResponse"]["Id"]
    live_api.call(Scheduler(live_api.redis, producer=Producer(live_api.redis)).tick())
    [got] = pp.get_in_app_messages(ApplicationId=app, EndpointId="phone")["InAppMessagesResponse"]["InAppMessageCampaigns"]
    assert got["CampaignId"] == cid and got["InAppMessage"]["Layout"] == "CAROUSEL" and len(got["InAppMessage"]["Content"]) == 2


def test_bad_in_app_campaigns_are_refused_at_create_naming_the_member(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "app", "Dimensions": APP_USERS})["SegmentResponse"]["Id"]
    content = BANNER["Content"][0]
    cases = [
        ({"MessageConfiguration": {"InAppMessage": {**BANNER, "Layout": "CAROUSEL", "Content": [content] * 6}}},
         "WriteCampaignRequest.MessageConfiguration.InAppMessage.Content: a CAROUSEL message has at most 5 content items, got 6"),
        ({"MessageConfiguration": {"InAppMessage": {**BANNER, "Content": [{**content, "PrimaryBtn": {"DefaultConfig": {"Text": "Go", "ButtonAction": "LINK"}}}]}}},
         "WriteCampaignRequest.MessageConfiguration.InAppMessage.Content[0].PrimaryBtn.DefaultConfig.Link: is required when ButtonAction is LINK"),
        ({"Priority": 6}, "WriteCampaignRequest.Priority: must be 1 (highest) to 5, got 6"),
        ({"Limits": {"Daily": 101}}, "WriteCampaignRequest.Limits.Daily: must be 0 to 100, got 101"),
        ({"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "IN_APP_EVENT"}},
         "WriteCampaignRequest.Schedule.EventFilter: is required when Frequency is IN_APP_EVENT"),
        ({"MessageConfiguration": {"InAppMessage": BANNER, "SMSMessage": {"Body": "hi"}}},
         "WriteCampaignRequest.MessageConfiguration: an in-app campaign (Frequency IN_APP_EVENT) carries only InAppMessage or InAppTemplate"),
        ({"TemplateConfiguration": {"InAppTemplate": {"Name": "missing"}}}, "WriteCampaignRequest.TemplateConfiguration.InAppTemplate"),
    ]
    for extra, expected in cases:
        code, status, message = error_of(lambda extra=extra: pp.create_campaign(ApplicationId=app, WriteCampaignRequest=_in_app(seg, "bad", **extra)))
        assert (code, status) == ("BadRequestException", 400) and message.startswith(expected), (expected, message)
    assert pp.get_campaigns(ApplicationId=app)["CampaignsResponse"]["Item"] == []


def test_in_app_templates_are_checked_as_campaign_messages_are(live_pp: Any) -> None:
    content = BANNER["Content"][0]
    for request, expected in [
        ({"Layout": "CAROUSEL", "Content": [content] * 6}, "Invalid InAppTemplateRequest: Content: a CAROUSEL message has at most 5 content items, got 6"),
        ({"Layout": "OVERLAYS", "Content": [content, content]}, "Invalid InAppTemplateRequest: Content: a OVERLAYS message has exactly one content item, got 2"),
        ({"Content": [{**content, "SecondaryBtn": {"DefaultConfig": {"Text": "Go", "ButtonAction": "DEEP_LINK"}}}]},
         "Invalid InAppTemplateRequest: Content[0].SecondaryBtn.DefaultConfig.Link: is required when ButtonAction is DEEP_LINK"),
    ]:
        code, status, message = error_of(lambda request=request: live_pp.create_in_app_template(TemplateName="t", InAppTemplateRequest=request))
        assert (code, status, message) == ("BadRequestException", 400, expected)
    live_pp.create_in_app_template(TemplateName="t", InAppTemplateRequest={"Layout": "CAROUSEL", "Content": [content] * 5})
    code, _, message = error_of(lambda: live_pp.update_in_app_template(TemplateName="t", InAppTemplateRequest={"Layout": "TOP_BANNER", "Content": [content] * 5}))
    assert code == "BadRequestException" and message.startswith("Invalid InAppTemplateRequest: Content: a TOP_BANNER message")
