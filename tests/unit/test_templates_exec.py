"""The compiled executor and its pure-Python twin agree (Hypothesis), and helpers behave as documented."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _fast
from gateway._fast import _render_py
from gateway.templates import RenderError, TemplateError, compile, helpers, opcodes

IMPLS = _fast.implementations("render")


def test_both_implementations_are_present() -> None:
    names = [m.__name__ for m in IMPLS]
    assert names[-1] == "gateway._fast._render_py"
    if not _fast.NO_EXTENSIONS:
        assert names[0] == "gateway._fast._render"


def test_executors_use_the_opcode_numbers_of_opcodes_py() -> None:
    """The executors repeat the numbers as literals; check each `code == N:  # NAME` against opcodes.py."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "gateway" / "_fast"
    for name in ("_render_py.py", "_render.pyx"):
        text = (root / name).read_text()
        pairs = re.findall(r"code == (\d+):\s+# (\w+)", text)
        assert len(pairs) >= 15
        for number, opname in pairs:
            assert getattr(opcodes, opname) == int(number), (name, opname)
        assert f"EACH_LIMIT = {opcodes.EACH_LIMIT}" in text.replace("_EACH_LIMIT", "EACH_LIMIT")


# -- Hypothesis: random templates over random data render identically in both executors ------------------------

KEYS = ["a", "b", "c", "list", "name", "n"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from([*KEYS, "0", "1", "x y"]), inner, max_size=4)
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)

paths = st.sampled_from([
    "a", "b.c", "list.[0]", "list.length", "this", ".", "../a", "@root.name", "@index", "@key", "@first", "@last",
    "[x y]", "a.[1]", "name", "n",
])
value_helpers = st.sampled_from(["upper", "lower", "capitalize", "capitalizeFirst", "slugify", "stripTags", "md5",
                                 "encode64", "ordinalize", "round", "ceiling", "floor", "yesno", "cut"])
binary_helpers = st.sampled_from(["add", "subtract", "multiply", "divide", "modulo", "eq", "neq", "gt", "lt", "gte",
                                  "lte", "and", "or", "join", "lookup", "replace"])
literals = st.sampled_from(['"s"', "'q'", "1", "-2.5", "0", "true", "false", "null"])
args = st.one_of(paths, literals)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(paths)
    if kind == 1:
        return f"{draw(value_helpers)} {draw(args)}"
    if kind == 2:
        return f"{draw(binary_helpers)} {draw(args)} {draw(args)}"
    return f"{draw(value_helpers)} ({draw(binary_helpers)} {draw(args)} {draw(args)})"


texts = st.sampled_from(["", " ", "x", "\n", "  \n", "<&>", "é", "\r\n", "\t"])


@st.composite
def templates(draw: st.DrawFn, depth: int = 0, partial: bool = False) -> str:
    """Random templates; `partial` allows `{{> p}}` statements (see `documents`)."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 8 if depth < 2 else 3))
        if kind == 8 and not partial:
            kind = 0
        ws_l = draw(st.sampled_from(["", "~"]))
        ws_r = draw(st.sampled_from(["", "~"]))
        if kind == 0:
            parts.append(draw(texts))
        elif kind == 1:
            parts.append("{{" + ws_l + draw(expressions()) + ws_r + "}}")
        elif kind == 2:
            parts.append("{{{" + draw(expressions()) + "}}}")
        elif kind == 3:
            parts.append("{{! c }}" + draw(texts))
        elif kind == 8:
            ctx = draw(st.sampled_from(["", " a", " list", " this", " n"]))
            parts.append(draw(texts) + "{{" + ws_l + "> p" + ctx + ws_r + "}}" + draw(texts))
        else:
            helper = draw(st.sampled_from(["if", "unless", "each", "with", "eq", "and", "section"]))
            body = draw(templates(depth + 1, partial))
            inverse = draw(st.one_of(st.none(), templates(depth + 1, partial)))
            sep = draw(texts)
            if helper == "section":
                head = draw(st.sampled_from(KEYS))
            elif helper in ("eq", "and"):
                head = f"{helper} {draw(args)} {draw(args)}"
            else:
                head = f"{helper} {draw(paths)}"
            name = head.split()[0]
            parts.append(f"{{{{{ws_l}#{head}{ws_r}}}}}{sep}{body}")
            if inverse is not None:
                parts.append(f"{{{{{ws_l}else{ws_r}}}}}{sep}{inverse}")
            parts.append(f"{sep}{{{{{ws_l}/{name}{ws_r}}}}}")
    return "".join(parts)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A template, sometimes with an inline partial `p` (raw blocks too) that the body may call."""
    if not draw(st.booleans()):
        return draw(templates())
    inline = '{{#*inline "p"}}' + draw(texts) + draw(templates(1)) + "{{/inline}}" + draw(texts)
    raw = draw(st.sampled_from(["", "{{{{if a}}}} {{raw}} {{{{/if}}}}", "{{{{with list}}}}{{x}}{{{{/with}}}}"]))
    return inline + raw + draw(templates(0, True))


def _outcome(impl: Any, source: str, ctx: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", compile(source, impl=impl).render(ctx)
    except TemplateError as exc:
        return "error", str(exc)


@pytest.mark.skipif(len(IMPLS) < 2, reason="GATEWAY_NO_EXTENSIONS=1: only the twin exists")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=documents(), ctx=contexts)
def test_compiled_executor_and_twin_agree(source: str, ctx: dict[str, Any]) -> None:
    compiled, twin = IMPLS
    assert _outcome(compiled, source, ctx) == _outcome(twin, source, ctx)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_to_str_agrees_between_twins(value: Any) -> None:
    outs = {impl.to_str(value) for impl in IMPLS}
    assert len(outs) == 1


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_format_round_trips(f: float) -> None:
    text = _render_py.js_num(f)
    assert float(text.replace("e+", "e")) == f or (f == 0 and text == "0")
    assert not text.endswith(".0")
    assert ("e" in text) == (f != 0 and not 1e-6 <= abs(f) < 1e21)
    for impl in IMPLS:
        assert impl.js_num(f) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e21, "1e+21"), (1e20, "100000000000000000000"), (-9914485389151548.0, "-9914485389151548"),
     (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (0.1, "0.1"), (-0.0, "0"),
     (123.456, "123.456"), (2.5e25, "2.5e+25"), (math.nan, "NaN"), (math.inf, "Infinity")],
)
def test_js_number_format_examples(value: float, text: str) -> None:
    for impl in IMPLS:
        assert impl.js_num(value) == text


# -- helpers not covered by the fixed-clock corpus -----------------------------------------------------------------

def test_uuid_is_a_fresh_v4_uuid() -> None:
    prog = compile("{{uuid}}")
    a, b = prog.render({}), prog.render({})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a)
    assert a != b


def test_now_uses_the_injected_clock_and_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "clock", lambda: 1_700_000_000.0)  # 2023-11-14T22:13:20Z
    assert compile("{{now}}").render({}) == "Nov 14, 2023"
    assert compile('{{now "yyyy-MM-dd HH:mm z" tz="Asia/Tokyo"}}').render({}) == "2023-11-15 07:13 JST"


def test_unquoted_tz_as_pinpoint_documents_it() -> None:
    src = '{{dateFormat d outputFormat="HH:mm z" tz=America/Los_Angeles}}'
    assert compile(src).render({"d": "2024-01-01T20:00:00Z"}) == "12:00 PST"
    # a context value of that path still wins, as it would in handlebars.js
    assert compile("{{now 'z' tz=zone}}").render({"zone": "Europe/Paris"}) in ("CET", "CEST")


def test_date_pattern_letter_errors_are_clear() -> None:
    with pytest.raises(RenderError, match="letter 'Q'"):
        compile('{{dateFormat "2024-01-01" outputFormat="Q"}}').render({})


def test_helper_argument_errors_are_render_errors() -> None:
    with pytest.raises(RenderError, match="at least 4"):
        compile("{{abbreviate s 3}}").render({"s": "hello"})
    with pytest.raises(RenderError, match="must be a number"):
        compile("{{substring s 'x'}}").render({"s": "hello"})


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab &<>\"'`=é😀\n"), max_size=40) | st.text(max_size=40))
def test_escape_agrees_between_twins(text: str) -> None:
    expected = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                .replace("'", "&#x27;").replace("`", "&#x60;").replace("=", "&#x3D;"))
    for impl in IMPLS:
        assert impl.escape(text) == expected
        assert impl.capitalize_words(text) == _render_py.capitalize_words(text)
