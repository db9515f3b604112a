"""Link rewriting and the open pixel for rendered HTML email (pure functions, on the send path).

Every `<a>` whose href is an absolute http(s) URL gets the tracking URL instead, numbered 0, 1, ... in document
order; an anchor carrying `ses:no-track` (Pinpoint/SES's opt-out attribute) keeps its href and loses the attribute,
as SES does. Links to the tracking server itself (the unsubscribe link) are left alone. Every other byte of the
HTML is kept as it was. The pixel goes before the last `</body>` (or at the end when there is none).

Speed: anchors are found with `str.find` (memchr) for "<a"/"<A" and parsed with anchored regexes only there, so
a 2 KB email without links costs two scans; benchmarks/bench_tracking.py measures it against rendering.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

# From "<a" to the closing ">" of the start tag; quoted values may hold ">".
_ANCHOR = re.compile(r"""<[aA](?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""")
# One attribute with the white space before it: name, then an optional value (double, single or unquoted).
_ATTR = re.compile(r"""(\s+)([^\s"'=<>/`]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_BODY_END = re.compile(r"</body\s*>", re.I)
NO_TRACK = "ses:no-track"


def _tracked_url(value: str) -> str | None:
    """The URL an href value points to when it is an absolute http(s) URL (entities decoded), else None."""
    url = value.strip()
    head = url[:8].lower()
    if not (head.startswith("https://") or head.startswith("http://")):
        return None
    return htmllib.unescape(url) if "&" in url else url


def rewrite_links(html: str, link_url: Callable[[int, str], str], skip_prefix: str = "") -> tuple[str, int]:
    """`html` with each trackable link's href replaced by `link_url(index, url)`; also the number of links.

    `skip_prefix`: hrefs starting with it (our own server's URLs) are not tracked.
    """
    out: list[str] = []
    pos = 0  # copied up to here
    index = 0
    find = html.find
    start = 0
    n = len(html)
    while start < n:
        a = find("<a", start)
        b = find("<A", start)
        if a < 0 or (0 <= b < a):
            a = b
        if a < 0:
            break
        m = _ANCHOR.match(html, a)
        if m is None:
            start = a + 2
            continue
        end = m.end()
        href: re.Match[str] | None = None
        no_track: re.Match[str] | None = None
        for attr in _ATTR.finditer(html, a + 2, end - 1):
            name = attr.group(2).lower()
            if name == "href" and href is None:
                href = attr
            elif name == NO_TRACK:
                no_track = attr
        if no_track is not None:
            out.append(html[pos:no_track.start()])
            pos = no_track.end()
        elif href is not None:
            g = 3 if href.group(3) is not None else 4 if href.group(4) is not None else 5
            value = href.group(g)
            url = _tracked_url(value) if value is not None else None
            if url is not None and not (skip_prefix and url.startswith(skip_prefix)):
                out.append(html[pos:href.start(g)])
                out.append(link_url(index, url))
                pos = href.end(g)
                index += 1
        start = end
    if pos == 0:
        return html, index
    out.append(html[pos:])
    return "".join(out), index


def add_pixel(html: str, tag: str) -> str:
    """`html` with `tag` inserted before its last `</body>`, or appended when it has none."""
    at = html.rfind("</body>")
    if at < 0:
        found = None
        for found in _BODY_END.finditer(html):
            pass
        if found is None:
            return html + tag
        at = found.start()
    return html[:at] + tag + html[at:]


def pixel_tag(url: str) -> str:
    """The open pixel's <img> (like SES's: 1x1, no alt text, hidden)."""
    return f'<img alt="" src="{url}" width="1" height="1" border="0" style="height:1px!important;width:1px!important;border-width:0!important;margin:0!important;padding:0!important" />'
