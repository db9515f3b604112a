"""Strict HTTP/1.1 for the tracking server (sans-I/O): request parsing with hard limits, and response bytes.

Only what the tracking routes need, and strict about the rest (RFC 9112): a request line of exactly
`METHOD SP origin-form SP HTTP/1.x` with CRLF line ends (a bare CR or LF is refused), header names that are tokens
with no white space before the colon, no obsolete line folding, at most MAX_HEAD bytes of request line and headers
(431 beyond) and MAX_HEADERS header lines, Host present exactly once on HTTP/1.1, Content-Length digits only and
given once. No request but a POST may carry a body (a GET with Content-Length > 0 is refused); a POST needs a
Content-Length of at most MAX_BODY bytes (411, 413); Transfer-Encoding is not implemented (501: no chunked bodies,
which no mailbox provider's one-click POST uses). Each error is an HttpError with the status to answer before
closing the connection, since the byte stream can no longer be trusted to be in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

import msgspec

MAX_HEAD = 8192  # request line + headers, bytes
MAX_HEADERS = 64
MAX_BODY = 4096  # a one-click POST is "List-Unsubscribe=One-Click"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TARGET = re.compile(rb"/[\x21-\x7e]*\Z")  # origin-form: visible ASCII, starting with "/"
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than HTAB
# A well-formed head in one match (the common case); anything else takes the field-by-field path, which names the
# fault. Groups: method, target, minor version, the header lines.
_HEAD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (/[\x21-\x7e]*) HTTP/1\.([01])\r\n"
                   rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n){0,64})\r\n")
_FIELD = re.compile(rb"([^:]+):[ \t]*([^\r]*?)[ \t]*\r\n")
REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
           503: "Service Unavailable", 505: "HTTP Version Not Supported"}


class HttpError(Exception):
    """A request that cannot be served: answer `status` with `message`, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request(msgspec.Struct, gc=False):
    """One parsed request."""

    method: bytes
    target: bytes
    keep_alive: bool
    user_agent: str = ""
    body: bytes = b""


def parse_request(buf: bytes | bytearray) -> tuple[Request | None, int]:
    """The first request in `buf` and the number of bytes it took, or (None, 0) while it is incomplete.

    Raises HttpError when it is malformed or over a limit (also while incomplete, as soon as that is certain).
    """
    start = 0
    while buf.startswith(b"\r\n", start):  # empty lines before a request line may be ignored (RFC 9112 2.2)
        start += 2
    end = buf.find(b"\r\n\r\n", start)
    if end < 0:
        if len(buf) - start > MAX_HEAD:
            raise HttpError(431, "request line and headers too large")
        if buf.count(b"\n", start) != buf.count(b"\r\n", start):
            raise HttpError(400, "lines must end with CRLF")
        return None, 0
    if end - start > MAX_HEAD:
        raise HttpError(431, "request line and headers too large")
    m = _HEAD.match(buf, start)
    if m is not None and m.end() == end + 4:
        return _request(buf, m, end + 4)
    lines = bytes(buf[start:end]).split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(400, "malformed method")
    if not _TARGET.match(target):
        raise HttpError(400, "malformed request target")
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    elif _VERSION.match(version):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1")
    else:
        raise HttpError(400, "malformed HTTP version")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, "too many header fields")
    keep_alive, user_agent, length = _interpret(_checked_fields(lines[1:]), keep_alive, version == b"HTTP/1.1")
    return _finish(buf, method, target, keep_alive, user_agent, length, end + 4)


def _request(buf: bytes | bytearray, m: re.Match[bytes], head_end: int) -> tuple[Request | None, int]:
    """The request of a head that matched _HEAD (its fields are well-formed; their values are checked here)."""
    method, target, minor, fields = m.groups()
    keep_alive, user_agent, length = _interpret(_FIELD.findall(fields), minor == b"1", minor == b"1")
    return _finish(buf, method, target, keep_alive, user_agent, length, head_end)


def _checked_fields(lines: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """The (name, value) of each header line, refusing a malformed one (the slow path's check; the fast path's
    _HEAD expression only matches well-formed fields)."""
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):  # also white space before the colon, or an obs-fold line
            raise HttpError(400, "malformed header field")
        if b"\r" in value or b"\n" in value or _BAD_VALUE.search(value):
            raise HttpError(400, "control character in a header field")
        yield name, value.strip(b" \t")


def _interpret(fields: Iterable[tuple[bytes, bytes]], keep_alive: bool, http11: bool) -> tuple[bool, str, int]:
    """What the tracking server reads of the header fields: keep-alive (from the version's default), the
    User-Agent, and the Content-Length (-1: none); exactly one Host in HTTP/1.1, no Transfer-Encoding."""
    length = -1
    hosts = 0
    user_agent = ""
    for name, value in fields:
        lname = name.lower()
        if lname == b"user-agent":
            user_agent = value.decode("latin-1")
        elif lname == b"host":
            hosts += 1
        elif lname == b"content-length":
            if not value.isdigit() or len(value) > 9 or (length >= 0 and int(value) != length):
                raise HttpError(400, "malformed Content-Length")
            length = int(value)
        elif lname == b"transfer-encoding":
            raise HttpError(501, "Transfer-Encoding is not supported")
        elif lname == b"connection":
            tokens = {t.strip() for t in value.lower().split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
    if http11 and hosts != 1:
        raise HttpError(400, "exactly one Host header is required")
    return keep_alive, user_agent, length


def _finish(buf: bytes | bytearray, method: bytes, target: bytes, keep_alive: bool, user_agent: str, length: int,
            head_end: int) -> tuple[Request | None, int]:
    if method != b"POST":
        if length > 0:
            raise HttpError(400, "this request may not have a body")
        return Request(method, target, keep_alive, user_agent), head_end
    if length < 0:
        raise HttpError(411, "a POST needs a Content-Length")
    if length > MAX_BODY:
        raise HttpError(413, f"a body of at most {MAX_BODY} bytes")
    if len(buf) < head_end + length:
        return None, 0
    return Request(method, target, keep_alive, user_agent, bytes(buf[head_end:head_end + length])), head_end + length


def response(status: int, headers: bytes, body: bytes, keep_alive: bool, date: bytes) -> bytes:
    """The bytes of a response. `headers`: CRLF-terminated header lines (besides Date, Content-Length and
    Connection); `date`: the HTTP-date of now."""
    return b"".join((
        b"HTTP/1.1 %d %s\r\nDate: " % (status, REASONS[status].encode()), date,
        b"\r\nContent-Length: %d\r\n" % len(body), headers,
        b"\r\n" if keep_alive else b"Connection: close\r\n\r\n", body))


def location(url: str) -> bytes:
    """A URL as a Location header value: visible ASCII as it is, anything else (controls, white space, non-ASCII as
    UTF-8) percent-encoded, so no byte of it can end the header or start another."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url.encode("ascii")
    return quote(url, safe="".join(chr(c) for c in range(0x21, 0x7F))).encode("ascii")
