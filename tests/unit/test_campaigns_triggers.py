"""EVENT campaigns' filters (triggers.py): Pinpoint's EventDimensions semantics as a table, the SYSTEM/ENDPOINT
split, the campaign's active window, its own events, the five-minute rule and the checks at create."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from gateway import models
from gateway.campaigns import triggers
from gateway.campaigns.triggers import EventFacts

T0 = dt.datetime(2030, 3, 1, 12, 0, tzinfo=dt.UTC)
T0_MS = int(T0.timestamp() * 1000)


def event_filter(dimensions: dict[str, Any], filter_type: str = "ENDPOINT") -> models.CampaignEventFilter:
    return msgspec.convert({"FilterType": filter_type, "Dimensions": dimensions}, models.CampaignEventFilter)


def event(event_type: str = "purchase", *, source: str = "ENDPOINT", attributes: dict[str, str] | None = None,
          metrics: dict[str, float] | None = None, arrival_ms: int = T0_MS + 1000, campaign_id: str | None = None,
          endpoint_id: str | None = "ep-1") -> EventFacts:
    return EventFacts("app", event_type, source, endpoint_id, attributes or {}, metrics or {}, arrival_ms, campaign_id)


PURCHASE = {"EventType": {"Values": ["purchase"]}}

# (dimensions, event, matches?)
CASES: list[tuple[str, dict[str, Any], EventFacts, bool]] = [
    ("type inclusive hit", PURCHASE, event(), True),
    ("type inclusive miss", PURCHASE, event("signup"), False),
    ("type is case sensitive", PURCHASE, event("Purchase"), False),
    ("type inclusive default, several values", {"EventType": {"Values": ["a", "purchase"]}}, event(), True),
    ("type exclusive miss is a match", {"EventType": {"DimensionType": "EXCLUSIVE", "Values": ["signup"]}}, event(), True),
    ("type exclusive hit", {"EventType": {"DimensionType": "EXCLUSIVE", "Values": ["purchase"]}}, event(), False),
    ("attr inclusive hit", {**PURCHASE, "Attributes": {"sku": {"Values": ["1", "2"]}}},
     event(attributes={"sku": "2"}), True),
    ("attr inclusive miss", {**PURCHASE, "Attributes": {"sku": {"Values": ["1"]}}}, event(attributes={"sku": "2"}), False),
    ("attr inclusive is case sensitive", {**PURCHASE, "Attributes": {"c": {"Values": ["Red"]}}},
     event(attributes={"c": "red"}), False),
    ("attr inclusive, attribute missing", {**PURCHASE, "Attributes": {"sku": {"Values": ["1"]}}}, event(), False),
    ("attr exclusive hit", {**PURCHASE, "Attributes": {"sku": {"AttributeType": "EXCLUSIVE", "Values": ["1"]}}},
     event(attributes={"sku": "1"}), False),
    ("attr exclusive miss", {**PURCHASE, "Attributes": {"sku": {"AttributeType": "EXCLUSIVE", "Values": ["1"]}}},
     event(attributes={"sku": "2"}), True),
    ("attr exclusive, attribute missing", {**PURCHASE, "Attributes": {"sku": {"AttributeType": "EXCLUSIVE",
                                                                               "Values": ["1"]}}}, event(), True),
    ("attr contains", {**PURCHASE, "Attributes": {"url": {"AttributeType": "CONTAINS", "Values": ["cart"]}}},
     event(attributes={"url": "/shop/cart/1"}), True),
    ("attr contains miss", {**PURCHASE, "Attributes": {"url": {"AttributeType": "CONTAINS", "Values": ["cart"]}}},
     event(attributes={"url": "/shop"}), False),
    ("attr before", {**PURCHASE, "Attributes": {"at": {"AttributeType": "BEFORE", "Values": ["2030-01-01T00:00:00Z"]}}},
     event(attributes={"at": "2029-12-31T23:59:59Z"}), True),
    ("attr before miss", {**PURCHASE, "Attributes": {"at": {"AttributeType": "BEFORE",
                                                            "Values": ["2030-01-01T00:00:00Z"]}}},
     event(attributes={"at": "2030-01-01T00:00:00Z"}), False),
    ("attr after", {**PURCHASE, "Attributes": {"at": {"AttributeType": "AFTER", "Values": ["2030-01-01T00:00:00Z"]}}},
     event(attributes={"at": "2030-01-02"}), True),
    ("attr on ignores the time", {**PURCHASE, "Attributes": {"at": {"AttributeType": "ON",
                                                                    "Values": ["2030-01-01T08:00:00Z"]}}},
     event(attributes={"at": "2030-01-01T23:00:00Z"}), True),
    ("attr between inclusive bounds", {**PURCHASE, "Attributes": {"at": {
        "AttributeType": "BETWEEN", "Values": ["2030-01-01T00:00:00Z", "2030-01-31T00:00:00Z"]}}},
     event(attributes={"at": "2030-01-31T00:00:00Z"}), True),
    ("attr date, value not a date", {**PURCHASE, "Attributes": {"at": {"AttributeType": "AFTER",
                                                                       "Values": ["2030-01-01T00:00:00Z"]}}},
     event(attributes={"at": "soon"}), False),
    ("metric >", {**PURCHASE, "Metrics": {"price": {"ComparisonOperator": "GREATER_THAN", "Value": 10}}},
     event(metrics={"price": 10.5}), True),
    ("metric > at the bound", {**PURCHASE, "Metrics": {"price": {"ComparisonOperator": "GREATER_THAN", "Value": 10}}},
     event(metrics={"price": 10}), False),
    ("metric >= at the bound", {**PURCHASE, "Metrics": {"price": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL",
                                                                  "Value": 10}}}, event(metrics={"price": 10}), True),
    ("metric <", {**PURCHASE, "Metrics": {"n": {"ComparisonOperator": "LESS_THAN", "Value": 3}}},
     event(metrics={"n": 2}), True),
    ("metric <= miss", {**PURCHASE, "Metrics": {"n": {"ComparisonOperator": "LESS_THAN_OR_EQUAL", "Value": 3}}},
     event(metrics={"n": 4}), False),
    ("metric ==", {**PURCHASE, "Metrics": {"n": {"ComparisonOperator": "EQUAL", "Value": 3}}},
     event(metrics={"n": 3.0}), True),
    ("metric missing", {**PURCHASE, "Metrics": {"n": {"ComparisonOperator": "LESS_THAN", "Value": 3}}}, event(), False),
    ("every dimension must hold", {**PURCHASE, "Attributes": {"sku": {"Values": ["1"]}},
                                   "Metrics": {"n": {"ComparisonOperator": "EQUAL", "Value": 3}}},
     event(attributes={"sku": "1"}, metrics={"n": 4}), False),
    ("every dimension holds", {**PURCHASE, "Attributes": {"sku": {"Values": ["1"]}},
                               "Metrics": {"n": {"ComparisonOperator": "EQUAL", "Value": 3}}},
     event(attributes={"sku": "1"}, metrics={"n": 3}), True),
]


@pytest.mark.parametrize(("dims", "facts", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_event_dimensions_semantics(dims: dict[str, Any], facts: EventFacts, want: bool) -> None:
    f = event_filter(dims)
    assert triggers.check_event_filter(f) is None
    assert triggers.compile_filter(f)(facts) is want


def test_endpoint_filters_take_putevents_and_system_filters_take_the_engines_events() -> None:
    delivered = {"EventType": {"Values": ["_email.delivered"]}}
    engine_event = event("_email.delivered", source="SYSTEM")
    app_event = event("_email.delivered", source="ENDPOINT")
    assert triggers.compile_filter(event_filter(delivered, "SYSTEM"))(engine_event)
    assert not triggers.compile_filter(event_filter(delivered, "SYSTEM"))(app_event)
    assert triggers.compile_filter(event_filter(delivered, "ENDPOINT"))(app_event)
    assert not triggers.compile_filter(event_filter(delivered, "ENDPOINT"))(engine_event)


def test_facts_read_putevents_and_engine_records() -> None:
    app_record = {"event_type": "purchase", "event_version": "3.0", "arrival_timestamp": 5, "client": {"client_id": "e1"},
                  "attributes": {"sku": "1"}, "metrics": {"price": 2}}
    f = triggers.facts("app", "purchase", app_record)
    assert (f.source, f.endpoint_id, dict(f.attributes), dict(f.metrics), f.arrival_ms) == (
        "ENDPOINT", "e1", {"sku": "1"}, {"price": 2.0}, 5)
    engine_record = {"event_type": "_email.delivered", "event_version": "3.1", "arrival_timestamp": 7,
                     "client": {"client_id": "e2"}, "attributes": {"campaign_id": "c1", "feedback": "delivered",
                                                                   "nested": {"x": 1}}, "metrics": {}}
    g = triggers.facts("app", "_email.delivered", engine_record)
    assert (g.source, g.endpoint_id, g.campaign_id, dict(g.attributes)) == (
        "SYSTEM", "e2", "c1", {"campaign_id": "c1", "feedback": "delivered"})


def campaign(**schedule: Any) -> models.CampaignResponse:
    return msgspec.convert({
        "Id": "c1", "ApplicationId": "app", "Arn": "arn", "CreationDate": "2030-03-01T12:00:00.000Z",
        "LastModifiedDate": "2030-03-01T12:00:00.000Z", "SegmentId": "s", "SegmentVersion": 1, "Version": 1,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "EVENT",
                     "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": PURCHASE}, **schedule},
    }, models.CampaignResponse)


def test_a_campaign_triggers_only_while_active_never_on_its_own_events_and_only_with_an_endpoint() -> None:
    t = triggers.compile_trigger(campaign(EndTime="2030-03-01T13:00:00Z"), T0)
    assert t is not None
    assert triggers.triggered(t, event(arrival_ms=T0_MS))
    assert not triggers.triggered(t, event(arrival_ms=T0_MS - 1))  # before it was created
    assert not triggers.triggered(t, event(arrival_ms=T0_MS + 3600_000))  # at EndTime
    assert not triggers.triggered(t, event(campaign_id="c1"))  # caused by its own send
    assert triggers.triggered(t, event(campaign_id="other"))  # a scheduled campaign's send
    assert not triggers.triggered(t, event(campaign_id="other"), frozenset({"c1", "other"}))  # an EVENT campaign's
    assert not triggers.triggered(t, event(endpoint_id=None))
    assert triggers.compile_trigger(msgspec.structs.replace(campaign(), IsPaused=True), T0) is None


def test_could_match_screens_by_event_type_before_decoding() -> None:
    inclusive = triggers.compile_trigger(campaign(), T0)
    assert inclusive is not None
    assert triggers.could_match([inclusive], "purchase") and not triggers.could_match([inclusive], "signup")
    exclusive = triggers.compile_trigger(campaign(EventFilter={"FilterType": "ENDPOINT", "Dimensions": {
        "EventType": {"DimensionType": "EXCLUSIVE", "Values": ["purchase"]}}}), T0)
    assert exclusive is not None
    assert triggers.could_match([exclusive], "signup") and not triggers.could_match([exclusive], "purchase")


def test_five_minutes_from_arrival() -> None:
    assert not triggers.expired(T0_MS, T0_MS + 300_000)
    assert triggers.expired(T0_MS, T0_MS + 300_001)


@pytest.mark.parametrize(("dims", "member"), [
    ({}, "Dimensions.EventType"),
    ({"EventType": {"Values": []}}, "Dimensions.EventType"),
    ({**PURCHASE, "Attributes": {"sku": {"Values": []}}}, "Dimensions.Attributes.sku.Values"),
    ({**PURCHASE, "Attributes": {"at": {"AttributeType": "BEFORE", "Values": ["a", "b"]}}}, "Dimensions.Attributes.at.Values"),
    ({**PURCHASE, "Attributes": {"at": {"AttributeType": "AFTER", "Values": ["tomorrow"]}}}, "Dimensions.Attributes.at.Values"),
    ({**PURCHASE, "Attributes": {"at": {"AttributeType": "BETWEEN", "Values": ["2030-01-01"]}}}, "Dimensions.Attributes.at.Values"),
    ({**PURCHASE, "Metrics": {"n": {"ComparisonOperator": "ABOUT", "Value": 1}}}, "Dimensions.Metrics.n.ComparisonOperator"),
])
def test_bad_filters_name_the_member(dims: dict[str, Any], member: str) -> None:
    problem = triggers.check_event_filter(event_filter(dims))
    assert problem is not None and problem.startswith(member + ":")
