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

from typing import Any, Protocol

from gateway.events import envelope

SMS_SUCCESS = "_SMS.SUCCESS"
SMS_FAILURE = "_SMS.FAILURE"
SMS_BUFFERED = "_SMS.BUFFERED"
SMS_OPTOUT = "_SMS.OPTOUT"
SMS_INBOUND = "_SMS.INBOUND"


class EventSink(Protocol):
    """Where event records go (usually :class:`gateway.events.EventStreamSink`)."""

    async def __call__(self, record: dict[str, Any]) -> None: ...


def record(event_type: str, app: str, attributes: dict[str, Any], *, client_id: str | None = None,
           metrics: dict[str, float] | None = None, event_ms: int | None = None) -> dict[str, Any]:
    """One event record in the engine's envelope; attributes with None values are left out."""
    return envelope(event_type, app, {k: v for k, v in attributes.items() if v is not None}, client_id=client_id,
                    event_ms=event_ms, metrics=metrics)
