"""Phone numbers: E.164 normalization (cached) and Pinpoint's PhoneNumberValidate.

phonenumbers parses about 30k numbers/s here, so numbers are normalized once, when an endpoint is written
(:func:`normalize_address`), and the results are cached in an LRU; nothing on the send path parses a number twice.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    ValidationResult,
    carrier,
    geocoder,
    timezone,
)

from gateway import models
from gateway.errors import InvalidRequest


class InvalidPhoneNumber(InvalidRequest):
    """A phone number cannot be parsed or is not a possible number. The message never contains the number."""


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code (give +<code> or a default region)",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(number, region.upper() if region else None)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"invalid phone number: {_PARSE_REASONS.get(exc.error_type, 'unparseable')}") from None


@functools.lru_cache(maxsize=65_536)
def normalize(number: str, default_region: str | None = None) -> str:
    """`number` in E.164 (`+14255550100`). Raises InvalidPhoneNumber with the reason when it is not possible.

    `default_region` (ISO 3166-1 alpha-2) is used for numbers written without `+<country code>`.
    """
    if not isinstance(number, str) or not number.strip():
        raise InvalidPhoneNumber("invalid phone number: empty")
    parsed = _parse(number, default_region)
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidPhoneNumber(f"invalid phone number: {_POSSIBLE_REASONS.get(reason, 'not possible')}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_E164 = re.compile(r"\+([1-9][0-9]{2,16})")
_POSSIBLE = (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY)


@functools.cache
def _national_prefix(calling_code: int) -> re.Pattern[str] | None:
    """The pattern parse() tries to strip from the start of a national number of this calling code, if any."""
    region = phonenumbers.region_code_for_country_code(calling_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(pattern) if pattern else None


@functools.lru_cache(maxsize=4096)
def _possible_length(code: int, length: int) -> bool:
    """Whether phonenumbers calls a national number of `length` digits (no leading zero) possible for calling code
    `code`: its answer depends on the length alone (the metadata's possible lengths), so one number of that length
    answers for all of them, and the send path pays a dict lookup instead of ~3 µs per number."""
    return phonenumbers.is_possible_number_with_reason(
        PhoneNumber(country_code=code, national_number=10 ** (length - 1))) in _POSSIBLE


def e164(address: str) -> str:
    """`address` as an E.164 number (what an SMS or voice send goes to); InvalidPhoneNumber with the reason
    when it is not a possible phone number.

    A number already written in E.164 (Pinpoint's required form) is checked without a full parse (about 3 µs
    instead of 17, on the send path, where campaign numbers are all distinct): with its calling code split off,
    it is accepted when phonenumbers calls it possible and parse() would change nothing (no leading zero, no
    national prefix to strip), which is exactly when normalize() returns it unchanged. Anything else goes
    through normalize()."""
    m = _E164.fullmatch(address)
    if m is not None:
        digits = m.group(1)
        for n in (1, 2, 3):  # calling codes are prefix-free, as parse() reads them
            code = int(digits[:n])
            if code in COUNTRY_CODE_TO_REGION_CODE:
                national = digits[n:]
                prefix = _national_prefix(code)
                if (len(national) >= 2 and national[0] != "0" and (prefix is None or not prefix.match(national))
                        and _possible_length(code, len(national))):
                    return address
                break
    return normalize(address)


def normalize_address(channel_type: str, address: str, default_region: str | None = None) -> str:
    """Normalize SMS and VOICE addresses to E.164; other channel types' addresses are returned unchanged.

    Called by the endpoint store on write (so sends and opt-out lookups compare canonical numbers).
    """
    if channel_type in ("SMS", "VOICE"):
        return normalize(address, default_region)
    return address


# Pinpoint's PhoneType names and PhoneTypeCode numbers (pinpoint.md §8).
_TYPE_CODES = {"MOBILE": 0, "LANDLINE": 1, "VOIP": 2, "INVALID": 3, "OTHER": 4, "PREPAID": 5}
_TYPES = {
    PhoneNumberType.MOBILE: "MOBILE",
    PhoneNumberType.FIXED_LINE: "LANDLINE",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "MOBILE",  # e.g. US/CA numbers: SMS-capable as far as we can tell
    PhoneNumberType.VOIP: "VOIP",
}


def _country_numeric(region: str | None) -> str | None:
    """ISO 3166-1 numeric code; phonenumbers has no table for it, so only the alpha-2 -> calling code is known.

    Pinpoint's CountryCodeNumeric is in fact the *calling code* ("1" for US, "44" for GB) in its responses, which
    is what this returns.
    """
    if region is None:
        return None
    code = phonenumbers.country_code_for_region(region)
    return str(code) if code else None


#: Regions for which Pinpoint no longer returns City, County, Timezone and ZipCode (developer guide,
#: validate-phone-numbers: "For phone numbers origination in the United States and Canada the phone number validate
#: API will no longer return data for City, County, Timezone and ZipCode."). Other NANP regions (PR, GU...) keep them.
_NO_LOCATION_REGIONS = frozenset({"US", "CA"})


def withholds_location(region: str | None) -> bool:
    """Whether PhoneNumberValidate leaves City, County, Timezone and ZipCode empty for a number of `region`
    (ISO 3166-1 alpha-2, as detected from the number), as Pinpoint does for US and Canadian numbers."""
    return region in _NO_LOCATION_REGIONS


@functools.lru_cache(maxsize=8192)
def _validate_cached(number: str, region: str | None) -> models.NumberValidateResponse:
    original_region = region.upper() if region else None
    base = models.NumberValidateResponse(OriginalPhoneNumber=number, OriginalCountryCodeIso2=original_region)
    try:
        parsed = _parse(number, original_region)
    except InvalidPhoneNumber:
        return _invalid(base)
    if not phonenumbers.is_valid_number(parsed):
        return _invalid(base)
    cc = phonenumbers.region_code_for_number(parsed)
    ntype = _TYPES.get(phonenumbers.number_type(parsed), "OTHER")
    city = tz = None
    if not withholds_location(cc):
        zones = timezone.time_zones_for_number(parsed)
        tz = zones[0] if zones and zones[0] != "Etc/Unknown" else None
        city = geocoder.description_for_number(parsed, "en", region=cc) or None
    return models.NumberValidateResponse(
        Carrier=carrier.name_for_number(parsed, "en") or None,
        City=city,
        CleansedPhoneNumberE164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        CleansedPhoneNumberNational=phonenumbers.national_significant_number(parsed),
        Country=geocoder.country_name_for_number(parsed, "en") or None,
        CountryCodeIso2=cc,
        CountryCodeNumeric=_country_numeric(cc),
        County=None,  # phonenumbers has no county data; Pinpoint often leaves it empty too
        OriginalCountryCodeIso2=original_region,
        OriginalPhoneNumber=number,
        PhoneType=ntype,
        PhoneTypeCode=_TYPE_CODES[ntype],
        Timezone=tz,
        ZipCode=None,  # no postal data offline
    )


def _invalid(base: models.NumberValidateResponse) -> models.NumberValidateResponse:
    return models.NumberValidateResponse(
        OriginalPhoneNumber=base.OriginalPhoneNumber,
        OriginalCountryCodeIso2=base.OriginalCountryCodeIso2,
        PhoneType="INVALID",
        PhoneTypeCode=_TYPE_CODES["INVALID"],
    )


def validate(request: models.NumberValidateRequest) -> models.NumberValidateResponse:
    """PhoneNumberValidate: Pinpoint's NumberValidateResponse for `request` (never raises for a bad number:
    Pinpoint answers PhoneType INVALID, PhoneTypeCode 3)."""
    if not request.PhoneNumber:
        raise InvalidPhoneNumber("NumberValidateRequest.PhoneNumber is required")
    return _validate_cached(request.PhoneNumber, request.IsoCountryCode or None)
