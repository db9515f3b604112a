"""Redis key names. Every key of one application carries the hash tag `{app}` so the same code runs on Redis
Cluster (an application's keys live in one slot); stream keys carry the configured prefix."""

from __future__ import annotations


def app_key(app: str, *parts: str) -> str:
    """`gw:{app}:part:part`; parts must not contain user-controlled braces (ids are validated at the API edge)."""
    return "gw:{" + app + "}:" + ":".join(parts)


def endpoint(app: str, endpoint_id: str) -> str:
    return app_key(app, "ep", endpoint_id)


def user(app: str, user_id: str) -> str:
    return app_key(app, "user", user_id)


def suppressed(app: str) -> str:
    """Hash address -> JSON reason of suppressed email addresses (hard bounces and complaints)."""
    return app_key(app, "suppressed")


def idempotency(app: str, key: str) -> str:
    return app_key(app, "idem", key)
