"""AST → program (see :mod:`gateway.templates.opcodes`).

Every name is resolved here, once: a mustache with arguments must name a known helper, a block either names a
helper or is a Mustache section over a context value, a partial must be an inline partial defined in the same
template. So an unknown helper, a misused block helper or a missing partial is a compile-time `TemplateError` with
the line and column of the offending tag, never a surprise at send time.
"""

from __future__ import annotations

import re
from typing import Any

from . import helpers as H
from . import opcodes as O
from . import parser as P
from .errors import TemplateError

_SCOPED = re.compile(r"^\.|this\b", re.ASCII)

#: Helpers that may open a block ({{#name}}): the built-ins handled by the executor and Pinpoint's conditionals.
_BLOCK_BUILTINS = ("if", "unless", "each", "with")


def _literal_text(lit: P.Literal) -> str:
    """The path name handlebars.js makes of a literal in helper-name position (`{{"a b"}}`, `{{true}}`)."""
    if lit.kind == "STRING":
        return str(lit.value)
    if lit.kind == "NUMBER":
        return H.to_str(lit.value)
    return lit.original


def _as_path(node: P.Node) -> P.Node:
    if isinstance(node, P.Literal):
        text = _literal_text(node)
        return P.Path(False, 0, [text], text, False, node.line, node.column)
    return node


def _is_simple(path: P.Node) -> bool:
    return (
        isinstance(path, P.Path)
        and len(path.parts) == 1
        and not path.depth
        and _SCOPED.search(path.original) is None
    )


def is_known_helper(name: str) -> bool:
    return name in _BLOCK_BUILTINS or name in H.VALUE_HELPERS or name in H.PREDICATES


class _Compiler:
    def __init__(self, inline_names: set[str]) -> None:
        self.bp_stack: list[list[str]] = []
        self.inline_names = inline_names

    @staticmethod
    def fail(node: P.Node, message: str) -> TemplateError:
        return TemplateError(message, node.line, node.column)

    # -- programs ----------------------------------------------------------------------------------------------------
    def program(self, prog: P.Program | None) -> tuple[Any, ...]:
        if prog is None:
            return ()
        pushed = bool(prog.block_params)
        if pushed:
            assert prog.block_params is not None
            self.bp_stack.append(prog.block_params)
        try:
            ops: list[Any] = []
            defs: dict[str, tuple[Any, ...]] = {}
            for node in prog.body:
                if isinstance(node, P.Block) and node.decorator:
                    name, body = self.inline(node)
                    defs[name] = body
                    continue
                self.statement(node, ops)
            merged = _merge_text(ops)
            if defs:
                merged.insert(0, (O.S_DEFS, defs))
            return tuple(merged)
        finally:
            if pushed:
                self.bp_stack.pop()

    def inline(self, block: P.Block) -> tuple[str, tuple[Any, ...]]:
        path = block.path
        if not (isinstance(path, P.Path) and path.original == "inline"):
            raise self.fail(block, f"unknown decorator {P._original(path)!r}: only {{{{#*inline \"name\"}}}} is "
                                   "supported")
        if len(block.params) != 1 or not isinstance(block.params[0], P.Literal) or block.hash:
            raise self.fail(block, "{{#*inline}} takes exactly one argument, the partial's name as a string")
        name = _literal_text(block.params[0])
        saved, self.bp_stack = self.bp_stack, []
        try:
            return name, self.program(block.program)
        finally:
            self.bp_stack = saved

    def statement(self, node: P.Node, ops: list[Any]) -> None:
        if isinstance(node, P.Content):
            if node.value:
                ops.append(node.value)
        elif isinstance(node, P.Comment):
            return
        elif isinstance(node, P.Mustache):
            self.mustache(node, ops)
        elif isinstance(node, P.Block):
            ops.append(self.block(node))
        elif isinstance(node, P.Partial):
            ops.append(self.partial(node))
        else:  # pragma: no cover - the parser produces nothing else
            raise self.fail(node, f"unexpected node {type(node).__name__}")

    def mustache(self, node: P.Mustache, ops: list[Any]) -> None:
        if node.decorator:
            raise self.fail(node, "decorators {{* name}} are not supported (only {{#*inline}} partials)")
        path = _as_path(node.path)
        escape = node.escaped
        if node.params or node.hash:
            ops.append((O.S_OUT, self.call(node, path, node.params, node.hash), escape))
            return
        assert isinstance(path, P.Path)
        if _is_simple(path) and self.bp_index(path.parts[0]) is None and not path.data:
            name = path.parts[0]
            if is_known_helper(name):
                ops.append((O.S_OUT, self.call(node, path, [], []), escape))
                return
            ops.append((O.S_OUT1, name, escape))
            return
        ops.append((O.S_OUT, self.path(path), escape))

    def call(
        self, node: P.Node, path: P.Node, params: list[P.Node], hash_: list[tuple[str, P.Node]]
    ) -> tuple[Any, ...]:
        """A helper call in expression position (mustache with arguments, sub-expression)."""
        if not _is_simple(path):
            raise self.fail(node, f"{P._original(path)!r} is not a helper: only a helper name can take arguments")
        assert isinstance(path, P.Path)
        name = path.parts[0]
        if self.bp_index(name) is not None:
            raise self.fail(node, f"{name!r} is a block parameter, not a helper: it cannot take arguments")
        args = tuple(self.expr(p) for p in params)
        hargs = self.hash(name, hash_)
        if name == "if":
            if len(args) != 1:
                raise self.fail(node, "if requires exactly one argument")
            return (O.X_PRED, H.pred_if, args, hargs, name)
        if name in ("unless", "each", "with"):
            raise self.fail(node, f"{name} can only be used as a block: {{{{#{name} ...}}}}...{{{{/{name}}}}}")
        if name in H.PREDICATES:
            return (O.X_PRED, H.PREDICATES[name], args, hargs, name)
        if name in H.VALUE_HELPERS:
            return (O.X_CALL, H.VALUE_HELPERS[name], args, hargs, name)
        raise self.fail(node, f"unknown helper {name!r}" + _suggest(name))

    def hash(self, helper: str, hash_: list[tuple[str, P.Node]]) -> tuple[tuple[str, Any], ...] | None:
        if not hash_:
            return None
        out = []
        for key, value in hash_:
            compiled = self.expr(value)
            if key == "tz" and helper in ("dateFormat", "now") and isinstance(value, P.Path):
                # Pinpoint's documentation writes tz=America/Los_Angeles unquoted; keep that working.
                compiled = (O.X_OR_TEXT, compiled, value.original)
            out.append((key, compiled))
        return tuple(out)

    def block(self, node: P.Block) -> tuple[Any, ...]:
        path = _as_path(node.path)
        program = self.program(node.program)
        inverse = self.program(node.inverse)
        nbp = len(node.program.block_params or ()) if node.program is not None else 0
        has_args = bool(node.params or node.hash)
        simple = _is_simple(path) and not (isinstance(path, P.Path) and self.bp_index(path.parts[0]) is not None)
        name = path.parts[0] if simple and isinstance(path, P.Path) else ""
        if nbp and not (name in ("each", "with") and has_args):
            raise self.fail(node, "block parameters (as |x|) are only supported on #each and #with")
        if has_args or (simple and is_known_helper(name)):
            if not simple:
                raise self.fail(node, f"{P._original(path)!r} is not a helper: only a helper name can take arguments")
            args = tuple(self.expr(p) for p in node.params)
            hargs = self.hash(name, node.hash)
            if name in ("if", "unless"):
                if len(args) != 1:
                    raise self.fail(node, f"#{name} requires exactly one argument")
                iz = dict(hargs or ()).get("includeZero")
                if name == "unless":
                    program, inverse = inverse, program
                return (O.S_IF, args[0], program, inverse, iz)
            if name == "each":
                if len(args) != 1:
                    raise self.fail(node, "#each requires exactly one argument, the list or object to iterate")
                return (O.S_EACH, args[0], program, inverse, nbp, _uses_data(program))
            if name == "with":
                if len(args) != 1:
                    raise self.fail(node, "#with requires exactly one argument")
                return (O.S_WITH, args[0], program, inverse, nbp)
            if name in H.PREDICATES:
                return (O.S_PRED, H.PREDICATES[name], args, hargs, program, inverse)
            if name in H.VALUE_HELPERS:
                raise self.fail(node, f"helper {name!r} cannot be used as a block; write {{{{{name} ...}}}}")
            raise self.fail(node, f"unknown helper {name!r}" + _suggest(name))
        assert isinstance(path, P.Path)
        return (O.S_SECTION, self.path(path), program, inverse)

    def partial(self, node: P.Partial) -> tuple[Any, ...]:
        if isinstance(node.name, P.SubExpr):
            raise self.fail(node, "dynamic partials {{> (expr)}} are not supported")
        name = _literal_text(node.name) if isinstance(node.name, P.Literal) else P._original(node.name)
        if name not in self.inline_names:
            raise self.fail(node, f"partial {name!r} is not defined: define it in this template with "
                                  f"{{{{#*inline \"{name}\"}}}}...{{{{/inline}}}}")
        if len(node.params) > 1:
            raise self.fail(node, f"a partial takes at most one context argument, got {len(node.params)}")
        ctx = self.expr(node.params[0]) if node.params else None
        hargs = tuple((k, self.expr(v)) for k, v in node.hash) if node.hash else None
        return (O.S_PARTIAL, name, ctx, hargs, node.indent)

    # -- expressions -------------------------------------------------------------------------------------------------
    def expr(self, node: P.Node) -> tuple[Any, ...]:
        if isinstance(node, P.Literal):
            return (O.X_LIT, node.value)
        if isinstance(node, P.SubExpr):
            return self.call(node, _as_path(node.path), node.params, node.hash)
        assert isinstance(node, P.Path)
        return self.path(node)

    def bp_index(self, name: str) -> tuple[int, int] | None:
        for depth, names in enumerate(reversed(self.bp_stack)):
            if name in names:
                return depth, names.index(name)
        return None

    def path(self, path: P.Path) -> tuple[Any, ...]:
        scoped = _SCOPED.search(path.original) is not None
        if path.parts and not path.depth and not scoped:
            bp = self.bp_index(path.parts[0])
            if bp is not None:
                return (O.X_BP, bp[0], bp[1], tuple(path.parts[1:]))
        if path.data:
            return (O.X_DATA, path.depth, tuple(path.parts))
        return (O.X_PATH, path.depth, tuple(path.parts))


def _uses_data(node: Any) -> bool:
    """Whether a program reads @data (or calls a partial, which may): #each skips building frames otherwise."""
    if isinstance(node, tuple):
        if node and type(node[0]) is int and node[0] in (O.X_DATA, O.S_PARTIAL):
            return True
        return any(_uses_data(item) for item in node)
    if isinstance(node, dict):
        return any(_uses_data(v) for v in node.values())
    return False


def _merge_text(ops: list[Any]) -> list[Any]:
    out: list[Any] = []
    for op in ops:
        if isinstance(op, str) and out and isinstance(out[-1], str):
            out[-1] += op
        else:
            out.append(op)
    return out


def _suggest(name: str) -> str:
    import difflib

    names = [*_BLOCK_BUILTINS, *H.VALUE_HELPERS, *H.PREDICATES]
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _inline_names(prog: P.Program | None, out: set[str]) -> None:
    if prog is None:
        return
    for node in prog.body:
        if isinstance(node, P.Block):
            if node.decorator and node.params and isinstance(node.params[0], P.Literal):
                out.add(_literal_text(node.params[0]))
            _inline_names(node.program, out)
            _inline_names(node.inverse, out)


def compile_ast(root: P.Program) -> tuple[Any, ...]:
    """Lower a parsed template to its program; raises TemplateError for unknown names."""
    names: set[str] = set()
    _inline_names(root, names)
    return _Compiler(names).program(root)
