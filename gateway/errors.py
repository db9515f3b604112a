"""One error root for the whole gateway.

Each protocol edge (SMTP replies, HTTP statuses, SMPP command_status, Redis replies) translates its own errors
into these classes exactly once, with `raise ... from exc`. What an error means for a
message (status, event, retry, suppression, deactivation) is decided in one place, `gateway.outcome.decide`, from
the error's class and its declared fields (`retry_after`, `deactivate`, `provider_ms`), never from a provider's
raw codes, which stay on the error as attributes.
Messages never contain recipient data (addresses, tokens, bodies): at most an index or a hash.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(GatewayError, ValueError):
    """Configuration is invalid; the message names the offending key."""


class DecodeError(GatewayError, ValueError):
    """A stream entry or request cannot be decoded or has the wrong shape: dead-lettered at once, never retried."""


class DeliveryError(GatewayError):
    """A send did not succeed. Subclasses fix whether it may be retried (`retryable`).

    `code` is the provider's own status (SMTP reply code, HTTP status, SMPP command_status); `detail` its enhanced
    code or reason string; `retry_after` a provider hint in seconds; `deactivate` says the address is dead for
    good (APNs 410, FCM UNREGISTERED: the endpoint goes INACTIVE); `provider_ms` when the provider says that
    happened (APNs' timestamp), epoch milliseconds.
    """

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        /,
        *,
        code: int = 0,
        detail: str | None = None,
        retry_after: float | None = None,
        deactivate: bool = False,
        provider_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.deactivate = deactivate
        self.provider_ms = provider_ms


class TransientError(DeliveryError):
    """May succeed if repeated unchanged: scheduled for retry."""

    retryable = True


class ConnectError(TransientError, ConnectionError):
    """The connection to the provider could not be made or was lost before the message was handed over."""


class ProviderTimeout(TransientError, TimeoutError):
    """A timeout before the provider could have accepted the message (safe to retry)."""


class PoolTimeout(ProviderTimeout):
    """No connection or stream of our own pool became free in time: local saturation, nothing was sent, so the
    message is retried (TEMPORARY_FAILURE) like any other transient failure."""


class Throttled(TransientError):
    """The provider asked us to slow down (429, SMTP 4.7.x rate, ESME_RTHROTTLED)."""


class ProviderUnavailable(TransientError):
    """5xx, SMTP 421, HTTP/2 GOAWAY: the provider is not taking work right now."""


class PermanentError(DeliveryError):
    """Will not succeed if repeated: never retried."""


class RecipientRejected(PermanentError):
    """The address does not exist or refuses mail (SMTP 550 5.1.1, APNs Unregistered, FCM UNREGISTERED)."""


class OptedOut(RecipientRejected):
    """The recipient opted out (our opt-out list, or a provider's, e.g. Twilio 21610): DeliveryStatus OPT_OUT."""


class Complained(PermanentError):
    """The recipient reported a delivered message as spam (an RFC 5965 feedback report that came back later)."""


class ContentRejected(PermanentError):
    """The message itself was refused (too large, bad payload)."""


class AuthFailed(PermanentError):
    """Our credentials were refused."""


class MaybeSent(DeliveryError):
    """The outcome is unknown: the provider may have accepted the message (timeout after SMTP's final dot, no
    submit_sm_resp). Never resent blindly: reported as UNKNOWN_FAILURE."""


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
