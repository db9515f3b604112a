"""The API's layers: the handler modules are listed in one place and nothing imports uphill into them
(registry.py is a leaf, no import circle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from gateway.api.handlers import HANDLERS, MODULES

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every gateway module `path` imports anywhere (top level, inside functions, under TYPE_CHECKING)."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return (found & modules) - {name}


def _graph() -> dict[str, set[str]]:
    paths = {_module(p): p for p in (ROOT / "gateway").rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_no_api_module_is_in_an_import_circle() -> None:
    graph = _graph()
    circular = sorted(m for m in graph if m.startswith("gateway.api") and _reaches(graph, m, m))
    assert circular == []


def test_handler_modules_are_listed_in_one_place_and_registry_is_a_leaf() -> None:
    graph = _graph()
    handler_modules = {m.__name__ for m in MODULES}
    # every module that registers operations is listed, and only the listing imports it
    registering = {_module(p) for p in (ROOT / "gateway" / "api").glob("*.py") if "\nregistry = Registry()" in p.read_text()}
    assert registering == handler_modules
    for handler in handler_modules:
        assert {m for m, deps in graph.items() if handler in deps} == {"gateway.api.handlers"}, handler
    assert not any(_reaches(graph, "gateway.api.registry", h) for h in handler_modules)
    assert set(HANDLERS) == {name for m in MODULES for name in m.registry.operations}
    # and in a fresh interpreter, importing the registry alone loads no handler module
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, gateway.api.registry; print(*sorted(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert "gateway.api.registry" in loaded and not handler_modules & set(loaded)
