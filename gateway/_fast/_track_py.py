"""The anchor scanner of link tracking (pure-Python twin of gateway/_fast/_track.pyx; identical behaviour).

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

_WS = " \t\n\r\f"


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
