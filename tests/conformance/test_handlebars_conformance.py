"""Differential conformance: every case rendered by handlebars.js 4.7 (with Pinpoint's helpers, see
tools/handlebars_oracle/) must render byte for byte the same with both executors, and every case handlebars.js
rejects must raise TemplateError here (at compile time where we can tell, else at render time)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway import _fast
from gateway.templates import TemplateError, compile, helpers

FIXTURE = Path(__file__).with_name("handlebars_cases.json")
DATA = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DATA["cases"]
IMPLS = _fast.implementations("render")


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "clock", lambda: DATA["clock"])


def test_corpus_is_large_and_from_handlebars_4_7() -> None:
    assert DATA["handlebars"].startswith("4.7.")
    assert len(CASES) >= 500


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_case_matches_handlebars_js(impl: ModuleType) -> None:
    failures = []
    for case in CASES:
        try:
            got: str | None = compile(case["template"], impl=impl).render(case["data"])
            err = None
        except TemplateError as exc:
            got, err = None, str(exc)
        if "error" in case:
            if err is None:
                failures.append(
                    f"#{case['id']} {case['template']!r}: handlebars.js fails ({case['error']}), we render {got!r}"
                )
        elif got != case["expected"]:
            failures.append(f"#{case['id']} {case['template']!r} {json.dumps(case['data'])[:120]}: "
                            f"expected {case['expected']!r}, got {got!r} {err or ''}")
    assert not failures, f"{len(failures)} of {len(CASES)} cases differ:\n" + "\n".join(failures[:40])
