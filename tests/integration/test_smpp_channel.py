"""The SMPP channel against the sandbox SMSC and a real Redis: every command_status path (T19), receipts across a
channel restart, MO messages, window backpressure, multi-part sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import errors
from gateway.channels.base import Runtime
from gateway.channels.smpp import SmppChannel, create, dlr, pdu
from gateway.channels.smpp.channel import FAMILY
from gateway.sandbox.smsc import SandboxSmsc
from tests.integration.smpp_support import Hooks, cfg, out, until
from tests.outcomes import event


@pytest.fixture
async def smsc() -> AsyncIterator[SandboxSmsc]:
    server = SandboxSmsc(record=True)
    await server.start()
    yield server
    await server.close()


async def open_channel(server: SandboxSmsc, redis: Any, hooks: Hooks | None = None, **kw: Any) -> SmppChannel:
    ch = create(cfg(server.port, **kw), Runtime(redis, None))
    if hooks is not None:
        ch.on_receipt, ch.on_inbound = hooks.on_receipt, hooks.on_inbound
    await ch.start()
    return ch


async def test_send_and_delivered_receipt(smsc: SandboxSmsc, redis: Any) -> None:
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    try:
        d = await ch.send(out("+14155550100"))
        assert d.event_type == "_SMS.BUFFERED" and d.provider_message_id
        sm = smsc.submitted[0]
        assert (sm.source_addr, sm.source_addr_ton, sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi) == (
            "ACME", 5, "14155550100", 1, 1)
        assert sm.short_message == b"hello" and sm.data_coding == 0 and sm.registered_delivery == 1
        ev = await hooks.receipt()
        assert (ev.event_type, ev.record_status, ev.message_id, ev.app, ev.destination) == (
            "_SMS.SUCCESS", "DELIVERED", "m1", "app1", "+14155550100")
        rec = dlr.receipt_record(ev)
        assert rec["event_type"] == "_SMS.SUCCESS" and rec["application"] == {"app_id": "app1", "sdk": {}}
        assert rec["attributes"]["record_status"] == "DELIVERED"
        assert rec["attributes"]["message_type"] == "Transactional"
        assert ev.provider_message_id.lstrip("0").lower() == d.provider_message_id.lower()
        # the mapping is removed after the final receipt; the SMSC got deliver_sm_resp OK
        await until(lambda: smsc.deliver_resps)
        assert await redis.keys("gw:{app1}:smsid:*") == []
        assert smsc.deliver_resps and all(s == 0 for _, s in smsc.deliver_resps)
    finally:
        await ch.aclose()


@pytest.mark.parametrize(("dest", "state", "record_status"), [
    ("+99902000001", "UNDELIVERABLE", "UNREACHABLE"),
    ("+99903000001", "EXPIRED", "TTL_EXPIRED"),
])
async def test_failed_receipts(smsc: SandboxSmsc, redis: Any, dest: str, state: str, record_status: str) -> None:
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    try:
        await ch.send(out(dest))
        ev = await hooks.receipt()
        assert (ev.event_type, ev.message_state, ev.record_status) == ("_SMS.FAILURE", state, record_status)
    finally:
        await ch.aclose()


async def test_intermediate_then_final_receipt(smsc: SandboxSmsc, redis: Any) -> None:
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    try:
        await ch.send(out("+99905000001"))
        first, second = await hooks.receipt(), await hooks.receipt()
        assert (first.event_type, first.record_status) == ("_SMS.BUFFERED", "PENDING")
        assert second.event_type == "_SMS.SUCCESS"
    finally:
        await ch.aclose()


async def test_throttle_pauses_the_bind_and_retries_the_same_pdu_first(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, window=4, transactional_reserve=0, throttle_pause_s=0.2)
    try:
        throttled = asyncio.create_task(ch.send(out("+99958200001", message_id="t")))
        # wait until the first throttle has closed the gate, then queue others behind it
        session = next(lk.session for lk in ch.links if lk.session is not None)
        while not session.paused:
            await asyncio.sleep(0)
        others = [asyncio.create_task(ch.send(out(f"+1415555{i:04d}", message_id=f"o{i}"))) for i in range(3)]
        await asyncio.sleep(0)
        assert smsc.submit_count == 1  # nothing else was written while the bind is paused
        await asyncio.gather(throttled, *others)
        dests = [s.destination_addr for s in smsc.submitted]
        # the throttled PDU was retried (twice throttled, then accepted) before any other message
        assert dests[:3] == ["99958200001"] * 3
        assert sorted(dests[3:]) == [f"1415555{i:04d}" for i in range(3)]
        assert ch.stats["throttled"] == 2
    finally:
        await ch.aclose()


async def test_persistent_throttling_gives_up_with_throttled(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, throttle_retries=1, throttle_pause_s=0.01)
    try:
        with pytest.raises(errors.Throttled) as info:
            await ch.send(out("+99958900001"))
        assert info.value.code == 0x58 and info.value.retry_after and info.value.retry_after > 0
    finally:
        await ch.aclose()


async def test_queue_full_bounded_retry(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, queue_full_retries=2)
    try:
        assert (await ch.send(out("+99914200001"))).provider_message_id  # two 0x14 then accepted
        with pytest.raises(errors.ProviderUnavailable) as info:
            await ch.send(out("+99914900001"))
        assert info.value.code == 0x14 and info.value.retryable
        assert smsc.counts["99914900001"] == 3  # the first try plus two retries, then given up
    finally:
        await ch.aclose()


async def test_system_error_retry_with_cap(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, system_error_retries=1)
    try:
        assert (await ch.send(out("+99908100001"))).provider_message_id
        with pytest.raises(errors.ProviderUnavailable) as info:
            await ch.send(out("+99908500001"))
        assert info.value.code == 0x08 and smsc.counts["99908500001"] == 2
    finally:
        await ch.aclose()


async def test_permanent_statuses(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis)
    try:
        with pytest.raises(errors.RecipientRejected) as r:
            await ch.send(out("+99911000001"))
        assert r.value.code == 0x0B and not r.value.retryable
        with pytest.raises(errors.ContentRejected) as c:
            await ch.send(out("+99910000001"))
        assert c.value.code == 0x0A
        assert event(FAMILY, r.value) == "_SMS.FAILURE"
        assert smsc.counts == {}  # each tried once, never retried
        assert [s.destination_addr for s in smsc.submitted] == ["99911000001", "99910000001"]
    finally:
        await ch.aclose()


async def test_no_response_is_maybe_sent_never_resent(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, response_timeout_s=0.1)
    try:
        with pytest.raises(errors.MaybeSent):
            await ch.send(out("+99900000001"))
        assert len(smsc.submitted) == 1
        assert (await ch.send(out("+14155550100"))).provider_message_id  # the window slot came back
    finally:
        await ch.aclose()


async def test_unbind_from_smsc_reconnects(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis)
    try:
        with pytest.raises(errors.MaybeSent):
            await ch.send(out("+99906000001"))
        assert (await ch.send(out("+14155550100"))).provider_message_id  # waits for the rebind, then sends
        assert smsc.bind_count == 2
    finally:
        await ch.aclose()


async def test_bind_refused_is_auth_failed(redis: Any) -> None:
    server = SandboxSmsc(credentials={"gw": "right"})
    await server.start()
    ch = create(cfg(server.port, connect_timeout_s=0.3), Runtime(redis, None))
    try:
        await ch.start()
        with pytest.raises(errors.AuthFailed) as info:
            await ch.send(out("+14155550100"))
        assert info.value.code == pdu.ESME_RINVPASWD
    finally:
        await ch.aclose()
        await server.close()


async def test_long_gsm_message_is_concatenated_with_udh(smsc: SandboxSmsc, redis: Any) -> None:
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    try:
        await ch.send(out("+14155550100", body="x" * 152 + "€" + "y" * 20))
        a, b = smsc.submitted
        assert a.esm_class == b.esm_class == 0x40
        assert a.short_message[:5] == b.short_message[:5] == b"\x05\x00\x03" + a.short_message[3:4] + b"\x02"
        assert (a.short_message[5], b.short_message[5]) == (1, 2)
        assert a.short_message[6:] == b"x" * 152 and b.short_message[6:8] == b"\x1b\x65"
        ev = await hooks.receipt()  # one event for the whole message, after both parts are delivered
        assert ev.event_type == "_SMS.SUCCESS" and ev.parts == 2
        assert hooks.receipts.empty()
    finally:
        await ch.aclose()


async def test_payload_and_sar_modes(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, long_messages="payload", registered_delivery=False)
    try:
        await ch.send(out("+14155550100", body="й" * 100))
        (sm,) = smsc.submitted
        assert sm.short_message == b"" and sm.tlvs[pdu.TLV_MESSAGE_PAYLOAD] == ("й" * 100).encode("utf-16-be")
        assert sm.data_coding == 8
    finally:
        await ch.aclose()
    smsc.submitted.clear()
    ch = await open_channel(smsc, redis, long_messages="sar", registered_delivery=False)
    try:
        await ch.send(out("+14155550100", body="a" * 200))
        a, b = smsc.submitted
        assert a.esm_class == 0 and a.tlvs[pdu.TLV_SAR_TOTAL_SEGMENTS] == b"\x02"
        assert (a.tlvs[pdu.TLV_SAR_SEGMENT_SEQNUM], b.tlvs[pdu.TLV_SAR_SEGMENT_SEQNUM]) == (b"\x01", b"\x02")
    finally:
        await ch.aclose()


async def test_too_many_parts_is_content_rejected(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, max_parts=2)
    try:
        with pytest.raises(errors.ContentRejected):
            await ch.send(out("+14155550100", body="a" * 400))
        assert smsc.submitted == []
    finally:
        await ch.aclose()


async def test_receipts_after_a_channel_restart(redis: Any) -> None:
    """Receipts held by the SMSC while the gateway is down arrive on the next bind and still map, with the ids
    only in Redis, from an SMSC that writes decimal ids in its receipts for hex ids (`receipt_id_base`)."""
    server = SandboxSmsc(id_base="hex", receipt_id_base="dec", receipt_style="text", receipt_delay_unit=10.0)
    await server.start()
    try:
        first = await open_channel(server, redis, Hooks(), receipt_id_base="decimal")
        sent = {}
        for i in range(5):
            d = await first.send(out(f"+99901100{i:03d}", message_id=f"m{i}"))  # receipts held back 10 s
            sent[f"m{i}"] = d.provider_message_id
        await first.aclose()
        assert len(await redis.keys("gw:{app1}:smsid:*")) == 5
        hooks = Hooks()
        second = await open_channel(server, redis, hooks, receipt_id_base="decimal")  # a new process
        try:
            for n_text in sent.values():  # the SMSC now delivers the held receipts, decimal ids
                sm = pdu.Sm(command_id=pdu.SUBMIT_SM, source_addr="ACME", destination_addr="1")
                body = server.receipt_body(sm, int(n_text, 16), dlr.DELIVERED)
                server.deliver("gw", body)
            got = {(await hooks.receipt()).message_id for _ in range(5)}
            assert got == set(sent)
        finally:
            await second.aclose()
    finally:
        await server.close()


async def test_mo_message_reaches_on_inbound(smsc: SandboxSmsc, redis: Any) -> None:
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    try:
        await ch.send(out("+99907000001", body="ping"))
        mo = await asyncio.wait_for(hooks.inbound.get(), 5)
        assert (mo.app, mo.origination_number, mo.destination_number, mo.body, mo.source) == (
            "app1", "+99907000001", "ACME", "REPLY ping", "smpp")
        # a two-part UCS-2 MO is reassembled
        text = "Привет, " * 10
        data = text.encode("utf-16-be")
        for i, chunk in enumerate((data[:134], data[134:]), 1):
            smsc.inject_mo("gw", "447700900123", "12345", b"\x05\x00\x03\x07\x02" + bytes((i,)) + chunk, 8, 0x40)
        mo = await asyncio.wait_for(hooks.inbound.get(), 5)
        assert (mo.body, mo.origination_number) == (text, "+447700900123")
    finally:
        await ch.aclose()


async def test_hook_failure_asks_smsc_to_redeliver(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis)
    calls = asyncio.Event()

    async def broken(ev: dlr.ReceiptEvent) -> None:
        calls.set()
        raise RuntimeError("event stream down")

    ch.on_receipt = broken
    try:
        await ch.send(out("+14155550100"))
        await asyncio.wait_for(calls.wait(), 5)
        await until(lambda: smsc.deliver_resps)
        assert smsc.deliver_resps[0][1] == pdu.ESME_RX_T_APPN
        assert len(await redis.keys("gw:{app1}:smsid:*")) == 1  # kept for the redelivery
    finally:
        await ch.aclose()


async def test_window_full_blocks_instead_of_dropping(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, window=2, transactional_reserve=0, response_timeout_s=5.0)
    try:
        stuck = [asyncio.create_task(ch.send(out("+99900000001", message_id=f"s{i}"))) for i in range(2)]
        await until(lambda: smsc.submit_count == 2)
        waiting = asyncio.create_task(ch.send(out("+14155550100", message_id="w")))
        await asyncio.sleep(0.05)
        assert not waiting.done() and smsc.submit_count == 2  # backpressure: waits for a slot
        smsc.kick()  # the stuck ones become MaybeSent; the waiter moves to the new bind
        for t in stuck:
            with pytest.raises(errors.MaybeSent):
                await t
        assert (await waiting).provider_message_id
    finally:
        await ch.aclose()


async def test_transactional_lane_overtakes_promotional(smsc: SandboxSmsc, redis: Any) -> None:
    ch = await open_channel(smsc, redis, window=3, transactional_reserve=1, response_timeout_s=5.0,
                            throttle_pause_s=0.1)
    try:
        gate = asyncio.create_task(ch.send(out("+99958100001", message_id="g", message_type="PROMOTIONAL")))
        session = next(lk.session for lk in ch.links if lk.session is not None)
        while not session.paused:
            await asyncio.sleep(0)
        promo = [asyncio.create_task(ch.send(out(f"+1415555{i:04d}", message_id=f"p{i}",
                                                 message_type="PROMOTIONAL"))) for i in range(4)]
        await asyncio.sleep(0)
        otp = asyncio.create_task(ch.send(out("+14155559999", message_id="otp")))
        await asyncio.gather(gate, otp, *promo)
        dests = [s.destination_addr for s in smsc.submitted]
        assert dests.index("14155559999") < min(dests.index(f"1415555{i:04d}") for i in range(4))
    finally:
        await ch.aclose()


async def test_receipt_that_overtakes_its_submit_resp_still_matches(smsc: SandboxSmsc, redis: Any) -> None:
    """On a receiver bind a receipt can arrive before the transmitter bind's submit_sm_resp: it is looked up
    again shortly instead of being written off as unknown."""
    hooks = Hooks()
    ch = await open_channel(smsc, redis, hooks)
    answers: list[int] = []

    class FakeReply:
        done = False

        def __call__(self, status: int) -> None:
            answers.append(status)

    try:
        receipt = pdu.Sm(command_id=pdu.DELIVER_SM, esm_class=4,
                         short_message=dlr.receipt_text("0ABC", dlr.DELIVERED).encode())
        ch._on_deliver(receipt, FakeReply())  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the receipt loop looks it up and finds nothing yet
        ch.correlator.note("ABC", dlr.Sent(app="app1", message_id="late", destination="+1"))
        ev = await hooks.receipt()
        assert (ev.message_id, ev.event_type) == ("late", "_SMS.SUCCESS")
        await until(lambda: answers == [0])
        assert ch.stats["unmatched_receipts"] == 0
    finally:
        await ch.aclose()
