"""Pinpoint's endpoint rules as pure functions: merge, CohortId, limits, ISO 8601."""

from __future__ import annotations

import pytest

from gateway.endpoints import EndpointValidationError
from gateway.endpoints.rules import (
    PUSH_CHANNEL_TYPES,
    check_request,
    check_size,
    cohort_id,
    displace,
    glob_matches,
    merge,
    parse_instant,
    user_displacements,
)
from gateway.errors import GatewayError
from gateway.models import (
    EndpointDemographic,
    EndpointLocation,
    EndpointRequest,
    EndpointResponse,
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


def _ep(eid: str, channel: str, day: int | None) -> EndpointResponse:
    date = None if day is None else f"2024-01-{day:02d}T00:00:00.000Z"
    return EndpointResponse(Id=eid, ChannelType=channel, EffectiveDate=date, User=EndpointUser(UserId="u"))


def test_push_channel_types_are_the_documented_ones_plus_the_apns_sandbox() -> None:
    assert PUSH_CHANNEL_TYPES == {"ADM", "GCM", "APNS", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "APNS_SANDBOX"}


def test_a_user_with_room_displaces_nothing() -> None:
    members = {f"m{i}": _ep(f"m{i}", "EMAIL", 1) for i in range(13)}
    assert user_displacements("u", members, [_ep("a", "SMS", 2), _ep("b", "GCM", 3)]) == []


def test_a_16th_push_endpoint_displaces_the_oldest_push_endpoint() -> None:
    members = {f"mail{i}": _ep(f"mail{i}", "EMAIL", 1) for i in range(5)}  # older, but not push endpoints
    members |= {f"p{i}": _ep(f"p{i}", "GCM" if i % 2 else "APNS", 10 + i) for i in range(10)}
    members["p7"] = _ep("p7", "BAIDU", 5)
    assert user_displacements("u", members, [_ep("new", "APNS_SANDBOX", 20)]) == ["p7"]
    # several joiners: each displaces the oldest push endpoint left, joiners included once they have joined
    assert user_displacements("u", members, [_ep("x", "ADM", 20), _ep("y", "APNS_VOIP", 21)]) == ["p7", "p0"]
    old_joiner = _ep("x", "GCM", 2)  # a request may give an old EffectiveDate
    assert user_displacements("u", members, [old_joiner, _ep("y", "GCM", 21)]) == ["p7", "x"]
    # ties on EffectiveDate: the smaller id; no (or an unreadable) EffectiveDate counts as the oldest
    tied = {f"t{i}": _ep(f"t{i}", "GCM", 9) for i in range(15)}
    assert user_displacements("u", tied, [_ep("n", "GCM", 10)]) == ["t0"]
    tied["t9"] = _ep("t9", "GCM", None)
    assert user_displacements("u", tied, [_ep("n", "GCM", 10)]) == ["t9"]


def test_a_16th_endpoint_that_cannot_displace_is_refused() -> None:
    members = {f"p{i}": _ep(f"p{i}", "GCM", 10) for i in range(15)}
    for channel in ("SMS", "EMAIL", "VOICE", "PUSH", "CUSTOM", "IN_APP"):
        full = rf"'u' already has 15 endpoints and the limit is 15: endpoint 'n' \(ChannelType {channel}\)"
        with pytest.raises(EndpointValidationError, match=full):
            user_displacements("u", members, [_ep("n", channel, 11)])
    emails = {f"m{i}": _ep(f"m{i}", "EMAIL", 1) for i in range(15)}
    with pytest.raises(EndpointValidationError, match="no push endpoint it could displace"):
        user_displacements("u", emails, [_ep("n", "APNS", 11)])


def test_displace_makes_inactive_and_drops_only_the_user_id() -> None:
    ep = EndpointResponse(Id="e", Address="tok", ChannelType="GCM", EndpointStatus="ACTIVE", EffectiveDate=T1,
                          User=EndpointUser(UserId="u", UserAttributes={"plan": ["pro"]}), Attributes={"a": ["1"]})
    out = displace(ep)
    assert out.EndpointStatus == "INACTIVE" and out.User == EndpointUser(UserAttributes={"plan": ["pro"]})
    assert (out.Address, out.EffectiveDate, out.Attributes) == ("tok", T1, {"a": ["1"]})
    assert displace(EndpointResponse(Id="e", User=EndpointUser(UserId="u"))).User is None
