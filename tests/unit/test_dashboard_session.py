"""Dashboard session tokens and the login check (gateway/dashboard/session.py), with a fixed clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.dashboard import session

SECRETS = {"AKID": "secret-one", "AKID2": "secret-two"}.get
NOW = 1_800_000_000.0


def test_a_token_verifies_until_it_expires() -> None:
    token = session.issue("AKID", "secret-one", NOW, ttl_s=60)
    assert session.verify(token, SECRETS, NOW) == session.Session("AKID", int(NOW) + 60)
    assert session.verify(token, SECRETS, NOW + 59.9) is not None
    assert session.verify(token, SECRETS, NOW + 60) is None


def test_a_token_is_worth_nothing_once_its_key_is_rotated_or_removed() -> None:
    token = session.issue("AKID", "secret-one", NOW)
    assert session.verify(token, {"AKID": "rotated"}.get, NOW) is None
    assert session.verify(token, {}.get, NOW) is None
    # and another key's secret does not sign for it
    assert session.verify(session.issue("AKID", "secret-two", NOW), SECRETS, NOW) is None


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_change_to_a_token_is_refused(position: int, byte: int) -> None:
    token = session.issue("AKID", "secret-one", NOW)
    i = position % len(token)
    changed = token[:i] + chr(byte) + token[i + 1:]
    if changed != token:
        assert session.verify(changed, SECRETS, NOW) is None


@given(st.text(max_size=80))
def test_garbage_never_verifies(token: str) -> None:
    assert session.verify(token, SECRETS, NOW) is None


def test_a_token_has_one_spelling() -> None:
    token = session.issue("AKID", "secret-one", NOW)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last base64 character of the 32-byte tag carries 2 unused bits: flipping one decodes to the same tag
    other = alphabet[alphabet.index(token[-1]) ^ 1]
    assert session.verify(token[:-1] + other, SECRETS, NOW) is None


def test_non_ascii_digits_in_the_expiry_are_refused_not_crashing() -> None:
    token = session.issue("AKID", "secret-one", NOW)
    key, expires, tag = token.split(".")
    assert session.verify(f"{key}.\u00b2{expires[1:]}.{tag}", SECRETS, NOW) is None  # '²'.isdigit() is True


def test_credentials_are_checked_exactly() -> None:
    assert session.credentials_ok("AKID", "secret-one", SECRETS)
    for key, secret in (("AKID", "secret-two"), ("AKID", "secret-one "), ("AKID", ""), ("NOPE", "secret-one"),
                        ("", "")):
        assert not session.credentials_ok(key, secret, SECRETS)


def test_after_login_only_dashboard_paths() -> None:
    for good in ("/dashboard", "/dashboard/apps/x?start=2026-01-01"):
        assert session.safe_next(good) == good
    for bad in (None, "", "https://evil.test/", "//evil.test", "/dashboard//evil.test", "/dashboard\\x", "/other",
                "/dashboard\r\nSet-Cookie: x=1"):
        assert session.safe_next(bad) == "/dashboard"
