# ruff: noqa: E501
"""OTP and Endpoints-addressed SendMessages end to end: boto3 → API → ingest stream → a
worker with an HTTP SMS channel (sandbox provider) and an SMTP channel (sandbox sink), all in one event loop."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.sandbox.http_sms import SandboxHttpSms
from gateway.sandbox.smtp import SmtpSink
from tests.api.conftest import ACCOUNT, REGION, EngineServer, error_of

OTP_KEY = "k" * 32
NUMBER = "+14155550123"


class OtpEngineServer(EngineServer):
    """The API from `services_from_config` with an [otp] section, a worker, the SMS sandbox and the SMTP sink."""

    consumer = "otp-e2e"

    async def _sandboxes(self) -> dict[str, Any]:
        self.sink = await SmtpSink(record=True).start()
        self.sms = await SandboxHttpSms().start()
        return {
            "channels": [
                {"kind": "smtp", "port": self.sink.port, "connections": 2, "default_from": "sender@gateway.test"},
                {"kind": "http_sms", "preset": "twilio", "account_sid": "ACtest", "api_base": self.sms.base_url,
                 "allow_http": True, "allow_networks": ["127.0.0.1/32"]},
            ],
            "api": {"region": REGION, "account_id": ACCOUNT, "send_timeout_s": 10},
            "otp": {"templates": {"fr-FR": "Votre code ${brand} : ${code} (${minutes} min)"}, "send_timeout_s": 10},
        }

    async def _close_sandboxes(self) -> None:
        await self.sink.aclose()
        await self.sms.aclose()


@pytest.fixture(scope="module")
def engine(redis_server: Any) -> Iterator[OtpEngineServer]:
    import redis as sync_redis

    sync_redis.Redis.from_url(redis_server.url).flushall()
    server = OtpEngineServer(redis_server.url, services_environ={"GATEWAY_OTP_KEY": OTP_KEY}).start()
    yield server
    server.stop()


@pytest.fixture
def epp(engine: OtpEngineServer) -> Any:
    return engine.client()


@pytest.fixture
def eapp(epp: Any) -> str:
    return str(epp.create_app(CreateApplicationRequest={"Name": "otp"})["ApplicationResponse"]["Id"])


def otp_params(**extra: Any) -> dict[str, Any]:
    return {"BrandName": "Shop", "Channel": "SMS", "DestinationIdentity": NUMBER,
            "OriginationIdentity": "+14155550199", "ReferenceId": "login-1", **extra}


def last_code(engine: OtpEngineServer, to: str) -> tuple[str, str]:
    _path, params = [entry for entry in engine.sms.log if entry[1]["To"] == to][-1]
    found = re.search(r"\d{5,8}", params["Body"])
    assert found, params
    return found.group(0), params["Body"]


def test_send_otp_reaches_the_sms_provider_and_verifies_once(engine: OtpEngineServer, epp: Any, eapp: str) -> None:
    before = engine.sms.calls(NUMBER)
    resp = epp.send_otp_message(ApplicationId=eapp, SendOTPMessageRequestParameters=otp_params(
        DestinationIdentity="+1 (415) 555-0123", CodeLength=7))["MessageResponse"]
    assert resp["ApplicationId"] == eapp and resp["RequestId"]
    result = resp["Result"][NUMBER]
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200) and result["MessageId"]
    assert engine.sms.calls(NUMBER) == before + 1
    code, body = last_code(engine, NUMBER)
    assert len(code) == 7 and body == f"This is your One Time Password: {code} from Shop"
    verify = {"DestinationIdentity": NUMBER, "ReferenceId": "login-1"}
    wrong = "0000000" if code != "0000000" else "1111111"
    assert epp.verify_otp_message(ApplicationId=eapp, VerifyOTPMessageRequestParameters={**verify, "Otp": wrong})["VerificationResponse"] == {"Valid": False}
    assert epp.verify_otp_message(ApplicationId=eapp, VerifyOTPMessageRequestParameters={**verify, "Otp": code})["VerificationResponse"] == {"Valid": True}
    # a code works once
    assert epp.verify_otp_message(ApplicationId=eapp, VerifyOTPMessageRequestParameters={**verify, "Otp": code})["VerificationResponse"] == {"Valid": False}


def test_otp_language_attempts_and_errors(engine: OtpEngineServer, epp: Any, eapp: str) -> None:
    epp.send_otp_message(ApplicationId=eapp, SendOTPMessageRequestParameters=otp_params(
        ReferenceId="r2", Language="fr-FR", AllowedAttempts=1))
    code, body = last_code(engine, NUMBER)
    assert body == f"Votre code Shop : {code} (15 min)"
    verify = {"DestinationIdentity": NUMBER, "ReferenceId": "r2"}
    wrong = "000000" if code != "000000" else "111111"
    assert not epp.verify_otp_message(ApplicationId=eapp, VerifyOTPMessageRequestParameters={**verify, "Otp": wrong})["VerificationResponse"]["Valid"]
    # the only attempt is spent: the right code no longer verifies
    assert not epp.verify_otp_message(ApplicationId=eapp, VerifyOTPMessageRequestParameters={**verify, "Otp": code})["VerificationResponse"]["Valid"]
    for params, words in (({"CodeLength": 9}, "CodeLength must be between 5 and 8"),
                          ({"Channel": "EMAIL"}, "Channel must be SMS"),
                          ({"DestinationIdentity": "12"}, "DestinationIdentity: invalid phone number"),
                          ({"Language": "xx-XX"}, "no OTP message template")):
        code_, status, message = error_of(lambda p=params: epp.send_otp_message(ApplicationId=eapp, SendOTPMessageRequestParameters=otp_params(**p)))
        assert (code_, status) == ("BadRequestException", 400) and words in message, message
    assert error_of(lambda: epp.send_otp_message(ApplicationId="no-such-app", SendOTPMessageRequestParameters=otp_params()))[0] == "NotFoundException"


def test_send_messages_to_an_endpoint_created_with_update_endpoint(engine: OtpEngineServer, epp: Any, eapp: str) -> None:
    epp.update_endpoint(ApplicationId=eapp, EndpointId="ada", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "ada@example.com", "Attributes": {"name": ["Ada"]}})
    epp.update_endpoint(ApplicationId=eapp, EndpointId="gone", EndpointRequest={
        "ChannelType": "EMAIL", "Address": "gone@example.com", "OptOut": "ALL"})
    before = len(engine.sink.messages)
    resp = epp.send_messages(ApplicationId=eapp, MessageRequest={
        "Endpoints": {"ada": {}, "gone": {}, "nobody": {}},
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "news@shop.test", "SimpleEmail": {
            "Subject": {"Data": "Hello {{Attributes.name}}"}, "TextPart": {"Data": "Hi"}}}}})["MessageResponse"]
    r = resp["EndpointResult"]
    assert (r["ada"]["DeliveryStatus"], r["ada"]["Address"]) == ("SUCCESSFUL", "ada@example.com")
    assert r["gone"]["DeliveryStatus"] == "OPT_OUT"
    assert r["nobody"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    (sender, rcpt, data), = engine.sink.messages[before:]
    assert (sender, rcpt) == ("news@shop.test", "ada@example.com") and b"Subject: Hello Ada" in data
