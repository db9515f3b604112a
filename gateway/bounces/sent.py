"""What the engine remembers of each accepted email, so a report that arrives later maps to it (pure: the key and
the value; the dispatcher writes them with the outcome, in the batch's one transaction, and the listener reads
them).

`gw:mailsent:{<process prefix>}:<counter>` (see :func:`key`) holds :class:`SentMail` (a JSON array) for the
channel's `sent_ttl_s`. The key has no application in it because a report names only the message (its
Message-ID `<message id@helo name>` or its VERP token); its hash tag is the message id's per-process prefix, so
the records of one batch are written in one script call on Redis Cluster too, and read one key at a time.
"""

from __future__ import annotations

import msgspec

_encode = msgspec.json.Encoder().encode


class SentMail(msgspec.Struct, frozen=True, array_like=True):
    """One accepted email: which application sent it, to which address and endpoint, from which address, and the
    campaign or journey attributes of the send (gateway.kpi.attribution), which its late bounces carry."""

    app: str
    message_id: str
    address: str
    endpoint_id: str | None = None
    from_address: str | None = None
    attributes: dict[str, str] | None = None


_decode_sent = msgspec.json.Decoder(SentMail).decode


def key(message_id: str) -> str:
    """`gw:mailsent:{<process prefix>}:<counter>` for the engine's `<12 hex>-<12 hex>` ids, so one batch's records
    share a hash slot and go out in one script call; `gw:mailsent:{<id>}` for any other id."""
    if len(message_id) == 25 and message_id[12] == "-":
        return "gw:mailsent:{" + message_id[:12] + "}:" + message_id[13:]
    return "gw:mailsent:{" + message_id + "}"


def value(sent: SentMail) -> bytes:
    return _encode(sent)


def decode(raw: bytes) -> SentMail:
    """A stored record; raises msgspec.DecodeError (or ValidationError) if it is not one."""
    return _decode_sent(raw)


def message_id_of(header: str) -> str | None:
    """The engine's message id inside a Message-ID header value `<id@domain>` (None if it has no such shape)."""
    value_ = header.strip()
    if value_.startswith("<") and value_.endswith(">"):
        value_ = value_[1:-1]
    local, at, _ = value_.rpartition("@")
    if not at or not local or len(local) > 200 or any(c.isspace() or c in "<>{}" for c in local):
        return None
    return local


__all__ = ["SentMail", "decode", "key", "message_id_of", "value"]
