"""decide() as a table: every kind of result of every channel family → status, code, event, action.

No Redis, no sockets. A new channel adds rows here (its EventNames and the errors its edge raises), not branches
elsewhere.
"""

from __future__ import annotations

import random

import pytest

from gateway import errors
from gateway.channels import families
from gateway.channels.base import Delivered
from gateway.channels.smtp.replies import ReplyParser, classify
from gateway.config import RetryConfig
from gateway.outcome import Action, Outcome, Refused, decide

RETRY = RetryConfig(max_attempts=3, base_s=10.0, cap_s=100.0)
E, S, P, V = families.EMAIL, families.SMS, families.PUSH, families.VOICE


def _smtp(code: int, text: str) -> errors.DeliveryError:
    """What the SMTP edge raises for a reply (the channel's own translation)."""
    return classify("RCPT", ReplyParser().feed(f"{code} {text}\r\n".encode())[0])


# (family, result, attempt) → (status, code, event, action)
TABLE = [
    # delivered: the channel names its own success event
    (E, Delivered(event_type="_email.delivered", status_message="250 2.0.0 Ok"), 1,
     ("SUCCESSFUL", 200, "_email.delivered", Action.DONE)),
    (S, Delivered(event_type="_SMS.BUFFERED"), 1, ("SUCCESSFUL", 200, "_SMS.BUFFERED", Action.DONE)),
    (P, Delivered(event_type="_push.success"), 2, ("SUCCESSFUL", 200, "_push.success", Action.DONE)),
    # SMTP replies, through the SMTP edge's translation
    (E, _smtp(550, "5.1.1 no such user"), 1, ("PERMANENT_FAILURE", 550, "_email.hardbounce", Action.SUPPRESS)),
    (E, _smtp(554, "5.7.1 spam"), 1, ("PERMANENT_FAILURE", 554, "_email.rejected", Action.DONE)),
    (E, _smtp(451, "4.3.0 try later"), 1, ("TEMPORARY_FAILURE", 451, "_email.softbounce", Action.RETRY)),
    (E, _smtp(451, "4.3.0 try later"), 3, ("TEMPORARY_FAILURE", 451, "_email.softbounce", Action.DEAD_LETTER)),
    (E, _smtp(421, "4.7.0 too many"), 1, ("TEMPORARY_FAILURE", 421, "_email.softbounce", Action.RETRY)),
    (E, errors.MaybeSent("timeout after the final dot"), 1, ("UNKNOWN_FAILURE", 500, "_email.unknown", Action.DONE)),
    (E, errors.Throttled("slow down", code=452), 1, ("THROTTLED", 452, "_email.softbounce", Action.RETRY)),
    (E, errors.ContentRejected("no From address"), 1, ("PERMANENT_FAILURE", 400, "_email.rejected", Action.DONE)),
    (E, errors.AuthFailed("535 auth", code=535), 1, ("PERMANENT_FAILURE", 535, "_email.rejected", Action.DONE)),
    (E, errors.ConnectError("refused"), 1, ("TEMPORARY_FAILURE", 503, "_email.softbounce", Action.RETRY)),
    # SMS (SMPP command_status and HTTP providers, translated at their edges)
    (S, errors.RecipientRejected("not a phone number", code=400), 1,
     ("PERMANENT_FAILURE", 400, "_SMS.FAILURE", Action.DONE)),
    (S, errors.OptedOut("21610 unsubscribed", code=400), 1, ("OPT_OUT", 400, "_SMS.OPTOUT", Action.DONE)),
    (S, errors.Throttled("ESME_RTHROTTLED", code=0x58, retry_after=5), 1,
     ("THROTTLED", 0x58, "_SMS.FAILURE", Action.RETRY)),
    (S, errors.ProviderUnavailable("503"), 3, ("TEMPORARY_FAILURE", 503, "_SMS.FAILURE", Action.DEAD_LETTER)),
    (S, errors.MaybeSent("no submit_sm_resp"), 1, ("UNKNOWN_FAILURE", 500, "_SMS.FAILURE", Action.DONE)),
    # push: dead tokens deactivate the endpoint, throttling has its own event
    (P, errors.RecipientRejected("Unregistered", code=410, deactivate=True, provider_ms=1_700_000_000_000), 1,
     ("PERMANENT_FAILURE", 410, "_push.unregistered", Action.DEACTIVATE)),
    (P, errors.RecipientRejected("BadDeviceToken", code=400), 1, ("PERMANENT_FAILURE", 400, "_push.failure", Action.DONE)),
    (P, errors.Throttled("TooManyRequests", code=429), 1, ("THROTTLED", 429, "_push.throttled", Action.RETRY)),
    (P, errors.ProviderUnavailable("GOAWAY"), 1, ("TEMPORARY_FAILURE", 503, "_push.failure", Action.RETRY)),
    (P, errors.ContentRejected("PayloadTooLarge", code=413), 1, ("PERMANENT_FAILURE", 413, "_push.failure", Action.DONE)),
    # voice
    (V, errors.ProviderUnavailable("busy", code=503), 1, ("TEMPORARY_FAILURE", 503, "_VOICE.FAILED", Action.RETRY)),
    (V, errors.RecipientRejected("bad number"), 1, ("PERMANENT_FAILURE", 400, "_VOICE.FAILED", Action.DONE)),
    # decided before any channel ran
    (E, Refused("DUPLICATE", 409, "Duplicate request"), 1, ("DUPLICATE", 409, "_email.rejected", Action.DONE)),
    (E, Refused("OPT_OUT", 400, "opted out"), 1, ("OPT_OUT", 400, "_email.rejected", Action.DONE)),
    (E, Refused("PERMANENT_FAILURE", 400, "suppressed"), 1, ("PERMANENT_FAILURE", 400, "_email.rejected", Action.DONE)),
    (S, Refused("OPT_OUT", 400, "opted out"), 1, ("OPT_OUT", 400, "_SMS.OPTOUT", Action.DONE)),
    (S, Refused("PERMANENT_FAILURE", 400, "not a phone number"), 1, ("PERMANENT_FAILURE", 400, "_SMS.FAILURE", Action.DONE)),
    (V, Refused("PERMANENT_FAILURE", 404, "no endpoint"), 1, ("PERMANENT_FAILURE", 404, "_VOICE.FAILED", Action.DONE)),
    (P, Refused("PERMANENT_FAILURE", 400, "INACTIVE"), 1, ("PERMANENT_FAILURE", 400, "_push.rejected", Action.DONE)),
    (families.CUSTOM, Refused("PERMANENT_FAILURE", 400, "no channel"), 1,
     ("PERMANENT_FAILURE", 400, "_custom.rejected", Action.DONE)),
    (families.UNKNOWN, Refused("PERMANENT_FAILURE", 400, "ChannelType is required"), 1,
     ("PERMANENT_FAILURE", 400, "_message.rejected", Action.DONE)),
    (E, Refused("PERMANENT_FAILURE", 400, "Rendering failed", rendering=True), 1,
     ("PERMANENT_FAILURE", 400, "_email.rendering_failure", Action.DONE)),
    (S, Refused("PERMANENT_FAILURE", 400, "Rendering failed", rendering=True), 1,
     ("PERMANENT_FAILURE", 400, "_SMS.rendering_failure", Action.DONE)),
]


@pytest.mark.parametrize(("names", "result", "attempt", "expected"), TABLE,
                         ids=[f"{row[0].prefix}-{type(row[1]).__name__}-{i}" for i, row in enumerate(TABLE)])
def test_decide_table(names, result, attempt, expected) -> None:
    out = decide(names, result, attempt, RETRY, random.Random(1))
    assert (out.status, out.code, out.event, out.action) == expected


def test_retry_message_and_delay_follow_the_policy() -> None:
    err = errors.ProviderUnavailable("busy")
    first = decide(E, err, 1, RETRY, random.Random(1))
    assert first.message == "busy (attempt 1 of 3; will retry)"
    assert 5.0 <= first.delay_s <= 10.0  # equal jitter over base_s * 2**0
    second = decide(E, err, 2, RETRY, random.Random(1))
    assert 10.0 <= second.delay_s <= 20.0
    last = decide(E, err, 3, RETRY)
    assert last == Outcome("TEMPORARY_FAILURE", 503, "busy (gave up after 3 attempts)", "_email.softbounce",
                           Action.DEAD_LETTER)


def test_a_provider_retry_hint_wins_when_longer_and_is_capped() -> None:
    assert decide(S, errors.Throttled("x", retry_after=60), 1, RETRY).delay_s == 60.0
    assert decide(S, errors.Throttled("x", retry_after=10_000), 1, RETRY).delay_s == 100.0


def test_every_channel_type_has_a_family_and_unknown_types_fall_back() -> None:
    for ct in ("EMAIL", "SMS", "VOICE", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "ADM", "BAIDU", "CUSTOM", "IN_APP"):
        names = families.for_channel_type(ct)
        for kind in ("rejected", "opt_out", "bounce", "unregistered", "transient", "throttled", "unknown", "failure",
                     "rendering_failure"):
            assert getattr(names, kind).startswith(names.prefix + "."), (ct, kind)
    assert families.for_channel_type("FAX") is families.UNKNOWN
