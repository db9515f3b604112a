"""SMS over SMPP through the whole engine: stream → dispatcher → SMPP channel → sandbox SMSC, receipts and MO
messages back onto the event stream through the registry's wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.sandbox.smsc import SandboxSmsc
from gateway.sandbox.smtp import SmtpSink
from tests.integration.smpp_support import until

NUMBER = "+14155550100"


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    """The engine fixture wants an SMTP sink; one variant is enough here."""
    s = await SmtpSink().start()
    yield s
    await s.aclose()


@pytest.fixture
async def smsc() -> AsyncIterator[SandboxSmsc]:
    server = SandboxSmsc(record=True)
    await server.start()
    yield server
    await server.close()


def smpp_channel(server: SandboxSmsc) -> dict[str, Any]:
    return {"kind": "smpp", "port": server.port, "system_id": "gw", "response_timeout_s": 0.3,
            "retry_backoff_s": 0.01, "throttle_pause_s": 0.02, "inbound_app": "app1"}


def sms_request(number: str, body: str = "Your code is {{code}}") -> dict[str, Any]:
    return {"Addresses": {number: {"ChannelType": "SMS"}},
            "MessageConfiguration": {"SMSMessage": {"Body": body, "MessageType": "TRANSACTIONAL",
                                                    "OriginationNumber": "+14155550199",
                                                    "Substitutions": {"code": ["123456"]}}}}


async def test_sms_is_submitted_and_its_receipt_becomes_an_event(engine: Any, smsc: SandboxSmsc) -> None:
    run = await engine(channels=[smpp_channel(smsc)])
    resp = await run.producer.send_messages_and_wait("app1", sms_request(NUMBER))
    r = resp.Result[NUMBER]
    assert r.DeliveryStatus == "SUCCESSFUL", r
    (sm,) = smsc.submitted
    assert sm.short_message == b"Your code is 123456"
    assert (sm.source_addr, sm.source_addr_ton, sm.destination_addr) == ("14155550199", 1, "14155550100")
    ev = (await run.outcomes(1, where=lambda e: e["event_type"] == "_SMS.SUCCESS"))[0]
    assert ev["attributes"]["record_status"] == "DELIVERED"
    assert ev["attributes"]["message_id"] == r.MessageId
    assert ev["application"]["app_id"] == "app1"


async def test_command_statuses_map_to_delivery_statuses(engine: Any, smsc: SandboxSmsc) -> None:
    run = await engine(channels=[smpp_channel(smsc)])
    cases = {"+15559991100": "PERMANENT_FAILURE", "+15559990000": "UNKNOWN_FAILURE", "+15559995811": "SUCCESSFUL"}
    for number, status in cases.items():
        resp = await run.producer.send_messages_and_wait("app1", sms_request(number))
        assert resp.Result[number].DeliveryStatus == status
    # each written once, except the throttled one, retried inside the channel after the bind's pause
    assert [s.destination_addr for s in smsc.submitted] == ["15559991100", "15559990000", "15559995811",
                                                            "15559995811"]


async def test_mo_stop_then_send_makes_no_provider_call(engine: Any, smsc: SandboxSmsc, redis: Any) -> None:
    run = await engine(channels=[smpp_channel(smsc)])
    await until(lambda: any(s.can_receive for s in smsc.sessions))
    smsc.inject_mo("gw", "14155550100", "14155550199", b"stop ")
    await run.outcomes(1, where=lambda e: e["event_type"] == "_SMS.INBOUND")
    # the STOP confirmation goes out, then a normal send is refused locally
    await until(lambda: len(smsc.submitted) == 1)
    resp = await run.producer.send_messages_and_wait("app1", sms_request(NUMBER))
    assert resp.Result[NUMBER].DeliveryStatus == "OPT_OUT"
    assert len(smsc.submitted) == 1
