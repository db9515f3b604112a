# ruff: noqa: E501
"""PhoneNumberValidate through the real phone service, and how a deployment serves OTP or not (the [otp] section
and its key), against `live_api` (no worker: these operations need none)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.api.server import services_from_config
from gateway.config import from_dict
from gateway.errors import ConfigError
from tests.api.conftest import error_of


def otp_params() -> dict[str, Any]:
    return {"BrandName": "Shop", "Channel": "SMS", "DestinationIdentity": "+14155550123",
            "OriginationIdentity": "+14155550199", "ReferenceId": "login-1"}


def test_phone_number_validate(live_pp: Any) -> None:
    us = live_pp.phone_number_validate(NumberValidateRequest={"PhoneNumber": "+1 415 555 0123"})["NumberValidateResponse"]
    assert us["CleansedPhoneNumberE164"] == "+14155550123" and us["CountryCodeIso2"] == "US" and us["CountryCodeNumeric"] == "1"
    assert us["PhoneType"] == "MOBILE" and us["PhoneTypeCode"] == 0 and us["OriginalPhoneNumber"] == "+1 415 555 0123"
    # As Pinpoint now does, no City, County, Timezone or ZipCode for a US or Canadian number.
    assert not {"City", "County", "Timezone", "ZipCode"} & set(us)
    ca = live_pp.phone_number_validate(NumberValidateRequest={"PhoneNumber": "+1 416 555 0100"})["NumberValidateResponse"]
    assert ca["CountryCodeIso2"] == "CA" and not {"City", "County", "Timezone", "ZipCode"} & set(ca)
    gb = live_pp.phone_number_validate(NumberValidateRequest={"PhoneNumber": "020 7946 0958", "IsoCountryCode": "gb"})["NumberValidateResponse"]
    assert gb["CleansedPhoneNumberE164"] == "+442079460958" and gb["PhoneType"] == "LANDLINE" and gb["OriginalCountryCodeIso2"] == "GB"
    assert (gb["City"], gb["Timezone"]) == ("London", "Europe/London")
    bad = live_pp.phone_number_validate(NumberValidateRequest={"PhoneNumber": "12"})["NumberValidateResponse"]
    assert (bad["PhoneType"], bad["PhoneTypeCode"]) == ("INVALID", 3)
    code, status, message = error_of(lambda: live_pp.phone_number_validate(NumberValidateRequest={}))
    assert (code, status) == ("BadRequestException", 400) and "PhoneNumber" in message


def test_otp_is_not_served_without_an_otp_section(live_pp: Any, live_app: str) -> None:
    code, status, message = error_of(lambda: live_pp.send_otp_message(ApplicationId=live_app, SendOTPMessageRequestParameters=otp_params()))
    assert (code, status) == ("NotFoundException", 404) and "SendOTPMessage is not served" in message


def test_an_otp_section_without_its_key_stops_the_api_at_startup() -> None:
    client = aioredis.Redis()  # never used: construction fails first
    cfg = from_dict({"otp": {}})
    with pytest.raises(ConfigError, match="GATEWAY_OTP_KEY"):
        services_from_config(cfg, client, environ={})
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        services_from_config(cfg, client, environ={"GATEWAY_OTP_KEY": "short"})
    assert services_from_config(from_dict({}), client, environ={}).otp is None


def test_python_m_gateway_api_refuses_to_start_without_the_otp_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.api.__main__ import main
    from gateway.api.server import check_api_config

    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_API__AUTH", "none")
    monkeypatch.setenv("GATEWAY_OTP__KEY_ENV", "TEST_NO_SUCH_OTP_KEY")
    monkeypatch.delenv("TEST_NO_SUCH_OTP_KEY", raising=False)
    assert main(["--listen", "127.0.0.1:0"]) == 2
    assert "TEST_NO_SUCH_OTP_KEY" in capsys.readouterr().err
    check_api_config(from_dict({"api": {"auth": "none"}, "otp": {}}), environ={"GATEWAY_OTP_KEY": "k" * 32})
