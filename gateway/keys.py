"""Redis key names. Every key of one application carries the hash tag `{app}` so the same code runs on Redis
Cluster (an application's keys live in one slot); stream keys carry the configured prefix."""

from __future__ import annotations

#: The namespace of reply lists (a stream entry's `reply_to`): the engine writes a reply to, and expires, only
#: keys under it, so a `reply_to` can never name another application's data, credentials or a stream.
REPLY_PREFIX = "gw:reply:"
#: What may follow REPLY_PREFIX: no braces (no hash tag), no spaces or control characters.
REPLY_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
REPLY_TOKEN_MAX = 128


def app_key(app: str, *parts: str) -> str:
    """`gw:{app}:part:part`; parts must not contain user-controlled braces (ids are validated at the API edge)."""
    return "gw:{" + app + "}:" + ":".join(parts)


def hash_tag(key: str) -> str:
    """The part of `key` Redis Cluster hashes: the first non-empty `{...}`, else the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def endpoint(app: str, endpoint_id: str) -> str:
    return app_key(app, "ep", endpoint_id)


def user(app: str, user_id: str) -> str:
    return app_key(app, "user", user_id)


def suppressed(app: str) -> str:
    """Hash address -> JSON reason of suppressed email addresses (hard bounces and complaints)."""
    return app_key(app, "suppressed")


def idempotency(app: str, key: str) -> str:
    return app_key(app, "idem", key)


def reply(token: str) -> str:
    """The reply list named by `token` (1-128 of `A-Za-z0-9-_.`; producers use a random hex string)."""
    return REPLY_PREFIX + token


def is_reply(key: str) -> bool:
    """Whether `key` is a reply list the engine may write to and expire."""
    token = key[len(REPLY_PREFIX):] if key.startswith(REPLY_PREFIX) else ""
    return 0 < len(token) <= REPLY_TOKEN_MAX and set(token) <= REPLY_TOKEN_CHARS
