"""APNs over HTTP/2: channel types APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX.

One HTTP/2 pool per (environment, team) for token auth, or per (environment, certificate) for certificate
auth: Apple binds a connection to one provider. Provider JWTs come from :class:`~gateway.channels.push_auth.ApnsTokens`
(one per team, 20-60 minute life). APNs reasons are mapped to gateway errors once, in :func:`map_error`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from typing import Any, ClassVar

import msgspec

from gateway import errors
from gateway.channels import http2, push_common
from gateway.channels.base import Delivered, Outbound, Runtime
from gateway.channels.push_auth import ApnsTokens, Clock, LoopClock
from gateway.channels.push_payload import APNS as FAMILY
from gateway.channels.push_payload import ApnsContent, compose_apns
from gateway.config import ApnsChannelConfig
from gateway.credentials import ApnsCredentials
from gateway.metrics.core import PoolUse, h2_pool_use

__all__ = ["FAMILY", "ApnsChannel", "compose_apns", "create", "map_error"]

#: Reasons after which the device token is dead: the endpoint is made INACTIVE.
DEACTIVATE = frozenset({"Unregistered", "BadDeviceToken", "ExpiredToken"})
_CONFIG_REASONS = frozenset({"BadTopic", "TopicDisallowed", "MissingTopic", "BadCertificate",
                             "BadCertificateEnvironment", "InvalidProviderToken", "MissingProviderToken",
                             "ExpiredProviderToken", "Forbidden"})
#: per-token backoff when APNs says TooManyRequests without a Retry-After
TOKEN_BACKOFF_S = 60.0
_TOPIC_SUFFIX = {"voip": ".voip", "complication": ".complication", "fileprovider": ".pushkit.fileprovider",
                 "location": ".location-query", "liveactivity": ".push-type.liveactivity"}


class _Reply(msgspec.Struct):
    reason: str = ""
    timestamp: int | None = None


_decode_reply = msgspec.json.Decoder(_Reply).decode


def map_error(
    status: int, reason: str, retry_after: float | None, timestamp: int | None = None
) -> errors.DeliveryError:
    """An APNs error response as a gateway error (protocols-and-reliability.md §3). The error carries
    `deactivate=True` when the token is dead, and `provider_ms` (APNs' timestamp) for 410 Unregistered."""
    msg = f"APNs {status} {reason}".strip()
    if reason in DEACTIVATE or status == 410:
        return errors.RecipientRejected(msg, code=status, detail=reason or "Unregistered", deactivate=True,
                                        provider_ms=timestamp)
    if status == 429:
        return errors.Throttled(msg, code=status, detail=reason, retry_after=retry_after)
    if status >= 500:
        return errors.ProviderUnavailable(msg, code=status, detail=reason, retry_after=retry_after)
    if status == 403 or reason in _CONFIG_REASONS:
        return errors.AuthFailed(msg, code=status, detail=reason)
    if status == 413:
        return errors.ContentRejected(msg, code=status, detail=reason or "PayloadTooLarge")
    if reason == "DeviceTokenNotForTopic":  # a token of another app (or environment): not ours to disable
        return errors.RecipientRejected(msg, code=status, detail=reason)
    return errors.ContentRejected(msg, code=status, detail=reason)


_HEX = frozenset("0123456789abcdef")


def apns_id(message_id: str) -> str:
    """APNs wants a canonical UUID: our message id when it is one; a hex id (the dispatcher's
    `<prefix>-<counter>`) zero-padded into UUID form, so the id stays readable in it; else a UUID derived from
    the id (stable across retries either way)."""
    if len(message_id) == 36:
        try:
            return str(uuid.UUID(message_id))
        except ValueError:
            pass
    h = message_id.replace("-", "").lower()
    if len(h) <= 32 and _HEX.issuperset(h):
        h = h.rjust(32, "0")
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "gateway:" + message_id))


class _Provider:
    """Credentials in use for one (environment, team or certificate): its pool and how to authorize."""

    __slots__ = ("key", "key_id", "pool", "team_id", "token_key")

    def __init__(self, pool: http2.Pool, creds: ApnsCredentials, key: tuple[str, ...]) -> None:
        self.pool = pool
        self.team_id = creds.team_id
        self.key_id = creds.key_id
        self.token_key = creds.token_key if creds.method == "TOKEN" else None
        self.key = key


class ApnsChannel:
    """The APNs channel (see the module docstring)."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX"})

    def __init__(self, cfg: ApnsChannelConfig, runtime: Runtime | None, *, credentials: Any = None,
                 clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.store = credentials if credentials is not None else (runtime.credentials if runtime else None)
        self.clock = clock or LoopClock()
        self.tokens = ApnsTokens(self.clock, cfg.token_refresh_s)
        #: where worker processes share each team's provider token (None: this process only)
        self.shared_redis = getattr(runtime, "redis", None)
        self.production = push_common.Origin(cfg.production_url)
        self.sandbox = push_common.Origin(cfg.sandbox_url)
        self.providers: dict[tuple[str, ...], _Provider] = {}
        self.token_backoff = push_common.Backoff()
        self.channel_backoff = push_common.Backoff()
        self._creds = push_common.CredentialCache(cfg.credentials_ttl_s, self.clock.monotonic)
        self._default = self._default_credentials(cfg)
        self._headers: dict[tuple[str, str, int], list[tuple[bytes, bytes]]] = {}
        self._resolved: dict[tuple[str, str], tuple[float, _Provider, ApnsCredentials]] = {}
        self._auth: dict[str, tuple[bytes, bytes]] = {}

    @staticmethod
    def _default_credentials(cfg: ApnsChannelConfig) -> ApnsCredentials | None:
        from gateway.credentials import _Record

        token_key = cert = pkey = None
        try:
            if cfg.token_key_file:
                with open(cfg.token_key_file) as f:
                    token_key = f.read()
            if cfg.certificate_file:
                with open(cfg.certificate_file) as f:
                    cert = f.read()
                pkey = cert
                if cfg.private_key_file:
                    with open(cfg.private_key_file) as f:
                        pkey = f.read()
        except OSError as exc:
            raise errors.ConfigError(f"apns channel {cfg.name}: cannot read key file: {exc.strerror}") from None
        if token_key is None and cert is None:
            return None
        if token_key is not None and not (cfg.team_id and cfg.key_id and cfg.bundle_id):
            raise errors.ConfigError(f"apns channel {cfg.name}: token_key_file needs team_id, key_id and bundle_id")
        rec = _Record(platform="APNS", id="config", creation_date="", last_modified_date="", bundle_id=cfg.bundle_id,
                      team_id=cfg.team_id, token_key_id=cfg.key_id, token_key=token_key, certificate=cert,
                      private_key=pkey, default_auth="TOKEN" if token_key else "CERTIFICATE")
        return ApnsCredentials(rec, "APNS")

    # -- Channel ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open up front: pools connect on first use per provider."""

    def pool_use(self) -> list[PoolUse]:
        """Each HTTP/2 pool's use, one per (environment, team or certificate) (for /metrics)."""
        return [h2_pool_use("/".join(key), p.pool) for key, p in self.providers.items()]

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.pool.aclose()
        self.providers.clear()

    async def send(self, msg: Outbound[ApnsContent]) -> Delivered:
        content: ApnsContent = msg.content
        rcpt = msg.recipient
        ctype = rcpt.channel_type
        provider, creds = await self._provider(msg.app, ctype)
        device = rcpt.address
        if self.channel_backoff or self.token_backoff:
            now = self.clock.monotonic()
            self.channel_backoff.check(provider.key, now, "APNs")
            self.token_backoff.check(device, now, "this device token")
        if not device or len(device) > 200 or "/" in device:
            raise errors.RecipientRejected("APNs device token is empty or malformed", detail="BadDeviceToken")
        if len(content.payload) > (5120 if content.voip else 4096):
            raise errors.ContentRejected("APNs payload over the size limit", code=413, detail="PayloadTooLarge")
        headers = self._base_headers(creds.bundle_id or "", content)
        the_id = apns_id(msg.message_id)
        headers.append((b"apns-id", the_id.encode()))
        if content.ttl is not None:
            exp = 0 if content.ttl == 0 else int(self.clock.wall()) + content.ttl
            headers.append((b"apns-expiration", str(exp).encode()))
        if content.collapse_id:
            headers.append((b"apns-collapse-id", content.collapse_id.encode()))
        path = b"/3/device/" + device.encode()
        jwt_value: str | None = None
        if provider.token_key is not None:
            team, kid = provider.team_id or "", provider.key_id or ""
            if self.shared_redis is not None and self.tokens.due(team, kid):
                try:
                    await self.tokens.share(self.shared_redis, team, kid, provider.token_key)
                except push_common.REDIS_BUSY as exc:
                    raise push_common.redis_unavailable("the team's shared provider token", exc) from exc
            jwt_value = self.tokens.token(team, kid, provider.token_key)
        for attempt in (0, 1):
            hdrs = headers if jwt_value is None else [self._authorization(jwt_value), *headers]
            resp = await provider.pool.request(path, hdrs, content.payload)
            if resp.status == 200:
                pid = resp.header(b"apns-id")
                return Delivered(event_type=push_common.SUCCESS_EVENT, status_code=200, status_message="OK",
                                 provider_message_id=pid.decode() if pid else the_id)
            reply = _parse_reply(resp.body)
            if (reply.reason == "ExpiredProviderToken" and attempt == 0 and jwt_value is not None
                    and provider.token_key is not None):
                fresh = self.tokens.rejected_as_expired(provider.team_id or "", provider.key_id or "",
                                                        provider.token_key, jwt_value)
                if fresh is not None:
                    jwt_value = fresh
                    continue
            break
        err = map_error(resp.status, reply.reason, push_common.retry_after(resp.header(b"retry-after")),
                        reply.timestamp)
        await self._after_error(err, msg, provider)
        raise err

    # -- internals --------------------------------------------------------------------------------------------

    async def _after_error(self, err: errors.DeliveryError, msg: Outbound[ApnsContent], provider: _Provider) -> None:
        now = self.clock.monotonic()
        if err.detail == "TooManyRequests":
            self.token_backoff.hold(msg.recipient.address, now, err.retry_after or TOKEN_BACKOFF_S)
        elif err.detail == "TooManyProviderTokenUpdates":
            push_common.log.error("APNs says TooManyProviderTokenUpdates for team %s: tokens are minted too often "
                                  "(several processes minting for one team?)", provider.team_id)
            self.channel_backoff.hold(provider.key, now, err.retry_after or 60.0)
        elif isinstance(err, errors.TransientError) and err.retry_after:
            self.channel_backoff.hold(provider.key, now, err.retry_after)

    def _authorization(self, jwt_value: str) -> tuple[bytes, bytes]:
        """The authorization header for a token, encoded once per token."""
        cached = self._auth.get(jwt_value)
        if cached is None:
            if len(self._auth) > 64:
                self._auth.clear()
            cached = self._auth[jwt_value] = (b"authorization", b"bearer " + jwt_value.encode())
        return cached

    def _base_headers(self, bundle_id: str, content: ApnsContent) -> list[tuple[bytes, bytes]]:
        """apns-topic, apns-push-type, apns-priority: a few distinct combinations, encoded once."""
        key = (bundle_id, content.push_type, content.priority)
        base = self._headers.get(key)
        if base is None:
            if len(self._headers) > 1000:
                self._headers.clear()
            topic = bundle_id + _TOPIC_SUFFIX.get(content.push_type, "")
            base = self._headers[key] = [
                (b"apns-topic", topic.encode()), (b"apns-push-type", content.push_type.encode()),
                (b"apns-priority", str(content.priority).encode()),
            ]
        return list(base)

    async def _credentials(self, app: str, ctype: str) -> ApnsCredentials:
        store = self.store

        async def load() -> ApnsCredentials | None:
            if store is None:
                return None
            creds: ApnsCredentials | None = await store.apns_credentials(app, ctype)
            return creds

        creds = await self._creds.get(app, ctype, load)
        if creds is None:
            creds = self._default
        if creds is None:
            raise errors.AuthFailed(f"no {ctype} channel credentials for this application", detail="no credentials")
        if not creds.enabled:
            raise errors.AuthFailed(f"the {ctype} channel of this application is disabled", detail="disabled")
        return creds

    async def _provider(self, app: str, ctype: str) -> tuple[_Provider, ApnsCredentials]:
        hit = self._resolved.get((app, ctype))
        if hit is not None and hit[0] > self.clock.monotonic():
            return hit[1], hit[2]  # the common case: no await, no lookups
        creds = await self._credentials(app, ctype)
        env = "sandbox" if ctype.endswith("SANDBOX") else "production"
        if creds.method == "TOKEN":
            key: tuple[str, ...] = (env, "token", creds.team_id or "", creds.key_id or "")
        else:
            digest = hashlib.sha256((creds.certificate or "").encode()).hexdigest()
            key = (env, "cert", digest)
        provider = self.providers.get(key)
        if provider is None:
            origin = self.sandbox if env == "sandbox" else self.production
            if creds.method == "TOKEN":
                pool = push_common.make_pool(self.cfg, origin)
            else:
                pool = _certificate_pool(self.cfg, origin, creds)
            provider = self.providers[key] = _Provider(pool, creds, key)
        elif provider.token_key is not None and creds.token_key != provider.token_key:
            provider.token_key = creds.token_key  # key rotated within the same key id
        self._resolved[(app, ctype)] = (self.clock.monotonic() + self.cfg.credentials_ttl_s, provider, creds)
        return provider, creds


def _certificate_pool(cfg: ApnsChannelConfig, origin: push_common.Origin, creds: ApnsCredentials) -> http2.Pool:
    """A pool authenticating with the client certificate: ssl needs files, so the PEM goes through a private
    temporary file that is removed as soon as it is loaded."""
    if not origin.tls:
        raise errors.ConfigError("APNs certificate authentication needs an https:// URL")
    fd, path = tempfile.mkstemp(prefix="gw-apns-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            os.chmod(path, 0o600)
            f.write(creds.certificate or "")
            if creds.private_key and creds.private_key != creds.certificate:
                f.write("\n" + creds.private_key)
        return push_common.make_pool(cfg, origin, certfile=path)
    finally:
        os.unlink(path)


def _parse_reply(body: bytes) -> _Reply:
    if not body:
        return _Reply()
    try:
        return _decode_reply(body)
    except msgspec.DecodeError:
        return _Reply(reason="")


def create(
    cfg: ApnsChannelConfig, runtime: Runtime, *, credentials: Any = None, clock: Clock | None = None
) -> ApnsChannel:
    """The APNs channel for `cfg`. Per-application credentials come from `credentials` (a
    :class:`gateway.credentials.CredentialStore`), else `runtime.credentials` when the runtime has one; the
    config's own key files are the default for applications without stored credentials."""
    return ApnsChannel(cfg, runtime, credentials=credentials, clock=clock)

