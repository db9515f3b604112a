"""Tracking tokens: round trips, rotation, and tamper-proofing (property tests)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.tracking.tokens import CLICK, Signer, TokenRejected, Verifier, parse_keys

KEYS = {"k2": b"second-key-0123456789abcdef", "k1": b"first-key-0123456789abcdef"}
signer = Signer(KEYS)
ids = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1f"), max_size=40)


def test_click_round_trip_carries_app_message_endpoint_link_and_url() -> None:
    token = signer.click("app1", "m-1", "ep-9", 3, "https://shop.example/a?b=1&c=2")
    got = Verifier(KEYS).verify(token, CLICK)
    assert (got.kind, got.app, got.message_id, got.endpoint_id, got.link, got.url) == (
        CLICK, "app1", "m-1", "ep-9", 3, "https://shop.example/a?b=1&c=2")


def test_tokens_are_url_safe_and_signed_with_the_first_key() -> None:
    token = signer.open("app1", "m-1", "")
    assert token.startswith("k2.")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_rotated_keys_are_accepted_by_id_and_retired_keys_are_not() -> None:
    old = Signer({"k1": KEYS["k1"]}).open("a", "m", "e")
    assert Verifier(KEYS).verify(old).message_id == "m"  # k1 still configured: accepted
    v = Verifier({"k2": KEYS["k2"]})
    with pytest.raises(TokenRejected, match="unknown key"):
        v.verify(old)
    assert v.rejected["unknown key"] == 1


def test_a_token_of_another_kind_is_refused() -> None:
    v = Verifier(KEYS)
    with pytest.raises(TokenRejected, match="wrong kind"):
        v.verify(signer.open("a", "m", "e"), CLICK)


def test_same_kid_other_secret_is_a_bad_signature() -> None:
    forged = Signer({"k2": b"attacker-key-0123456789abc"}).click("a", "m", "e", 0, "https://evil.example/")
    v = Verifier(KEYS)
    with pytest.raises(TokenRejected, match="bad signature"):
        v.verify(forged)
    assert v.rejected == {"bad signature": 1}


@pytest.mark.parametrize("spec, message", [
    ("", "none configured"), ("k1", "KID:SECRET"), ("bad id!:0123456789abcdef", "KID:SECRET"),
    ("k1:short", "at least 16"), ("k1:0123456789abcdef,k1:0123456789abcdeg", "twice"),
])
def test_bad_key_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_keys(spec)


def test_parse_keys_keeps_order_first_signs() -> None:
    keys = parse_keys("new:0123456789abcdefXX, old:0123456789abcdefYY")
    assert list(keys) == ["new", "old"]
    assert Signer(keys).kid == "new"


@settings(max_examples=150, deadline=None)
@given(app=ids, mid=ids, eid=ids, link=st.integers(0, 10_000), url=st.text(max_size=200))
def test_every_click_token_round_trips(app: str, mid: str, eid: str, link: int, url: str) -> None:
    got = Verifier(KEYS).verify(signer.click(app, mid, eid, link, url))
    assert (got.app, got.message_id, got.endpoint_id, got.link, got.url) == (app, mid, eid, link, url)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), url=st.text(max_size=80))
def test_any_change_to_a_token_is_rejected(data: st.DataObject, url: str) -> None:
    token = signer.click("app", "msg", "ep", 1, url)
    kid, _, b64 = token.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    tampered = kid + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    v = Verifier(KEYS)
    with pytest.raises(TokenRejected):
        v.verify(tampered)
    assert sum(v.rejected.values()) == 1


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_truncation_or_garbage_is_rejected(data: st.DataObject) -> None:
    token = signer.open("app", "msg", "ep")
    cut = data.draw(st.integers(0, len(token) - 1))
    v = Verifier(KEYS)
    with pytest.raises(TokenRejected):
        v.verify(token[:cut])
    junk = data.draw(st.text(max_size=60))
    if junk != token:
        with pytest.raises(TokenRejected):
            v.verify(junk)


def test_ids_holding_the_separator_are_refused_so_fields_cannot_shift() -> None:
    with pytest.raises(ValueError, match="U\\+001F"):
        signer.click("a", "m", "e\x1f1\x1fhttps://evil.example/", 0, "https://shop.example/")


def test_a_url_holding_the_separator_stays_the_url() -> None:
    url = "https://shop.example/\x1f2\x1fhttps://evil.example/"
    assert Verifier(KEYS).verify(signer.click("a", "m", "e", 0, url)).url == url
