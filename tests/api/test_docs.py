"""The README's operations table is generated from the handler registry and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_operations_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_api_table", ROOT / "tools" / "gen_api_table.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (ROOT / "README.md").read_text()
    assert mod.render_readme(text) == text, "run: python tools/gen_api_table.py --write"
    assert text.count("| CreateApp | POST | `/v1/apps` | served |") == 1
