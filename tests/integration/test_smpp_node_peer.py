"""The SMPP channel against an SMSC that is not ours: node's `smpp` package (tests/peers/smsc.js), which numbers
messages in hex from 1 and writes each submit_sm_resp and its receipt in one write. It decodes what we send with
its own GSM 03.38 / UCS-2 code and reassembles concatenated parts, so encoding bugs cannot hide behind our own
decoder."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.channels.base import Runtime
from gateway.channels.smpp import create, dlr
from tests.integration.smpp_support import cfg, out, until
from tests.peers.node_smsc import NodeSmsc, node_smsc


@pytest.fixture
async def peer() -> AsyncIterator[NodeSmsc]:
    async with node_smsc() as p:
        yield p


REPEAT = 150  # 600 messages, about 1,000 parts: many responses and receipts share a read
TEXTS = {
    "gsm7": "Your code is 123456 {€} [ok]",
    "ucs2": "Код 123456 ✓",
    "gsm7-long": "".join(f"line {i}: ^~|\\ " for i in range(20)),  # extension characters across part edges
    "ucs2-long": "Привет 👋 " * 20,  # surrogate pairs across part edges
}


@pytest.mark.parametrize("long_messages", ["udh", "sar"])
async def test_content_ids_and_receipts_against_node_smpp(peer: NodeSmsc, redis: Any, long_messages: str) -> None:
    events: list[dlr.ReceiptEvent] = []

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        events.append(ev)

    ch = create(cfg(peer.port, binds=2, window=64, transactional_reserve=0, long_messages=long_messages),
                Runtime(redis, None))
    ch.on_receipt = on_receipt
    try:
        await ch.start()
        sends = [ch.send(out(f"+1415555{i:04d}", body=TEXTS[kind], message_id=f"{kind}-{i}"))
                 for i, kind in enumerate(list(TEXTS) * REPEAT)]
        delivered = await asyncio.gather(*sends)
        await until(lambda: len(events) == len(sends))
        stats = await peer.stats()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while stats["unanswered"] and loop.time() < deadline:  # a batch's answers leave after its events are stored
            await asyncio.sleep(0.01)
            stats = await peer.stats()
        assert stats["unanswered"] == 0 and stats["deliver_errors"] == {}
        assert stats["deliver_ok"] == stats["receipts"] == stats["same_write"] == stats["submits"]
        # the peer's own decoding of what we sent
        got = {dest: (text, parts, coding) for dest, text, parts, coding in await peer.messages()}
        for i, kind in enumerate(list(TEXTS) * REPEAT):
            text, parts, coding = got[f"1415555{i:04d}"]
            assert text == TEXTS[kind] and coding == (8 if kind.startswith("ucs2") else 0)
            assert (parts > 1) == kind.endswith("long")
        # ids are the peer's hex numbers from 1; one SUCCESS per message, for the right message
        assert sorted(int(d.provider_message_id, 16) for d in delivered)[:3] == [1, 2, 3]
        assert Counter((e.message_id, e.event_type) for e in events) == Counter(
            {(f"{kind}-{i}", "_SMS.SUCCESS"): 1 for i, kind in enumerate(list(TEXTS) * REPEAT)})
        assert ch.stats["unmatched_receipts"] == 0
    finally:
        await ch.aclose()
