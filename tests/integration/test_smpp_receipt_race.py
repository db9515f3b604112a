"""Receipts that arrive in the same TCP read as their submit_sm_resp, from an SMSC that numbers its messages in hex
from 1 (so a small id read in the other base is the live id of another message).

The channel runs on a scripted transport: the test decides exactly which bytes arrive in which read, and in which
loop turn, so the race is reproduced every time, not by chance."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.channels.base import Runtime
from gateway.channels.smpp import SmppChannel, create, dlr, pdu
from gateway.channels.smpp.held import HeldReceipts
from gateway.channels.smpp.session import SmppSession
from tests.integration.smpp_support import cfg, out, until


class ScriptedTransport:
    """Collects what the session writes; the test feeds the session's data_received itself."""

    def __init__(self) -> None:
        self.framer = pdu.Framer()
        self.frames: list[tuple[int, int, int, bytes]] = []
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.frames += self.framer.feed(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def take(self, command_id: int) -> list[tuple[int, bytes]]:
        got = [(seq, body) for cid, _, seq, body in self.frames if cid == command_id]
        self.frames = [f for f in self.frames if f[0] != command_id]
        return got


def receipt(smsc_id: str, state: int, seq: int) -> bytes:
    sm = pdu.Sm(command_id=pdu.DELIVER_SM, source_addr="14155550100", destination_addr="ACME", esm_class=4,
                short_message=dlr.receipt_text(smsc_id, state).encode())
    return pdu.frame(pdu.DELIVER_SM, 0, seq, pdu.sm_body(sm))


def resp(seq: int, smsc_id: str) -> bytes:
    return pdu.frame(pdu.SUBMIT_SM_RESP, 0, seq, smsc_id.encode() + b"\0")


async def scripted_channel(redis: Any, **kw: Any) -> tuple[SmppChannel, SmppSession, ScriptedTransport]:
    ch = create(cfg(2775, window=32, transactional_reserve=0, **kw), Runtime(redis, None))
    link = ch.links[0]
    session = ch.new_session(link)
    transport = ScriptedTransport()
    session.connection_made(transport)  # type: ignore[arg-type]
    session.bound = True
    link.session = session
    ch.link_up(link)
    return ch, session, transport


async def shut(ch: SmppChannel, session: SmppSession) -> None:
    session.connection_lost(None)  # the scripted SMSC would never answer the unbind
    ch.links[0].session = None
    await ch.aclose()


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_same_read_receipt_with_hex_ids_from_1_is_not_misattributed(redis: Any) -> None:
    """Sixteen messages get SMSC ids 1..F and 10 (hex). One read brings m1's receipt, then m16's submit_sm_resp
    (id "10") and m16's receipt: the receipt for "10" must be matched to m16, never to m10 (whose id "A" is
    decimal 10), and m10's own receipt later still finds m10."""
    ch, session, transport = await scripted_channel(redis)
    events: list[tuple[str, str]] = []

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        events.append((ev.message_id, ev.event_type))

    ch.on_receipt = on_receipt
    try:
        sends = [asyncio.create_task(ch.send(out(f"+1415555{i:04d}", message_id=f"m{i}"))) for i in range(1, 17)]
        await turns()
        submits = transport.take(pdu.SUBMIT_SM)
        assert len(submits) == 16
        seq_of = {pdu.decode_sm(pdu.SUBMIT_SM, s, b).destination_addr: s for s, b in submits}
        session.data_received(b"".join(resp(seq_of[f"1415555{i:04d}"], format(i, "X")) for i in range(1, 16)))
        await turns()
        session.data_received(receipt("1", dlr.DELIVERED, 1) + resp(seq_of["14155550016"], "10")
                              + receipt("10", dlr.DELIVERED, 2))
        await asyncio.wait_for(asyncio.gather(*sends), 5)
        await until_answered(transport, 2)
        assert sorted(events) == [("m1", dlr.SUCCESS_EVENT), ("m16", dlr.SUCCESS_EVENT)]
        session.data_received(receipt("A", dlr.DELIVERED, 3))
        await until_answered(transport, 3)
        assert events[2:] == [("m10", dlr.SUCCESS_EVENT)]
    finally:
        await shut(ch, session)


async def until_answered(transport: ScriptedTransport, n: int) -> None:
    async def poll() -> None:
        while len([f for f in transport.frames if f[0] == pdu.DELIVER_SM_RESP]) < n:
            await asyncio.sleep(0.001)
    await asyncio.wait_for(poll(), 5)
    assert all(status == 0 for cid, status, _, _ in transport.frames if cid == pdu.DELIVER_SM_RESP)


async def test_a_receipt_matching_nothing_is_held_then_unknown_never_guessed(redis: Any) -> None:
    """A receipt for "10" while only "A" (decimal 10) is live: held (unanswered) for its look-ups, then
    acknowledged as unknown; m10 gets no event from it."""
    ch, session, transport = await scripted_channel(redis)
    ch.held = HeldReceipts(delays=(0.01, 0.2))
    events: list[tuple[str, str]] = []

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        events.append((ev.message_id, ev.event_type))

    ch.on_receipt = on_receipt
    try:
        send = asyncio.create_task(ch.send(out("+14155550010", message_id="m10")))
        await turns()
        ((seq, _),) = transport.take(pdu.SUBMIT_SM)
        session.data_received(resp(seq, "A") + receipt("10", dlr.DELIVERED, 1))
        await send
        await until(lambda: len(ch.held) == 1 and ch.stats["receipts"] == 1)
        assert not [f for f in transport.frames if f[0] == pdu.DELIVER_SM_RESP]  # waiting, not guessed
        await until_answered(transport, 1)
        assert events == [] and ch.stats["unmatched_receipts"] == 1 and len(ch.held) == 0
        session.data_received(receipt("A", dlr.DELIVERED, 2))
        await until_answered(transport, 2)
        assert events == [("m10", dlr.SUCCESS_EVENT)]
    finally:
        await shut(ch, session)


async def test_other_base_only_when_configured(redis: Any) -> None:
    ch, session, transport = await scripted_channel(redis, receipt_id_base="decimal")
    events: list[tuple[str, str]] = []

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        events.append((ev.message_id, ev.event_type))

    ch.on_receipt = on_receipt
    try:
        send = asyncio.create_task(ch.send(out("+14155550010", message_id="m10")))
        await turns()
        ((seq, _),) = transport.take(pdu.SUBMIT_SM)
        session.data_received(resp(seq, "A") + receipt("10", dlr.DELIVERED, 1))  # decimal 10 for hex A
        await send
        await until_answered(transport, 1)
        assert events == [("m10", dlr.SUCCESS_EVENT)]
    finally:
        await shut(ch, session)
