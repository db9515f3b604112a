"""Reading a report that came back to the return path (pure: bytes in, a :class:`Report` or :class:`ReportError`
out): delivery status notifications (RFC 3464, `multipart/report; report-type=delivery-status`), feedback reports
(RFC 5965 ARF, `report-type=feedback-report`), and, only when they cannot be mistaken, plain non-standard bounces.

Per recipient of a DSN: `Action: failed` with a 5.x.x Status is a hard bounce, `failed` with 4.x.x or `delayed`
is a soft one; `delivered`, `relayed` and `expanded` are not bounces and are ignored. A plain bounce (no
multipart/report, as old qmail and some appliances send) is read only when the message came with the null
reverse-path that RFC 3464 §2 and RFC 5321 §4.5.5 require of delivery reports, is not an auto-reply
(Auto-Submitted: auto-replied, RFC 3834), and its text has exactly one kind of enhanced status code (all 5.x.x or
all 4.x.x); anything else is unparsed. Which message it is about is decided by the caller (VERP, Message-ID).

Bad input never raises anything but ReportError: the `email` package's own trouble (including the recursion of
absurdly nested MIME) is caught, and nesting deeper than `max_depth` or more than `max_parts` parts is refused
before anything is read from it.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from email.message import Message
from typing import Literal

import msgspec

Kind = Literal["hard", "soft"]

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_ENHANCED = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")  # not inside a longer dotted number
SMTP_CODE = re.compile(r"(?<!\d)([245]\d\d)(?!\d)")
_WS = re.compile(r"\s+")
_MULTIPART = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?multipart/")
MAX_TEXT = 64 * 1024  # of a plain bounce's text, what is searched for a status code
MAX_FIELD = 500


class ReportError(ValueError):
    """The message is not a report we can read; `reason` is the counter it is counted under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RecipientStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One per-recipient block of a DSN (or the one recipient of a plain bounce)."""

    final_recipient: str | None = None
    original_recipient: str | None = None
    action: str = ""
    status: str = ""  # "5.1.1"
    diagnostic: str = ""  # Diagnostic-Code without its type ("550 5.1.1 No such user")
    kind: Kind | None = None  # None: not a bounce (delivered, relayed, expanded)

    @property
    def addresses(self) -> list[str]:
        return [a for a in (self.final_recipient, self.original_recipient) if a]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What a report says: its type, the recipients' statuses (DSN, plain bounce) or the feedback (ARF), and what
    it tells of the original message."""

    type: Literal["dsn", "arf", "plain"]
    recipients: list[RecipientStatus] = []
    reporting_mta: str = ""
    feedback_type: str = ""  # ARF: abuse, fraud, virus, other, not-spam, ...
    user_agent: str = ""
    original_mail_from: str | None = None  # ARF Original-Mail-From
    original_rcpt_to: list[str] = []  # ARF Original-Rcpt-To
    message_id: str | None = None  # Message-ID of the original message (raw header value)
    original_to: list[str] = []  # To of the original message's headers, when returned
    original_return_path: str | None = None


def parse(data: bytes, *, null_sender: bool, max_depth: int = 8, max_parts: int = 200) -> Report:
    """Read one report. `null_sender`: it came with MAIL FROM:<> (required of a plain bounce)."""
    # The `email` parser tests every line against every open boundary: cost grows with lines x nesting, so
    # absurd nesting is refused before parsing (a real report has a handful of multipart containers).
    if len(_MULTIPART.findall(data)) > 2 * max_depth:
        raise ReportError("too-deep", f"more than {2 * max_depth} multipart containers")
    try:
        msg = email.message_from_bytes(data)
    except Exception as exc:  # RecursionError on absurd nesting included
        raise ReportError("malformed", f"cannot parse the message: {type(exc).__name__}") from None
    try:
        _check_shape(msg, max_depth, max_parts)
        if msg.get_content_type() == "multipart/report":
            report_type = (msg.get_param("report-type") or "")
            report_type = report_type.lower() if isinstance(report_type, str) else ""
            if report_type == "delivery-status":
                return _dsn(msg)
            if report_type == "feedback-report":
                return _arf(msg)
            raise ReportError("unsupported", f"multipart/report of report-type {report_type!r}")
        return _plain(msg, null_sender)
    except ReportError:
        raise
    except Exception as exc:  # whatever a hostile message trips in `email`: its own rejection, never a crash
        raise ReportError("malformed", f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _check_shape(msg: Message, max_depth: int, max_parts: int) -> None:
    stack: list[tuple[Message, int]] = [(msg, 1)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if depth > max_depth:
            raise ReportError("too-deep", f"MIME nesting deeper than {max_depth}")
        if parts > max_parts:
            raise ReportError("too-many-parts", f"more than {max_parts} MIME parts")
        if part.is_multipart() and part.get_content_type() != "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    if value is None:
        return ""
    return _WS.sub(" ", str(value)).strip()[:MAX_FIELD]


def _typed(value: str) -> str:
    """The value of a typed field (`rfc822; user@example.com`, `smtp; 550 ...`) without its type."""
    _, sep, rest = value.partition(";")
    return rest.strip() if sep else value.strip()


def _address(value: str) -> str | None:
    addr = _typed(value).strip().strip("<>").strip()
    return addr if "@" in addr and len(addr) <= 254 and not any(c.isspace() for c in addr) else None


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part (the `email` package parses
    the first into blocks, the second as an attached message; a text payload is parsed here)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        text = payload.replace("\r\n", "\n")
        return [email.parser.HeaderParser().parsestr(chunk.strip("\n") + "\n")
                for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]
    return []


def _original_headers(msg: Message) -> Message | None:
    """The returned original message's headers (message/rfc822 or text/rfc822-headers part), if any."""
    for part in msg.get_payload() if isinstance(msg.get_payload(), list) else []:
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
            if isinstance(inner, str):
                return email.parser.HeaderParser().parsestr(inner)
        elif ctype in ("text/rfc822-headers", "text/global-headers"):
            body = part.get_payload(decode=True)
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(part.get_payload())
            return email.parser.HeaderParser().parsestr(text.lstrip())
    return None


def _addresses(value: str | None) -> list[str]:
    if not value:
        return []
    return [a for _, a in email.utils.getaddresses([str(value)]) if a and "@" in a]


def _original_fields(msg: Message) -> tuple[str | None, list[str], str | None]:
    """Message-ID, To and Return-Path of the returned original message."""
    original = _original_headers(msg)
    if original is None:
        return None, [], None
    mid = original.get("Message-ID")
    rp = original.get("Return-Path")
    return (_WS.sub("", str(mid))[:300] if mid else None, _addresses(original.get("To")),
            _address(str(rp)) if rp else None)


def _dsn(msg: Message) -> Report:
    status_part = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        raise ReportError("malformed", "delivery-status report without a message/delivery-status part")
    blocks = _blocks(status_part)
    if not blocks:
        raise ReportError("malformed", "empty message/delivery-status part")
    per_message, per_recipient = blocks[0], blocks[1:]
    if per_message.get("Final-Recipient") is not None:  # a report without the per-message block
        per_message, per_recipient = Message(), blocks
    recipients = []
    for block in per_recipient:
        action = _field(block, "Action").lower().split(" ", 1)[0]
        status_m = _STATUS.match(_field(block, "Status"))
        final = _address(_field(block, "Final-Recipient"))
        if not action or final is None:
            continue  # a block without the two required fields is no recipient's
        status = ".".join(status_m.groups()) if status_m else ""
        diagnostic = _typed(_field(block, "Diagnostic-Code"))
        if not status:  # required by RFC 3464, missing in the wild: the SMTP reply in Diagnostic-Code then decides
            code = SMTP_CODE.search(diagnostic)
            status = f"{code.group(1)[0]}.0.0" if code and code.group(1)[0] in "45" else ""
        kind: Kind | None = None
        if action == "failed":
            kind = "hard" if status.startswith("5") else "soft" if status.startswith("4") else None
        elif action == "delayed":
            kind = "soft"
        recipients.append(RecipientStatus(
            final_recipient=final, original_recipient=_address(_field(block, "Original-Recipient")),
            action=action, status=status, diagnostic=diagnostic, kind=kind))
    if not recipients:
        raise ReportError("malformed", "no per-recipient block with Final-Recipient and Action")
    mid, to, rp = _original_fields(msg)
    return Report(type="dsn", recipients=recipients, reporting_mta=_typed(_field(per_message, "Reporting-MTA")),
                  message_id=mid, original_to=to, original_return_path=rp)


def _arf(msg: Message) -> Report:
    part = next((p for p in msg.walk() if p.get_content_type() == "message/feedback-report"), None)
    if part is None:
        raise ReportError("malformed", "feedback report without a message/feedback-report part")
    blocks = _blocks(part)
    if not blocks:
        raise ReportError("malformed", "empty message/feedback-report part")
    fields = blocks[0]
    feedback_type = _field(fields, "Feedback-Type").lower()
    if not feedback_type:
        raise ReportError("malformed", "feedback report without Feedback-Type")
    mail_from = _address(_field(fields, "Original-Mail-From"))
    rcpt_to = [a for a in (_address(str(v)) for v in fields.get_all("Original-Rcpt-To") or []) if a]
    mid, to, rp = _original_fields(msg)
    return Report(type="arf", feedback_type=feedback_type[:50], user_agent=_field(fields, "User-Agent"),
                  original_mail_from=mail_from, original_rcpt_to=rcpt_to, reporting_mta=_field(fields, "Reported-Domain"),
                  message_id=mid, original_to=to, original_return_path=rp)


def _plain(msg: Message, null_sender: bool) -> Report:
    if not null_sender:
        raise ReportError("unparsed", "not a multipart/report and not sent with the null reverse-path")
    auto = _field(msg, "Auto-Submitted").lower()
    if auto.startswith("auto-replied"):
        raise ReportError("unparsed", "an auto-reply, not a bounce")
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                text = body[:MAX_TEXT].decode("utf-8", "replace")
                break
    codes = {m.group(0) for m in _ENHANCED.finditer(text)}
    classes = {c[0] for c in codes}
    if len(classes) != 1:
        raise ReportError("unparsed", "no unambiguous enhanced status code in a non-standard bounce")
    status = min(codes)
    line = next((ln.strip() for ln in text.splitlines() if status in ln), "")
    kind: Kind = "hard" if status.startswith("5") else "soft"
    return Report(type="plain", recipients=[RecipientStatus(action="failed", status=status,
                                                            diagnostic=_WS.sub(" ", line)[:MAX_FIELD], kind=kind)])


__all__ = ["RecipientStatus", "Report", "ReportError", "parse"]
