"""The contract between the dispatcher and every channel.

The dispatcher resolves recipients, builds each channel's content with that channel's composer, and calls
`Channel.send` once per message. A channel returns :class:`Delivered` or raises a
:class:`gateway.errors.DeliveryError` subclass; it never returns a failure and never swallows one. The dispatcher
turns the result into Pinpoint's DeliveryStatus, an event record (the event type comes from the channel) and,
for transient errors, a retry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import msgspec

from gateway.errors import DeliveryError
from gateway.models import EndpointResponse

if TYPE_CHECKING:
    from gateway.credentials import CredentialStore


class Recipient(msgspec.Struct, kw_only=True):
    """One resolved recipient of a request.

    `key` is what the caller used (the address for `Addresses`, the endpoint id for `Endpoints`), so results are
    reported under the same key. `substitutions` are already merged in Pinpoint's precedence (message-level, then
    per-address or per-endpoint, which win).
    """

    key: str
    address: str
    channel_type: str
    endpoint_id: str | None = None
    endpoint: EndpointResponse | None = None
    substitutions: dict[str, list[str]] = {}
    body_override: str | None = None
    title_override: str | None = None
    raw_content: str | None = None
    context: dict[str, str] = {}


class Outbound(msgspec.Struct, kw_only=True):
    """One message to one address, ready for a channel: `content` is what the channel's composer built."""

    message_id: str
    app: str
    recipient: Recipient
    content: Any
    attempt: int = 1
    trace_id: str | None = None


class Delivered(msgspec.Struct, kw_only=True):
    """A provider accepted the message."""

    event_type: str
    status_code: int = 200
    status_message: str = "OK"
    provider_message_id: str | None = None
    updated_token: str | None = None


class Channel(Protocol):
    """A configured provider connection pool for one family of Pinpoint channel types."""

    #: Pinpoint ChannelType values this channel delivers (e.g. {"EMAIL"}).
    channel_types: ClassVar[frozenset[str]]
    #: Event type emitted when the message is handed to this channel (e.g. "_email.send"), or None.
    send_event: ClassVar[str | None]

    async def start(self) -> None:
        """Open pools, fetch tokens. Called once before the first send."""

    async def send(self, msg: Outbound) -> Delivered:
        """Deliver one message, raising a DeliveryError subclass on failure."""

    def failure_event(self, err: DeliveryError) -> str:
        """The Pinpoint event type for a failed send (e.g. "_email.hardbounce")."""

    async def aclose(self) -> None:
        """Close connections; in-flight sends have already finished or been cancelled."""


class Runtime:
    """What a channel may use besides its own config: the shared Redis client, the endpoint store (for
    example to mark an endpoint INACTIVE after APNs says Unregistered) and the encrypted per-application channel
    credentials (what UpdateApnsChannel / UpdateGcmChannel stored; None when no `[credentials]` key is
    configured, and then the push channels use their configured default credentials only)."""

    def __init__(self, redis: Any, endpoints: Any, credentials: CredentialStore | None = None) -> None:
        self.redis = redis
        self.endpoints = endpoints
        #: set once by gateway.channels.push_routes.credential_store when the first push route is built
        self.credentials: CredentialStore | None = credentials


class Render(Protocol):
    """Personalizes one piece of text for the current recipient (Handlebars with Pinpoint's variables)."""

    def __call__(self, source: str | None) -> str | None: ...


class Composer(Protocol):
    """Builds a channel's content for one recipient.

    `config` is the request's DirectMessageConfiguration; `template` the Pinpoint template response shape for this
    channel family (EmailTemplateResponse, SMSTemplateResponse, PushNotificationTemplateResponse,
    VoiceTemplateResponse) when the request names one, else None. Raise ContentRejected (a PermanentError) when
    the request cannot produce a valid message for this recipient (for example an email with no From address).
    """

    def __call__(self, config: Any, template: Any, recipient: Recipient, render: Render) -> Any: ...
