"""The contract between the dispatcher and every channel.

A channel module exports its :class:`Family` (which message and template members of a request it reads, its
composer, how its recipients are screened, its event names) and a :class:`Channel` (the provider connection).
The dispatcher resolves recipients, screens them as the family says, builds each message with the family's
composer, and calls `Channel.send` once per message. A channel returns :class:`Delivered` or raises a
:class:`gateway.errors.DeliveryError` subclass; it never returns a failure and never swallows one. What that
result means (DeliveryStatus, event, retry, suppression, deactivation) is decided by `gateway.outcome.decide`
from the family's :class:`EventNames`. `Channel[ContentT]` and `Composer[TemplateT, ContentT]` are generic, so a
:class:`Route` whose composer builds what its channel cannot send is a type error.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import msgspec
import msgspec.structs

from gateway.errors import DeliveryError
from gateway.models import DirectMessageConfiguration, EndpointResponse

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


ContentT = TypeVar("ContentT")
ContentT_co = TypeVar("ContentT_co", covariant=True)
TemplateT = TypeVar("TemplateT")
TemplateT_contra = TypeVar("TemplateT_contra", contravariant=True)


class Outbound(msgspec.Struct, Generic[ContentT], kw_only=True):
    """One message to one address, ready for a channel: `content` is what the family's composer built."""

    message_id: str
    app: str
    recipient: Recipient
    content: ContentT
    attempt: int = 1
    trace_id: str | None = None


class Delivered(msgspec.Struct, kw_only=True):
    """A provider accepted the message."""

    event_type: str
    status_code: int = 200
    status_message: str = "OK"
    provider_message_id: str | None = None
    updated_token: str | None = None
    #: (key, value, TTL in s) the engine stores with the outcome, in the batch's one transaction: what a report
    #: arriving later needs to map back to this message (gateway/bounces/sent.py).
    remember: tuple[str, bytes, int] | None = None


class Channel(Protocol[ContentT]):
    """A configured provider connection pool for one family of Pinpoint channel types."""

    #: Pinpoint ChannelType values this channel delivers (e.g. {"EMAIL"}).
    channel_types: ClassVar[frozenset[str]]

    async def start(self) -> None:
        """Open pools, fetch tokens. Called once before the first send."""

    async def send(self, msg: Outbound[ContentT], /) -> Delivered:
        """Deliver one message, raising a DeliveryError subclass on failure."""

    async def aclose(self) -> None:
        """Close connections; in-flight sends have already finished or been cancelled."""


class BatchChannel(Channel[ContentT], Protocol[ContentT]):
    """A channel whose provider takes many recipients per call (the custom channel's webhook: 50 endpoints per
    POST). The dispatcher hands it every recipient of a stream batch routed to it in one `send_batch` call."""

    async def send_batch(self, msgs: Sequence[Outbound[ContentT]], /) -> list[Delivered | DeliveryError]:
        """Deliver `msgs`; each one's result, in order (a failure is returned, never raised, per recipient)."""


class Runtime:
    """What a channel may use besides its own config: the shared Redis client, the endpoint store (no channel
    writes endpoints any more: a dead token is deactivated by the engine, outcome.Action.DEACTIVATE) and the
    encrypted per-application channel credentials (what UpdateApnsChannel / UpdateGcmChannel stored; None when
    no `[credentials]` key is configured, and then the push channels use their configured default credentials
    only)."""

    def __init__(self, redis: Any, endpoints: Any, credentials: CredentialStore | None = None) -> None:
        self.redis = redis
        self.endpoints = endpoints
        #: set once by gateway.channels.push_routes.credential_store when the first push route is built
        self.credentials: CredentialStore | None = credentials


class Render(Protocol):
    """Personalizes one piece of text for the current recipient (Handlebars with Pinpoint's variables)."""

    def __call__(self, source: str | None) -> str | None: ...


class Composer(Protocol[TemplateT_contra, ContentT_co]):
    """Builds a channel's content for one recipient.

    `config` is the request's DirectMessageConfiguration; `template` the Pinpoint template response shape for this
    channel family (EmailTemplateResponse, SMSTemplateResponse, PushNotificationTemplateResponse,
    VoiceTemplateResponse) when the request names one, else None. Raise ContentRejected (a PermanentError) when
    the request cannot produce a valid message for this recipient (for example an email with no From address).
    """

    def __call__(self, config: DirectMessageConfiguration, template: TemplateT_contra | None, recipient: Recipient,
                 render: Render, /) -> ContentT_co: ...


class EventNames(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A channel family's event names, one per kind of outcome (Pinpoint's where it has one); kinds a family does
    not name take its generic `<prefix>.failure` / `<prefix>.rejected` / `<prefix>.rendering_failure`."""

    prefix: str  # "_email"
    send: str | None = None  # when the message is handed to the channel, first attempt only
    rejected: str = ""  # decided before any channel ran
    opt_out: str = ""
    bounce: str = ""  # the provider refused the recipient
    unregistered: str = ""  # the token is dead; the endpoint is deactivated
    transient: str = ""
    throttled: str = ""
    unknown: str = ""  # the provider may have accepted the message
    failure: str = ""  # any other permanent failure (content, auth)
    rendering_failure: str = ""
    complaint: str = ""  # the recipient reported the message as spam (a late report)
    suppress_bounces: bool = False  # a bounce puts the address on the application's suppression list

    def __post_init__(self) -> None:
        failure = self.failure or f"{self.prefix}.failure"
        rejected = self.rejected or f"{self.prefix}.rejected"
        for name, default in (("rejected", rejected), ("opt_out", rejected), ("failure", failure),
                              ("bounce", failure), ("unregistered", failure), ("transient", failure),
                              ("throttled", failure), ("unknown", failure), ("complaint", failure),
                              ("rendering_failure", f"{self.prefix}.rendering_failure")):
            if not getattr(self, name):
                msgspec.structs.force_setattr(self, name, default)


class Screen(enum.Enum):
    """Which of an application's lists a family's recipients are checked against before sending."""

    NONE = "none"
    SUPPRESSION = "suppression"  # the email suppression list (bounces, complaints, manual entries)
    OPT_OUTS = "opt-outs"  # the SMS opt-out list (STOP keywords); the family's address check must give E.164


@dataclass(frozen=True, slots=True, kw_only=True)
class Family(Generic[TemplateT, ContentT]):
    """What the dispatcher needs to know of one family of Pinpoint channel types (EMAIL, SMS, VOICE, push).

    `message_member` names the DirectMessageConfiguration member whose Substitutions apply (falling back to
    `default_member`'s); `template_member` the TemplateConfiguration member, `template_type` the template store's
    type and `template_class` its response shape; `address` checks and normalizes an address (raising ValueError
    with the StatusMessage) or is None.
    """

    events: EventNames
    compose: Composer[TemplateT, ContentT]
    message_member: str
    default_member: str
    template_member: str
    template_type: str
    template_class: type[TemplateT]
    screen: Screen = Screen.NONE
    address: Callable[[str], str] | None = None

    def substitutions(self, config: DirectMessageConfiguration) -> dict[str, list[str]] | None:
        """Message-level substitutions: the family's own message's when it has any, else the default message's."""
        own = getattr(config, self.message_member)
        if own is not None and own.Substitutions:
            subs: dict[str, list[str]] = own.Substitutions
            return subs
        default = getattr(config, self.default_member)
        fallback: dict[str, list[str]] | None = default.Substitutions if default is not None else None
        return fallback


@dataclass(frozen=True, slots=True)
class Route(Generic[TemplateT, ContentT]):
    """How one Pinpoint ChannelType is delivered: a channel and the family whose content it sends."""

    channel: Channel[ContentT]
    family: Family[TemplateT, ContentT]


AnyRoute = Route[Any, Any]  # the dispatcher's table holds routes of every family


def checked_route(channel: Channel[ContentT], family: Family[TemplateT, ContentT]) -> AnyRoute:
    """A route whose channel sends what its family composes (mypy checks that they agree here, where the types
    are still known, before the route joins the dispatcher's table of every family)."""
    checked: Route[TemplateT, ContentT] = Route(channel, family)
    return checked
