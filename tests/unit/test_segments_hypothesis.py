"""Hypothesis: the compiled filter (both implementations) selects exactly what the plain reference evaluator does,
on random endpoints and random segment definitions (every dimension, operator and group combinator)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _fast
from gateway.endpoints.rules import iso_from_epoch
from gateway.models import EndpointDemographic, EndpointLocation, EndpointResponse, EndpointUser

from .segment_helpers import NOW, compiled, referenced, seg

KERNELS = _fast.implementations("segfilter")
WORDS = ["red", "Red", "blue", "a-b", "", "x"]
DATES = ["2024-05-01T10:00:00Z", "2024-05-02", "2024-05-01T23:59:59.999Z", "2024-04-30T22:00:00-02:00", "bad"]
NAMES = ["a", "b", "c"]
PLATFORMS = ["iOS", "ios", "Android", None]
COUNTRIES = ["US", "us", "FR", None]
CHANNELS = ["EMAIL", "SMS", "GCM", "APNS", None]

values = st.lists(st.sampled_from(WORDS + DATES), max_size=3)
attrs = st.dictionaries(st.sampled_from(NAMES), values, max_size=3)
coords = st.one_of(
    st.none(),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    st.tuples(st.floats(-5, 5), st.sampled_from([179.9, -179.9, 180.0, -180.0, 179.0])),
)


@st.composite
def endpoints(draw: Any, i: int) -> EndpointResponse:
    c = draw(coords)
    eff = draw(st.one_of(st.none(), st.floats(NOW - 40 * 86400, NOW).map(iso_from_epoch)))
    return EndpointResponse(
        Id=f"e{i}",
        ChannelType=draw(st.sampled_from(CHANNELS)),
        Attributes=draw(attrs) or None,
        User=EndpointUser(UserAttributes=draw(attrs) or None),
        Metrics=draw(st.dictionaries(st.sampled_from(NAMES), st.sampled_from([0.0, 1.5, 2.0, -3.0]), max_size=2))
        or None,
        Demographic=EndpointDemographic(
            Platform=draw(st.sampled_from(PLATFORMS)), Make=draw(st.sampled_from(["Apple", None]))
        ),
        Location=EndpointLocation(
            Country=draw(st.sampled_from(COUNTRIES)),
            Latitude=None if c is None else c[0],
            Longitude=None if c is None else c[1],
        ),
        EffectiveDate=eff,
    )


@st.composite
def attribute_dimension(draw: Any) -> dict[str, Any]:
    op = draw(st.sampled_from(["INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN"]))
    good_dates = [d for d in DATES if d != "bad"]
    if op in ("BEFORE", "AFTER", "ON"):
        vals = [draw(st.sampled_from(good_dates))]
    elif op == "BETWEEN":
        vals = sorted(draw(st.lists(st.sampled_from(good_dates), min_size=2, max_size=2)))
    else:
        vals = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    return {"AttributeType": op, "Values": vals}


def set_dim(options: list[str]) -> Any:
    return st.fixed_dictionaries(
        {
            "DimensionType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE"]),
            "Values": st.lists(st.sampled_from(options), min_size=1, max_size=2),
        }
    )


@st.composite
def dimensions(draw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if draw(st.booleans()):
        d["Attributes"] = draw(st.dictionaries(st.sampled_from(NAMES), attribute_dimension(), min_size=1, max_size=2))
    if draw(st.booleans()):
        d["UserAttributes"] = draw(
            st.dictionaries(st.sampled_from(NAMES), attribute_dimension(), min_size=1, max_size=1)
        )
    if draw(st.booleans()):
        op = st.sampled_from(["GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"])
        m = st.fixed_dictionaries({"ComparisonOperator": op, "Value": st.sampled_from([0.0, 1.5, 2.0, -3.0, 1.0])})
        d["Metrics"] = draw(st.dictionaries(st.sampled_from(NAMES), m, min_size=1, max_size=2))
    if draw(st.booleans()):
        d["Behavior"] = {
            "Recency": {
                "Duration": draw(st.sampled_from(["HR_24", "DAY_7", "DAY_14", "DAY_30"])),
                "RecencyType": draw(st.sampled_from(["ACTIVE", "INACTIVE"])),
            }
        }
    if draw(st.booleans()):
        d["Demographic"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "Platform": set_dim(["ios", "ANDROID", "web"]),
                    "Channel": set_dim(["email", "SMS", "GCM"]),
                    "Make": set_dim(["apple"]),
                    "DeviceType": set_dim(["phone"]),
                },
            )
        )
    if draw(st.booleans()):
        loc: dict[str, Any] = {}
        if draw(st.booleans()):
            loc["Country"] = draw(set_dim(["US", "fr", "DE"]))
        if draw(st.booleans()):
            loc["GPSPoint"] = {
                "Coordinates": {
                    "Latitude": draw(st.floats(-5, 5)),
                    "Longitude": draw(st.sampled_from([180.0, -179.5, 179.5, 0.0])),
                },
                "RangeInKilometers": draw(st.sampled_from([0.0, 50.0, 500.0, 5000.0])),
            }
        d["Location"] = loc
    return d


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"Dimensions": draw(dimensions())}
    kinds = st.sampled_from(["ALL", "ANY", "NONE"])
    groups = draw(
        st.lists(
            st.fixed_dictionaries(
                {"Dimensions": st.lists(dimensions(), max_size=3)},
                optional={"Type": kinds, "SourceType": kinds, "SourceSegments": st.just([{"Id": "base"}])},
            ),
            max_size=3,
        )
    )
    return {"SegmentGroups": {"Include": draw(kinds), "Groups": groups}}


BASE = seg("base", Dimensions={"Attributes": {"a": {"AttributeType": "CONTAINS", "Values": ["e"]}}})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), n=st.integers(0, 12), definition=definitions())
def test_compiled_filter_equals_reference(data: Any, n: int, definition: dict[str, Any]) -> None:
    eps = [data.draw(endpoints(i)) for i in range(n)]
    s = seg(**definition)
    expected = referenced(eps, s, segs={"base": BASE})
    for kernel in KERNELS:
        assert compiled(kernel, eps, s, segs={"base": BASE}) == expected, kernel.__name__
