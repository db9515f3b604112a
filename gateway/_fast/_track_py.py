"""Link tracking's hot path (pure-Python twin of gateway/_fast/_track.pyx; identical behaviour).

`mac(key, data)` is SipHash-2-4 with its 128-bit output (the reference implementation's `siphash(..., outlen=16)`,
checked against its published vectors); `token(key, body)` is unpadded URL-safe base64 of `body || mac`. `track`
rewrites a whole email in one pass: the anchors found by `anchors` (below), each trackable href replaced by a signed
click URL, `ses:no-track` attributes dropped, the open pixel inserted, the output built in one join.

`SignerBase.message(app, message_id, endpoint_id)` makes a `MessageSigner`, the maker of one message's tokens (its
ids encoded once); `Rewriter` is `track` with one process's URL prefixes bound and the pixel's place found, as the
send path calls it (compiled, each of these is one C call with no Python frame per email).

`anchors(html)` finds every `<a` start tag (`<a` or `<A` followed by white space, `/` or `>`) and reads its
attributes as HTML tokenizes them: names run to white space, `/`, `>` or `=`; a value is double-quoted,
single-quoted or unquoted (to white space or `>`). It returns edits in document order:

- `(start, end, None)` for each `ses:no-track` attribute (any case), from the white space before it to its end:
  the attribute to remove; an anchor that has one gets no other edit;
- `(start, end, value)` for the first `href` with a value: the value's span (quotes excluded) and its raw text.

An anchor whose tag is not closed before the end of the text (or whose quoted value never closes) stops the scan:
no edit for it or anything after it.
"""

from __future__ import annotations

import binascii
import html as htmllib
from collections.abc import Callable

_WS = " \t\n\r\f"
_M = (1 << 64) - 1
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_SCHEMES = ("https://", "http://")
SEP = b"\x1f"


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def mac(key: bytes, data: bytes) -> bytes:
    """SipHash-2-4-128 of `data` under the 16-byte `key`."""
    if len(key) != 16:
        raise ValueError("the key must be 16 bytes")
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D ^ 0xEE, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(r: int) -> None:
        v0, v1, v2, v3 = v
        for _ in range(r):
            v0 = (v0 + v1) & _M
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        v[:] = [v0, v1, v2, v3]

    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    last = ((n & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v[3] ^= last
    rounds(2)
    v[0] ^= last
    v[2] ^= 0xEE
    rounds(4)
    first = v[0] ^ v[1] ^ v[2] ^ v[3]
    v[1] ^= 0xDD
    rounds(4)
    second = v[0] ^ v[1] ^ v[2] ^ v[3]
    return first.to_bytes(8, "little") + second.to_bytes(8, "little")


def token(key: bytes, body: bytes) -> str:
    """Unpadded URL-safe base64 of `body` followed by its MAC."""
    raw = body + mac(key, body)
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def tracked_url(value: str) -> str | None:
    """The URL an href value points to when it is an absolute http(s) URL (entities decoded), else None."""
    url = value.strip()
    if not url.startswith(_SCHEMES) and not url[:8].lower().startswith(_SCHEMES):
        return None
    if "&" not in url:
        return url
    plain = url.replace("&amp;", "&")  # the common entity; html.unescape costs ~10x more
    return plain if "&" not in url.replace("&amp;", "") else htmllib.unescape(url)


def track(html: str, key: bytes, head: bytes, click_prefix: str | None, skip_prefix: str, pixel_at: int,
          pixel_before: str, pixel_after: str) -> tuple[str, int]:
    """`html` with its links tracked and the open pixel added; also the number of tracked links.

    With `click_prefix` (None: links are left alone), each anchor's trackable href (see tracked_url; not starting
    with `skip_prefix` when that is set) becomes `click_prefix + token(key, b"c" + head + SEP + index + SEP + url)`,
    numbered 0, 1, ... in document order, and `ses:no-track` attributes are dropped. With `pixel_at` >= 0,
    `pixel_before + token(key, b"o" + head) + pixel_after` goes in at offset `pixel_at` of `html` (at the end when
    that falls inside an edited attribute, where it cannot be a real end tag). Every other character is kept.
    """
    if pixel_at > len(html):
        raise ValueError("pixel_at is past the end")
    pixel = (pixel_at, pixel_before, pixel_after) if pixel_at >= 0 else None
    edits = anchors(html) if click_prefix is not None else []
    if not edits and pixel is None:
        return html, 0
    at = pixel[0] if pixel is not None else -1
    out: list[str] = []
    pos = 0  # copied up to here
    index = 0
    for start, end, value in edits:
        url = None
        if value is not None:
            url = tracked_url(value)
            if url is None or (skip_prefix and url.startswith(skip_prefix)):
                continue
        if pos <= at <= start and pixel is not None:
            out += (html[pos:at], pixel[1], token(key, b"o" + head), pixel[2])
            pos, at = at, -1
        elif start < at < end:  # not a real end tag: inside an attribute
            at = len(html)
        out.append(html[pos:start])
        if url is not None:
            assert click_prefix is not None
            out += (click_prefix, token(key, b"c" + head + SEP + str(index).encode() + SEP + url.encode()))
            index += 1
        pos = end
    if at >= 0 and pixel is not None:
        out += (html[pos:at], pixel[1], token(key, b"o" + head), pixel[2])
        pos = at
    out.append(html[pos:])
    return "".join(out), index


def _lower_is(html: str, start: int, end: int, word: str) -> bool:
    return end - start == len(word) and html[start:end].lower() == word


def anchors(html: str) -> list[tuple[int, int, str | None]]:
    """The edits of `html`'s anchors (see the module docstring)."""
    out: list[tuple[int, int, str | None]] = []
    n = len(html)
    i = html.find("<")
    while 0 <= i < n - 2:
        c1, c2 = html[i + 1], html[i + 2]
        if c1 not in "aA" or (c2 not in _WS and c2 != "/" and c2 != ">"):
            i = html.find("<", i + 1)
            continue
        j = i + 2
        href: tuple[int, int, str | None] | None = None
        removals: list[tuple[int, int, str | None]] = []
        closed = False
        while True:
            ws = j
            while j < n and (html[j] in _WS or html[j] == "/"):
                j += 1
            if j >= n:
                break
            if html[j] == ">":
                closed = True
                break
            name_start = j
            j += 1
            while j < n and html[j] not in _WS and html[j] != "/" and html[j] != ">" and html[j] != "=":
                j += 1
            name_end = j
            k = j
            while k < n and html[k] in _WS:
                k += 1
            vs = ve = -1
            if k < n and html[k] == "=":
                k += 1
                while k < n and html[k] in _WS:
                    k += 1
                if k >= n:
                    break
                q = html[k]
                if q == '"' or q == "'":
                    close = html.find(q, k + 1)
                    if close < 0:
                        break
                    vs, ve, j = k + 1, close, close + 1
                else:
                    vs = k
                    while k < n and html[k] not in _WS and html[k] != ">":
                        k += 1
                    ve = j = k
            else:
                j = name_end
            if _lower_is(html, name_start, name_end, "ses:no-track"):
                removals.append((ws, j, None))
            elif href is None and vs >= 0 and _lower_is(html, name_start, name_end, "href"):
                href = (vs, ve, html[vs:ve])
        if not closed:
            break
        if removals:
            out += removals
        elif href is not None:
            out.append(href)
        i = html.find("<", j + 1)
    return out


class MessageSigner:
    """Makes the tokens of one message (made by SignerBase.message): `kid`, the token `key` and `head` (SEP app SEP
    message SEP endpoint, UTF-8) also feed `track`. A token is `kid "." token(key, kind head tail)`."""

    __slots__ = ("head", "key", "kid")

    def __init__(self, kid: str, key: bytes, head: bytes) -> None:
        if len(key) != 16:
            raise ValueError("the key must be 16 bytes")
        self.kid, self.key, self.head = kid, key, head

    def open(self) -> str:
        return self.kid + "." + token(self.key, b"o" + self.head)

    def click(self, link: int, url: str) -> str:
        return self.kid + "." + token(self.key, b"c" + self.head + f"\x1f{link}\x1f{url}".encode())

    def unsubscribe(self, address: str) -> str:
        return self.kid + "." + token(self.key, b"u" + self.head + ("\x1f" + address).encode())


class SignerBase:
    """The signing key's id `kid` and its 16-byte token key; `message` makes one message's signer."""

    __slots__ = ("_token_key", "kid")

    def __init__(self, kid: str, token_key: bytes) -> None:
        if len(token_key) != 16:
            raise ValueError("the key must be 16 bytes")
        self.kid, self._token_key = kid, token_key

    def message(self, app: str, message_id: str, endpoint_id: str) -> MessageSigner:
        """The signer of one message's tokens; ValueError when an id holds U+001F (it would shift the fields)."""
        if "\x1f" in app or "\x1f" in message_id or "\x1f" in endpoint_id:
            raise ValueError("a tracked message's ids must not contain U+001F")
        return MessageSigner(self.kid, self._token_key, f"\x1f{app}\x1f{message_id}\x1f{endpoint_id}".encode())


class Rewriter:
    """`track` with one process's prefixes bound: `click_prefix` (None: links are left alone), `skip_prefix`, and
    the pixel's text around its token (`pixel_before` None: no pixel). The pixel goes before the last `</body>`,
    else where `locate(html)` says."""

    __slots__ = ("_after", "_before", "_click", "_locate", "_skip")

    def __init__(self, click_prefix: str | None, skip_prefix: str, pixel_before: str | None, pixel_after: str,
                 locate: Callable[[str], int]) -> None:
        self._click, self._skip, self._before, self._after = click_prefix, skip_prefix, pixel_before, pixel_after
        self._locate = locate

    def __call__(self, html: str, signer: MessageSigner) -> tuple[str, int]:
        """`html` tracked with `signer`'s tokens, and the number of tracked links."""
        if self._before is None:
            return track(html, signer.key, signer.head, self._click, self._skip, -1, "", "")
        at = html.rfind("</body>")
        if at < 0:
            at = self._locate(html)
        return track(html, signer.key, signer.head, self._click, self._skip, at, self._before, self._after)

    def html(self, html: str, signer: MessageSigner) -> str:
        """`html` tracked with `signer`'s tokens."""
        return self(html, signer)[0]

    def message_html(self, html: str, signer: SignerBase, app: str, message_id: str, endpoint_id: str) -> str:
        """`html` tracked with the tokens of `signer.message(app, message_id, endpoint_id)` (ValueError as there):
        what the send path calls, one call per email (compiled, the message's signer is never made)."""
        return self(html, signer.message(app, message_id, endpoint_id))[0]
