"""SMS through the whole engine: stream → dispatcher → HTTP SMS channel → sandbox, with the opt-out list checked
before any provider call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.sandbox.http_sms import SandboxHttpSms
from gateway.sms.optouts import OptOutStore

pytestmark = pytest.mark.asyncio

NUMBER = "+14155550100"


@pytest.fixture
async def sms_sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SandboxHttpSms]:
    monkeypatch.setenv("TEST_TW_TOKEN", "tok")
    s = await SandboxHttpSms().start()
    yield s
    await s.aclose()


def sms_channel(sandbox: SandboxHttpSms) -> dict[str, Any]:
    return {"kind": "http_sms", "preset": "twilio", "account_sid": "ACtest", "api_base": sandbox.base_url,
            "allow_http": True, "allow_networks": ["127.0.0.1/32"],
            "auth": {"kind": "basic", "secret_env": "TEST_TW_TOKEN"}}


def sms_request(number: str, body: str = "Your code is {{code}}", **extra: Any) -> dict[str, Any]:
    return {"Addresses": {number: {"ChannelType": "SMS"}},
            "MessageConfiguration": {"SMSMessage": {"Body": body, "MessageType": "TRANSACTIONAL",
                                                    "OriginationNumber": "+14155550199",
                                                    "Substitutions": {"code": ["123456"]}}}, **extra}


async def test_sms_is_rendered_sent_and_reported(engine, sink, sms_sandbox, redis):
    run = await engine(channels=[sms_channel(sms_sandbox)])
    resp = await run.producer.send_messages_and_wait("app1", sms_request(NUMBER))
    r = resp.Result[NUMBER]
    assert r.DeliveryStatus == "SUCCESSFUL", r
    assert sms_sandbox.calls(NUMBER) == 1
    (_path, params), = sms_sandbox.log
    assert params["Body"] == "Your code is 123456" and params["To"] == NUMBER
    outcome, = await run.outcomes(1)
    assert outcome["event_type"].startswith("_SMS.")
    assert outcome["attributes"]["destination_phone_number"] == NUMBER


async def test_opted_out_number_gets_opt_out_with_zero_provider_calls(engine, sink, sms_sandbox, redis):
    await OptOutStore(redis).opt_out("app1", NUMBER, source="keyword")
    run = await engine(channels=[sms_channel(sms_sandbox)])
    resp = await run.producer.send_messages_and_wait("app1", sms_request(NUMBER))
    assert resp.Result[NUMBER].DeliveryStatus == "OPT_OUT"
    assert sms_sandbox.calls(NUMBER) == 0
    assert (await run.outcomes(1))[0]["event_type"] == "_SMS.OPTOUT"
    # the confirmation of a STOP keyword is still sent to the number that just opted out
    reply = sms_request(NUMBER, body="You have been unsubscribed.", Context={"gateway.keyword_reply": "STOP"})
    resp = await run.producer.send_messages_and_wait("app1", reply)
    assert resp.Result[NUMBER].DeliveryStatus == "SUCCESSFUL"
    assert sms_sandbox.calls(NUMBER) == 1


async def test_an_unparseable_number_does_not_fail_the_batch(engine, sink, sms_sandbox, redis):
    run = await engine(channels=[sms_channel(sms_sandbox)])
    req = sms_request("+99911000001")
    req["Addresses"][NUMBER] = {"ChannelType": "SMS"}
    resp = await run.producer.send_messages_and_wait("app1", req)
    assert resp.Result[NUMBER].DeliveryStatus == "SUCCESSFUL"  # its neighbour in the request is unaffected
    assert resp.Result["+99911000001"].DeliveryStatus in ("SUCCESSFUL", "PERMANENT_FAILURE")
