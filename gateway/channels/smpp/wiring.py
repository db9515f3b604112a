"""Connects an SMPP channel's hooks to the rest of the gateway: receipts become Pinpoint event records on the
event stream (batched), incoming messages go through the keyword handler (STOP/HELP/START, `_SMS.INBOUND` events, replies
onto the ingest stream). Called by the channel registry; tests and embedders may set the hooks themselves."""

from __future__ import annotations

from typing import Any

from gateway.channels.smpp import dlr
from gateway.channels.smpp.channel import SmppChannel
from gateway.config import GatewayConfig
from gateway.events import EventStreamSink
from gateway.sms.events import EventSink
from gateway.sms.server import keyword_handler


def wire(channel: SmppChannel, cfg: GatewayConfig, redis: Any, sink: EventSink | None = None) -> None:
    """Set `on_receipt` (event stream) and `on_inbound` (keywords) on `channel`."""
    events = sink if sink is not None else EventStreamSink(redis, cfg.stream.events_key, rollups=cfg.events.rollups,
                                                           retention_days=cfg.events.retention_days)

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        await events(dlr.receipt_record(ev))

    handler = keyword_handler(cfg, redis, events)
    channel.on_receipt = on_receipt
    channel.on_inbound = handler.handle
