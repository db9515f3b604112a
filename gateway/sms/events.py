"""Pinpoint-shaped SMS/voice event records for inbound traffic (receipts, incoming messages, opt-outs) and the
sink they go to.

Record envelope as in pinpoint.md §7: event_type, event_timestamp, arrival_timestamp, event_version "3.1",
application{app_id, sdk{}}, client{client_id}, attributes, metrics. `_SMS.SUCCESS`, `_SMS.FAILURE`,
`_SMS.BUFFERED` and `_SMS.OPTOUT` are Pinpoint's names. Pinpoint publishes incoming messages to SNS rather than
the event stream and names no event for them; ours are `_SMS.INBOUND` with the SNS payload's fields as
attributes (originationNumber, destinationNumber, messageKeyword, messageBody, inboundMessageId). Voice
receipts are `_VOICE.<STATUS>` (End User Messaging v2 voice statuses).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import msgspec

SMS_SUCCESS = "_SMS.SUCCESS"
SMS_FAILURE = "_SMS.FAILURE"
SMS_BUFFERED = "_SMS.BUFFERED"
SMS_OPTOUT = "_SMS.OPTOUT"
SMS_INBOUND = "_SMS.INBOUND"


class EventSink(Protocol):
    """Where event records go (the lead's event writer, or :class:`RedisStreamSink`)."""

    async def __call__(self, record: dict[str, Any]) -> None: ...


def record(event_type: str, app: str, attributes: dict[str, Any], *, client_id: str | None = None,
           metrics: dict[str, float] | None = None, event_ms: int | None = None) -> dict[str, Any]:
    """One event record; attributes with None values are left out."""
    now = int(time.time() * 1000)
    return {
        "event_type": event_type,
        "event_timestamp": event_ms if event_ms is not None else now,
        "arrival_timestamp": now,
        "event_version": "3.1",
        "application": {"app_id": app, "sdk": {}},
        "client": {"client_id": client_id} if client_id else {},
        "device": {},
        "session": {},
        "attributes": {k: v for k, v in attributes.items() if v is not None},
        "metrics": metrics or {},
    }


class RedisStreamSink:
    """XADD each record to the event stream (default `gateway:events`) with the engine's entry fields:
    `app`, `event_type` and `record` (the JSON record)."""

    def __init__(self, redis: Any, key: str = "gateway:events") -> None:
        self._redis = redis
        self._key = key

    async def __call__(self, record: dict[str, Any]) -> None:
        await self._redis.xadd(self._key, {
            "app": record["application"]["app_id"],
            "event_type": record["event_type"],
            "record": msgspec.json.encode(record),
        })
