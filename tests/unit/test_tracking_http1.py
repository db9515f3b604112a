"""The tracking server's HTTP/1.1 parser: well-formed requests, pipelining, and a specific error for bad input."""

from __future__ import annotations

import pytest

from gateway.tracking.http1 import MAX_BODY, MAX_HEAD, HttpError, Request, location, parse_request, response

GET = b"GET /o/k1.abc HTTP/1.1\r\nHost: t.example\r\nUser-Agent: UA/1 (x)\r\n\r\n"


def test_a_get_is_parsed_with_its_user_agent_and_keep_alive() -> None:
    assert parse_request(GET) == (Request(b"GET", b"/o/k1.abc", True, "UA/1 (x)"), len(GET))


def test_pipelined_requests_are_taken_one_at_a_time_and_a_partial_one_waits() -> None:
    buf = bytearray(GET + GET.replace(b"/o/", b"/c/") + GET[:20])
    first, used = parse_request(buf)
    del buf[:used]
    second, used = parse_request(buf)
    del buf[:used]
    assert first is not None and second is not None and second.target == b"/c/k1.abc"
    assert parse_request(buf) == (None, 0)


@pytest.mark.parametrize("head, keep_alive", [
    (b"GET / HTTP/1.0\r\n\r\n", False), (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", False),
])
def test_connection_persistence_follows_the_version_and_connection_header(head: bytes, keep_alive: bool) -> None:
    req, _ = parse_request(head)
    assert req is not None and req.keep_alive is keep_alive


def test_a_post_waits_for_its_body() -> None:
    head = b"POST /u/k1.x HTTP/1.1\r\nHost: h\r\nContent-Length: 26\r\n\r\n"
    assert parse_request(head + b"List-Unsub") == (None, 0)
    req, used = parse_request(head + b"List-Unsubscribe=One-Click" + GET)
    assert req is not None and req.body == b"List-Unsubscribe=One-Click" and used == len(head) + 26


@pytest.mark.parametrize("data, status, message", [
    (b"GET /\r\nHost: h\r\n\r\n", 400, "request line"),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request line"),
    (b"GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "target"),
    (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "method"),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
    (b"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400, "version"),
    (b"GET / HTTP/1.1\nHost: h\n\n", 400, "CRLF"),
    (b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400, "control character"),
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "header field"),
    (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400, "header field"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400, "control character"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 400, "may not have a body"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"),
    (b"POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Content-Length"),
    (b"POST /u/x HTTP/1.1\r\nHost: h\r\n\r\n", 411, "Content-Length"),
    (b"POST /u/x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1), 413, "at most"),
    (b"POST /u/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Transfer-Encoding"),
    (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 70 + b"\r\n", 431, "too many"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"y" * MAX_HEAD + b"\r\n\r\n", 431, "too large"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"y" * MAX_HEAD, 431, "too large"),  # still incomplete: refused now
])
def test_bad_requests_get_a_specific_status(data: bytes, status: int, message: str) -> None:
    with pytest.raises(HttpError, match=message) as err:
        parse_request(data)
    assert err.value.status == status


def test_responses_carry_length_date_and_close_when_asked() -> None:
    out = response(200, b"Content-Type: image/gif\r\n", b"GIF", False, b"Mon, 07 Dec 2026 22:00:00 GMT")
    assert out == (b"HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 22:00:00 GMT\r\nContent-Length: 3\r\n"
                   b"Content-Type: image/gif\r\nConnection: close\r\n\r\nGIF")


def test_location_percent_encodes_what_could_split_the_header() -> None:
    assert location("https://a.example/p?q=1&r=%20#f") == b"https://a.example/p?q=1&r=%20#f"
    assert location("https://a.example/x\r\nSet-Cookie: a=b") == b"https://a.example/x%0D%0ASet-Cookie:%20a=b"
    assert location("https://a.example/é") == b"https://a.example/%C3%A9"
