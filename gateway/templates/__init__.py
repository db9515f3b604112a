"""Template rendering entry points used by the dispatcher.

INTERIM: this module holds only simple `{{path}}` / `{{{path}}}` substitution so the delivery engine can be built
and tested; the full Handlebars implementation (issue 3) replaces it with the same public names:
`compile`, `Program`, `ProgramCache`, `TemplateError`, and `variables.build_context`.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from typing import Any

from gateway.errors import GatewayError

_TAG = re.compile(r"\{\{\{\s*([^{}]+?)\s*\}\}\}|\{\{\s*([^{}#/!>^&][^{}]*?)\s*\}\}")


class TemplateError(GatewayError, ValueError):
    """A template that cannot be compiled."""


def _lookup(ctx: Any, path: str) -> Any:
    for part in path.split("."):
        part = part.strip("[]")
        if isinstance(ctx, dict):
            ctx = ctx.get(part)
        elif isinstance(ctx, list) and part.isdigit() and int(part) < len(ctx):
            ctx = ctx[int(part)]
        else:
            return None
    return ctx


def _to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_to_str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Program:
    __slots__ = ("parts",)

    def __init__(self, parts: list[tuple[int, str]]) -> None:
        self.parts = parts

    def render(self, context: dict[str, Any]) -> str:
        out = []
        for kind, value in self.parts:
            if kind == 0:
                out.append(value)
            else:
                text = _to_str(_lookup(context, value))
                out.append(html.escape(text) if kind == 1 else text)
        return "".join(out)


def compile(source: str) -> Program:  # noqa: A001 - the public name the engine uses
    parts: list[tuple[int, str]] = []
    pos = 0
    for m in _TAG.finditer(source):
        if m.start() > pos:
            parts.append((0, source[pos:m.start()]))
        parts.append((2, m.group(1)) if m.group(1) else (1, m.group(2)))
        pos = m.end()
    if pos < len(source):
        parts.append((0, source[pos:]))
    return Program(parts)


class ProgramCache:
    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._cache: OrderedDict[str, Program] = OrderedDict()

    def get(self, source: str) -> Program:
        prog = self._cache.get(source)
        if prog is None:
            prog = compile(source)
            self._cache[source] = prog
            if len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)
        return prog
