"""Handlebars 4.7 parser: tokens → AST, then handlebars.js' whitespace control (`~` and standalone lines).

The AST is an intermediate form only; :mod:`gateway.templates.compiler` lowers it to the data-only program the
executor runs. The grammar and the whitespace rules are ports of handlebars.js (`handlebars.yy`, `helpers.js`,
`whitespace-control.js`) so that output matches it byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

from . import lexer as L
from .errors import TemplateError


class Node:
    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column


class Content(Node):
    __slots__ = ("left_stripped", "original", "right_stripped", "value")

    def __init__(self, value: str, line: int, column: int) -> None:
        super().__init__(line, column)
        self.value = value
        self.original = value
        self.left_stripped = False
        self.right_stripped = False


class Comment(Node):
    __slots__ = ("strip",)

    def __init__(self, strip: tuple[bool, bool], line: int, column: int) -> None:
        super().__init__(line, column)
        self.strip = strip


class Path(Node):
    """`depth` counts `../`; `data` is True for `@name`; `scoped` for `this.x`/`./x`; parts exclude this/./.. ."""

    __slots__ = ("data", "depth", "original", "parts", "scoped")

    def __init__(
        self, data: bool, depth: int, parts: list[str], original: str, scoped: bool, line: int, column: int
    ) -> None:
        super().__init__(line, column)
        self.data = data
        self.depth = depth
        self.parts = parts
        self.original = original
        self.scoped = scoped

    def is_simple(self) -> bool:
        return not self.data and not self.depth and not self.scoped and len(self.parts) == 1


class Literal(Node):
    __slots__ = ("kind", "original", "value")

    def __init__(self, kind: str, value: Any, original: str, line: int, column: int) -> None:
        super().__init__(line, column)
        self.kind = kind  # STRING NUMBER BOOLEAN UNDEFINED NULL
        self.value = value
        self.original = original


class SubExpr(Node):
    __slots__ = ("hash", "params", "path")

    def __init__(self, path: Node, params: list[Node], hash: list[tuple[str, Node]], line: int, column: int) -> None:
        super().__init__(line, column)
        self.path = path
        self.params = params
        self.hash = hash


class Mustache(Node):
    __slots__ = ("decorator", "escaped", "hash", "params", "path", "strip")

    def __init__(
        self,
        path: Node,
        params: list[Node],
        hash: list[tuple[str, Node]],
        escaped: bool,
        strip: tuple[bool, bool],
        decorator: bool,
        line: int,
        column: int,
    ) -> None:
        super().__init__(line, column)
        self.path = path
        self.params = params
        self.hash = hash
        self.escaped = escaped
        self.strip = strip
        self.decorator = decorator


class Partial(Node):
    __slots__ = ("hash", "indent", "name", "params", "strip")

    def __init__(
        self, name: Node, params: list[Node], hash: list[tuple[str, Node]], strip: tuple[bool, bool], line: int,
        column: int,
    ) -> None:
        super().__init__(line, column)
        self.name = name
        self.params = params
        self.hash = hash
        self.strip = strip
        self.indent = ""


class Program:
    __slots__ = ("block_params", "body", "chained")

    def __init__(self, body: list[Node]) -> None:
        self.body = body
        self.chained = False
        self.block_params: list[str] | None = None


class Block(Node):
    __slots__ = (
        "close_strip", "decorator", "hash", "inverse", "inverse_strip", "open_strip", "params", "path", "program",
        "raw",
    )

    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.path: Node = None  # type: ignore[assignment]
        self.params: list[Node] = []
        self.hash: list[tuple[str, Node]] = []
        self.program: Program | None = None
        self.inverse: Program | None = None
        self.open_strip = (False, False)
        self.inverse_strip = (False, False)
        self.close_strip = (False, False)
        self.decorator = False
        self.raw = False


def _strip_flags(open_: str, close: str) -> tuple[bool, bool]:
    return (len(open_) > 2 and open_[2] == "~", len(close) >= 3 and close[-3] == "~")


#: Deepest nesting of blocks and sub-expressions a template may have (handlebars.js has no limit; we keep the
#: parser, the compiler and the executors far from Python's recursion limit).
MAX_NESTING = 100

_LITERAL_KINDS = (L.STRING, L.NUMBER, L.BOOLEAN, L.UNDEFINED, L.NULL)


class _Parser:
    def __init__(self, tokens: list[L.Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.depth = 0

    def enter(self, tok: L.Token) -> None:
        """Bound nesting (blocks, else-if chains, sub-expressions) so no template can exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(tok, f"blocks and sub-expressions are nested deeper than {MAX_NESTING} levels")

    # -- token helpers -------------------------------------------------------------------------------------------
    def peek(self) -> L.Token:
        return self.toks[self.i]

    def next(self) -> L.Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, what: str) -> L.Token:
        tok = self.peek()
        if tok.kind != kind:
            self.fail(tok, f"expected {what}, got {_describe(tok)}")
        return self.next()

    @staticmethod
    def fail(tok: L.Token, message: str) -> None:
        raise TemplateError(message, tok.line, tok.column)

    # -- grammar ---------------------------------------------------------------------------------------------------
    def parse(self) -> Program:
        program = self.program()
        tok = self.peek()
        if tok.kind != L.EOF:
            if tok.kind == L.OPEN_ENDBLOCK:
                self.fail(tok, "closing tag {{/...}} without a matching opening block")
            if tok.kind in (L.INVERSE, L.OPEN_INVERSE_CHAIN):
                self.fail(tok, "{{else}} outside of a block")
            self.fail(tok, f"unexpected {_describe(tok)}")
        return program

    def program(self) -> Program:
        body: list[Node] = []
        while True:
            tok = self.peek()
            k = tok.kind
            if k == L.CONTENT:
                self.next()
                body.append(Content(tok.text, tok.line, tok.column))
            elif k == L.COMMENT:
                self.next()
                body.append(Comment(_strip_flags(tok.raw, tok.raw), tok.line, tok.column))
            elif k in (L.OPEN, L.OPEN_UNESCAPED, L.OPEN_AMP):
                body.append(self.mustache())
            elif k in (L.OPEN_BLOCK, L.OPEN_INVERSE):
                body.append(self.block())
            elif k == L.OPEN_RAW_BLOCK:
                body.append(self.raw_block())
            elif k == L.OPEN_PARTIAL:
                body.append(self.partial())
            elif k == L.OPEN_PARTIAL_BLOCK:
                self.fail(tok, "partial blocks {{#> name}} are not supported; use {{> name}} with an inline partial")
            else:
                return Program(body)

    def mustache(self) -> Mustache:
        open_tok = self.next()
        path = self.helper_name()
        params, hash_ = self.params_and_hash()
        if open_tok.kind == L.OPEN_UNESCAPED:
            close = self.expect(L.CLOSE_UNESCAPED, "}}} to close {{{")
        else:
            close = self.expect(L.CLOSE, "}}")
        escaped = open_tok.kind == L.OPEN
        decorator = "*" in open_tok.raw
        return Mustache(
            path, params, hash_, escaped, _strip_flags(open_tok.raw, close.raw), decorator, open_tok.line,
            open_tok.column,
        )

    def partial(self) -> Partial:
        open_tok = self.next()
        name: Node
        if self.peek().kind == L.OPEN_SEXPR:
            name = self.sexpr()
        else:
            name = self.helper_name()
        params, hash_ = self.params_and_hash()
        close = self.expect(L.CLOSE, "}}")
        return Partial(name, params, hash_, _strip_flags(open_tok.raw, close.raw), open_tok.line, open_tok.column)

    def open_block(self) -> tuple[L.Token, Node, list[Node], list[tuple[str, Node]], list[str] | None, L.Token]:
        open_tok = self.next()
        path = self.helper_name()
        params, hash_ = self.params_and_hash()
        block_params: list[str] | None = None
        if self.peek().kind == L.OPEN_BLOCK_PARAMS:
            self.next()
            block_params = []
            while self.peek().kind == L.ID:
                block_params.append(self.next().text)
            if not block_params:
                self.fail(self.peek(), "block parameters `as | |` need at least one name")
            self.expect(L.CLOSE_BLOCK_PARAMS, "| to close the block parameters")
        close = self.expect(L.CLOSE, "}}")
        return open_tok, path, params, hash_, block_params, close

    def block(self) -> Block:
        self.enter(self.peek())
        open_tok, path, params, hash_, block_params, close = self.open_block()
        program = self.program()
        program.block_params = block_params
        inverted = open_tok.kind == L.OPEN_INVERSE
        inverse: Program | None = None
        inverse_strip = (False, False)
        chain_first: Block | None = None
        tok = self.peek()
        if tok.kind == L.INVERSE:
            self.next()
            inverse_strip = _strip_flags(tok.raw, tok.raw)
            inverse = self.program()
        elif tok.kind == L.OPEN_INVERSE_CHAIN:
            if inverted:
                self.fail(tok, "{{else ...}} chains are not allowed in an inverted {{^...}} block")
            inverse, inverse_strip, chain_first = self.inverse_chain()
        end = self.expect(L.OPEN_ENDBLOCK, f"{{{{/{_original(path)}}}}} to close the block opened at line "
                                           f"{open_tok.line}, column {open_tok.column}")
        close_name = self.helper_name()
        end_close = self.expect(L.CLOSE, "}}")
        if _original(close_name) != _original(path):
            raise TemplateError(
                f"{{{{/{_original(close_name)}}}}} doesn't match {{{{#{_original(path)}}}}} opened at line "
                f"{open_tok.line}, column {open_tok.column}", end.line, end.column,
            )
        close_strip = _strip_flags(end.raw, end_close.raw)
        if chain_first is not None:
            chain_first.close_strip = close_strip
        node = Block(open_tok.line, open_tok.column)
        node.path, node.params, node.hash = path, params, hash_
        node.decorator = "*" in open_tok.raw
        if node.decorator and inverse is not None:
            self.fail(tok, "unexpected {{else}} in a decorator block")
        if inverted:
            node.program, node.inverse = inverse, program
        else:
            node.program, node.inverse = program, inverse
        node.open_strip = _strip_flags(open_tok.raw, close.raw)
        node.inverse_strip = inverse_strip
        node.close_strip = close_strip
        self.depth -= 1
        return node

    def inverse_chain(self) -> tuple[Program, tuple[bool, bool], Block]:
        """`{{else if x}}...` → a program whose only statement is the chained block (as handlebars.js builds it)."""
        self.enter(self.peek())
        open_tok, path, params, hash_, block_params, close = self.open_block()
        program = self.program()
        program.block_params = block_params
        strip = _strip_flags(open_tok.raw, close.raw)
        node = Block(open_tok.line, open_tok.column)
        node.path, node.params, node.hash = path, params, hash_
        node.program = program
        node.open_strip = strip
        tok = self.peek()
        if tok.kind == L.INVERSE:
            self.next()
            node.inverse_strip = _strip_flags(tok.raw, tok.raw)
            node.inverse = self.program()
            node.close_strip = node.inverse_strip
        elif tok.kind == L.OPEN_INVERSE_CHAIN:
            inv, inv_strip, child = self.inverse_chain()
            node.inverse, node.inverse_strip = inv, inv_strip
            node.close_strip = inv_strip
            child.close_strip = inv_strip  # handlebars.js' prepareBlock gives the chained child its opener's flags
        wrapper = Program([node])
        wrapper.chained = True
        self.depth -= 1
        return wrapper, strip, node

    def raw_block(self) -> Block:
        open_tok = self.next()
        path = self.helper_name()
        params, hash_ = self.params_and_hash()
        self.expect(L.CLOSE_RAW_BLOCK, "}}}} to close the raw block opening")
        contents: list[Node] = []
        while self.peek().kind == L.CONTENT:
            tok = self.next()
            contents.append(Content(tok.text, tok.line, tok.column))
        end = self.expect(L.END_RAW_BLOCK, "{{{{/name}}}} to close the raw block")
        if end.text != _original(path):
            raise TemplateError(f"{{{{{{{{/{end.text}}}}}}}}} doesn't match {_original(path)}", end.line, end.column)
        node = Block(open_tok.line, open_tok.column)
        node.path, node.params, node.hash = path, params, hash_
        node.program = Program(contents)
        node.raw = True
        return node

    def params_and_hash(self) -> tuple[list[Node], list[tuple[str, Node]]]:
        params: list[Node] = []
        hash_: list[tuple[str, Node]] = []
        while True:
            tok = self.peek()
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else tok
            if tok.kind == L.ID and nxt.kind == L.EQUALS:
                key = self.next().text
                self.next()
                hash_.append((key, self.param()))
                continue
            if hash_:
                if tok.kind in (L.ID, L.DATA, L.OPEN_SEXPR, "LITERAL_ID", *_LITERAL_KINDS):
                    self.fail(tok, "positional parameters must come before hash arguments (name=value)")
                return params, hash_
            if tok.kind in (L.ID, L.DATA, L.OPEN_SEXPR, "LITERAL_ID", *_LITERAL_KINDS):
                params.append(self.param())
                continue
            return params, hash_

    def param(self) -> Node:
        if self.peek().kind == L.OPEN_SEXPR:
            return self.sexpr()
        return self.helper_name()

    def sexpr(self) -> SubExpr:
        self.enter(self.peek())
        open_tok = self.next()
        path = self.helper_name()
        params, hash_ = self.params_and_hash()
        self.expect(L.CLOSE_SEXPR, ") to close the sub-expression")
        self.depth -= 1
        return SubExpr(path, params, hash_, open_tok.line, open_tok.column)

    def helper_name(self) -> Node:
        tok = self.peek()
        k = tok.kind
        if k == L.STRING:
            self.next()
            return Literal(k, tok.text, tok.text, tok.line, tok.column)
        if k == L.NUMBER:
            self.next()
            num: float | int = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal(k, num, tok.text, tok.line, tok.column)
        if k == L.BOOLEAN:
            self.next()
            return Literal(k, tok.text == "true", tok.text, tok.line, tok.column)
        if k in (L.UNDEFINED, L.NULL):
            self.next()
            return Literal(k, None, tok.text, tok.line, tok.column)
        if k == L.DATA:
            self.next()
            return self.path(True, tok)
        if k in (L.ID, "LITERAL_ID"):
            return self.path(False, tok)
        self.fail(tok, f"expected a name, a literal or a sub-expression, got {_describe(tok)}")
        raise AssertionError  # unreachable

    def path(self, data: bool, start: L.Token) -> Path:
        segments: list[tuple[str, str, str]] = []  # (part, original token, separator)
        sep = ""
        while True:
            tok = self.peek()
            if tok.kind == L.ID:
                self.next()
                segments.append((tok.text, tok.text, sep))
            elif tok.kind == "LITERAL_ID":
                self.next()
                segments.append((tok.text[1:-1], tok.text, sep))
            else:
                self.fail(tok, f"expected a path segment, got {_describe(tok)}")
            if self.peek().kind == L.SEP:
                sep = self.next().text
                continue
            break
        original = "@" if data else ""
        dig: list[str] = []
        depth = 0
        scoped = False
        for part, orig, separator in segments:
            is_literal = orig != part
            original += separator + part
            if not is_literal and part in ("..", ".", "this"):
                if dig:
                    raise TemplateError(f"invalid path: {original}", start.line, start.column)
                if part == "..":
                    depth += 1
                else:
                    scoped = True
            else:
                dig.append(part)
        if re.match(r"^(this|\.\.?)([/.]|\Z)", original):
            scoped = True
        return Path(data, depth, dig, original, scoped, start.line, start.column)


def _original(node: Node) -> str:
    if isinstance(node, Path):
        return node.original
    if isinstance(node, Literal):
        return node.original
    return "(...)"


def _describe(tok: L.Token) -> str:
    if tok.kind == L.EOF:
        return "end of template"
    return repr(tok.raw)


# -- whitespace control (port of whitespace-control.js) ------------------------------------------------------------

_S = "[" + L.WS + "]"  # JavaScript's \s and \S
_NS = "[^" + L.WS + "]"
_S_NO_NL = "[" + L.WS.replace(r"\n", "") + "]"  # [^\S\n]
_PREV_WS = re.compile(r"(?:^|" + _NS + ")" + _S_NO_NL + r"*\n" + _S + r"*\Z")
_PREV_WS_ROOT = re.compile(r"^" + _S + r"*\Z|(?:^|" + _NS + ")" + _S_NO_NL + r"*\n" + _S + r"*\Z")
_NEXT_WS = re.compile(r"^" + _S + r"*?\r?\n")
_NEXT_WS_ROOT = re.compile(r"^" + _S + r"*?(\r?\n|\Z)")
_OMIT_RIGHT_MULTI = re.compile(r"^" + _S + "+")
_OMIT_RIGHT_ONE = re.compile(r"^[ \t]*\r?\n?")
_OMIT_LEFT_MULTI = re.compile(r"(^|" + _NS + ")" + _S + r"+\Z")
_OMIT_LEFT_ONE = re.compile(r"(^|[^ \t])[ \t]+\Z")
_INDENT = re.compile(r"(?:^|[^ \t])([ \t]+)\Z")


def _is_prev_ws(body: list[Node], i: int | None = None, is_root: bool = False) -> bool:
    if i is None:
        i = len(body)
    prev = body[i - 1] if i - 1 >= 0 else None
    sibling = body[i - 2] if i - 2 >= 0 else None
    if prev is None:
        return is_root
    if isinstance(prev, Content):
        rx = _PREV_WS if (sibling is not None or not is_root) else _PREV_WS_ROOT
        return rx.search(prev.original) is not None
    return False


def _is_next_ws(body: list[Node], i: int | None = None, is_root: bool = False) -> bool:
    if i is None:
        i = -1
    nxt = body[i + 1] if i + 1 < len(body) else None
    sibling = body[i + 2] if i + 2 < len(body) else None
    if nxt is None:
        return is_root
    if isinstance(nxt, Content):
        rx = _NEXT_WS if (sibling is not None or not is_root) else _NEXT_WS_ROOT
        return rx.search(nxt.original) is not None
    return False


def _omit_right(body: list[Node], i: int | None = None, multiple: bool = False) -> None:
    idx = 0 if i is None else i + 1
    cur = body[idx] if 0 <= idx < len(body) else None
    if not isinstance(cur, Content) or (not multiple and cur.right_stripped):
        return
    original = cur.value
    cur.value = (_OMIT_RIGHT_MULTI if multiple else _OMIT_RIGHT_ONE).sub("", cur.value, count=1)
    cur.right_stripped = cur.value != original


def _omit_left(body: list[Node], i: int | None = None, multiple: bool = False) -> bool:
    idx = len(body) - 1 if i is None else i - 1
    cur = body[idx] if 0 <= idx < len(body) else None
    if not isinstance(cur, Content) or (not multiple and cur.left_stripped):
        return False
    original = cur.value
    cur.value = (_OMIT_LEFT_MULTI if multiple else _OMIT_LEFT_ONE).sub(r"\1", cur.value, count=1)
    cur.left_stripped = cur.value != original
    return cur.left_stripped


class _Strip:
    __slots__ = ("close", "close_standalone", "inline_standalone", "open", "open_standalone")

    def __init__(self, open_: bool, close: bool) -> None:
        self.open = open_
        self.close = close
        self.open_standalone = False
        self.close_standalone = False
        self.inline_standalone = False


class _Whitespace:
    def __init__(self) -> None:
        self.root_seen = False

    def program(self, program: Program) -> None:
        is_root = not self.root_seen
        self.root_seen = True
        body = program.body
        for i, current in enumerate(body):
            strip = self.accept(current)
            if strip is None:
                continue
            prev_ws = _is_prev_ws(body, i, is_root)
            next_ws = _is_next_ws(body, i, is_root)
            open_standalone = strip.open_standalone and prev_ws
            close_standalone = strip.close_standalone and next_ws
            inline_standalone = strip.inline_standalone and prev_ws and next_ws
            if strip.close:
                _omit_right(body, i, True)
            if strip.open:
                _omit_left(body, i, True)
            if inline_standalone:
                _omit_right(body, i)
                if _omit_left(body, i) and isinstance(current, Partial):
                    prev = body[i - 1]
                    assert isinstance(prev, Content)
                    m = _INDENT.search(prev.original)
                    current.indent = m.group(1) if m else ""
            if open_standalone and isinstance(current, Block):
                target = current.program or current.inverse
                assert target is not None
                _omit_right(target.body)
                _omit_left(body, i)
            if close_standalone and isinstance(current, Block):
                _omit_right(body, i)
                target = current.inverse or current.program
                assert target is not None
                _omit_left(target.body)

    def accept(self, node: Node) -> _Strip | None:
        if isinstance(node, Mustache):
            return _Strip(*node.strip)
        if isinstance(node, (Partial, Comment)):
            s = _Strip(*node.strip)
            s.inline_standalone = True
            return s
        if isinstance(node, Block):
            return self.block(node)
        return None

    def block(self, block: Block) -> _Strip:
        if block.program is not None:
            self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        program = block.program or block.inverse
        assert program is not None
        inverse = block.inverse if block.program is not None else None
        first_inverse = last_inverse = inverse
        if inverse is not None and inverse.chained:
            head = inverse.body[0]
            assert isinstance(head, Block)
            first_inverse = head.program
            while last_inverse is not None and last_inverse.chained:
                tail = last_inverse.body[-1]
                assert isinstance(tail, Block)
                last_inverse = tail.program
        strip = _Strip(block.open_strip[0], block.close_strip[1])
        strip.open_standalone = _is_next_ws(program.body)
        strip.close_standalone = _is_prev_ws((first_inverse or program).body)
        if block.open_strip[1]:
            _omit_right(program.body, None, True)
        if inverse is not None:
            assert first_inverse is not None and last_inverse is not None
            if block.inverse_strip[0]:
                _omit_left(program.body, None, True)
            if block.inverse_strip[1]:
                _omit_right(first_inverse.body, None, True)
            if block.close_strip[0]:
                _omit_left(last_inverse.body, None, True)
            if _is_prev_ws(program.body) and _is_next_ws(first_inverse.body):
                _omit_left(program.body)
                _omit_right(first_inverse.body)
        elif block.close_strip[0]:
            _omit_left(program.body, None, True)
        return strip


def parse(source: str) -> Program:
    """Parse Handlebars source into an AST with whitespace control applied; raises TemplateError."""
    program = _Parser(L.tokenize(source)).parse()
    _Whitespace().program(program)
    return program
