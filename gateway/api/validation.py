"""Request validation from the model, before anything reaches a store.

- The body payload decodes straight into its msgspec shape (one decoder per shape, built once): required
  members, types and enums are checked by msgspec, and its error is rewritten so the message names the field
  with the payload's name as root (`... - at `MessageRequest.MessageConfiguration.EmailMessage``).
- Query-string members are converted from their model type (string, boolean, list, ISO 8601 timestamp);
  a missing required member or a bad value names the member and its wire name.
- Pagination: `PageSize` (a string in the model) must be an integer in 1..1000.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

import msgspec

from gateway import models
from gateway.api.errors import BadRequest
from gateway.api.routing import Route

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

_decoders: dict[str, msgspec.json.Decoder[Any]] = {}


def decoder_for(shape: str) -> msgspec.json.Decoder[Any]:
    """The cached JSON decoder of a model shape."""
    dec = _decoders.get(shape)
    if dec is None:
        dec = _decoders[shape] = msgspec.json.Decoder(getattr(models, shape))
    return dec


def _field_message(exc: msgspec.ValidationError, root: str) -> str:
    text = str(exc)
    if " - at `$" in text:
        return text.replace(" - at `$", f" - at `{root}")
    return f"{text} - at `{root}`"


def decode_body(route: Route, body: bytes) -> Any:
    """The decoded payload of `route` (None for operations without one)."""
    if route.body is None:
        return None
    member, shape, required = route.body
    if not body.strip():
        if required:
            raise BadRequest(f"Missing request body: {route.name} requires {member}")
        return None
    try:
        return decoder_for(shape).decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid {member}: {_field_message(exc, member)}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        # msgspec raises it past its nesting limit, also inside members it skips; input error, not a 500.
        raise BadRequest(f"Invalid {member}: the JSON nests arrays or objects too deeply") from None


def parse_query(raw_query: str) -> dict[str, list[str]]:
    """Raw query string -> decoded values per wire name, in order."""
    out: dict[str, list[str]] = {}
    if not raw_query:
        return out
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        out.setdefault(unquote(key), []).append(unquote(value))
    return out


def _convert(wire: str, member: str, kind: str, values: list[str]) -> Any:
    if kind == "list":
        return values
    value = values[-1]
    if kind == "boolean":
        if value not in ("true", "false"):
            raise BadRequest(f"Invalid query parameter {wire} ({member}): expected true or false, got {value!r}")
        return value == "true"
    if kind == "timestamp":
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(
                f"Invalid query parameter {wire} ({member}): {value!r} is not an ISO 8601 timestamp"
            ) from None
        return value
    if member == "PageSize":
        if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
            raise BadRequest(f"Invalid query parameter {wire} (PageSize): must be an integer from 1 to {MAX_PAGE_SIZE}")
    return value


def query_params(route: Route, raw_query: str) -> dict[str, Any]:
    """The route's query members by member name, converted; unknown query parameters are ignored, as AWS does."""
    if not route.query:
        return {}
    given = parse_query(raw_query)
    out: dict[str, Any] = {}
    for wire, member, kind, required in route.query:
        values = given.get(wire)
        if not values:
            if required:
                raise BadRequest(f"Missing required query parameter {wire} ({member})")
            continue
        out[member] = _convert(wire, member, kind, values)
    return out


def page_size(params: dict[str, Any]) -> int:
    """The validated PageSize of a list operation, or the default."""
    value = params.get("PageSize")
    return DEFAULT_PAGE_SIZE if value is None else int(value)
