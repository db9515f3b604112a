"""An EVENT campaign end to end with boto3, as Pinpoint's API reference shows it: CreateCampaign with an
EventFilter on a dynamic segment, then PutEvents; the worker's listener sends the campaign's email to the event's
endpoint through the sandbox SMTP, and its events carry the campaign's attributes."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.api.conftest import SmtpEngineServer


def _campaign_events(sync_redis: Any, campaign_id: str, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Wait (XREAD BLOCK, no sleeps) for n outcome events of the campaign on the events stream."""
    found: list[dict[str, Any]] = []
    last = "0"
    deadline = time.monotonic() + timeout
    while len(found) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(found)} of {n} campaign events: {found}"
        for _, items in sync_redis.xread({"gateway:events": last}, block=int(min(left, 2) * 1000) + 1) or []:
            for entry_id, fields in items:
                last = entry_id.decode()
                record = json.loads(fields[b"record"])
                if record["attributes"].get("campaign_id") == campaign_id and not record["event_type"].endswith(".send"):
                    found.append(record)
    return found


def test_put_events_triggers_an_event_campaign(smtp_engine: SmtpEngineServer, sync_redis: Any) -> None:
    pp = smtp_engine.client()
    app = pp.create_app(CreateApplicationRequest={"Name": "shop"})["ApplicationResponse"]["Id"]
    for eid, plan in (("buyer", "gold"), ("other", "free")):
        pp.update_endpoint(ApplicationId=app, EndpointId=eid, EndpointRequest={
            "ChannelType": "EMAIL", "Address": f"{eid}@example.com", "Attributes": {"plan": [plan]}})
    segment = pp.create_segment(ApplicationId=app, WriteSegmentRequest={
        "Name": "gold", "Dimensions": {"Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}}},
    )["SegmentResponse"]["Id"]
    campaign = pp.create_campaign(ApplicationId=app, WriteCampaignRequest={
        "Name": "thanks", "SegmentId": segment,
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "shop@gateway.test", "Title": "Thank you",
                                                  "HtmlBody": "<p>Thanks for your order</p>"}},
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "EVENT", "EventFilter": {
            "FilterType": "ENDPOINT",
            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
                           "Metrics": {"total": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 50}}}}},
    })["CampaignResponse"]
    assert campaign["Schedule"]["Frequency"] == "EVENT"

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    resp = pp.put_events(ApplicationId=app, EventsRequest={"BatchItem": {
        # first in the stream, so handled before buyer's send can produce its _email.delivered
        "other": {"Endpoint": {}, "Events": {
            "big": {"EventType": "purchase", "Timestamp": now, "Metrics": {"total": 99.0}}}},
        "buyer": {"Endpoint": {}, "Events": {
            "small": {"EventType": "purchase", "Timestamp": now, "Metrics": {"total": 10.0}},
            "big": {"EventType": "purchase", "Timestamp": now, "Metrics": {"total": 80.0}}}},
    }})["EventsResponse"]
    assert resp["Results"]["buyer"]["EventsItemResponse"]["big"]["StatusCode"] == 202

    (delivered,) = _campaign_events(sync_redis, campaign["Id"], 1)
    assert delivered["event_type"] == "_email.delivered" and delivered["client"]["client_id"] == "buyer"
    assert delivered["attributes"]["treatment_id"] == "0" and delivered["attributes"]["campaign_activity_id"]
    assert [(m[1], b"Subject: Thank you" in m[2]) for m in smtp_engine.sink.messages] == [("buyer@example.com", True)]
    activities = pp.get_campaign_activities(ApplicationId=app, CampaignId=campaign["Id"])["ActivitiesResponse"]["Item"]
    assert [(a["TreatmentId"], a["SuccessfulEndpointCount"]) for a in activities] == [("0", 1)]
    assert activities[0]["ExecutionMetrics"]["FILTERED_OUT_BY_SEGMENT"] == "1"  # "other" is not a gold member
