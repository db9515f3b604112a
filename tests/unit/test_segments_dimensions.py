"""Every dimension and operator against hand-computed expectations, for both filter implementations and the
reference evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import _fast
from gateway.endpoints.rules import iso_from_epoch
from gateway.models import EndpointDemographic, EndpointLocation, EndpointResponse, EndpointUser
from gateway.segments.definition import SegmentValidationError

from .segment_helpers import NOW, compiled, referenced, seg

KERNELS = _fast.implementations("segfilter")
HOUR = 3600.0
DAY = 86400.0

E = [
    EndpointResponse(
        Id="e1",
        ChannelType="EMAIL",
        Attributes={"color": ["red", "blue"], "signup": ["2024-05-01T10:00:00Z"]},
        User=EndpointUser(UserAttributes={"plan": ["Gold"]}),
        Metrics={"age": 30.0},
        Demographic=EndpointDemographic(Platform="iOS", Make="Apple", Model="iPhone", AppVersion="1.0"),
        Location=EndpointLocation(Country="US", Latitude=10.0, Longitude=179.9),
        EffectiveDate=iso_from_epoch(NOW - HOUR),
    ),
    EndpointResponse(
        Id="e2",
        ChannelType="SMS",
        Attributes={"color": ["Red"], "signup": ["2024-05-02T00:00:00Z", "not a date"]},
        Metrics={"age": 40.0},
        Demographic=EndpointDemographic(Platform="android"),
        Location=EndpointLocation(Country="us", Latitude=10.0, Longitude=-179.9),
        EffectiveDate=iso_from_epoch(NOW - 3 * DAY),
    ),
    EndpointResponse(
        Id="e3", ChannelType="EMAIL", Attributes={"color": []}, EffectiveDate=iso_from_epoch(NOW - 20 * DAY)
    ),
    EndpointResponse(
        Id="e4",
        ChannelType="GCM",
        Attributes={"tags": ["alpha-beta"]},
        User=EndpointUser(UserAttributes={"plan": ["gold"]}),
        Metrics={"age": 30.5},
        Location=EndpointLocation(Country="FR", Latitude=48.8, Longitude=2.3),
        EffectiveDate=iso_from_epoch(NOW - 40 * DAY),
    ),
    EndpointResponse(Id="e5"),
]
ALL = {"e1", "e2", "e3", "e4", "e5"}


def attr(name: str, typ: str, *values: str, user: bool = False) -> dict[str, Any]:
    key = "UserAttributes" if user else "Attributes"
    return {"Dimensions": {key: {name: {"AttributeType": typ, "Values": list(values)}}}}


def metric(op: str, value: float) -> dict[str, Any]:
    return {"Dimensions": {"Metrics": {"age": {"ComparisonOperator": op, "Value": value}}}}


def recency(kind: str, duration: str) -> dict[str, Any]:
    return {"Dimensions": {"Behavior": {"Recency": {"RecencyType": kind, "Duration": duration}}}}


def demo(field: str, values: list[str], typ: str = "INCLUSIVE") -> dict[str, Any]:
    return {"Dimensions": {"Demographic": {field: {"DimensionType": typ, "Values": values}}}}


def gps(lat: float, lon: float, km: float) -> dict[str, Any]:
    point = {"Coordinates": {"Latitude": lat, "Longitude": lon}, "RangeInKilometers": km}
    return {"Dimensions": {"Location": {"GPSPoint": point}}}


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("inclusive is case sensitive", attr("color", "INCLUSIVE", "red"), {"e1"}),
    ("inclusive any of several", attr("color", "INCLUSIVE", "Red", "blue"), {"e1", "e2"}),
    ("exclusive keeps missing and empty", attr("color", "EXCLUSIVE", "red"), {"e2", "e3", "e4", "e5"}),
    ("contains substring", attr("color", "CONTAINS", "e"), {"e1", "e2"}),
    ("contains is case sensitive", attr("color", "CONTAINS", "R"), {"e2"}),
    ("contains hyphenated", attr("tags", "CONTAINS", "a-b"), {"e4"}),
    ("before", attr("signup", "BEFORE", "2024-05-02T00:00:00Z"), {"e1"}),
    ("after skips unparseable values", attr("signup", "AFTER", "2024-05-01T10:00:00Z"), {"e2"}),
    ("on ignores time", attr("signup", "ON", "2024-05-01T23:59:59Z"), {"e1"}),
    ("on a date with offset", attr("signup", "ON", "2024-05-02T01:00:00+01:00"), {"e2"}),
    ("between inclusive", attr("signup", "BETWEEN", "2024-05-01T10:00:00Z", "2024-05-02T00:00:00Z"), {"e1", "e2"}),
    ("between narrow", attr("signup", "BETWEEN", "2024-05-01", "2024-05-01T12:00:00Z"), {"e1"}),
    ("missing attribute name", attr("nope", "INCLUSIVE", "x"), set()),
    ("user attributes case sensitive", attr("plan", "INCLUSIVE", "Gold", user=True), {"e1"}),
    ("user attributes exclusive", attr("plan", "EXCLUSIVE", "Gold", user=True), ALL - {"e1"}),
    ("metric >", metric("GREATER_THAN", 30), {"e2", "e4"}),
    ("metric <", metric("LESS_THAN", 40), {"e1", "e4"}),
    ("metric >=", metric("GREATER_THAN_OR_EQUAL", 30), {"e1", "e2", "e4"}),
    ("metric <=", metric("LESS_THAN_OR_EQUAL", 30), {"e1"}),
    ("metric ==", metric("EQUAL", 30.5), {"e4"}),
    ("active 24h", recency("ACTIVE", "HR_24"), {"e1"}),
    ("active 7d", recency("ACTIVE", "DAY_7"), {"e1", "e2"}),
    ("active 14d", recency("ACTIVE", "DAY_14"), {"e1", "e2"}),
    ("active 30d", recency("ACTIVE", "DAY_30"), {"e1", "e2", "e3"}),
    ("inactive 30d includes no EffectiveDate", recency("INACTIVE", "DAY_30"), {"e4", "e5"}),
    ("inactive 24h", recency("INACTIVE", "HR_24"), {"e2", "e3", "e4", "e5"}),
    ("platform case-insensitive", demo("Platform", ["IOS"]), {"e1"}),
    ("platform exclusive", demo("Platform", ["ios"], "EXCLUSIVE"), {"e2", "e3", "e4", "e5"}),
    ("channel", demo("Channel", ["email"]), {"e1", "e3"}),
    ("device type is never set on endpoints", demo("DeviceType", ["phone"]), set()),
    ("make", demo("Make", ["APPLE"]), {"e1"}),
    ("model", demo("Model", ["iphone", "pixel"]), {"e1"}),
    ("app version", demo("AppVersion", ["1.0"]), {"e1"}),
    ("country", {"Dimensions": {"Location": {"Country": {"Values": ["US"]}}}}, {"e1", "e2"}),
    (
        "country exclusive",
        {"Dimensions": {"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["US"]}}}},
        {"e3", "e4", "e5"},
    ),
    ("gps across the antimeridian", gps(10.0, 180.0, 20.0), {"e1", "e2"}),
    ("gps west of the antimeridian", gps(10.0, -179.95, 10.0), {"e2"}),
    ("gps too small", gps(10.0, 180.0, 5.0), set()),
    ("gps Paris", gps(48.85, 2.35, 10.0), {"e4"}),
    ("empty dimensions match all", {"Dimensions": {}}, ALL),
    ("no definition matches all", {}, ALL),
    (
        "criteria AND together",
        {
            "Dimensions": {
                "Attributes": {"color": {"Values": ["red", "Red"]}},
                "Metrics": {"age": {"ComparisonOperator": "GREATER_THAN", "Value": 35}},
            }
        },
        {"e2"},
    ),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
@pytest.mark.parametrize(("name", "definition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_dimension(kernel: Any, name: str, definition: dict[str, Any], expected: set[str]) -> None:
    s = seg(**definition)
    assert compiled(kernel, E, s) == expected
    assert referenced(E, s) == expected


G_RED = {"Dimensions": [{"Attributes": {"color": {"Values": ["red"]}}}]}
G_FR = {"Dimensions": [{"Location": {"Country": {"Values": ["FR"]}}}]}
TWO_DIMS = [{"Attributes": {"color": {"Values": ["red"]}}}, {"Location": {"Country": {"Values": ["us"]}}}]
GROUPS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("include any", {"SegmentGroups": {"Include": "ANY", "Groups": [G_RED, G_FR]}}, {"e1", "e4"}),
    ("include all", {"SegmentGroups": {"Include": "ALL", "Groups": [G_RED, G_FR]}}, set()),
    ("include none", {"SegmentGroups": {"Include": "NONE", "Groups": [G_RED, G_FR]}}, {"e2", "e3", "e5"}),
    ("type all", {"SegmentGroups": {"Groups": [{"Type": "ALL", "Dimensions": TWO_DIMS}]}}, {"e1"}),
    ("type any", {"SegmentGroups": {"Groups": [{"Type": "ANY", "Dimensions": TWO_DIMS}]}}, {"e1", "e2"}),
    ("type none", {"SegmentGroups": {"Groups": [{"Type": "NONE", "Dimensions": TWO_DIMS}]}}, {"e3", "e4", "e5"}),
    ("empty group list", {"SegmentGroups": {"Groups": []}}, ALL),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
@pytest.mark.parametrize(("name", "definition", "expected"), GROUPS, ids=[c[0] for c in GROUPS])
def test_group_algebra(kernel: Any, name: str, definition: dict[str, Any], expected: set[str]) -> None:
    s = seg(**definition)
    assert compiled(kernel, E, s) == expected
    assert referenced(E, s) == expected


US = seg("us", Dimensions={"Location": {"Country": {"Values": ["US"]}}})
OLD = seg("old", Dimensions={"Metrics": {"age": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 30.5}}})
IMP = seg("imp", import_=True)
SEGS = {"us": US, "old": OLD, "imp": IMP}
MEMBERS = {"imp": {"e3", "e4", "ghost"}}
AGE35 = [{"Metrics": {"age": {"ComparisonOperator": "GREATER_THAN", "Value": 35}}}]
SOURCES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("source then dims", {"Groups": [{"SourceSegments": [{"Id": "us"}], "Dimensions": AGE35}]}, {"e2"}),
    (
        "sources any",
        {"Groups": [{"SourceType": "ANY", "SourceSegments": [{"Id": "us"}, {"Id": "old"}]}]},
        {"e1", "e2", "e4"},
    ),
    ("sources all", {"Groups": [{"SourceType": "ALL", "SourceSegments": [{"Id": "us"}, {"Id": "old"}]}]}, {"e2"}),
    (
        "sources none",
        {"Groups": [{"SourceType": "NONE", "SourceSegments": [{"Id": "us"}, {"Id": "old"}]}]},
        {"e3", "e5"},
    ),
    ("imported source", {"Groups": [{"SourceSegments": [{"Id": "imp", "Version": 1}]}]}, {"e3", "e4"}),
    (
        "imported source filtered",
        {
            "Groups": [
                {"SourceSegments": [{"Id": "imp"}], "Dimensions": [{"Demographic": {"Channel": {"Values": ["GCM"]}}}]}
            ]
        },
        {"e4"},
    ),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
@pytest.mark.parametrize(("name", "groups", "expected"), SOURCES, ids=[c[0] for c in SOURCES])
def test_source_segments(kernel: Any, name: str, groups: dict[str, Any], expected: set[str]) -> None:
    s = seg(SegmentGroups=groups)
    assert compiled(kernel, E, s, segs=SEGS, members=MEMBERS) == expected
    assert referenced(E, s, segs=SEGS, members=MEMBERS) == expected


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (attr("signup", "BEFORE", "yesterday"), "ISO 8601"),
        (attr("signup", "BETWEEN", "2024-01-01"), "exactly two"),
        (attr("signup", "ON", "2024-01-01", "2024-01-02"), "exactly one"),
        (attr("color", "INCLUSIVE"), "must not be empty"),
        (metric("ABOUT", 3), "ComparisonOperator"),
        (
            {"Dimensions": {"Location": {"GPSPoint": {"Coordinates": {"Latitude": 1, "Longitude": 2}}}}},
            "RangeInKilometers",
        ),
        ({"Dimensions": {}, "SegmentGroups": {"Groups": []}}, "not both"),
    ],
)
def test_invalid_definitions_are_rejected(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(SegmentValidationError, match=message):
        seg(**definition)
