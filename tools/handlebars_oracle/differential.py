"""Ad-hoc differential run against handlebars.js (needs node and `npm ci` here; CI uses the committed corpus).

Generates random templates and data with the Hypothesis strategies of tests/unit/test_templates_exec.py, renders
them with the oracle (render_cases.js) and with gateway.templates, and prints every difference.

    python tools/handlebars_oracle/differential.py [N]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from gateway.templates import TemplateError, compile, helpers  # noqa: E402
from tests.unit.test_templates_exec import contexts, documents  # noqa: E402

CLOCK = 1764072000.25  # as in render_cases.js


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    cases: list[dict[str, object]] = []

    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents(), contexts)
    def gen(t: str, c: dict[str, object]) -> None:
        cases.append({"template": t, "data": c})

    gen()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.json"), Path(tmp, "out.json")
        src.write_text(json.dumps(cases))
        subprocess.run(["node", "render_cases.js", str(src), str(dst)], cwd=Path(__file__).parent, check=True)
        outs = json.loads(dst.read_text())
    helpers.clock = lambda: CLOCK
    bad = 0
    for case, out in zip(cases, outs, strict=True):
        try:
            got: str | None = compile(str(case["template"])).render(case["data"])  # type: ignore[arg-type]
        except TemplateError:
            got = None
        if ("error" in out) != (got is None) or ("error" not in out and got != out["expected"]):
            bad += 1
            print(json.dumps({"case": case, "handlebars": out, "ours": got}, ensure_ascii=False))
    print(f"{bad} of {len(cases)} differ", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
