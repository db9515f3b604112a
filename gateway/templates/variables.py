"""Pinpoint's substitution model (INTERIM, replaced by the templates issue's implementation)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.models import EndpointResponse


def _set_path(ctx: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = ctx
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            node[p] = nxt
        node = nxt
    node[parts[-1]] = value


def build_context(
    *,
    endpoint: EndpointResponse | None,
    address: str,
    channel_type: str,
    default_substitutions: dict[str, Any] | None,
    substitutions: dict[str, list[str]] | None,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for k, v in (default_substitutions or {}).items():
        _set_path(ctx, k, v)
    if endpoint is not None:
        for k, v in msgspec.to_builtins(endpoint).items():
            ctx[k] = v
    ctx.setdefault("Address", address)
    ctx.setdefault("ChannelType", channel_type)
    for k, v in (substitutions or {}).items():
        _set_path(ctx, k, v)
    return ctx
