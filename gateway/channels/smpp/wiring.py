"""Connects an SMPP channel's hooks to the rest of the gateway: receipts become Pinpoint event records on the
event stream, incoming messages go through the keyword handler (STOP/HELP/START, `_SMS.INBOUND` events, replies
onto the ingest stream). Called by the channel registry; tests and embedders may set the hooks themselves."""

from __future__ import annotations

from typing import Any

from gateway.channels.smpp import dlr
from gateway.channels.smpp.channel import SmppChannel
from gateway.config import GatewayConfig
from gateway.sms.events import EventSink, RedisStreamSink
from gateway.sms.keywords import KeywordConfig, KeywordHandler, StreamReplier
from gateway.sms.optouts import OptOutStore


def wire(channel: SmppChannel, cfg: GatewayConfig, redis: Any, sink: EventSink | None = None) -> None:
    """Set `on_receipt` (event stream) and `on_inbound` (keywords) on `channel`."""
    events = sink if sink is not None else RedisStreamSink(redis, cfg.stream.events_key)

    async def on_receipt(ev: dlr.ReceiptEvent) -> None:
        await events(dlr.receipt_record(ev))

    section = cfg.inbound
    keywords = (KeywordConfig(help_text=section.help_text, stop_text=section.stop_text,
                              start_text=section.start_text, self_managed=section.self_managed)
                if section is not None else KeywordConfig())
    handler = KeywordHandler(OptOutStore(redis), events, StreamReplier(redis, cfg.stream.send_key),
                             config_for=lambda app: keywords)
    channel.on_receipt = on_receipt
    channel.on_inbound = handler.handle
