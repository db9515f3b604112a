"""Pinpoint-shaped event records, one per outcome, written to the events stream.

The envelope follows Pinpoint's event stream format (pinpoint.md §7): event_type, event_timestamp,
arrival_timestamp, event_version "3.1", application, client, device, session, attributes, metrics, facets. Each
stream entry has fields `app`, `event_type` and `record` (the JSON record), so consumers can filter without
decoding. Families without a Pinpoint event name use the same naming scheme (`_push.*`, `_voice.*`, `_custom.*`).
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode

# Event type prefix per Pinpoint ChannelType, and the event for outcomes decided before any channel ran.
FAMILY = {
    "EMAIL": "_email",
    "SMS": "_SMS",
    "VOICE": "_voice",
    "PUSH": "_push", "GCM": "_push", "APNS": "_push", "APNS_SANDBOX": "_push", "APNS_VOIP": "_push",
    "APNS_VOIP_SANDBOX": "_push", "ADM": "_push", "BAIDU": "_push",
    "CUSTOM": "_custom",
    "IN_APP": "_inapp",
}


def rejected_event(channel_type: str, status: str) -> str:
    """Event type for a recipient that never reached a channel (opted out, suppressed, inactive, no channel...)."""
    family = FAMILY.get(channel_type, "_message")
    if family == "_SMS":
        return "_SMS.OPTOUT" if status == "OPT_OUT" else "_SMS.FAILURE"
    return family + ".rejected"


def message_record(
    *,
    event_type: str,
    app: str,
    now_ms: int,
    message_id: str,
    request_id: str,
    channel_type: str,
    address: str,
    endpoint_id: str | None,
    delivery_status: str,
    status_code: int,
    status_message: str,
    attempt: int,
    trace_id: str | None,
    context: dict[str, str] | None,
    from_address: str | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    """One messaging event record (event_version 3.1) as JSON bytes."""
    attributes: dict[str, Any] = {
        "message_id": message_id,
        "request_id": request_id,
        "channel_type": channel_type,
        "delivery_status": delivery_status,
        "status_code": str(status_code),
        "status_message": status_message,
        "attempt": str(attempt),
    }
    if trace_id:
        attributes["trace_id"] = trace_id
    if context:
        for k, v in context.items():
            attributes.setdefault(k, v)
    if extra:
        attributes.update(extra)
    record: dict[str, Any] = {
        "event_type": event_type,
        "event_timestamp": now_ms,
        "arrival_timestamp": now_ms,
        "event_version": "3.1",
        "application": {"app_id": app, "sdk": {}},
        "client": {"client_id": endpoint_id or message_id},
        "device": {"platform": {}},
        "session": {},
        "attributes": attributes,
        "metrics": {},
    }
    if channel_type == "EMAIL":
        event_name = event_type.split(".", 1)[-1]
        attributes["feedback"] = {"delivered": "delivered", "send": "received"}.get(event_name, event_name)
        record["facets"] = {
            "email_channel": {
                "mail_event": {
                    "mail": {
                        "message_id": message_id,
                        "message_send_timestamp": now_ms,
                        "from_address": from_address or "",
                        "destination": [address],
                    },
                    event_name: {"smtp_response": status_message} if event_name != "send" else {},
                }
            }
        }
    elif channel_type == "SMS":
        attributes["destination_phone_number"] = address
    else:
        attributes["address"] = address
    return _encode(record)
