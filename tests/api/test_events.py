"""PutEvents (records on the events stream, per-item answers) and the event-stream configuration."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import ACCOUNT, ApiServer, error_of

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/pinpoint-events"
ROLE = "arn:aws:iam::123456789012:role/pinpoint-events"


def _event(event_type: str = "_session.start", **kw: Any) -> dict[str, Any]:
    return {"EventType": event_type, "Timestamp": "2026-03-01T10:00:00.000Z", **kw}


def test_put_events_appends_pinpoint_records(pp: Any, app_id: str, sync_redis: Any, api_server: ApiServer) -> None:
    resp = pp.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {
        "ep-1": {
            "Endpoint": {"ChannelType": "EMAIL", "Address": "a@example.com", "Demographic": {"Platform": "ios", "Locale": "en_US"}},
            "Events": {
                "e1": _event("purchase", Attributes={"sku": "42"}, Metrics={"price": 9.5}, AppPackageName="com.shop",
                             Session={"Id": "s1", "StartTimestamp": "2026-03-01T09:59:00Z"}),
                "e2": _event("x" * 51),
                "e3": _event(Timestamp="yesterday"),
            },
        },
    }})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    item = resp["EventsResponse"]["Results"]["ep-1"]
    assert item["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted"}
    events = item["EventsItemResponse"]
    assert events["e1"]["StatusCode"] == 202
    assert events["e2"]["StatusCode"] == 400 and "EventType" in events["e2"]["Message"]
    assert events["e3"]["StatusCode"] == 400 and "Timestamp" in events["e3"]["Message"]

    entries = sync_redis.xrange("gateway:events")
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"app"].decode() == app_id and fields[b"event_type"] == b"purchase"
    record = json.loads(fields[b"record"])
    assert record["event_type"] == "purchase"
    assert record["event_timestamp"] == 1772359200000
    assert record["arrival_timestamp"] >= record["event_timestamp"]
    assert record["application"]["app_id"] == app_id and record["application"]["package_name"] == "com.shop"
    assert record["client"] == {"client_id": "ep-1"}
    assert record["attributes"] == {"sku": "42"} and record["metrics"] == {"price": 9.5}
    assert record["session"] == {"session_id": "s1", "start_timestamp": 1772359140000}
    assert record["device"]["platform"] == {"name": "ios"}
    assert record["awsAccountId"] == ACCOUNT
    # the endpoint data went to the endpoint store
    stored = api_server.call(api_server.services.endpoints.get(app_id, "ep-1"))
    assert stored.Address == "a@example.com"


def test_put_events_reports_a_refused_endpoint(pp: Any, app_id: str) -> None:
    resp = pp.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {
        "ep-2": {"Endpoint": {"ChannelType": "EMAIL", "Address": "not-an-email"}, "Events": {"e": _event()}},
    }})["EventsResponse"]["Results"]["ep-2"]
    assert resp["EndpointItemResponse"]["StatusCode"] == 400 and "Address" in resp["EndpointItemResponse"]["Message"]
    assert resp["EventsItemResponse"]["e"]["StatusCode"] == 202


def test_put_events_quota_and_shape_errors(pp: Any, raw_pp: Any, app_id: str, sync_redis: Any) -> None:
    events = {f"e{i}": _event() for i in range(101)}
    code, status, message = error_of(lambda: pp.put_events(
        ApplicationId=app_id, EventsRequest={"BatchItem": {"ep": {"Endpoint": {}, "Events": events}}}))
    assert (code, status) == ("BadRequestException", 400) and "100" in message
    code, _, message = error_of(lambda: raw_pp.put_events(
        ApplicationId=app_id, EventsRequest={"BatchItem": {"ep": {"Endpoint": {}, "Events": {"e": {"Timestamp": "x"}}}}}))
    assert code == "BadRequestException" and "EventType" in message and "EventsRequest.BatchItem[...].Events[...]" in message
    assert sync_redis.xlen("gateway:events") == 0
    assert error_of(lambda: pp.put_events(ApplicationId="0" * 32, EventsRequest={"BatchItem": {}}))[0] == "NotFoundException"


def test_event_stream_configuration(pp: Any, app_id: str) -> None:
    assert error_of(lambda: pp.get_event_stream(ApplicationId=app_id))[:2] == ("NotFoundException", 404)
    put = pp.put_event_stream(ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": STREAM, "RoleArn": ROLE})
    stream = put["EventStream"]
    assert stream["ApplicationId"] == app_id and stream["DestinationStreamArn"] == STREAM and stream["RoleArn"] == ROLE
    assert pp.get_event_stream(ApplicationId=app_id)["EventStream"] == stream
    assert pp.delete_event_stream(ApplicationId=app_id)["EventStream"] == stream
    assert error_of(lambda: pp.delete_event_stream(ApplicationId=app_id))[0] == "NotFoundException"


def test_event_stream_validation(pp: Any, app_id: str) -> None:
    code, _, message = error_of(lambda: pp.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": "my-stream", "RoleArn": ROLE}))
    assert code == "BadRequestException" and "DestinationStreamArn" in message
    code, _, message = error_of(lambda: pp.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": STREAM, "RoleArn": "role"}))
    assert code == "BadRequestException" and "RoleArn" in message


def test_event_stream_destination_forms(pp: Any, app_id: str, sync_redis: Any) -> None:
    """Gateway's extensions (an https webhook, a Redis stream) are accepted without an IAM role; storing a
    destination creates its consumer group at the end of the events stream, replacing or deleting it removes it."""
    for spec in ("https://hooks.example.com/pinpoint", "redis:exports:events"):
        pp.put_event_stream(ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": spec, "RoleArn": ""})
    groups = [g["name"].decode() for g in sync_redis.xinfo_groups("gateway:events")]
    assert len([g for g in groups if g.startswith(f"evdest:{app_id}:")]) == 1
    assert sync_redis.smembers("gateway:eventstreams") == {app_id.encode()}
    pp.delete_event_stream(ApplicationId=app_id)
    assert not [g for g in sync_redis.xinfo_groups("gateway:events") if g["name"].decode().startswith("evdest:")]


def test_malformed_destinations_name_the_member(pp: Any, app_id: str) -> None:
    bad = {
        "arn:aws:kinesis:us-east-1:123456789012:deliverystream/x": "DestinationStreamArn",
        "arn:aws:kinesis:us-east-1:1234:stream/x": "DestinationStreamArn",
        "arn:aws:firehose:nowhere:123456789012:deliverystream/x": "DestinationStreamArn",
        "http://hooks.example.com/x": "DestinationStreamArn",
        "redis:gateway:events": "DestinationStreamArn",
        "redis:": "DestinationStreamArn",
    }
    for spec, member in bad.items():
        code, status, message = error_of(lambda s=spec: pp.put_event_stream(  # type: ignore[misc]
            ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": s, "RoleArn": ROLE}))
        assert (code, status) == ("BadRequestException", 400) and f"WriteEventStream.{member}" in message, spec
    code, _, message = error_of(lambda: pp.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": STREAM, "RoleArn": ""}))
    assert code == "BadRequestException" and "WriteEventStream.RoleArn" in message
