"""Pinpoint's substitution model: endpoint variables, then DefaultSubstitutions, then send-time Substitutions."""

from __future__ import annotations

import pytest

from gateway import models
from gateway.templates import compile
from gateway.templates.variables import build_context, parse_default_substitutions

ENDPOINT = models.EndpointResponse(
    Address="+15555550100", ChannelType="SMS", Id="ep-1", EffectiveDate="2024-01-02T03:04:05Z",
    Attributes={"Interests": ["Hiking", "Cooking"]},
    Demographic=models.EndpointDemographic(Locale="en_US", Timezone="America/New_York"),
    Location=models.EndpointLocation(City="New York", Latitude=40.7),
    Metrics={"Visits": 3.0},
    User=models.EndpointUser(UserId="u-1", UserAttributes={"FirstName": ["Jane"], "Last Name": ["Doe"]}),
)


def render(src: str, **kw: object) -> str:
    args: dict[str, object] = dict(endpoint=ENDPOINT, address="+15555550199", channel_type="SMS",
                                   default_substitutions=None, substitutions=None)
    args.update(kw)
    return compile(src).render(build_context(**args))  # type: ignore[arg-type]


def test_endpoint_variables() -> None:
    src = ("{{Address}}|{{ChannelType}}|{{Id}}|{{EffectiveDate}}|{{Attributes.Interests}}|{{Demographic.Locale}}|"
           "{{Location.City}}|{{Location.Latitude}}|{{Metrics.Visits}}|{{User.UserId}}|"
           "{{User.UserAttributes.FirstName.[0]}}|{{User.UserAttributes.[Last Name].[0]}}|{{Missing}}")
    assert render(src) == ("+15555550199|SMS|ep-1|2024-01-02T03:04:05Z|Hiking,Cooking|en_US|New York|40.7|3|u-1|"
                           "Jane|Doe|")


def test_defaults_fill_only_missing_values_and_substitutions_override() -> None:
    defaults = {"User.UserAttributes.FirstName": "friend", "User.UserAttributes.Nick": "pal", "Promo": "NONE",
                "Location.City": "Nowhere"}
    src = "{{User.UserAttributes.FirstName}} {{User.UserAttributes.Nick}} {{Promo}} {{Location.City}} {{User.UserId}}"
    assert render(src, default_substitutions=defaults) == "Jane pal NONE New York u-1"
    subs = {"Promo": ["SAVE10"], "User.UserAttributes.FirstName": ["Janet"], "Location.City": ["Boston"]}
    assert render(src, default_substitutions=defaults, substitutions=subs) == "Janet pal SAVE10 Boston u-1"
    assert defaults["User.UserAttributes.FirstName"] == "friend"  # inputs untouched
    assert ENDPOINT.User is not None and ENDPOINT.User.UserAttributes == {"FirstName": ["Jane"], "Last Name": ["Doe"]}


def test_without_endpoint_defaults_apply_and_lists_render_like_arrays() -> None:
    out = render("{{User.UserAttributes.FirstName}}|{{Codes}}|{{Address}}", endpoint=None,
                 default_substitutions={"User.UserAttributes.FirstName": "there"},
                 substitutions={"Codes": ["A", "B"]}, address="a@example.com")
    assert out == "there|A,B|a@example.com"


def test_parse_default_substitutions() -> None:
    assert parse_default_substitutions('{"a": "b"}') == {"a": "b"}
    assert parse_default_substitutions(None) == {}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_default_substitutions("{nope")
    with pytest.raises(ValueError, match="JSON object"):
        parse_default_substitutions("[1]")
