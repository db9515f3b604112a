"""Helpers shared by the SMPP integration tests."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from gateway.channels.base import Outbound, Recipient
from gateway.channels.smpp import dlr
from gateway.channels.sms_content import SmsContent
from gateway.config import SmppChannelConfig
from gateway.sms.keywords import InboundMessage


def cfg(port: int, **kw: Any) -> SmppChannelConfig:
    base: dict[str, Any] = dict(port=port, system_id="gw", connect_timeout_s=2.0, response_timeout_s=2.0,
                                throttle_pause_s=0.05, retry_backoff_s=0.01, reconnect_base_s=0.02,
                                reconnect_cap_s=0.1, enquire_link_s=5.0, inbound_app="app1")
    base.update(kw)
    return msgspec.convert(base, SmppChannelConfig)


def out(dest: str, body: str = "hello", message_id: str = "m1", app: str = "app1",
        message_type: str = "TRANSACTIONAL") -> Outbound:
    return Outbound(message_id=message_id, app=app,
                    recipient=Recipient(key=dest, address=dest, channel_type="SMS"),
                    content=SmsContent(body=body, sender_id="ACME", message_type=message_type))  # type: ignore[arg-type]


async def until(cond: Any, timeout: float = 5.0) -> None:
    """Wait for a condition the event loop makes true (polled each loop turn, bounded)."""
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(poll(), timeout)


class Hooks:
    def __init__(self) -> None:
        self.receipts: asyncio.Queue[dlr.ReceiptEvent] = asyncio.Queue()
        self.inbound: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def on_receipt(self, ev: dlr.ReceiptEvent) -> None:
        await self.receipts.put(ev)

    async def on_inbound(self, mo: InboundMessage) -> None:
        await self.inbound.put(mo)

    async def receipt(self) -> dlr.ReceiptEvent:
        return await asyncio.wait_for(self.receipts.get(), 5)
