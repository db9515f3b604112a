"""The sandbox SMSC's strict defaults, seen on the wire by a bare client: hex message ids from 1, and a receipt
in the same write as its submit_sm_resp (so a client reads both in one read)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.channels.smpp import dlr, pdu
from gateway.sandbox.smsc import SandboxSmsc


@pytest.fixture
async def smsc() -> AsyncIterator[SandboxSmsc]:
    server = SandboxSmsc()
    await server.start()
    yield server
    await server.close()


def submit(seq: int, dest: str) -> bytes:
    sm = pdu.Sm(command_id=pdu.SUBMIT_SM, source_addr="ACME", source_addr_ton=5, destination_addr=dest,
                dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, short_message=b"hi")
    return pdu.frame(pdu.SUBMIT_SM, 0, seq, pdu.sm_body(sm))


async def test_strict_by_default_hex_ids_from_1_and_receipt_in_the_same_write(smsc: SandboxSmsc) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
    framer = pdu.Framer()
    try:
        body = pdu.encode(pdu.Bind(command_id=pdu.BIND_TRANSCEIVER, system_id="gw", password=""))[16:]
        writer.write(pdu.frame(pdu.BIND_TRANSCEIVER, 0, 1, body))
        ((cid, status, _, _),) = framer.feed(await reader.read(65536))
        assert (cid, status) == (pdu.BIND_TRANSCEIVER_RESP, 0)
        ids = []
        for n in range(1, 18):
            writer.write(submit(n + 1, f"1415555{n:04d}"))
            frames = framer.feed(await reader.read(65536))  # one read: the response and its receipt
            assert [f[0] for f in frames] == [pdu.SUBMIT_SM_RESP, pdu.DELIVER_SM]
            ids.append(pdu.decode_message_id(frames[0][3]))
            receipt = dlr.parse_receipt(pdu.decode_sm(pdu.DELIVER_SM, frames[1][2], frames[1][3]))
            assert receipt.message_id == ids[-1] and receipt.state == dlr.DELIVERED
            writer.write(pdu.frame(pdu.DELIVER_SM_RESP, 0, frames[1][2], b"\0"))
        assert ids == [format(n, "X") for n in range(1, 18)]  # ..., "F", "10", "11"
    finally:
        writer.close()
