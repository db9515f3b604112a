"""Handlebars 4.7 tokenizer: a port of the state machine in handlebars.js' `handlebars.l`.

The rules are tried in the same order as the reference lexer (first match wins, not longest), so edge cases such as
`{{123abc}}` (an identifier) or `{{foo.true}}` (a syntax error) behave as in handlebars.js. Each token carries its
1-based line and column.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import TemplateError

# Token kinds.
CONTENT = "CONTENT"
COMMENT = "COMMENT"
OPEN = "OPEN"  # {{  or {{*
OPEN_UNESCAPED = "OPEN_UNESCAPED"  # {{{
OPEN_AMP = "OPEN_AMP"  # {{&
OPEN_BLOCK = "OPEN_BLOCK"  # {{#  {{#*
OPEN_ENDBLOCK = "OPEN_ENDBLOCK"  # {{/
OPEN_INVERSE = "OPEN_INVERSE"  # {{^
OPEN_INVERSE_CHAIN = "OPEN_INVERSE_CHAIN"  # {{else
INVERSE = "INVERSE"  # {{else}}  {{^}}
OPEN_PARTIAL = "OPEN_PARTIAL"
OPEN_PARTIAL_BLOCK = "OPEN_PARTIAL_BLOCK"
OPEN_RAW_BLOCK = "OPEN_RAW_BLOCK"
CLOSE_RAW_BLOCK = "CLOSE_RAW_BLOCK"
END_RAW_BLOCK = "END_RAW_BLOCK"
OPEN_SEXPR = "OPEN_SEXPR"
CLOSE_SEXPR = "CLOSE_SEXPR"
CLOSE = "CLOSE"
CLOSE_UNESCAPED = "CLOSE_UNESCAPED"
EQUALS = "EQUALS"
ID = "ID"
SEP = "SEP"
DATA = "DATA"
STRING = "STRING"
NUMBER = "NUMBER"
BOOLEAN = "BOOLEAN"
UNDEFINED = "UNDEFINED"
NULL = "NULL"
OPEN_BLOCK_PARAMS = "OPEN_BLOCK_PARAMS"
CLOSE_BLOCK_PARAMS = "CLOSE_BLOCK_PARAMS"
EOF = "EOF"


class Token(NamedTuple):
    kind: str
    text: str  # the value (identifier, string contents, content text)
    raw: str  # the matched source text (used for strip flags)
    line: int
    column: int


#: JavaScript's \s (Python's differs: it has \x1c-\x1f and lacks \ufeff), as regex class contents.
WS = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ID = r"""[^""" + WS + r"""!"#%-,\.\/;->@\[-\^`\{-~]+"""
_LOOK = r"(?=[~}" + WS + r")])"

# (regex, kind or action) for the "mu" state, in the reference order.
_MU_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\("), OPEN_SEXPR),
    (re.compile(r"\)"), CLOSE_SEXPR),
    (re.compile(r"\{\{\{\{"), OPEN_RAW_BLOCK),
    (re.compile(r"\}\}\}\}"), CLOSE_RAW_BLOCK),
    (re.compile(r"\{\{(~)?>"), OPEN_PARTIAL),
    (re.compile(r"\{\{(~)?#>"), OPEN_PARTIAL_BLOCK),
    (re.compile(r"\{\{(~)?#\*?"), OPEN_BLOCK),
    (re.compile(r"\{\{(~)?/"), OPEN_ENDBLOCK),
    (re.compile(r"\{\{(~)?\^[" + WS + r"]*(~)?\}\}"), INVERSE),
    (re.compile(r"\{\{(~)?[" + WS + r"]*else[" + WS + r"]*(~)?\}\}"), INVERSE),
    (re.compile(r"\{\{(~)?\^"), OPEN_INVERSE),
    (re.compile(r"\{\{(~)?[" + WS + r"]*else(?![A-Za-z0-9_])"), OPEN_INVERSE_CHAIN),
    (re.compile(r"\{\{(~)?\{"), OPEN_UNESCAPED),
    (re.compile(r"\{\{(~)?&"), OPEN_AMP),
    (re.compile(r"\{\{(~)?!--"), "LONG_COMMENT"),
    (re.compile(r"\{\{(~)?![\s\S]*?\}\}"), COMMENT),
    (re.compile(r"\{\{(~)?\*?"), OPEN),
    (re.compile(r"="), EQUALS),
    (re.compile(r"\.\."), ID),
    (re.compile(r"\.(?=[=~}" + WS + r"\/.)|])"), ID),
    (re.compile(r"[\/.]"), SEP),
    (re.compile(r"[" + WS + r"]+"), "WS"),
    (re.compile(r"\}(~)?\}\}"), CLOSE_UNESCAPED),
    (re.compile(r"(~)?\}\}"), CLOSE),
    (re.compile(r'"(\\["]|[^"])*"'), "DQ"),
    (re.compile(r"'(\\[']|[^'])*'"), "SQ"),
    (re.compile(r"@"), DATA),
    (re.compile(r"true" + _LOOK), BOOLEAN),
    (re.compile(r"false" + _LOOK), BOOLEAN),
    (re.compile(r"undefined" + _LOOK), UNDEFINED),
    (re.compile(r"null" + _LOOK), NULL),
    (re.compile(r"-?[0-9]+(?:\.[0-9]+)?" + _LOOK), NUMBER),
    (re.compile(r"as[" + WS + r"]+\|"), OPEN_BLOCK_PARAMS),
    (re.compile(r"\|"), CLOSE_BLOCK_PARAMS),
    (re.compile(_ID + r"(?=[=~}" + WS + r"\/.)|])"), ID),
    (re.compile(r"\[(\\\]|[^\]])*\]"), "LITERAL_ID"),
]

_CONTENT_TO_MUSTACHE = re.compile(r"[^\x00]*?(?=\{\{)")
_CONTENT_REST = re.compile(r"[^\x00]+")
_EMU = re.compile(r"[^\x00]{2,}?(?=\{\{|\\\{\{|\\\\\{\{|\Z)")
_COMMENT_END = re.compile(r"[\s\S]*?--(~)?\}\}")
_RAW_OPEN = re.compile(r"\{\{\{\{(?=[^/])")
_RAW_END = re.compile(r"\{\{\{\{/" + _ID + r"(?=[=}" + WS + r"\/.])\}\}\}\}")
_RAW_CONTENT = re.compile(r"[^\x00]+?(?=\{\{\{\{)")
_LITERAL_ID_UNESCAPE = re.compile(r"\\([\\\]])")
_DQ_UNESCAPE = re.compile(r'\\"')
_SQ_UNESCAPE = re.compile(r"\\'")


class _Pos:
    """Maps string offsets to 1-based (line, column)."""

    def __init__(self, source: str) -> None:
        self.starts = [0]
        for m in re.finditer("\n", source):
            self.starts.append(m.end())

    def at(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens; raises TemplateError on a character that starts no token."""
    if "\x00" in source:
        line, col = _Pos(source).at(source.index("\x00"))
        raise TemplateError("NUL character in template", line, col)
    pos = _Pos(source)
    tokens: list[Token] = []
    states = ["INITIAL"]
    i = 0
    n = len(source)
    mu_start = 0

    def emit(kind: str, text: str, raw: str, start: int) -> None:
        line, col = pos.at(start)
        tokens.append(Token(kind, text, raw, line, col))

    while i < n:
        state = states[-1]
        if state == "INITIAL":
            m = _CONTENT_TO_MUSTACHE.match(source, i)
            if m is not None:
                text = m.group()
                if text.endswith("\\\\"):
                    text = text[:-1]
                    states.append("mu")
                elif text.endswith("\\"):
                    text = text[:-1]
                    states.append("emu")
                else:
                    states.append("mu")
                mu_start = m.end()
                if text:
                    emit(CONTENT, text, text, i)
                i = m.end()
                continue
            m = _CONTENT_REST.match(source, i)
            assert m is not None
            emit(CONTENT, m.group(), m.group(), i)
            i = m.end()
            continue
        if state == "emu":
            m = _EMU.match(source, i)
            if m is None:  # a lone "\{" at the very end: "{{" then nothing; reference lexer fails the same way
                line, col = pos.at(i)
                raise TemplateError("unterminated escaped mustache", line, col)
            states.pop()
            emit(CONTENT, m.group(), m.group(), i)
            i = m.end()
            continue
        if state == "raw":
            m = _RAW_OPEN.match(source, i)
            if m is not None:
                states.append("raw")
                emit(CONTENT, m.group(), m.group(), i)
                i = m.end()
                continue
            m = _RAW_END.match(source, i)
            if m is not None:
                states.pop()
                if states[-1] == "raw":
                    emit(CONTENT, m.group(), m.group(), i)
                else:
                    emit(END_RAW_BLOCK, m.group()[5:-4], m.group(), i)
                i = m.end()
                continue
            m = _RAW_CONTENT.match(source, i)
            if m is None:
                line, col = pos.at(i)
                raise TemplateError("raw block is not closed", line, col)
            emit(CONTENT, m.group(), m.group(), i)
            i = m.end()
            continue
        if state == "com":
            m = _COMMENT_END.match(source, i)
            if m is None:
                line, col = pos.at(i)
                raise TemplateError("comment {{!-- is not closed with --}}", line, col)
            states.pop()
            emit(COMMENT, m.group(), m.group(), i)
            i = m.end()
            continue
        # state "mu"
        for rx, kind in _MU_RULES:
            m = rx.match(source, i)
            if m is None:
                continue
            raw = m.group()
            if kind == "WS":
                pass
            elif kind == "LONG_COMMENT":
                states[-1] = "com"  # unput: re-read from the same position in the comment state
                break
            elif kind in (COMMENT, INVERSE, CLOSE, CLOSE_UNESCAPED):
                states.pop()
                emit(kind, raw, raw, i)
            elif kind == CLOSE_RAW_BLOCK:
                states.pop()
                states.append("raw")
                emit(kind, raw, raw, i)
            elif kind == "DQ":
                emit(STRING, _DQ_UNESCAPE.sub('"', raw[1:-1]), raw, i)
            elif kind == "SQ":
                emit(STRING, _SQ_UNESCAPE.sub("'", raw[1:-1]), raw, i)
            elif kind == "LITERAL_ID":
                emit("LITERAL_ID", _LITERAL_ID_UNESCAPE.sub(r"\1", raw), raw, i)
            else:
                emit(kind, raw, raw, i)
            i = m.end()
            break
        else:
            if "}}" not in source[i:]:
                line, col = pos.at(mu_start)
                raise TemplateError("mustache is not closed with }}", line, col)
            line, col = pos.at(i)
            raise TemplateError(f"unexpected character {source[i]!r} inside a mustache", line, col)
    if states[-1] != "INITIAL":
        line, col = pos.at(n)
        what = {"mu": "mustache is not closed with }}", "com": "comment {{!-- is not closed with --}}"}
        raise TemplateError(what.get(states[-1], "raw block is not closed"), line, col)
    line, col = pos.at(n)
    tokens.append(Token(EOF, "", "", line, col))
    return tokens
