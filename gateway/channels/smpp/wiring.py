"""Connects an SMPP channel's hooks to the rest of the gateway: receipts become Pinpoint event records on the
event stream (batched), incoming messages go through the keyword handler (STOP/HELP/START, `_SMS.INBOUND` events, replies
onto the ingest stream). Called by the channel registry; tests and embedders may set the hooks themselves."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from gateway.channels.smpp import dlr
from gateway.channels.smpp.channel import SmppChannel
from gateway.config import GatewayConfig
from gateway.dispatch import _EMIT, EMIT_CHUNK
from gateway.sms.events import EventSink
from gateway.sms.keywords import KeywordConfig, KeywordHandler, StreamReplier
from gateway.sms.optouts import OptOutStore

_encode = msgspec.json.Encoder().encode


class BatchedStreamSink:
    """The event sink for receipts: the same entries as :class:`RedisStreamSink` (`app`, `event_type`, `record`),
    but every record handed in while a write is in flight goes out in the next single pipeline. Each call returns
    once its record is in the stream (the deliver_sm is answered only then). Receipts arrive as fast as submits;
    one XADD round trip each would need hundreds of connections."""

    def __init__(self, redis: Any, key: str) -> None:
        self._redis = redis
        self._emit = redis.register_script(_EMIT)
        self._key = key
        self._batch: list[dict[str, Any]] = []
        self._done: asyncio.Future[None] | None = None
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, record: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self._batch.append(record)
        if self._done is None:
            self._done = loop.create_future()
        fut = self._done
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())  # referenced: the loop keeps only weak references
        await asyncio.shield(fut)

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, fut = self._batch, self._done
                self._batch, self._done = [], None
                try:
                    args: list[Any] = []
                    for rec in batch:
                        args += (rec["application"]["app_id"], rec["event_type"], _encode(rec))
                    pipe = self._redis.pipeline(transaction=False)
                    for i in range(0, len(args), EMIT_CHUNK):  # the engine's script and chunking
                        await self._emit(keys=[self._key], args=args[i:i + EMIT_CHUNK], client=pipe)
                    await pipe.execute()
                except Exception as exc:
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                else:
                    if fut is not None and not fut.done():
                        fut.set_result(None)
        finally:
            self._flushing = False


def wire(channel: SmppChannel, cfg: GatewayConfig, redis: Any, sink: EventSink | None = None) -> None:
    """Set `on_receipt` (event stream) and `on_inbound` (keywords) on `channel`."""
    events = sink if sink is not None else BatchedStreamSink(redis, cfg.stream.events_key)

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
