"""Which sent message a report is about, and what it means for it (pure: the records read from Redis are passed
in).

A report is matched first by VERP: a token in the envelope recipient (or, for a feedback report forwarded from
elsewhere, in its Original-Mail-From or the returned Return-Path) whose MAC verifies for the application, the
message id and an address, namely the stored record's or one the report names. Failing that, by the returned
Message-ID, which is not signed (anybody who received one of our messages can guess its neighbours' ids), so it
is accepted only when the report also names the address the record has. The matched recipient's entry of the
report then becomes a DeliveryError and goes through `outcome.decide_late` like any synchronous bounce.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gateway import errors
from gateway.bounces import verp
from gateway.bounces.reports import SMTP_CODE, RecipientStatus, Report
from gateway.bounces.sent import SentMail, message_id_of


class Domain(msgspec.Struct, frozen=True):
    """A return-path domain: its VERP prefix and the keys its tokens may be signed with."""

    prefix: str
    keys: tuple[bytes, ...] = ()


class Match(msgspec.Struct, frozen=True):
    sent: SentMail
    via: Literal["verp", "message-id"]


class Rejected(msgspec.Struct, frozen=True):
    reason: str  # the counter: forged, unknown-message, recipient-mismatch, no-reference
    detail: str


def tokens(report: Report, rcpt_tos: list[str], domains: dict[str, Domain],
           ) -> tuple[list[tuple[verp.Token, Domain]], int]:
    """The well-formed VERP tokens of our domains among the addresses that can carry one, and how many were
    malformed."""
    out: list[tuple[verp.Token, Domain]] = []
    bad = 0
    seen: set[str] = set()
    for addr in [*rcpt_tos, report.original_mail_from, report.original_return_path]:
        if not addr:
            continue
        local, at, domain_name = addr.strip().strip("<>").rpartition("@")
        dom = domains.get(domain_name.lower()) if at else None
        if dom is None:
            continue
        token = verp.split_local(local, dom.prefix)
        if not token or token.lower() in seen:
            continue
        seen.add(token.lower())
        try:
            out.append((verp.decode_token(token), dom))
        except verp.VerpError:
            bad += 1
    return out, bad


def named_addresses(report: Report) -> list[str]:
    """Every recipient address the report names, lower-cased, in order."""
    found: list[str] = []
    for a in [*(a for r in report.recipients for a in r.addresses), *report.original_rcpt_to, *report.original_to]:
        low = a.lower()
        if low not in found:
            found.append(low)
    return found


def reference_ids(report: Report, found: list[tuple[verp.Token, Domain]]) -> list[str]:
    """The message ids whose records the match needs (VERP tokens', then the returned Message-ID's)."""
    ids = [t.message_id for t, _ in found]
    mid = message_id_of(report.message_id) if report.message_id else None
    if mid is not None and mid not in ids:
        ids.append(mid)
    return ids


def match(report: Report, found: list[tuple[verp.Token, Domain]], records: dict[str, SentMail | None],
          ) -> Match | Rejected:
    """The sent message the report is about, from its VERP tokens and then its Message-ID."""
    named = named_addresses(report)
    forged = False
    for token, dom in found:
        rec = records.get(token.message_id)
        if rec is not None and rec.app != token.app:
            rec = None
        candidates = ([rec.address.lower()] if rec is not None else []) + named
        if not candidates:
            continue  # nothing to check the tag against (no record, recipient redacted): unverifiable, not forged
        for addr in dict.fromkeys(candidates):
            if any(verp.verify(key, token, addr) for key in dom.keys):
                if rec is not None and rec.address.lower() == addr:
                    return Match(rec, "verp")
                return Match(SentMail(token.app, token.message_id, addr), "verp")
        forged = True
    mid = message_id_of(report.message_id) if report.message_id else None
    if mid is not None:
        rec = records.get(mid)
        if rec is None:
            return Rejected("forged" if forged else "unknown-message", f"no record of message {mid[:80]!r}")
        if rec.address.lower() in named:
            return Match(rec, "message-id")
        return Rejected("forged" if forged else "recipient-mismatch",
                        f"the report does not name the recipient of message {mid[:80]!r}")
    if forged:
        return Rejected("forged", "VERP token does not verify for any address the report or the record names")
    if found:
        return Rejected("unknown-message", "no record of the message and no recipient named to verify the token")
    return Rejected("no-reference", "neither a VERP return path nor a Message-ID of ours")


def recipient_of(report: Report, m: Match) -> RecipientStatus | None:
    """The report's entry for the matched recipient: the one naming its address or, when the VERP address has
    already said which message it is (one recipient per message), the only entry (a forwarding address)."""
    address = m.sent.address.lower()
    for r in report.recipients:
        if address in (a.lower() for a in r.addresses):
            return r
    if m.via == "verp" and len(report.recipients) == 1:
        return report.recipients[0]
    return None


def error_for(report: Report, entry: RecipientStatus | None) -> errors.DeliveryError | None:
    """What the report says happened, as the DeliveryError a synchronous send would have raised (None: the entry
    is not a bounce, e.g. `Action: delivered`)."""
    source = report.reporting_mta or report.user_agent
    origin = f" (reported by {source})" if source else ""
    if report.type == "arf":
        return errors.Complained(f"Complaint: {report.feedback_type}{origin}"[:500], detail=report.feedback_type)
    if entry is None or entry.kind is None:
        return None
    code_m = SMTP_CODE.search(entry.diagnostic)
    code = int(code_m.group(1)) if code_m else (550 if entry.kind == "hard" else 450)
    text = f"{entry.status} {entry.diagnostic}".strip()
    if entry.kind == "hard":
        return errors.RecipientRejected(f"Bounced after delivery{origin}: {text}"[:500], code=code, detail=entry.status)
    return errors.TransientError(f"Delayed or soft-bounced after delivery{origin}: {text}"[:500], code=code,
                                 detail=entry.status)


__all__ = ["Domain", "Match", "Rejected", "error_for", "match", "named_addresses", "recipient_of", "reference_ids",
           "tokens"]
