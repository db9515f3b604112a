"""Pinpoint's endpoint rules as pure functions: merge, CohortId, limits, ISO 8601."""

from __future__ import annotations

import pytest

from gateway.endpoints import EndpointValidationError
from gateway.endpoints.rules import check_request, check_size, cohort_id, glob_matches, merge, parse_instant
from gateway.errors import GatewayError
from gateway.models import (
    EndpointDemographic,
    EndpointLocation,
    EndpointRequest,
    EndpointUser,
)

T1 = "2024-01-01T00:00:00.000Z"
T2 = "2024-02-01T00:00:00.000Z"


def test_error_class_is_a_gateway_value_error() -> None:
    assert issubclass(EndpointValidationError, GatewayError) and issubclass(EndpointValidationError, ValueError)


def test_create_sets_defaults() -> None:
    ep = merge("app", "e1", None, EndpointRequest(Address="a@x", ChannelType="EMAIL"), now=T1, request_id="r")
    assert (ep.Id, ep.ApplicationId, ep.EndpointStatus, ep.OptOut) == ("e1", "app", "ACTIVE", "NONE")
    assert ep.CreationDate == T1 and ep.EffectiveDate == T1 and ep.RequestId == "r"
    assert ep.CohortId == cohort_id("e1")


def test_merge_overwrites_per_key_and_keeps_the_rest() -> None:
    old = merge(
        "app",
        "e1",
        None,
        EndpointRequest(
            Address="a@x",
            ChannelType="EMAIL",
            Attributes={"a": ["1", "2"], "b": ["x"]},
            Metrics={"m": 1.0, "n": 2.0},
            Demographic=EndpointDemographic(Platform="iOS", Make="Apple"),
            Location=EndpointLocation(Country="US", City="NYC"),
            User=EndpointUser(UserId="u1", UserAttributes={"p": ["a"], "q": ["b"]}),
            EffectiveDate="2023-12-31T00:00:00Z",
        ),
        now=T1,
        request_id="r1",
    )
    assert old.EffectiveDate == "2023-12-31T00:00:00Z"
    new = merge(
        "app",
        "e1",
        msgspec_replace_status(old, "INACTIVE"),
        EndpointRequest(
            Attributes={"a": ["3"], "b": []},
            Metrics={"m": 5.0},
            Demographic=EndpointDemographic(Platform="Android"),
            Location=EndpointLocation(City="Paris"),
            User=EndpointUser(UserAttributes={"p": ["z"]}),
            OptOut="ALL",
        ),
        now=T2,
        request_id="r2",
    )
    assert new.Attributes == {"a": ["3"]}  # list replaced, empty list removes the key
    assert new.Metrics == {"m": 5.0, "n": 2.0}
    assert new.Demographic == EndpointDemographic(Platform="Android", Make="Apple")
    assert new.Location == EndpointLocation(Country="US", City="Paris")
    assert new.User == EndpointUser(UserId="u1", UserAttributes={"p": ["z"], "q": ["b"]})
    assert (new.Address, new.ChannelType, new.OptOut) == ("a@x", "EMAIL", "ALL")
    assert new.EndpointStatus == "ACTIVE"  # any update re-activates
    assert new.CreationDate == T1 and new.EffectiveDate == T2
    assert new.CohortId == old.CohortId


def msgspec_replace_status(ep, status):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.structs.replace(ep, EndpointStatus=status)


def test_blocked_attribute_names_are_not_captured() -> None:
    ep = merge(
        "app",
        "e1",
        None,
        EndpointRequest(Attributes={"keep": ["1"], "gone": ["2"]}, Metrics={"gm": 1.0}),
        now=T1,
        request_id="r",
        blocked={"custom": frozenset({"gone"}), "metric": frozenset({"gm"})},
    )
    assert ep.Attributes == {"keep": ["1"]} and ep.Metrics is None


def test_cohort_is_stable_and_spread() -> None:
    cohorts = [int(cohort_id(f"endpoint-{i}")) for i in range(20000)]
    assert all(0 <= c <= 99 for c in cohorts)
    assert cohort_id("abc") == cohort_id("abc")
    counts = [cohorts.count(c) for c in range(100)]
    assert min(counts) > 120 and max(counts) < 280  # about 1 % each (200 expected)


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (EndpointRequest(Attributes={"x" * 51: ["v"]}), "exceeds 50 characters"),
        (EndpointRequest(Attributes={"a": ["v" * 101]}), "exceeds 100 characters"),
        (EndpointRequest(Attributes={"a": [str(i) for i in range(51)]}), "limit of 50 per attribute"),
        (EndpointRequest(User=EndpointUser(UserAttributes={"y" * 51: ["v"]})), "User.UserAttributes"),
        (EndpointRequest(Metrics={"m": float("nan")}), "finite"),
        (EndpointRequest(EndpointStatus="DEAD"), "ACTIVE or INACTIVE"),
        (EndpointRequest(OptOut="SOME"), "ALL or NONE"),
        (EndpointRequest(EffectiveDate="yesterday"), "ISO 8601"),
        (EndpointRequest(Location=EndpointLocation(Latitude=91.0)), "Latitude"),
    ],
)
def test_request_limits(req: EndpointRequest, message: str) -> None:
    with pytest.raises(EndpointValidationError, match=message):
        check_request(req)


def test_limits_at_the_boundary_pass() -> None:
    check_request(EndpointRequest(Attributes={"x" * 50: ["v" * 100] * 50}))


def test_endpoint_size_limit() -> None:
    attrs = {f"k{i}": ["v" * 100] * 50 for i in range(4)}  # ~20 KB
    ep = merge("app", "e1", None, EndpointRequest(Attributes=attrs), now=T1, request_id="r")
    with pytest.raises(EndpointValidationError, match="15 KB"):
        check_size(ep)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00.123Z", 1714557600.123),
        ("2024-05-01", 1714521600.0),
        ("2024-05-01T10:00Z", 1714557600.0),
        ("2024-05-01T12:00:00+02:00", 1714557600.0),
        ("2024-05-01T10:00:00.123456789Z", 1714557600.123456),
        ("2024-13-01", None),
        ("nope", None),
        ("2024-05-01T10", None),
    ],
)
def test_parse_instant(text: str, expected: float | None) -> None:
    got = parse_instant(text)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_glob_matches() -> None:
    assert glob_matches(["tmp_*", "exact"], ["tmp_a", "tmp_b", "exact", "exactly", "other"]) == {
        "tmp_a",
        "tmp_b",
        "exact",
    }
