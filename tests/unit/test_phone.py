"""E.164 normalization and PhoneNumberValidate with Pinpoint's fields."""

from __future__ import annotations

import pytest

from gateway import models, phone


def test_normalize_forms_to_e164() -> None:
    assert phone.normalize("+1 (425) 555-0100") == "+14255550100"
    assert phone.normalize("425-555-0100", "us") == "+14255550100"
    assert phone.normalize("07911 123456", "GB") == "+447911123456"
    assert phone.normalize("+447911123456") == "+447911123456"


@pytest.mark.parametrize(
    ("number", "region", "reason"),
    [
        ("4255550100", None, "country calling code"),
        ("hello", None, "not a phone number"),
        ("", None, "empty"),
        ("+1425", None, "too short"),
        ("+1425555010099999", None, "too long"),
    ],
)
def test_normalize_errors_are_clear_and_never_echo_the_number(number: str, region: str | None, reason: str) -> None:
    with pytest.raises(phone.InvalidPhoneNumber, match=reason) as info:
        phone.normalize(number, region)
    assert not number or number not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_normalize_is_cached() -> None:
    phone.normalize.cache_clear()
    phone.normalize("+14255550100")
    phone.normalize("+14255550100")
    assert phone.normalize.cache_info().hits == 1


def test_normalize_address_only_touches_sms_and_voice() -> None:
    assert phone.normalize_address("SMS", "+1 425 555 0100") == "+14255550100"
    assert phone.normalize_address("VOICE", "+1 425 555 0100") == "+14255550100"
    assert phone.normalize_address("EMAIL", "A@Example.com") == "A@Example.com"
    assert phone.normalize_address("APNS", "abc") == "abc"
    with pytest.raises(phone.InvalidPhoneNumber):
        phone.normalize_address("SMS", "nope")


def test_validate_us_number_fields() -> None:
    r = phone.validate(models.NumberValidateRequest(PhoneNumber="+1 206 555 0100", IsoCountryCode="us"))
    assert r.CleansedPhoneNumberE164 == "+12065550100"
    assert r.CleansedPhoneNumberNational == "2065550100"
    assert r.CountryCodeIso2 == "US"
    assert r.CountryCodeNumeric == "1"
    assert r.Country == "United States"
    assert r.OriginalPhoneNumber == "+1 206 555 0100"
    assert r.OriginalCountryCodeIso2 == "US"
    assert (r.PhoneType, r.PhoneTypeCode) == ("MOBILE", 0)  # US numbers are fixed-line-or-mobile


def test_validate_returns_no_location_for_us_and_canadian_numbers() -> None:
    # Pinpoint's developer guide (validate-phone-numbers): "For phone numbers origination in the United States and
    # Canada the phone number validate API will no longer return data for City, County, Timezone and ZipCode."
    for number, region in (("+1 206 555 0100", "US"), ("+1 416 555 0100", "CA")):
        r = phone.validate(models.NumberValidateRequest(PhoneNumber=number))
        assert r.CountryCodeIso2 == region and r.CleansedPhoneNumberE164 == phone.normalize(number)
        assert (r.City, r.County, r.Timezone, r.ZipCode) == (None, None, None, None)
    # Other NANP regions (Puerto Rico here) and other countries keep theirs.
    pr = phone.validate(models.NumberValidateRequest(PhoneNumber="+1 787 555 0100"))
    assert (pr.CountryCodeIso2, pr.City, pr.Timezone) == ("PR", "Puerto Rico", "America/Puerto_Rico")
    assert phone.withholds_location("US") and phone.withholds_location("CA")
    assert not phone.withholds_location("PR") and not phone.withholds_location(None)


def test_validate_mobile_carrier_and_landline() -> None:
    m = phone.validate(models.NumberValidateRequest(PhoneNumber="+447400123456"))
    assert (m.PhoneType, m.PhoneTypeCode, m.CountryCodeIso2, m.Carrier) == ("MOBILE", 0, "GB", "Three")
    land = phone.validate(models.NumberValidateRequest(PhoneNumber="+442079460000"))
    assert (land.PhoneType, land.PhoneTypeCode, land.City) == ("LANDLINE", 1, "London")
    assert land.Timezone == "Europe/London"


def test_validate_voip_and_invalid() -> None:
    voip = phone.validate(models.NumberValidateRequest(PhoneNumber="+445611234567"))
    assert (voip.PhoneType, voip.PhoneTypeCode) == ("VOIP", 2)
    bad = phone.validate(models.NumberValidateRequest(PhoneNumber="12345", IsoCountryCode="US"))
    assert (bad.PhoneType, bad.PhoneTypeCode) == ("INVALID", 3)
    assert bad.CleansedPhoneNumberE164 is None and bad.OriginalPhoneNumber == "12345"
    junk = phone.validate(models.NumberValidateRequest(PhoneNumber="not a number"))
    assert junk.PhoneType == "INVALID"
    with pytest.raises(phone.InvalidPhoneNumber, match="required"):
        phone.validate(models.NumberValidateRequest())


def test_validate_response_encodes_with_pinpoint_names() -> None:
    import msgspec

    r = phone.validate(models.NumberValidateRequest(PhoneNumber="+12065550100"))
    data = msgspec.json.decode(msgspec.json.encode(r))
    assert {"CleansedPhoneNumberE164", "PhoneType", "PhoneTypeCode", "CountryCodeIso2"} <= set(data)
