"""What the APNs and FCM channels share: pools per origin, Retry-After backoff and the per-application
credential cache. (A dead token's endpoint is deactivated by the dispatcher, as `gateway.outcome.decide` says.)"""

from __future__ import annotations

import logging
import random
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as redis_errors

from gateway import errors
from gateway.channels import http2
from gateway.config import ApnsChannelConfig, FcmChannelConfig

log = logging.getLogger("gateway.push")

T = TypeVar("T")

SUCCESS_EVENT = "_push.success"


class Origin:
    """scheme://host[:port][/base] of a provider URL; http:// means cleartext HTTP/2 (h2c)."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("https", "http") or not u.hostname:
            raise errors.ConfigError(f"push URL {url!r} must be https://host[:port] (or http:// for h2c)")
        self.tls = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.tls else 80)
        self.base = u.path.rstrip("/")
        self.url = url


def make_pool(
    cfg: ApnsChannelConfig | FcmChannelConfig, origin: Origin, *, certfile: str | None = None,
    keyfile: str | None = None,
) -> http2.Pool:
    """An HTTP/2 pool to `origin` with the channel's settings (TLS with ALPN h2 unless the URL is http://)."""
    ctx: ssl.SSLContext | None = None
    if origin.tls:
        try:
            ctx = http2.client_ssl_context(cafile=cfg.ca_file, certfile=certfile, keyfile=keyfile,
                                           verify=cfg.tls_verify)
        except (OSError, ssl.SSLError) as exc:
            raise errors.AuthFailed("cannot load the TLS client certificate or CA", detail=str(exc)) from None
    return http2.Pool(
        origin.host, origin.port, ssl_context=ctx, server_hostname=origin.host, impl=cfg.http2,
        max_connections=cfg.connections, max_streams=cfg.max_streams, connect_timeout=cfg.connect_timeout_s,
        request_timeout=cfg.request_timeout_s, acquire_timeout=cfg.acquire_timeout_s,
        ping_interval=cfg.ping_interval_s, ping_timeout=cfg.ping_timeout_s,
    )


def retry_after(value: bytes | None) -> float | None:
    """Retry-After in seconds (delta-seconds form; an HTTP date is not used by APNs or FCM), or None."""
    if value is None:
        return None
    try:
        secs = float(value)
    except ValueError:
        return None
    return secs if secs >= 0 else None


class Backoff:
    """`until` times (loop clock) per key: a device token or a whole channel/project."""

    def __init__(self) -> None:
        self._until: dict[Any, float] = {}

    def __bool__(self) -> bool:
        """True while anything is (or was, until checked) backed off: lets callers skip the clock read."""
        return bool(self._until)

    def check(self, key: Any, now: float, what: str) -> None:
        """Raise Throttled (with the remaining time) while `key` is backed off."""
        until = self._until.get(key)
        if until is None:
            return
        if until <= now:
            del self._until[key]
            return
        raise errors.Throttled(f"{what} is backed off after the provider asked to wait", retry_after=until - now,
                               detail="backoff")

    def hold(self, key: Any, now: float, seconds: float, jitter: float = 0.1) -> None:
        """Back `key` off for `seconds` plus up to `jitter` of it (spreads the restart of many workers)."""
        until = now + seconds * (1.0 + random.random() * jitter)
        if until > self._until.get(key, 0.0):
            self._until[key] = until
        if len(self._until) > 100_000:  # expired entries of tokens never sent to again
            self._until = {k: v for k, v in self._until.items() if v > now}


#: Redis errors that mean "not now" (our pool busy past its timeout, a connection lost), not "never".
REDIS_BUSY = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def redis_unavailable(what: str, exc: BaseException) -> errors.TransientError:
    """Our own Redis could not serve a read a send needs first (credentials, the shared provider token): nothing
    was sent, so the push is retried (TEMPORARY_FAILURE), not reported as an UNKNOWN_FAILURE channel error."""
    return errors.ConnectError(f"Redis unavailable while reading {what}", detail=type(exc).__name__)



class CredentialCache:
    """Per-(app, channel type) credentials read through `load`, kept `ttl` seconds (loop clock)."""

    def __init__(self, ttl: float, now: Callable[[], float]) -> None:
        self.ttl = ttl
        self.now = now
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}

    async def get(self, app: str, channel_type: str, load: Callable[[], Awaitable[T]]) -> T:
        key = (app, channel_type)
        hit = self._entries.get(key)
        now = self.now()
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        try:
            loaded = await load()
        except REDIS_BUSY as exc:
            raise redis_unavailable("the application's channel credentials", exc) from exc
        self._entries[key] = (now + self.ttl, loaded)
        return loaded
