"""Pinpoint event records for engagement: `_email.open`, `_email.click`, `_email.unsubscribe` (pure).

Same envelope as the dispatcher's records (gateway.events.envelope, event_version 3.1); `attributes.feedback` is
"opened", the clicked URL, or "unsubscribed" as in Pinpoint's email event stream, and
`facets.email_channel.mail_event` holds `mail` and an object named after the event (`open`/`click`
{ip_address, user_agent, timestamp, link}).
"""

from __future__ import annotations

from typing import Any

from gateway.events import envelope
from gateway.tracking.tokens import CLICK, OPEN, Token

EVENT_TYPES = {OPEN: "_email.open", CLICK: "_email.click", "u": "_email.unsubscribe"}
_OBJECTS = {OPEN: "open", CLICK: "click", "u": "unsubscribe"}


def engagement_record(token: Token, *, now_ms: int, ip: str, user_agent: str,
                      address: str = "") -> dict[str, Any]:
    """The event record of one open, click or unsubscribe."""
    feedback = "opened" if token.kind == OPEN else token.url if token.kind == CLICK else "unsubscribed"
    attributes: dict[str, Any] = {"message_id": token.message_id, "channel_type": "EMAIL", "feedback": feedback}
    event: dict[str, Any] = {"ip_address": ip, "user_agent": user_agent, "timestamp": now_ms}
    if token.kind == CLICK:
        event["link"] = token.url
        attributes["link_index"] = str(token.link)
    record = envelope(EVENT_TYPES[token.kind], token.app, attributes,
                      client_id=token.endpoint_id or token.message_id, now_ms=now_ms)
    if token.endpoint_id:
        attributes["endpoint_id"] = token.endpoint_id
    dest = address or token.address
    record["facets"] = {"email_channel": {"mail_event": {
        "mail": {"message_id": token.message_id, "destination": [dest] if dest else []},
        _OBJECTS[token.kind]: event,
    }}}
    return record
