"""One error root for the whole gateway.

Each protocol edge (SMTP replies, HTTP statuses, SMPP command_status, Redis replies) translates its own errors
into these classes exactly once, with `raise ... from exc`. The dispatcher decides only on `retryable`,
`category` and `retry_after`, never on a provider's raw codes, which stay on the error as attributes.
Messages never contain recipient data (addresses, tokens, bodies): at most an index or a hash.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(GatewayError, ValueError):
    """Configuration is invalid; the message names the offending key."""


class DecodeError(GatewayError, ValueError):
    """A stream entry or request cannot be decoded or has the wrong shape: dead-lettered at once, never retried."""


class Category(enum.Enum):
    """Why a delivery failed, independent of the protocol that reported it."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    THROTTLED = "throttled"
    REMOTE = "remote"
    RECIPIENT = "recipient"
    CONTENT = "content"
    AUTH = "auth"
    UNKNOWN = "unknown"


class DeliveryError(GatewayError):
    """A send did not succeed. Subclasses fix whether it may be retried and its category.

    `code` is the provider's own status (SMTP reply code, HTTP status, SMPP command_status); `detail` its enhanced
    code or reason string; `retry_after` a provider hint in seconds.
    """

    retryable: ClassVar[bool] = False
    category: ClassVar[Category] = Category.UNKNOWN

    def __init__(
        self,
        message: str,
        /,
        *,
        code: int = 0,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """May succeed if repeated unchanged: scheduled for retry."""

    retryable = True
    category = Category.REMOTE


class ConnectError(TransientError, ConnectionError):
    category = Category.NETWORK


class ProviderTimeout(TransientError, TimeoutError):
    """A timeout before the provider could have accepted the message (safe to retry)."""

    category = Category.TIMEOUT


class PoolTimeout(ProviderTimeout):
    """No connection or stream of our own pool became free in time: local saturation, nothing was sent, so the
    message is retried (TEMPORARY_FAILURE) like any other transient failure."""


class Throttled(TransientError):
    """The provider asked us to slow down (429, SMTP 4.7.x rate, ESME_RTHROTTLED)."""

    category = Category.THROTTLED


class ProviderUnavailable(TransientError):
    """5xx, SMTP 421, HTTP/2 GOAWAY: the provider is not taking work right now."""


class PermanentError(DeliveryError):
    """Will not succeed if repeated: never retried."""


class RecipientRejected(PermanentError):
    """The address does not exist or refuses mail (SMTP 550 5.1.1, APNs Unregistered, FCM UNREGISTERED)."""

    category = Category.RECIPIENT


class OptedOut(RecipientRejected):
    """The recipient opted out (our opt-out list, or a provider's, e.g. Twilio 21610): DeliveryStatus OPT_OUT."""


class ContentRejected(PermanentError):
    """The message itself was refused (too large, bad payload)."""

    category = Category.CONTENT


class AuthFailed(PermanentError):
    """Our credentials were refused."""

    category = Category.AUTH


class MaybeSent(DeliveryError):
    """The outcome is unknown: the provider may have accepted the message (timeout after SMTP's final dot, no
    submit_sm_resp). Never resent blindly: reported as UNKNOWN_FAILURE."""

    category = Category.UNKNOWN


# The roots of every store's own errors. A store raises its subclass (EndpointNotFound, SegmentValidationError,
# TemplateExists...) directly under one of these, so the API translates each root once (gateway/api/errors.py)
# and nothing between the store and the client re-wraps or re-words it.


class NotFound(GatewayError, LookupError):
    """A store has no such resource (an application, endpoint, template, segment, job...). The API answers
    404 NotFoundException with this message."""


class Conflict(GatewayError):
    """The resource already exists or changed concurrently. The API answers 409 ConflictException."""


class InvalidRequest(GatewayError, ValueError):
    """A store refused a request as invalid; the message names the field. The API answers 400
    BadRequestException."""


class Forbidden(GatewayError):
    """The deployment refuses the operation until its operator acts (a key not configured, or not the one the
    data was stored with); the message says what to do. The API answers 403 ForbiddenException."""
