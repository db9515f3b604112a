"""Link rewriting and the open pixel for rendered HTML email (pure functions, on the send path).

Every `<a>` whose href is an absolute http(s) URL gets the tracking URL instead, numbered 0, 1, ... in document
order; an anchor carrying `ses:no-track` (Pinpoint/SES's opt-out attribute) keeps its href and loses the attribute,
as SES does. Links to the tracking server itself (the unsubscribe link) are left alone. Every other byte of the
HTML is kept as it was. The pixel goes before the last `</body>` (or at the end when there is none).

Speed: the anchors are found by a compiled scanner (gateway/_fast/_track.pyx; its pure-Python twin documents the
rules and behaves identically), which returns only the edits; benchmarks/bench_tracking.py measures the cost
against rendering.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

from gateway import _fast

_anchors: Callable[[str], list[tuple[int, int, str | None]]] = _fast.load("track").anchors
_BODY_END = re.compile(r"</body\s*>", re.I)
NO_TRACK = "ses:no-track"
_SCHEMES = ("https://", "http://")


def _tracked_url(value: str) -> str | None:
    """The URL an href value points to when it is an absolute http(s) URL (entities decoded), else None."""
    url = value.strip()
    if not url.startswith(_SCHEMES) and not url[:8].lower().startswith(_SCHEMES):
        return None
    if "&" not in url:
        return url
    plain = url.replace("&amp;", "&")  # the common entity; html.unescape costs ~10x more
    return plain if "&" not in url.replace("&amp;", "") else htmllib.unescape(url)


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


def add_pixel(html: str, tag: str) -> str:
    """`html` with `tag` inserted before its last `</body>`, or appended when it has none."""
    at = html.rfind("</body>")
    if at < 0:
        ends = [m.start() for m in _BODY_END.finditer(html)]
        if not ends:
            return html + tag
        at = ends[-1]
    return html[:at] + tag + html[at:]


def pixel_tag(url: str) -> str:
    """The open pixel's <img> (like SES's: 1x1, no alt text, hidden)."""
    return (f'<img alt="" src="{url}" width="1" height="1" border="0" style="height:1px!important;'
            'width:1px!important;border-width:0!important;margin:0!important;padding:0!important" />')
