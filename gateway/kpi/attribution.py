"""Which campaign or journey sent a message, remembered for the events that come back later (opens, clicks,
unsubscribes, late bounces and complaints), so they carry the same attributes as the send's records, as
Pinpoint's do, and count in the campaign's and journey's KPIs (pure: keys, values, what is kept).

The tracking token names only the application, the message and the endpoint; so when the engine sends a tracked
email for a campaign or a journey it also writes `gw:{app}:mattr:<message id>` (the attributes below, as a JSON
object) with the batch's KPI rollups, for `[tracking] attribution_days`. The tracking server reads the records of
a batch of hits in one pipelined round trip (one MGET per application). Late bounces carry them in the sent-mail
record instead (gateway.bounces.sent.SentMail.attributes).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from gateway import keys

#: The send attributes an engagement or late-bounce event inherits (Pinpoint's attribute names).
KEYS = ("campaign_id", "campaign_activity_id", "treatment_id", "journey_id", "journey_activity_id", "journey_run_id")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, str]).decode


def of(context: Mapping[str, str] | None) -> dict[str, str] | None:
    """The attribution in a send's context (None when the message was not sent by a campaign or a journey)."""
    if not context or not (context.get("campaign_id") or context.get("journey_id")):
        return None
    return {k: context[k] for k in KEYS if context.get(k)}


def key(app: str, message_id: str) -> str:
    """`gw:{app}:mattr:<message id>`: in the application's slot."""
    return keys.app_key(app, "mattr", message_id)


def value(attrs: Mapping[str, str]) -> bytes:
    return _encode(attrs)


def decode(raw: bytes | None) -> dict[str, str] | None:
    """A stored record (None when absent or unreadable: the event then counts as transactional)."""
    if raw is None:
        return None
    try:
        got = _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return {k: v for k, v in got.items() if k in KEYS}
