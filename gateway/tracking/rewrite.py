"""Link rewriting and the open pixel for rendered HTML email (pure functions, on the send path).

Every `<a>` whose href is an absolute http(s) URL gets the tracking URL instead, numbered 0, 1, ... in document
order; an anchor carrying `ses:no-track` (Pinpoint/SES's opt-out attribute) keeps its href and loses the attribute,
as SES does. Links to the tracking server itself (the unsubscribe link) are left alone. Every other byte of the
HTML is kept as it was. The pixel goes before the last `</body>` (or at the end when there is none).

Speed: on the send path the Tracker's `rewriter` does the whole message in one call into the compiled module
(gateway/_fast/_track.pyx; its pure-Python twin documents the rules and behaves identically), entered with no Python
frame: the anchor scan (32 bytes at a time with AVX2), each link's token, the pixel, and the output written into one
new str from stack buffers. The part every click token of a message shares ("c", the ids) is MACed (SipHash state)
and base64-encoded once per message, so a link costs only its own index and URL; the MACs run two at a time,
interleaved. The token format is unchanged (links in mail already sent keep working). `rewrite_links` is the
general form (any URL maker), used by tests and tools. benchmarks/bench_tracking.py measures the cost against
rendering.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from gateway import _fast
from gateway.tracking.tokens import MessageSigner

_impl = _fast.load("track")
_anchors: Callable[[str], list[tuple[int, int, str | None]]] = _impl.anchors
_tracked_url: Callable[[str], str | None] = _impl.tracked_url
_BODY_END = re.compile(r"</body\s*>", re.I)
NO_TRACK = "ses:no-track"
PIXEL_BEFORE = '<img alt="" src="'
PIXEL_AFTER = ('" width="1" height="1" border="0" style="height:1px!important;width:1px!important;'
               'border-width:0!important;margin:0!important;padding:0!important" />')


if TYPE_CHECKING:  # the twin's class types both implementations
    from gateway._fast._track_py import Rewriter as _Rewriter
else:
    _Rewriter = _impl.Rewriter


def rewriter(kid: str, click_url: str | None, skip_prefix: str, open_url: str | None,
             impl: ModuleType | None = None) -> _Rewriter:
    """The one-pass rewrite of one process's messages, its URL prefixes prepared once (the Tracker holds one):
    called as `rw(html, signer)` it returns what `track` does; `rw.html(html, signer)` the html alone. Compiled,
    either is one C call per email."""
    rw: _Rewriter = (impl or _impl).Rewriter(click_url + kid + "." if click_url is not None else None, skip_prefix,
                                             PIXEL_BEFORE + open_url + kid + "." if open_url else None, PIXEL_AFTER,
                                             pixel_position)
    return rw


def track(html: str, signer: MessageSigner, click_url: str | None, skip_prefix: str, open_url: str | None,
          impl: ModuleType | None = None) -> tuple[str, int]:
    """`html` with links tracked (when `click_url`, the click route's prefix, is given) and the open pixel added
    (when `open_url` is), in one pass; also the number of tracked links. Same output as `rewrite_links` with
    `click_url + signer.click(i, url)` and then `add_pixel` (tests hold them equal); `impl`: the compiled module
    (default) or its twin."""
    return rewriter(signer.kid, click_url, skip_prefix, open_url, impl)(html, signer)


def rewrite_links(html: str, link_url: Callable[[int, str], str], skip_prefix: str = "",
                  scan: Callable[[str], list[tuple[int, int, str | None]]] | None = None) -> tuple[str, int]:
    """`html` with each trackable link's href replaced by `link_url(index, url)`; also the number of links.

    `skip_prefix`: hrefs starting with it (our own server's URLs) are not tracked. `scan` finds the anchors'
    edits (default: the compiled scanner, gateway/_fast/_track.pyx, or its twin).
    """
    edits = (scan or _anchors)(html)
    if not edits:
        return html, 0
    out: list[str] = []
    pos = 0  # copied up to here
    index = 0
    for start, end, value in edits:
        if value is None:  # ses:no-track: drop the attribute
            out.append(html[pos:start])
            pos = end
            continue
        url = _tracked_url(value)
        if url is None or (skip_prefix and url.startswith(skip_prefix)):
            continue
        out.append(html[pos:start])
        out.append(link_url(index, url))
        pos = end
        index += 1
    if pos == 0:
        return html, index
    out.append(html[pos:])
    return "".join(out), index


def pixel_position(html: str) -> int:
    """Where the pixel goes: before the last `</body>` (any case, white space before `>` allowed), else the end."""
    at = html.rfind("</body>")
    if at >= 0:
        return at
    ends = [m.start() for m in _BODY_END.finditer(html)]
    return ends[-1] if ends else len(html)


def add_pixel(html: str, tag: str) -> str:
    """`html` with `tag` inserted before its last `</body>`, or appended when it has none."""
    at = pixel_position(html)
    return html[:at] + tag + html[at:]


def pixel_tag(url: str) -> str:
    """The open pixel's <img> (like SES's: 1x1, no alt text, hidden)."""
    return PIXEL_BEFORE + url + PIXEL_AFTER
