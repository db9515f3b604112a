"""HTTP SMS channel: one configurable HTTP provider (Twilio-compatible preset or a JSON/form API).

Content comes from the SMS composer (:func:`gateway.channels.sms_content.compose_sms`, shared with SMPP). The
request body is the configured field map rendered with this message's values; the response is mapped by
:func:`gateway.channels.http_provider.classify`. TRANSACTIONAL and PROMOTIONAL messages use separate connection
pools. A provider-side opt-out (Twilio 21610) is recorded in the application's opt-out list and raised as
:class:`~gateway.channels.http_provider.OptedOut`.

Events (pinpoint.md §7): accepted by the provider -> `_SMS.BUFFERED` (record_status PENDING) when a delivery
receipt will follow (status_callback_url configured), else `_SMS.SUCCESS` (record_status SUCCESSFUL); failures
`_SMS.FAILURE`, opt-outs `_SMS.OPTOUT`. :func:`record_status_for` gives the record_status of a failure.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import ClassVar

from aiohttp.abc import AbstractResolver

from gateway import ratelimit
from gateway.channels import http_provider
from gateway.channels.base import Delivered, Outbound, Runtime
from gateway.channels.http_provider import Provider, ProviderClient
from gateway.channels.sms_content import SmsContent, compose_sms
from gateway.config import HttpSmsChannelConfig
from gateway.errors import (
    AuthFailed,
    ContentRejected,
    DeliveryError,
    MaybeSent,
    OptedOut,
    RecipientRejected,
)
from gateway.metrics.core import PoolUse
from gateway.sms.optouts import OptOutStore

log = logging.getLogger(__name__)

#: The composer for this channel (shared with SMPP).
compose = compose_sms


def status_callback(base: str | None, app: str, message_id: str) -> str | None:
    """The receipt URL for one message: our webhook URL with the app and message id as query parameters, so a
    receipt is correlated without a Redis write per send."""
    if base is None:
        return None
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{urllib.parse.urlencode({'app': app, 'mid': message_id})}"


def record_status_for(err: DeliveryError) -> str:
    """Pinpoint's SMS record_status for a failed send."""
    if isinstance(err, OptedOut):
        return "OPTED_OUT"
    if isinstance(err, RecipientRejected):
        return "INVALID"
    if isinstance(err, ContentRejected):
        return "INVALID_MESSAGE"
    if isinstance(err, AuthFailed):
        return "BLOCKED"
    if isinstance(err, MaybeSent):
        return "UNKNOWN"
    return "UNREACHABLE" if not err.retryable else "PENDING"


class HttpSmsChannel:
    """The HTTP SMS channel (see module doc)."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"SMS"})

    def __init__(self, cfg: HttpSmsChannelConfig, runtime: Runtime, provider: Provider | None = None,
                 resolver: AbstractResolver | None = None) -> None:
        self.cfg = cfg
        self.provider = provider if provider is not None else http_provider.resolve(cfg)
        self._client = ProviderClient(self.provider, cfg, resolver,
                                      ratelimit.from_config(cfg.rate_limit, f"http_sms:{cfg.name}", runtime.redis))
        self._optouts = OptOutStore(runtime.redis) if runtime.redis is not None else None
        self._accepted_event = "_SMS.BUFFERED" if self.provider.status_callback_url else "_SMS.SUCCESS"
        self._accepted_status = "PENDING" if self.provider.status_callback_url else "SUCCESSFUL"

    async def start(self) -> None:
        await self._client.start()

    def body_for(self, msg: Outbound[SmsContent]) -> bytes:
        """The provider request body for `msg` (public for tests and the benchmark)."""
        c: SmsContent = msg.content
        values = {
            "to": msg.recipient.address,
            "from": c.origination_number or c.sender_id,
            "sender_id": c.sender_id,
            "body": c.body,
            "message_id": msg.message_id,
            "app": msg.app,
            "message_type": c.message_type,
            "keyword": c.keyword,
            "entity_id": c.entity_id,
            "template_id": c.template_id,
            "status_callback": status_callback(self.provider.status_callback_url, msg.app, msg.message_id),
        }
        return http_provider.encode_body(self.provider, values)

    async def send(self, msg: Outbound[SmsContent]) -> Delivered:
        c: SmsContent = msg.content
        body = self.body_for(msg)
        try:
            provider_id = await self._client.post(body, promotional=c.message_type == "PROMOTIONAL")
        except OptedOut:
            if self._optouts is not None:
                await self._optouts.opt_out(msg.app, msg.recipient.address, source="provider",
                                            detail=self.provider.name)
            raise
        return Delivered(
            event_type=self._accepted_event,
            status_code=200,
            status_message=self._accepted_status,
            provider_message_id=provider_id,
        )

    def pool_use(self) -> list[PoolUse]:
        """The provider connections' use, per MessageType lane (for /metrics)."""
        return self._client.pool_use()

    async def aclose(self) -> None:
        await self._client.aclose()


def create(cfg: HttpSmsChannelConfig, runtime: Runtime) -> HttpSmsChannel:
    """Build the channel from its config (raises ConfigError naming the bad key)."""
    return HttpSmsChannel(cfg, runtime)
