"""The request-body template of HTTP providers: `${var}` placeholders in operator-configured field values.

Deliberately not Handlebars and not `str.format`: a template is parsed once, at configuration time, into literal
text and references to a fixed set of variable names; rendering only concatenates strings. Tenant-controlled
values (the message body, numbers) are data substituted into fields and then JSON- or form-encoded; they are
never parsed as templates, so no tenant input reaches a code path. `$$` writes a literal `$`.

Field keys with dots (`"message.to"`) build nested JSON objects. A field whose template is a single variable that
has no value (None) is left out of the body, so optional parameters (SenderId, StatusCallback) simply vanish.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.errors import ConfigError

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$")


class Var(str):
    """A reference to a variable inside a compiled template (a str subclass so parts stay a flat tuple)."""

    __slots__ = ()


Compiled = tuple[str, ...]  # literal str or Var parts


def compile_template(source: str, allowed: Iterable[str], where: str = "template") -> Compiled:
    """Parse `source` into parts; unknown variables and a stray `$` are configuration errors naming `where`."""
    allowed_set = frozenset(allowed)
    parts: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(source):
        if m.start() > pos:
            parts.append(source[pos : m.start()])
        token = m.group(0)
        if token == "$$":
            parts.append("$")
        elif token == "$":
            raise ConfigError(f"{where}: stray '$' at offset {m.start()} (write $$ for a literal dollar)")
        else:
            name = m.group(1)
            if name not in allowed_set:
                raise ConfigError(f"{where}: unknown variable ${{{name}}} (known: {', '.join(sorted(allowed_set))})")
            parts.append(Var(name))
        pos = m.end()
    if pos < len(source):
        parts.append(source[pos:])
    return tuple(parts)


def render_template(parts: Compiled, values: Mapping[str, str | None]) -> str | None:
    """Render compiled parts; None when the template is a single variable without a value (field omitted)."""
    if len(parts) == 1 and type(parts[0]) is Var:
        return values.get(parts[0])
    out: list[str] = []
    for p in parts:
        if type(p) is Var:
            v = values.get(p)
            if v is not None:
                out.append(v)
        else:
            out.append(p)
    return "".join(out)


class FieldMap:
    """A compiled body field map: {"To": "${to}", "message.text": "${body}"} -> a dict (nested by dots)."""

    __slots__ = ("_fields", "_nested")

    def __init__(self, fields: Mapping[str, str], allowed: Iterable[str], where: str = "fields") -> None:
        allowed = frozenset(allowed)
        if not fields:
            raise ConfigError(f"{where}: at least one body field is required")
        self._fields = tuple(
            (tuple(key.split(".")), compile_template(tmpl, allowed, f"{where}.{key}")) for key, tmpl in fields.items()
        )
        for path, _ in self._fields:
            if any(not seg for seg in path):
                raise ConfigError(f"{where}: empty segment in field name {'.'.join(path)!r}")
        self._nested = any(len(path) > 1 for path, _ in self._fields)

    def render(self, values: Mapping[str, str | None]) -> dict[str, Any]:
        """The body as a (possibly nested) dict of strings; fields without a value are omitted."""
        out: dict[str, Any] = {}
        for path, parts in self._fields:
            v = render_template(parts, values)
            if v is None:
                continue
            if not self._nested or len(path) == 1:
                out[path[0]] = v
                continue
            node = out
            for seg in path[:-1]:
                node = node.setdefault(seg, {})
            node[path[-1]] = v
        return out

    def render_flat(self, values: Mapping[str, str | None]) -> list[tuple[str, str]]:
        """The body as form pairs (dotted names kept as they are)."""
        pairs: list[tuple[str, str]] = []
        for path, parts in self._fields:
            v = render_template(parts, values)
            if v is not None:
                pairs.append((".".join(path), v))
        return pairs


def json_path(data: Any, path: str | None) -> Any:
    """Follow a dotted path (`messages.0.id`) through dicts and lists; None when any step is missing."""
    if path is None:
        return None
    node = data
    for seg in path.split("."):
        if isinstance(node, dict):
            node = node.get(seg)
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return None
        if node is None:
            return None
    return node
