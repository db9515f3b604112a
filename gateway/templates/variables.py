"""Pinpoint's substitution model: the render context of one recipient.

Order (userguide: message-templates-personalizing):

1. the endpoint's own variables — `Address`, `ChannelType`, `Attributes.<x>`, `Demographic.<x>`, `Location.<x>`,
   `Metrics.<x>`, `User.UserId`, `User.UserAttributes.<x>`, `Id`, `EffectiveDate`, `CreationDate`,
   `EndpointStatus`, `OptOut`, `RequestId`, `CohortId`, `ApplicationId` — with `Address` and `ChannelType` those of
   the address being sent to;
2. the template's `DefaultSubstitutions`, used only where the endpoint has no value;
3. the send-time `Substitutions` (MessageRequest / EndpointSendConfiguration), which override both.

A key with dots (`"User.UserAttributes.FirstName"`) sets that nested path, so `{{User.UserAttributes.FirstName}}`
finds it. Lists stay lists and render as handlebars.js renders arrays (`["a","b"]` → `a,b`); a variable with no
value renders empty.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from gateway import models

_to_builtins = msgspec.to_builtins


@lru_cache(maxsize=4096)
def _split(key: str) -> tuple[str, ...]:
    return tuple(key.split("."))


def _lookup(ctx: dict[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = ctx
    for part in parts:
        if type(node) is not dict:
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


def _assign(ctx: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Set a nested path, copying each intermediate dict so shared inputs (template defaults) are never mutated."""
    node = ctx
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if type(child) is dict else {}
        node[part] = child
        node = child
    node[parts[-1]] = value


def build_context(
    *,
    endpoint: models.EndpointResponse | None,
    address: str,
    channel_type: str,
    default_substitutions: dict[str, Any] | None,
    substitutions: dict[str, list[str]] | None,
) -> dict[str, Any]:
    """The root object a template renders with for one recipient (see the module docstring for the order).

    Runs once per recipient on the hot path: one msgspec conversion of the endpoint plus one dict write per
    default/substitution key.
    """
    ctx: dict[str, Any] = _to_builtins(endpoint) if endpoint is not None else {}
    ctx["Address"] = address
    ctx["ChannelType"] = channel_type
    if default_substitutions:
        apply_defaults(ctx, default_substitutions)
    if substitutions:
        apply_substitutions(ctx, substitutions)
    return ctx


def apply_defaults(ctx: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Fill in `defaults` (dotted keys allowed) where `ctx` has no value."""
    for key, value in defaults.items():
        if "." in key:
            parts = _split(key)
            if _lookup(ctx, parts) is None:
                _assign(ctx, parts, value)
        elif ctx.get(key) is None:
            ctx[key] = value


def apply_substitutions(ctx: dict[str, Any], substitutions: dict[str, Any]) -> None:
    """Set `substitutions` (dotted keys allowed) over whatever `ctx` has."""
    for key, value in substitutions.items():
        if "." in key:
            _assign(ctx, _split(key), value)
        else:
            ctx[key] = value


def parse_default_substitutions(text: str | None) -> dict[str, Any]:
    """Decode a template's DefaultSubstitutions (a JSON object in a string, as Pinpoint stores it)."""
    if not text:
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"DefaultSubstitutions is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("DefaultSubstitutions must be a JSON object of variable name to default value")
    return value
