"""The one place where what happened to a message becomes Pinpoint's status, code and event, and the engine's
action (pure: no Redis, no sockets, no clock).

Every recipient of every entry ends in :func:`decide`: a channel's :class:`Delivered` or
:class:`~gateway.errors.DeliveryError`, or a :class:`Refused` decided before any channel ran (opted out,
suppressed, inactive, duplicate, no channel, a template that does not render). The dispatcher first decides every
recipient of a batch, then writes the plan in one transaction; what a channel's error means is answered here
and nowhere else. A new channel brings its :class:`EventNames` (data), not a branch in the dispatcher.

| result                                   | DeliveryStatus     | event (family's)    | action                    |
|------------------------------------------|--------------------|---------------------|---------------------------|
| Delivered                                | SUCCESSFUL         | the channel's own   | done                      |
| Refused                                  | as refused         | rejected / opt_out / rendering_failure | done   |
| OptedOut (provider's opt-out list)       | OPT_OUT            | opt_out             | done                      |
| Throttled                                | THROTTLED          | throttled           | retry, then dead-letter   |
| other TransientError                     | TEMPORARY_FAILURE  | transient           | retry, then dead-letter   |
| MaybeSent (timeout after the final dot)  | UNKNOWN_FAILURE    | unknown             | done (never resent)       |
| error with `deactivate` (dead token)     | PERMANENT_FAILURE  | unregistered        | deactivate the endpoint   |
| RecipientRejected                        | PERMANENT_FAILURE  | bounce              | suppress if the family does, else done |
| Complained (a late feedback report)      | PERMANENT_FAILURE  | complaint           | suppress if the family does, else done |
| other PermanentError                     | PERMANENT_FAILURE  | failure             | done                      |

A report that comes back after the relay accepted the message (a DSN, a complaint) goes through
:func:`decide_late`: the same table, except that nothing is left for the engine to retry.
"""

from __future__ import annotations

import enum
import random

import msgspec

from gateway import errors
from gateway.channels.base import Delivered, EventNames
from gateway.config import RetryConfig
from gateway.models import DeliveryStatus
from gateway.stream.retry import backoff_s


class Action(enum.Enum):
    """What the engine does after writing the outcome's event."""

    DONE = "done"
    RETRY = "retry"  # re-enqueue the recipient after Outcome.delay_s
    DEAD_LETTER = "dead-letter"  # retries exhausted: the recipient goes to the dead-letter stream
    SUPPRESS = "suppress"  # add the address to the application's suppression list (a hard bounce)
    DEACTIVATE = "deactivate"  # mark the endpoint INACTIVE (a dead push token)


class Refused(msgspec.Struct, frozen=True, gc=False):
    """A recipient decided before any channel ran: nothing was sent."""

    status: DeliveryStatus  # DUPLICATE, OPT_OUT or PERMANENT_FAILURE
    code: int
    message: str
    rendering: bool = False  # the template could not be rendered (the family's rendering_failure event)


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """What a recipient's result means: Pinpoint's DeliveryStatus, StatusCode, StatusMessage and event name, and
    the engine's action (`delay_s` for RETRY)."""

    status: DeliveryStatus
    code: int
    message: str
    event: str
    action: Action = Action.DONE
    delay_s: float = 0.0


Result = Delivered | errors.DeliveryError | Refused

_DEFAULT_CODE = {"THROTTLED": 429, "TEMPORARY_FAILURE": 503, "UNKNOWN_FAILURE": 500}


def decide(names: EventNames, result: Result, attempt: int, retry: RetryConfig,
           rng: random.Random | None = None) -> Outcome:
    """The outcome of one recipient's `result` on its `attempt` (1-based) under the `retry` policy.

    `rng` draws the retry delay's jitter (tests pass a seeded one)."""
    if isinstance(result, Delivered):
        return Outcome("SUCCESSFUL", 200, result.status_message or "OK", result.event_type)
    if isinstance(result, Refused):
        if result.rendering:
            event = names.rendering_failure
        else:
            event = names.opt_out if result.status == "OPT_OUT" else names.rejected
        return Outcome(result.status, result.code, result.message, event)
    err = result
    status = status_of(err)
    code = err.code or _DEFAULT_CODE.get(status, 400)
    if err.retryable:
        event = names.throttled if isinstance(err, errors.Throttled) else names.transient
        if attempt < retry.max_attempts:
            delay = backoff_s(retry, attempt, err.retry_after, rng)
            return Outcome(status, code, f"{err.message} (attempt {attempt} of {retry.max_attempts}; will retry)",
                           event, Action.RETRY, delay)
        return Outcome(status, code, f"{err.message} (gave up after {attempt} attempts)", event, Action.DEAD_LETTER)
    if isinstance(err, errors.MaybeSent):
        return Outcome(status, code, err.message, names.unknown)
    if err.deactivate:
        return Outcome(status, code, err.message, names.unregistered, Action.DEACTIVATE)
    if isinstance(err, errors.OptedOut):
        return Outcome(status, code, err.message, names.opt_out)
    if isinstance(err, errors.Complained):
        return Outcome(status, code, err.message, names.complaint,
                       Action.SUPPRESS if names.suppress_bounces else Action.DONE)
    if isinstance(err, errors.RecipientRejected):
        return Outcome(status, code, err.message, names.bounce,
                       Action.SUPPRESS if names.suppress_bounces else Action.DONE)
    return Outcome(status, code, err.message, names.failure)


_NO_RETRY = RetryConfig(max_attempts=1)


def decide_late(names: EventNames, err: errors.DeliveryError) -> Outcome:
    """The outcome of a report that arrived after the provider accepted the message (a DSN or a complaint): as
    :func:`decide`, but a transient report (a delay, a 4.x.x failure) is final for the engine, since the relay
    that holds the message is the one retrying it, so it is only recorded (the family's transient event)."""
    if err.retryable:
        event = names.throttled if isinstance(err, errors.Throttled) else names.transient
        return Outcome(status_of(err), err.code or _DEFAULT_CODE.get(status_of(err), 400), err.message, event)
    return decide(names, err, 1, _NO_RETRY)


def status_of(err: errors.DeliveryError) -> DeliveryStatus:
    """Pinpoint's DeliveryStatus for a delivery error."""
    if isinstance(err, errors.OptedOut):
        return "OPT_OUT"
    if isinstance(err, errors.Throttled):
        return "THROTTLED"
    if isinstance(err, errors.MaybeSent):
        return "UNKNOWN_FAILURE"
    if err.retryable:
        return "TEMPORARY_FAILURE"
    return "PERMANENT_FAILURE"


__all__ = ["Action", "Outcome", "Refused", "Result", "decide", "decide_late", "status_of"]
