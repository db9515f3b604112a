"""Errors of the template engine: compile-time (`TemplateError`, with line and column) and render-time
(`RenderError`: a limit was exceeded or a helper got an argument it cannot use)."""

from __future__ import annotations

from gateway.errors import GatewayError


class TemplateError(GatewayError, ValueError):
    """A template cannot be compiled (bad syntax, unbalanced block, unknown helper) or rendered.

    `line` and `column` are 1-based positions in the template source (0 when unknown); `reason` is the message
    without the position, `str(err)` is `line L, column C: reason`.
    """

    def __init__(self, reason: str, line: int = 0, column: int = 0) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(where + reason)


class RenderError(TemplateError):
    """Rendering stopped: an output-size, loop or nesting limit was exceeded, or a helper argument is unusable."""


def clip(text: str, limit: int = 40) -> str:
    """`text` shortened for an error message (a rendering failure becomes an event's StatusMessage, and the text can
    be tenant data of any length)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
