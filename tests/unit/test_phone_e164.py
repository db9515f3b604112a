"""phone.e164, the send path's check of SMS and voice addresses: its fast path for numbers already in E.164
agrees with the full parse (normalize) on every input, and whatever is not a phone number is refused."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from gateway.phone import InvalidPhoneNumber, e164, normalize

CODES = sorted(str(c) for c in COUNTRY_CODE_TO_REGION_CODE)


def _outcome(fn, number: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(fn(number))
    except InvalidPhoneNumber as exc:
        return f"invalid: {exc}"


@settings(max_examples=2000, deadline=None)
@given(code=st.sampled_from([*CODES, "0", "999", "42"]),
       national=st.text(alphabet="0123456789", min_size=0, max_size=16))
@example(code="1", national="4155550100")  # NANP
@example(code="1", national="1415555010")  # national prefix 1 in front
@example(code="44", national="07700900123")  # trunk 0 written after the country code
@example(code="39", national="0612345678")  # Italian leading zero, kept
@example(code="7", national="89161234567")  # Russian trunk prefix 8
def test_the_fast_path_agrees_with_the_full_parse(code: str, national: str) -> None:
    number = f"+{code}{national}"
    assert _outcome(e164, number) == _outcome(normalize, number)


@pytest.mark.parametrize("address", ["garbage", "", "+", "12", "+99911000001", "+1415555", "call me", "+1 415 555"])
def test_what_is_not_a_phone_number_is_refused_with_the_reason(address: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="invalid phone number: "):
        e164(address)


def test_other_notations_become_e164() -> None:
    assert e164("+1 (415) 555-0100") == e164("+14155550100") == "+14155550100"
