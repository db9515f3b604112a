"""SendOTPMessage / VerifyOTPMessage semantics against a real Redis, with a mocked clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import keys, models, otp
from gateway.errors import ConfigError

KEY = b"k" * 32
APP = "app1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(redis: Any, clock: Clock) -> otp.OtpService:
    return otp.OtpService(redis, key=KEY, clock=clock)


def send_params(**kw: Any) -> models.SendOTPMessageRequestParameters:
    base: dict[str, Any] = dict(BrandName="Acme", Channel="SMS", DestinationIdentity="+1 425 555 0100",
                                OriginationIdentity="+12065550100", ReferenceId="login-42")
    base.update(kw)
    return models.SendOTPMessageRequestParameters(**base)


def verify_params(code: str, **kw: Any) -> models.VerifyOTPMessageRequestParameters:
    base: dict[str, Any] = dict(DestinationIdentity="+14255550100", Otp=code, ReferenceId="login-42")
    base.update(kw)
    return models.VerifyOTPMessageRequestParameters(**base)


async def test_request_shape_and_message_text(service: otp.OtpService) -> None:
    req, code = await service.build_otp_request(APP, send_params(EntityId="E1", TemplateId="T1"))
    assert len(code) == 6 and code.isdigit()
    assert list(req.Addresses or {}) == ["+14255550100"]
    assert (req.Addresses or {})["+14255550100"].ChannelType == "SMS"
    sms = req.MessageConfiguration.SMSMessage
    assert sms is not None
    assert sms.Body == f"This is your One Time Password: {code} from Acme"
    assert (sms.MessageType, sms.OriginationNumber, sms.SenderId) == ("TRANSACTIONAL", "+12065550100", None)
    assert (sms.EntityId, sms.TemplateId) == ("E1", "T1")


async def test_code_is_stored_hashed_with_ttl(service: otp.OtpService, redis: Any) -> None:
    _, code = await service.build_otp_request(APP, send_params(ValidityPeriod=10))
    found = [k async for k in redis.scan_iter(match=keys.app_key(APP, "otp", "*"))]
    assert len(found) == 1
    entry = await redis.hgetall(found[0])
    assert code.encode() not in b"".join(entry.values())
    assert 590 <= await redis.ttl(found[0]) <= 600


async def test_verify_once(service: otp.OtpService) -> None:
    _, code = await service.build_otp_request(APP, send_params())
    assert (await service.verify(APP, verify_params(code))).Valid is True
    assert (await service.verify(APP, verify_params(code))).Valid is False  # single use


async def test_wrong_destination_reference_or_app_fails(service: otp.OtpService) -> None:
    _, code = await service.build_otp_request(APP, send_params())
    assert (await service.verify(APP, verify_params(code, ReferenceId="other"))).Valid is False
    assert (await service.verify(APP, verify_params(code, DestinationIdentity="+14255550101"))).Valid is False
    assert (await service.verify("app2", verify_params(code))).Valid is False
    assert (await service.verify(APP, verify_params(code, DestinationIdentity="junk"))).Valid is False
    assert (await service.verify(APP, verify_params(code))).Valid is True


async def test_expiry_with_mocked_clock(service: otp.OtpService, clock: Clock) -> None:
    _, code = await service.build_otp_request(APP, send_params(ValidityPeriod=5))
    clock.now += 5 * 60 - 1
    _, code = await service.build_otp_request(APP, send_params(ValidityPeriod=5))  # re-issue replaces
    clock.now += 5 * 60
    assert (await service.verify(APP, verify_params(code))).Valid is False


async def test_valid_just_before_expiry(service: otp.OtpService, clock: Clock) -> None:
    _, code = await service.build_otp_request(APP, send_params(ValidityPeriod=5))
    clock.now += 5 * 60 - 0.5
    assert (await service.verify(APP, verify_params(code))).Valid is True


async def test_attempt_exhaustion(service: otp.OtpService) -> None:
    _, code = await service.build_otp_request(APP, send_params(AllowedAttempts=2))
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    assert (await service.verify(APP, verify_params(wrong))).Valid is False
    assert (await service.verify(APP, verify_params(wrong))).Valid is False
    # attempts used up: even the right code fails now
    assert (await service.verify(APP, verify_params(code))).Valid is False


async def test_right_code_on_last_attempt(service: otp.OtpService) -> None:
    _, code = await service.build_otp_request(APP, send_params(AllowedAttempts=2))
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    assert (await service.verify(APP, verify_params(wrong))).Valid is False
    assert (await service.verify(APP, verify_params(code))).Valid is True


async def test_concurrent_verifies_succeed_once(service: otp.OtpService) -> None:
    _, code = await service.build_otp_request(APP, send_params(AllowedAttempts=5))
    results = await asyncio.gather(*(service.verify(APP, verify_params(code)) for _ in range(5)))
    assert sum(bool(r.Valid) for r in results) == 1


async def test_new_code_replaces_old(service: otp.OtpService) -> None:
    _, first = await service.build_otp_request(APP, send_params())
    _, second = await service.build_otp_request(APP, send_params())
    if first != second:
        assert (await service.verify(APP, verify_params(first))).Valid is False
    assert (await service.verify(APP, verify_params(second))).Valid is True


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"CodeLength": 4}, "CodeLength"),
        ({"CodeLength": 9}, "CodeLength"),
        ({"ValidityPeriod": 61}, "ValidityPeriod"),
        ({"AllowedAttempts": 0}, "AllowedAttempts"),
        ({"Channel": "EMAIL"}, "Channel"),
        ({"Language": "xx-YY"}, "Language"),
        ({"DestinationIdentity": "12"}, "DestinationIdentity"),
        ({"BrandName": " "}, "BrandName"),
    ],
)
async def test_invalid_requests(service: otp.OtpService, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(otp.OtpError, match=match):
        await service.build_otp_request(APP, send_params(**kw))


async def test_code_length_sender_id_and_voice(service: otp.OtpService) -> None:
    req, code = await service.build_otp_request(APP, send_params(CodeLength=8, OriginationIdentity="ACME"))
    assert len(code) == 8
    sms = req.MessageConfiguration.SMSMessage
    assert sms is not None and (sms.SenderId, sms.OriginationNumber) == ("ACME", None)
    req, code = await service.build_otp_request(APP, send_params(Channel="VOICE", Language="en-US"))
    vm = req.MessageConfiguration.VoiceMessage
    assert vm is not None and " ".join(code) in (vm.Body or "")
    assert (req.Addresses or {})["+14255550100"].ChannelType == "VOICE"


async def test_configured_language_templates(redis: Any, clock: Clock) -> None:
    cfg = otp.OtpConfig(templates={"en-US": "Code ${code} (${brand})", "fr-FR": "Votre code ${brand}: ${code}"})
    svc = otp.OtpService(redis, cfg, key=KEY, clock=clock)
    req, code = await svc.build_otp_request(APP, send_params(Language="fr-FR"))
    assert req.MessageConfiguration.SMSMessage.Body == f"Votre code Acme: {code}"  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        otp.OtpService(redis, otp.OtpConfig(templates={"en": "${pin}"}), key=KEY)


def test_key_required_and_long_enough(redis: Any) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_OTP_KEY"):
        otp.OtpService(redis, environ={})
    with pytest.raises(ConfigError, match="32 bytes"):
        otp.OtpService(redis, key=b"short")
