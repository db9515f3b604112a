"""Stream entries ⇄ send requests.

The contract (README "Stream contract"): field `app`, field `request` (JSON of Pinpoint's MessageRequest, or of
SendUsersMessageRequest when `kind` is `users`), optional `idempotency_key`, `reply_to` (a key under
`keys.REPLY_PREFIX`, nothing else) and `deadline_ms` (Unix time in milliseconds after which the request is not
sent: its recipients end PERMANENT_FAILURE; campaigns set it from MaximumDuration and the five-minute rule of
event-triggered sends). Fields the engine
adds when it re-enqueues a retry: `attempt`, `only` (JSON list of the recipient keys still to send),
`message_ids` (JSON map key → message id, so a retry keeps its ids) and `origin` (the first entry's id).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gateway import keys
from gateway.errors import DecodeError
from gateway.models import MessageRequest, SendUsersMessageRequest

MAX_REQUEST_BYTES = 7 * 1024 * 1024  # Pinpoint's API payload limit
_KINDS: dict[str, Literal["messages", "users"]] = {"messages": "messages", "users": "users"}
_APP_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

_messages = msgspec.json.Decoder(MessageRequest)
_users = msgspec.json.Decoder(SendUsersMessageRequest)
_keys = msgspec.json.Decoder(list[str])
_ids = msgspec.json.Decoder(dict[str, str])
_encode = msgspec.json.Encoder().encode


class SendEntry(msgspec.Struct, kw_only=True):
    """One decoded stream entry."""

    id: str
    app: str
    kind: Literal["messages", "users"]
    request: MessageRequest | SendUsersMessageRequest
    idempotency_key: str | None = None
    reply_to: str | None = None
    deadline_ms: int | None = None
    attempt: int = 1
    only: list[str] | None = None
    message_ids: dict[str, str] | None = None
    origin: str = ""

    @property
    def request_id(self) -> str:
        return self.origin or self.id


def _text(fields: dict[bytes, bytes], name: bytes, required: bool = False) -> str | None:
    raw = fields.get(name)
    if raw is None:
        if required:
            raise DecodeError(f"missing field '{name.decode()}'")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"field '{name.decode()}' is not valid UTF-8 (byte {exc.start})") from None


def decode(entry_id: str, fields: dict[bytes, bytes]) -> SendEntry:
    """Decode a raw entry; raises DecodeError naming the field and what is wrong with it."""
    app = _text(fields, b"app", True) or ""
    if not app or len(app) > 128 or not set(app) <= _APP_OK:
        raise DecodeError("field 'app' must be 1-128 characters of letters, digits, '-', '_' or '.'")
    given = _text(fields, b"kind") or "messages"
    kind = _KINDS.get(given)
    if kind is None:
        raise DecodeError(f"field 'kind' must be 'messages' or 'users', got {given[:40]!r}")
    raw = fields.get(b"request")
    if raw is None:
        raise DecodeError("missing field 'request'")
    if len(raw) > MAX_REQUEST_BYTES:
        raise DecodeError(f"field 'request' is {len(raw)} bytes; the limit is {MAX_REQUEST_BYTES}")
    try:
        request: MessageRequest | SendUsersMessageRequest = (_users if kind == "users" else _messages).decode(raw)
    except msgspec.DecodeError as exc:
        shape = "SendUsersMessageRequest" if kind == "users" else "MessageRequest"
        raise DecodeError(f"field 'request' is not a valid {shape}: {exc}") from None
    except RecursionError:  # msgspec skips unknown members recursively: deep nesting anywhere ends here
        raise DecodeError("field 'request' is nested too deeply to be a request") from None
    if isinstance(request, MessageRequest) and not request.Addresses and not request.Endpoints:
        raise DecodeError("field 'request' has no recipients: set Addresses or Endpoints")
    if isinstance(request, MessageRequest):
        n = len(request.Addresses or {}) + len(request.Endpoints or {})
        if n > 100:
            raise DecodeError(f"field 'request' has {n} recipients; the limit is 100 per request")
    elif len(request.Users) > 100 or not request.Users:
        raise DecodeError("field 'request' must name 1 to 100 Users")
    idem = _text(fields, b"idempotency_key")
    if idem is not None and not 1 <= len(idem) <= 256:
        raise DecodeError("field 'idempotency_key' must be 1-256 characters")
    reply_to = _text(fields, b"reply_to")
    if reply_to is not None and not keys.is_reply(reply_to):
        raise _bad_reply_to()
    deadline_ms = _deadline(fields.get(b"deadline_ms"))
    try:
        attempt = int(fields.get(b"attempt", b"1"))
        only = _keys.decode(fields[b"only"]) if b"only" in fields else None
        message_ids = _ids.decode(fields[b"message_ids"]) if b"message_ids" in fields else None
    except (ValueError, msgspec.DecodeError, RecursionError) as exc:
        raise DecodeError(f"retry fields are corrupt: {exc}") from None
    return SendEntry(
        id=entry_id, app=app, kind=kind,
        request=request, idempotency_key=idem, reply_to=reply_to, deadline_ms=deadline_ms, attempt=attempt, only=only,
        message_ids=message_ids, origin=_text(fields, b"origin") or "",
    )


#: The largest deadline accepted: the year 9999 (a larger number is a mistake, not a deadline).
_MAX_DEADLINE_MS = 253_402_300_799_999


def _deadline(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 15 or not 0 < int(raw) <= _MAX_DEADLINE_MS:
        raise DecodeError(f"field 'deadline_ms' must be a Unix time in milliseconds (1 to {_MAX_DEADLINE_MS}), "
                          f"got {raw[:40]!r}")
    return int(raw)


def _bad_reply_to() -> DecodeError:
    return DecodeError(f"field 'reply_to' must be a reply key: '{keys.REPLY_PREFIX}' followed by 1-"
                       f"{keys.REPLY_TOKEN_MAX} of letters, digits, '-', '_' or '.' (the reply is pushed there and "
                       "the key expired; no other key is ever written)")


def retry_fields(entry: SendEntry, raw_request: bytes, keys: list[str], message_ids: dict[str, str]) -> dict[str, bytes]:
    """The fields of the entry that retries `keys` of `entry` (attempt + 1)."""
    out = {
        "app": entry.app.encode(),
        "kind": entry.kind.encode(),
        "request": raw_request,
        "attempt": str(entry.attempt + 1).encode(),
        "only": _encode(keys),
        "message_ids": _encode(message_ids),
        "origin": entry.request_id.encode(),
    }
    if entry.idempotency_key:
        out["idempotency_key"] = entry.idempotency_key.encode()
    if entry.deadline_ms is not None:  # a retry is bound by the first attempt's deadline
        out["deadline_ms"] = str(entry.deadline_ms).encode()
    return out


def encode_request(app: str, request: MessageRequest | SendUsersMessageRequest, *, idempotency_key: str | None = None,
                   reply_to: str | None = None, deadline_ms: int | None = None) -> dict[str, bytes]:
    """Stream fields for a new request (the producer API and `gateway send` use this). DecodeError when
    `reply_to` is not a reply key (keys.reply) or `deadline_ms` is not a time in milliseconds."""
    if reply_to and not keys.is_reply(reply_to):
        raise _bad_reply_to()
    if deadline_ms is not None:
        _deadline(str(deadline_ms).encode())
    fields = {"app": app.encode(), "request": _encode(request)}
    if isinstance(request, SendUsersMessageRequest):
        fields["kind"] = b"users"
    if idempotency_key:
        fields["idempotency_key"] = idempotency_key.encode()
    if reply_to:
        fields["reply_to"] = reply_to.encode()
    if deadline_ms is not None:
        fields["deadline_ms"] = str(deadline_ms).encode()
    return fields
