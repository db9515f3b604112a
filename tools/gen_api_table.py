"""Generate the README's table of Pinpoint's 122 operations and whether Gateway serves each.

Status comes from the handler registry (gateway/api/registry.py): "served" when the handler needs only what
gateway.api owns; "served with <service>" when it runs once that engine service is passed to create_app;
"not yet" when no handler exists. Run `python tools/gen_api_table.py --write` to update README.md in place
(between the api-table markers), or without arguments to print the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.api.registry import load_handlers
from gateway.models import OPERATIONS

START = "<!-- api-table:start -->"
END = "<!-- api-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def table() -> str:
    handlers = load_handlers()
    served = sum(1 for n in OPERATIONS if n in handlers)
    lines = [
        f"{served} of {len(OPERATIONS)} operations have a handler. \"served with X\" means the handler runs once the "
        "engine passes service X to `create_app` (see docs/api.md).",
        "",
        "| Operation | Method | Path | Status |",
        "| --- | --- | --- | --- |",
    ]
    for name, (method, path, _i, _o, _s) in sorted(OPERATIONS.items()):
        op = handlers.get(name)
        if op is None:
            status = "not yet"
        elif op.needs:
            status = "served with " + ", ".join(f"`{n}`" for n in op.needs)
        else:
            status = "served"
        lines.append(f"| {name} | {method} | `{path}` | {status} |")
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """README text with the table between the markers replaced (markers appended if absent)."""
    block = f"{START}\n{table()}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n## Pinpoint API operations\n\n" + block + "\n"


def main() -> None:
    if "--write" in sys.argv:
        README.write_text(render_readme(README.read_text()))
    else:
        sys.stdout.write(table())


if __name__ == "__main__":
    main()
