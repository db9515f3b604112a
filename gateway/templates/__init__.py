"""Pinpoint's Handlebars templates: compiled once into data-only programs, rendered by a Cython executor.

Public API (used by the dispatcher and the channels):

- :func:`compile` ``(source) -> Program`` and :meth:`Program.render` ``(context) -> str``
- :class:`ProgramCache` ``(maxsize).get(source) -> Program``
- :class:`TemplateError` (compile errors, with ``line``/``column``) and its subclass :class:`RenderError`
- :mod:`gateway.templates.variables` (``build_context``), :mod:`gateway.templates.store` (``TemplateStore``),
  :mod:`gateway.templates.cli` (``register``)

No template text is ever evaluated as code: see docs/templates.md.
"""

from __future__ import annotations

from .errors import RenderError, TemplateError
from .program import Program, ProgramCache, compile

__all__ = ["Program", "ProgramCache", "RenderError", "TemplateError", "compile"]
