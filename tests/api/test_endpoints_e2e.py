"""Endpoints and users end to end: boto3's pinpoint client → API → the real endpoint store in Redis, read back
only through boto3."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import error_of


def get(pp: Any, app: str, eid: str) -> dict[str, Any]:
    return dict(pp.get_endpoint(ApplicationId=app, EndpointId=eid)["EndpointResponse"])


def test_update_endpoint_merges_as_pinpoint_does(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    first = pp.update_endpoint(ApplicationId=app, EndpointId="e1", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "ada@example.com", "Attributes": {"team": ["red"], "tier": ["gold"]},
        "Demographic": {"Platform": "ios", "Locale": "en_GB"}, "User": {"UserId": "u1", "UserAttributes": {"plan": ["pro"]}},
        "Location": {"Country": "GB", "City": "London"}})
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 202 and first["MessageBody"]["Message"] == "Accepted"
    created = get(pp, app, "e1")
    assert created["ApplicationId"] == app and created["Id"] == "e1" and created["EndpointStatus"] == "ACTIVE"
    assert created["OptOut"] == "NONE" and created["CohortId"].isdigit() and created["CreationDate"]
    pp.update_endpoint(ApplicationId=app, EndpointId="e1", EndpointRequest={
        "Attributes": {"tier": [], "colour": ["blue"]}, "Metrics": {"visits": 3},
        "Demographic": {"AppVersion": "2.0"}, "Location": {"City": "Leeds"}, "OptOut": "ALL"})
    merged = get(pp, app, "e1")
    # per-key overwrite, an empty list removes the key, absent members are kept, nested members merge
    assert merged["Attributes"] == {"team": ["red"], "colour": ["blue"]}
    assert merged["Metrics"] == {"visits": 3.0} and merged["OptOut"] == "ALL"
    assert merged["Address"] == "ada@example.com" and merged["ChannelType"] == "EMAIL"
    assert merged["Demographic"] == {"Platform": "ios", "Locale": "en_GB", "AppVersion": "2.0"}
    assert merged["Location"] == {"Country": "GB", "City": "Leeds"}
    assert merged["User"] == {"UserId": "u1", "UserAttributes": {"plan": ["pro"]}}
    assert merged["CreationDate"] == created["CreationDate"] and merged["CohortId"] == created["CohortId"]


def test_update_endpoints_batch_creates_and_merges(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    pp.update_endpoint(ApplicationId=app, EndpointId="a", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "a@example.com", "Attributes": {"x": ["1"]}})
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": "a", "Attributes": {"y": ["2"]}},
        {"Id": "b", "ChannelType": "SMS", "Address": "+1 (415) 555-0100", "User": {"UserId": "u"}}]})
    assert get(pp, app, "a")["Attributes"] == {"x": ["1"], "y": ["2"]}
    b = get(pp, app, "b")
    assert b["Address"] == "+14155550100" and b["ChannelType"] == "SMS"  # stored in E.164
    # a batch is all or nothing: the bad item's index and field are named, nothing is written
    code, status, message = error_of(lambda: pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": "c", "ChannelType": "EMAIL", "Address": "c@example.com"},
        {"Id": "d", "ChannelType": "SMS", "Address": "not a number"}]}))
    assert (code, status) == ("BadRequestException", 400)
    assert message.startswith("Item[1]: Address: invalid phone number")
    assert error_of(lambda: get(pp, app, "c"))[0] == "NotFoundException"


def test_an_invalid_phone_number_is_a_bad_request_naming_the_address(live_pp: Any, live_app: str) -> None:
    code, status, message = error_of(lambda: live_pp.update_endpoint(ApplicationId=live_app, EndpointId="s", EndpointRequest={
        "ChannelType": "VOICE", "Address": "+1 415"}))
    assert (code, status) == ("BadRequestException", 400)
    assert message == "Address: invalid phone number: too short for its country (ChannelType VOICE)"


def test_endpoint_limits_are_bad_requests(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    code, _, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="e", EndpointRequest={
        "Attributes": {"n" * 51: ["v"]}}))
    assert code == "BadRequestException" and "exceeds 50 characters" in message
    code, _, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="e", EndpointRequest={
        "Attributes": {"k": ["v" * 101]}}))
    assert code == "BadRequestException" and message == "Attributes.k[0]: value exceeds 100 characters"
    code, _, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="e", EndpointRequest={
        "EffectiveDate": "yesterday"}))
    assert code == "BadRequestException" and "EffectiveDate" in message
    for i in range(15):
        pp.update_endpoint(ApplicationId=app, EndpointId=f"u{i}", EndpointRequest={"User": {"UserId": "many"}})
    code, _, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="u15", EndpointRequest={
        "User": {"UserId": "many"}}))
    assert code == "BadRequestException" and "limit is 15" in message


def test_a_users_16th_push_endpoint_displaces_the_oldest_push_endpoint(live_pp: Any, live_app: str) -> None:
    """Pinpoint (developer guide, audience-define-auto-inactive): a 16th endpoint of a push channel type makes the
    user's push endpoint with the oldest EffectiveDate INACTIVE and removes its UserId; any other channel type is
    a BadRequestException, as is a push endpoint when the user has no push endpoint to displace."""
    pp, app = live_pp, live_app
    items: list[dict[str, Any]] = [
        {"Id": f"mail{i}", "ChannelType": "EMAIL", "Address": f"u{i}@example.com", "EffectiveDate": f"2020-01-0{i + 1}T00:00:00.000Z",
         "User": {"UserId": "dana"}} for i in range(5)]  # older than every push endpoint, but not push endpoints
    items += [{"Id": f"push{i}", "ChannelType": "GCM" if i % 2 else "APNS", "Address": f"token{i}",
               "EffectiveDate": f"2024-01-{i + 10}T00:00:00.000Z", "User": {"UserId": "dana", "UserAttributes": {"plan": ["pro"]}}}
              for i in range(10)]
    items[9]["EffectiveDate"] = "2023-06-01T00:00:00.000Z"  # push4: the oldest push endpoint
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": items})

    def user_ids() -> list[str]:
        return sorted(e["Id"] for e in pp.get_user_endpoints(ApplicationId=app, UserId="dana")["EndpointsResponse"]["Item"])

    # the 16th on SMS is refused, and nothing changes
    code, status, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="sms", EndpointRequest={
        "ChannelType": "SMS", "Address": "+14155550100", "User": {"UserId": "dana"}}))
    assert (code, status) == ("BadRequestException", 400) and "limit is 15" in message and "SMS" in message, message
    assert len(user_ids()) == 15 and get(pp, app, "push4")["EndpointStatus"] == "ACTIVE"

    # the 16th on APNS succeeds: push4 (oldest EffectiveDate among push endpoints) becomes INACTIVE without its UserId
    assert pp.update_endpoint(ApplicationId=app, EndpointId="phone", EndpointRequest={
        "ChannelType": "APNS", "Address": "new-token", "User": {"UserId": "dana"}})["ResponseMetadata"]["HTTPStatusCode"] == 202
    displaced = get(pp, app, "push4")
    assert displaced["EndpointStatus"] == "INACTIVE" and displaced["User"] == {"UserAttributes": {"plan": ["pro"]}}
    assert displaced["Address"] == "token4" and displaced["EffectiveDate"] == "2023-06-01T00:00:00.000Z"
    assert len(user_ids()) == 15 and "phone" in user_ids() and "push4" not in user_ids()
    assert get(pp, app, "phone")["EndpointStatus"] == "ACTIVE"

    # in a batch, each joining push endpoint displaces the oldest push endpoint left (push0, then push1)
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": "tablet", "ChannelType": "GCM", "Address": "t1", "User": {"UserId": "dana"}},
        {"Id": "watch", "ChannelType": "APNS_VOIP_SANDBOX", "Address": "t2", "User": {"UserId": "dana"}}]})
    assert [get(pp, app, e)["EndpointStatus"] for e in ("push0", "push1", "push2")] == ["INACTIVE", "INACTIVE", "ACTIVE"]
    assert "UserId" not in get(pp, app, "push0").get("User", {})
    assert len(user_ids()) == 15 and {"tablet", "watch"} <= set(user_ids())

    # re-enabled as the docs say: ACTIVE with the UserId back, which makes it the newest push endpoint and
    # displaces the oldest one left (push2)
    pp.update_endpoint(ApplicationId=app, EndpointId="push4", EndpointRequest={"EndpointStatus": "ACTIVE", "User": {"UserId": "dana"}})
    assert get(pp, app, "push4")["EndpointStatus"] == "ACTIVE" and get(pp, app, "push2")["EndpointStatus"] == "INACTIVE"

    # a push endpoint cannot displace anything from a user whose 15 endpoints are all email
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": f"m{i}", "ChannelType": "EMAIL", "Address": f"m{i}@example.com", "User": {"UserId": "eve"}} for i in range(15)]})
    code, status, message = error_of(lambda: pp.update_endpoint(ApplicationId=app, EndpointId="p", EndpointRequest={
        "ChannelType": "GCM", "Address": "tok", "User": {"UserId": "eve"}}))
    assert (code, status) == ("BadRequestException", 400) and "limit is 15" in message and "no push endpoint" in message, message
    assert error_of(lambda: get(pp, app, "p"))[0] == "NotFoundException"


def test_users_and_deletes(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    pp.update_endpoints_batch(ApplicationId=app, EndpointBatchRequest={"Item": [
        {"Id": "e1", "ChannelType": "EMAIL", "Address": "a@example.com", "User": {"UserId": "u1"}},
        {"Id": "e2", "ChannelType": "SMS", "Address": "+14155550101", "User": {"UserId": "u1"}},
        {"Id": "e3", "ChannelType": "EMAIL", "Address": "b@example.com", "User": {"UserId": "u2"}}]})
    items = pp.get_user_endpoints(ApplicationId=app, UserId="u1")["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in items) == ["e1", "e2"]
    assert error_of(lambda: pp.get_user_endpoints(ApplicationId=app, UserId="nobody"))[:2] == ("NotFoundException", 404)
    deleted = pp.delete_user_endpoints(ApplicationId=app, UserId="u1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert sorted(e["Id"] for e in deleted["EndpointsResponse"]["Item"]) == ["e1", "e2"]
    assert error_of(lambda: get(pp, app, "e1"))[0] == "NotFoundException"
    assert error_of(lambda: pp.get_user_endpoints(ApplicationId=app, UserId="u1"))[0] == "NotFoundException"
    assert error_of(lambda: pp.delete_user_endpoints(ApplicationId=app, UserId="u1"))[0] == "NotFoundException"
    gone = pp.delete_endpoint(ApplicationId=app, EndpointId="e3")
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 202 and gone["EndpointResponse"]["Address"] == "b@example.com"
    code, status, message = error_of(lambda: pp.delete_endpoint(ApplicationId=app, EndpointId="e3"))
    assert (code, status) == ("NotFoundException", 404) and "e3" in message
    assert error_of(lambda: pp.get_user_endpoints(ApplicationId=app, UserId="u2"))[0] == "NotFoundException"
    assert error_of(lambda: get(pp, "no-such-app", "e3"))[0] == "NotFoundException"


def test_remove_attributes(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    pp.update_endpoint(ApplicationId=app, EndpointId="e", EndpointRequest={
        "Attributes": {"color": ["red"], "colour": ["blue"], "size": ["L"]}, "Metrics": {"m": 1}})
    removed = pp.remove_attributes(ApplicationId=app, AttributeType="endpoint-custom-attributes",
                                   UpdateAttributesRequest={"Blacklist": ["colo*"]})["AttributesResource"]
    assert removed == {"ApplicationId": app, "AttributeType": "endpoint-custom-attributes", "Attributes": ["color", "colour"]}
    # existing values stay; later writes stop capturing the removed names
    pp.update_endpoint(ApplicationId=app, EndpointId="f", EndpointRequest={"Attributes": {"color": ["x"], "size": ["S"]}})
    assert get(pp, app, "f")["Attributes"] == {"size": ["S"]}
    assert get(pp, app, "e")["Attributes"]["color"] == ["red"]
    code, _, message = error_of(lambda: pp.remove_attributes(ApplicationId=app, AttributeType="endpoint-bogus",
                                                            UpdateAttributesRequest={"Blacklist": ["a"]}))
    assert code == "BadRequestException" and "endpoint-custom-attributes" in message
    code, _, message = error_of(lambda: pp.remove_attributes(ApplicationId=app, AttributeType="endpoint-metric-attributes",
                                                            UpdateAttributesRequest={"Blacklist": []}))
    assert code == "BadRequestException" and "Blacklist" in message


def test_put_events_updates_the_endpoint_in_the_store(live_pp: Any, live_app: str) -> None:
    resp = live_pp.put_events(ApplicationId=live_app, EventsRequest={"BatchItem": {
        "dev1": {"Endpoint": {"ChannelType": "GCM", "Address": "token-1", "Attributes": {"k": ["v"]}},
                 "Events": {"ev1": {"EventType": "_session.start", "Timestamp": "2026-01-01T00:00:00Z"}}},
        "dev2": {"Endpoint": {"ChannelType": "SMS", "Address": "12"},
                 "Events": {"ev2": {"EventType": "x", "Timestamp": "2026-01-01T00:00:00Z"}}}}})
    results = resp["EventsResponse"]["Results"]
    assert results["dev1"]["EndpointItemResponse"]["StatusCode"] == 202
    bad = results["dev2"]["EndpointItemResponse"]
    assert bad["StatusCode"] == 400 and bad["Message"].startswith("Address: invalid phone number")
    ep = get(live_pp, live_app, "dev1")
    assert (ep["Address"], ep["Attributes"]) == ("token-1", {"k": ["v"]})
