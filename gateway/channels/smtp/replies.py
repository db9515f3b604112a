"""SMTP replies, sans-I/O: parse them from bytes and classify them into gateway errors.

Classification follows RFC 5321 §4.2 and RFC 3463 as summarized in protocols-and-reliability.md §2: the
enhanced status code decides when present, then the command the reply answered, then the first digit.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gateway import errors

_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")

MAX_LINE = 4096  # longer reply lines are a broken or hostile server


class Reply(NamedTuple):
    code: int
    enhanced: str | None  # "5.1.1"
    text: str  # all lines joined with "\n", without codes

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced + ' ' if self.enhanced else ''}{self.text}".strip()


class ProtocolViolation(errors.ProviderUnavailable):
    """The server sent something that is not an SMTP reply."""


class ReplyParser:
    """Incremental parser: feed bytes, get complete replies. Multiline replies ("250-a", "250 b") are joined."""

    __slots__ = ("_buf", "_lines")

    def __init__(self) -> None:
        self._buf = b""
        self._lines: list[bytes] = []

    def feed(self, data: bytes) -> list[Reply]:
        buf = self._buf + data if self._buf else data
        out: list[Reply] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3:4] not in b" -"):
                raise ProtocolViolation(f"malformed SMTP reply line: {line[:80]!r}")
            if line[3:4] == b"-":
                self._lines.append(line)
                continue
            self._lines.append(line)
            out.append(_build(self._lines))
            self._lines = []
        rest = buf[start:]
        if len(rest) > MAX_LINE:
            raise ProtocolViolation("SMTP reply line too long")
        self._buf = rest
        return out


def _build(lines: list[bytes]) -> Reply:
    code = int(lines[0][:3])
    texts = [ln[4:] for ln in lines]
    enhanced = None
    m = _ENHANCED.match(texts[0])
    if m:
        enhanced = m.group(0).strip().decode()
        texts = [_ENHANCED.sub(b"", t, count=1) for t in texts]
    return Reply(code, enhanced, "\n".join(t.decode("utf-8", "replace") for t in texts).strip())


# Subjects of permanent enhanced codes that mean "this recipient is bad": a hard bounce, suppressed.
_HARD_BOUNCE = {"5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"}


def classify(command: str, reply: Reply) -> errors.DeliveryError:
    """The gateway error for a non-success `reply` to `command` ("MAIL", "RCPT", "DATA", "BODY", "CONNECT"...).

    Raises nothing; returns the error so the caller raises it `from` its context.
    """
    code, enh = reply.code, reply.enhanced or ""
    msg = f"SMTP {command} rejected: {reply}"[:500]
    if code == 421:
        # The server is closing the session: nothing in this transaction was accepted.
        return errors.ProviderUnavailable(msg, code=code, detail=enh or None)
    if 400 <= code < 500 or enh.startswith("4."):
        if enh.startswith("4.7.") or (code == 450 and enh == "4.2.1"):
            return errors.Throttled(msg, code=code, detail=enh or None)
        return errors.TransientError(msg, code=code, detail=enh or None)
    if code == 552 and command == "RCPT" and enh.endswith(".5.3"):
        # RFC 5321 §4.5.3.1.10: an RFC 821 server's "too many recipients" is temporary.
        return errors.TransientError(msg, code=code, detail=enh or None)
    if 500 <= code < 600:
        if enh in _HARD_BOUNCE or (not enh and command == "RCPT" and code in (550, 551, 553)):
            return errors.RecipientRejected(msg, code=code, detail=enh or None)
        if enh.startswith("5.3.4") or enh.startswith("5.2.3") or code == 552 or enh.startswith("5.6."):
            return errors.ContentRejected(msg, code=code, detail=enh or None)
        if enh.startswith("5.7.8") or code == 535:
            return errors.AuthFailed(msg, code=code, detail=enh or None)
        return errors.PermanentError(msg, code=code, detail=enh or None)
    return errors.ProviderUnavailable(f"unexpected SMTP reply to {command}: {reply}"[:500], code=code)
