"""Compiled templates: `compile(source) -> Program`, `Program.render(context) -> str`, and an LRU cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from gateway import _fast

from .compiler import compile_ast
from .errors import RenderError, TemplateError
from .parser import parse

_render = _fast.load("render")

#: Default limits of one render (Pinpoint's largest template, an email, is 600,000 characters).
MAX_OUTPUT: Final = 2_000_000
MAX_STEPS: Final = 100_000
MAX_PARTIAL_DEPTH: Final = 32
#: Longest template source accepted (Pinpoint's email quota is 600,000 characters).
MAX_SOURCE: Final = 1_000_000

DEFAULT_LIMITS: Final = (MAX_OUTPUT, MAX_STEPS, MAX_PARTIAL_DEPTH, RenderError)


class Program:
    """A template compiled once. `render(context: dict) -> str` renders it with `context` as the root object and
    may be called any number of times, from any thread; it raises RenderError when a limit is exceeded.
    (`render` is the executor's bound method, stored per instance, so a call costs no extra Python frame.)"""

    __slots__ = ("_limits", "_ops", "render", "source")

    render: Callable[[dict[str, Any]], str]

    def __init__(self, source: str, ops: tuple[Any, ...], limits: tuple[int, int, int, type] = DEFAULT_LIMITS,
                 impl: Any = None) -> None:
        self.source = source
        self._ops = ops
        self._limits = limits
        self.render = (impl or _render).Renderer(ops, limits).render

    @property
    def ops(self) -> tuple[Any, ...]:
        """The instruction tuple (data only; see gateway/templates/opcodes.py)."""
        return self._ops

    def __repr__(self) -> str:
        head = self.source[:40] + ("…" if len(self.source) > 40 else "")
        return f"Program({head!r})"


def compile(source: str, *, limits: tuple[int, int, int, type] = DEFAULT_LIMITS, impl: Any = None) -> Program:
    """Compile Handlebars source; raises TemplateError (with line and column) when it is not a valid template.

    `impl` selects an executor module (tests pass each of `gateway._fast.implementations("render")`).
    """
    if not isinstance(source, str):
        raise TemplateError(f"template source must be a string, got {type(source).__name__}")
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"template is {len(source)} characters long; the limit is {MAX_SOURCE}")
    return Program(source, compile_ast(parse(source)), limits, impl)


class ProgramCache:
    """LRU of compiled programs keyed by source text (templates and, since Pinpoint renders them too, message
    bodies). A source that fails to compile is not cached: the error is raised on every `get`."""

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[str, Program] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, source: str) -> Program:
        items = self._items
        program = items.get(source)
        if program is not None:
            items.move_to_end(source)
            self.hits += 1
            return program
        self.misses += 1
        program = compile(source)
        items[source] = program
        if len(items) > self.maxsize:
            items.popitem(last=False)
        return program

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
