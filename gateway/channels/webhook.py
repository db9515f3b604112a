"""Outbound https webhooks that campaigns name: the custom channel's DeliveryUri and the CampaignHook WebUrl.

One client, two calls:

* :meth:`WebhookClient.post` sends a JSON body, HMAC-signed, through the SSRF guard, and returns the (capped)
  response body of a 2xx, or raises the one :mod:`gateway.errors` exception the failure means
  (:func:`classify`): 429 Throttled, 408/5xx and connection failures transient (retried), other 4xx permanent,
  a redirect permanent (never followed), no answer within `timeout_s` after the request went out MaybeSent.
* :meth:`WebhookClient.head_check` is Pinpoint's check of a custom channel's DeliveryUri at CreateCampaign: an
  HTTP HEAD whose response must carry `X-Amz-Pinpoint-AccountId` equal to the gateway's account id
  (`api.account_id`, the account its ARNs carry).

Signing: the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256>`) over `id.timestamp.target LF body`, where target is the path and query of the URL,
exactly as `gateway.sms.webhook_auth` verifies inbound webhooks (its `verify_hmac` checks ours too). The secret
is read from the environment variable `campaigns.webhooks.secret_env`; without it nothing is posted.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
import uuid
from collections.abc import Mapping
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from gateway.channels import urlguard
from gateway.channels.http_provider import parse_retry_after
from gateway.config import CampaignWebhooksConfig
from gateway.errors import (
    ConfigError,
    ConnectError,
    MaybeSent,
    PermanentError,
    ProviderTimeout,
    ProviderUnavailable,
    Throttled,
)
from gateway.sms.webhook_auth import sign

log = logging.getLogger(__name__)

ACCOUNT_HEADER: Final = "X-Amz-Pinpoint-AccountId"


class HeadCheckFailed(ValueError):
    """A DeliveryUri failed Pinpoint's HEAD check; the message says why (for the BadRequestException)."""


def signing_headers(secret: str, url: URL, body: bytes, now: float, msg_id: str | None = None) -> dict[str, str]:
    """The signature headers of one POST of `body` to `url` at `now` (Unix seconds)."""
    msg_id = msg_id or uuid.uuid4().hex
    timestamp = int(now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, url.raw_path_qs, body),
    }


def classify(host: str, status: int, retry_after: str | None) -> None:
    """Raise the DeliveryError a non-2xx answer means (module doc); return for a 2xx."""
    if 200 <= status < 300:
        return
    label = f"webhook {host}: HTTP {status}"
    if 300 <= status < 400:
        raise PermanentError(f"{label}: redirects are not followed", code=status)
    if status == 429:
        raise Throttled(label, code=status, retry_after=parse_retry_after(retry_after))
    if status == 408:
        raise ProviderTimeout(label, code=status)
    if 400 <= status < 500:
        raise PermanentError(label, code=status)
    raise ProviderUnavailable(label, code=status, retry_after=parse_retry_after(retry_after))


class WebhookClient:
    """Pooled, guarded, signed https calls to campaign webhooks (module doc). `resolver` resolves host names
    (tests); `environ` holds the signing secret (default: os.environ)."""

    def __init__(self, cfg: CampaignWebhooksConfig, *, account_id: str = "000000000000",
                 resolver: AbstractResolver | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.account_id = account_id
        self.allow = urlguard.parse_networks(cfg.allow_networks)
        self.secret = (os.environ if environ is None else environ).get(cfg.secret_env) or None
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.cfg.ca_file:
            try:
                ctx.load_verify_locations(self.cfg.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"campaigns.webhooks.ca_file: cannot load {self.cfg.ca_file}: {exc}") from exc
        return ctx

    def _new_session(self, connections: int) -> aiohttp.ClientSession:
        cfg = self.cfg
        conn = urlguard.guarded_connector(self.allow, connections, 15.0, self._resolver, ssl=self._ssl())
        return aiohttp.ClientSession(
            connector=conn, timeout=aiohttp.ClientTimeout(total=cfg.timeout_s, connect=cfg.connect_timeout_s),
            raise_for_status=False, auto_decompress=True,
        )

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, opened on first use (every connection through the SSRF guard)."""
        if self._session is None or self._session.closed:
            self._session = self._new_session(self.cfg.connections)
        return self._session

    def target(self, url: str) -> URL:
        """`url` checked statically: https only, no credentials, no refused literal address (PermanentError)."""
        try:
            return urlguard.check_url(url, allow=self.allow)
        except urlguard.BlockedAddress as exc:
            raise PermanentError(f"webhook URL refused by the SSRF guard: {exc}") from exc

    async def post(self, url: str, body: bytes) -> bytes:
        """POST `body` (JSON) to `url`, signed; the 2xx response's body (at most `max_response_bytes`)."""
        if self.secret is None:
            raise PermanentError(f"no webhook signing secret: set the environment variable {self.cfg.secret_env}")
        target = self.target(url)
        host = target.host or "?"
        headers = {"Content-Type": "application/json", **signing_headers(self.secret, target, body, time.time())}
        sent = False
        try:
            async with self.session().post(target, data=body, headers=headers, allow_redirects=False) as resp:
                sent = True
                classify(host, resp.status, resp.headers.get("Retry-After"))
                if resp.content_length is not None and resp.content_length > self.cfg.max_response_bytes:
                    raise PermanentError(f"webhook {host}: response of {resp.content_length} bytes is over the limit")
                data = await resp.content.read(self.cfg.max_response_bytes + 1)
                if len(data) > self.cfg.max_response_bytes:
                    raise PermanentError(f"webhook {host}: response over {self.cfg.max_response_bytes} bytes")
                return data
        except urlguard.BlockedAddress as exc:
            log.warning("webhook %s refused by the SSRF guard: %s", host, exc)
            raise PermanentError(f"webhook {host} refused by the SSRF guard", detail=str(exc)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise ProviderTimeout(f"webhook {host}: connect timeout") from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"webhook {host}: cannot connect", detail=type(exc).__name__) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            # The request went out: the webhook may have acted on it.
            raise MaybeSent(f"webhook {host}: no complete answer within {self.cfg.timeout_s}s",
                            detail="after the response began" if sent else None) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError,
                aiohttp.ClientResponseError) as exc:
            raise MaybeSent(f"webhook {host}: connection lost before a complete answer",
                            detail=type(exc).__name__) from exc

    async def head_check(self, url: str) -> None:
        """Pinpoint's CreateCampaign check of a custom DeliveryUri (module doc); HeadCheckFailed says why not."""
        try:
            target = urlguard.check_url(url, allow=self.allow)
        except urlguard.BlockedAddress as exc:
            raise HeadCheckFailed(f"refused by the SSRF guard: {exc}") from None
        try:  # a session of its own: the API checks rarely and keeps no pool open for it
            async with self._new_session(1) as session, session.head(target, allow_redirects=False) as resp:
                got = resp.headers.get(ACCOUNT_HEADER)
                status = resp.status
        except urlguard.BlockedAddress as exc:
            raise HeadCheckFailed(f"refused by the SSRF guard: {exc}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise HeadCheckFailed(f"HEAD {target.host} failed: {type(exc).__name__} {exc}"[:300]) from None
        if got is None:
            raise HeadCheckFailed(f"HEAD {target.host} answered HTTP {status} without the header {ACCOUNT_HEADER}")
        if got.strip() != self.account_id:
            raise HeadCheckFailed(f"HEAD {target.host}: {ACCOUNT_HEADER} is {got.strip()[:40]!r}, not this "
                                  f"gateway's account id {self.account_id!r} (api.account_id)")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
