"""Compile-time behaviour: precise errors, data-only programs, no code execution from template text, limits."""

from __future__ import annotations

import ast
import pathlib
from typing import Any

import pytest

from gateway import _fast
from gateway.errors import GatewayError
from gateway.templates import ProgramCache, RenderError, TemplateError, compile, helpers
from gateway.templates.program import Program

IMPLS = _fast.implementations("render")
impl_ids = [m.__name__.rsplit(".", 1)[-1] for m in IMPLS]


def test_template_error_is_a_gateway_value_error() -> None:
    assert issubclass(TemplateError, GatewayError)
    assert issubclass(TemplateError, ValueError)
    assert issubclass(RenderError, TemplateError)


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("Hello {{#if a}}\nno close", 2, 9, "expected {{/if}}"),
        ("{{#if a}}x{{/unless}}", 1, 11, "doesn't match"),
        ("a\n  {{upperr name}}", 2, 3, "unknown helper 'upperr' (did you mean 'upper'?)"),
        ("{{#eachh list}}x{{/eachh}}", 1, 1, "unknown helper 'eachh'"),
        ("x {{/if}}", 1, 3, "without a matching opening block"),
        ("{{else}}", 1, 1, "{{else}} outside of a block"),
        ("x\n {{name", 2, 2, "mustache is not closed"),
        ("{{a.b c}}", 1, 1, "is not a helper"),
        ("{{> nope}}", 1, 1, "partial 'nope' is not defined"),
        ("{{#each}}x{{/each}}", 1, 1, "#each requires exactly one argument"),
        ("{{#if a b}}x{{/if}}", 1, 1, "#if requires exactly one argument"),
        ("{{upper a x=1 b}}", 1, 15, "positional parameters must come before hash"),
        ("{{!-- never closed", 1, 1, "comment"),
        ("{{#upper a}}x{{/upper}}", 1, 1, "cannot be used as a block"),
        ("{{#if a as |x|}}{{/if}}", 1, 1, "block parameters"),
        ("{{* deco}}", 1, 1, "decorators"),
        ("{{#> layout}}x{{/layout}}", 1, 1, "partial blocks"),
        ("{{> (whichPartial)}}", 1, 1, "dynamic partials"),
        ("{{unless a}}", 1, 1, "only be used as a block"),
        ("{{a/../b}}", 1, 3, "invalid path"),
    ],
)
def test_bad_templates_fail_at_compile_time_with_position(source: str, line: int, column: int, words: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile(source)
    err = info.value
    assert words in err.reason
    assert (err.line, err.column) == (line, column)
    assert str(err).startswith(f"line {line}, column {column}: ")


def _walk(value: Any, seen: list[Any]) -> None:
    if isinstance(value, tuple):
        for item in value:
            _walk(item, seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            _walk(v, seen)
    else:
        seen.append(value)


def test_programs_hold_only_data_and_known_helper_functions() -> None:
    src = (
        "{{#*inline 'p'}}{{x}}{{/inline}}{{> p}}{{#each a as |v k|}}{{k}}{{v.y}}{{@index}}{{/each}}"
        "{{#if b includeZero=true}}{{upper (lower c)}}{{else}}{{eq 1 2 yes='y'}}{{/if}}{{#with d}}{{../e}}{{/with}}"
        "{{#gt 2 1}}{{dateFormat f tz=America/Los_Angeles}}{{/gt}}{{#s}}{{.}}{{/s}}"
    )
    leaves: list[Any] = []
    _walk(compile(src).ops, leaves)
    allowed_fns = {id(f) for f in [*helpers.VALUE_HELPERS.values(), *helpers.PREDICATES.values(), helpers.pred_if]}
    for leaf in leaves:
        if callable(leaf):
            assert id(leaf) in allowed_fns, leaf
        else:
            assert leaf is None or isinstance(leaf, (str, int, float, bool)), leaf


def test_no_eval_exec_or_dynamic_import_in_template_code() -> None:
    root = pathlib.Path(__file__).resolve().parents[2] / "gateway"
    files = [*root.joinpath("templates").glob("*.py"), root / "_fast" / "_render_py.py", root / "_fast" / "_render.pyx"]
    banned = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "import_module"}
    for path in files:
        text = path.read_text()
        if path.suffix == ".pyx":
            for word in ("eval(", "exec(", "getattr(", "__import__(", "import_module("):
                assert word not in text.replace("_eval(", ""), (path, word)
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in banned:
                # our own compile() (templates) and getattr on *our* model structs in store.py are the only uses
                ok = node.func.id == "compile" or (node.func.id == "getattr" and path.name in ("store.py",))
                assert ok, f"{path.name}:{node.lineno} calls {node.func.id}"


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
@pytest.mark.parametrize(
    "source",
    [
        "Hello {{[x') or open('pwned.txt','w').write('executed') or ('y]}}",
        "{{constructor.constructor}}",
        "{{constructor.constructor 'return process'}}",
        "{{__class__}}{{__class__.__mro__}}{{a.__class__.__init__.__globals__}}",
        "{{__proto__}}{{a.__proto__.polluted}}{{lookup a '__proto__'}}{{lookup (lookup a 'constructor') 'name'}}",
        "{{a.__dict__}}{{a.keys}}{{a.items}}{{s.upper}}{{s.__len__}}{{n.real}}{{l.append}}{{l.__getitem__}}",
        "{{#with a.__class__}}{{__name__}}{{/with}}{{#each a.__dict__}}{{@key}}{{/each}}",
        "{{[__import__('os').system('touch pwned')]}}",
    ],
)
def test_injection_payloads_render_inert(impl: Any, source: str, tmp_path: pathlib.Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = {"a": {"b": 1}, "s": "str", "n": 5, "l": [1]}
    try:
        out = compile(source, impl=impl).render(ctx)
    except TemplateError as exc:  # refused at compile time: equally inert
        assert "is not a helper" in exc.reason
        out = ""
    # every lookup of a Python attribute / JS prototype member is simply absent: nothing but the literal text
    assert out == ("Hello " if source.startswith("Hello") else "")
    assert list(tmp_path.iterdir()) == [], "a payload wrote a file"


def test_constructor_lookup_without_own_property_is_empty() -> None:
    assert compile("[{{constructor}}][{{a.constructor.name}}]").render({"a": {}}) == "[][]"
    # an own key of that name is just data
    assert compile("{{constructor}}").render({"constructor": "<c>"}) == "&lt;c&gt;"


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_output_limit_is_a_clear_error(impl: Any) -> None:
    prog = compile("{{#each a}}{{../big}}{{/each}}", limits=(1000, 100, 8, RenderError), impl=impl)
    assert prog.render({"a": [1], "big": "x" * 900}) == "x" * 900
    with pytest.raises(RenderError, match="exceeds 1000 characters"):
        prog.render({"a": [1, 2], "big": "x" * 900})
    with pytest.raises(RenderError, match="exceeds 1000 characters"):
        compile("{{big}}", limits=(1000, 100, 8, RenderError), impl=impl).render({"big": "y" * 1001})


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_loop_limit_counts_nested_iterations(impl: Any) -> None:
    prog = compile("{{#each a}}{{#each @root.a}}{{#each @root.a}}.{{/each}}{{/each}}{{/each}}",
                   limits=(10**6, 1000, 8, RenderError), impl=impl)
    assert prog.render({"a": [{"i": i} for i in range(9)]}) == "." * 729
    with pytest.raises(RenderError, match="1000 loop iterations"):
        prog.render({"a": [{"i": i} for i in range(10)]})


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_recursive_partials_hit_the_nesting_limit(impl: Any) -> None:
    prog = compile('{{#*inline "r"}}({{> r}}){{/inline}}{{> r}}', limits=(10**6, 10**6, 20, RenderError), impl=impl)
    with pytest.raises(RenderError, match="nested deeper than 20"):
        prog.render({})


def test_helper_width_is_bounded() -> None:
    with pytest.raises(RenderError, match="exceeds"):
        compile("{{ljust 'x' 100000000}}").render({})


def test_each_is_capped_at_15_items_like_pinpoint() -> None:
    out = compile("{{#each a}}{{this}}{{#if @last}}!{{/if}},{{/each}}").render({"a": list(range(40))})
    assert out == ",".join(str(i) for i in range(14)) + ",14!,"


def test_program_cache_is_lru_by_source_and_does_not_cache_failures() -> None:
    cache = ProgramCache(maxsize=2)
    a = cache.get("a{{x}}")
    assert cache.get("a{{x}}") is a
    cache.get("b")
    cache.get("a{{x}}")  # a is now most recent
    cache.get("c")  # evicts b
    assert len(cache) == 2
    assert cache.get("a{{x}}") is a
    assert (cache.hits, cache.misses) == (3, 3)
    for _ in range(2):
        with pytest.raises(TemplateError):
            cache.get("{{#if}}")
    assert len(cache) == 2
    assert isinstance(a, Program) and a.render({"x": 1}) == "a1"


def test_compile_rejects_non_text_and_oversized_sources() -> None:
    with pytest.raises(TemplateError, match="must be a string"):
        compile(b"{{x}}")  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="limit"):
        compile("x" * 1_000_001)


def test_nesting_is_bounded_at_compile_time() -> None:
    ok = "{{#if a}}" * 100 + "x" + "{{/if}}" * 100
    assert compile(ok).render({"a": 1}) == "x"
    with pytest.raises(TemplateError, match="nested deeper than 100"):
        compile("{{#if a}}" * 101 + "x" + "{{/if}}" * 101)
    with pytest.raises(TemplateError, match="nested deeper than 100"):
        compile("{{upper " + "(lower " * 101 + "a" + ")" * 101 + "}}")
    with pytest.raises(TemplateError, match="nested deeper than 100"):
        compile("{{#if a}}" + "{{else if b}}" * 101 + "{{/if}}")


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_nesting_is_bounded_at_render_time(impl: Any) -> None:
    inner = "{{#if a}}" * 90 + "{{> p}}" + "{{/if}}" * 90
    src = '{{#*inline "p"}}' + inner + "{{/inline}}{{> p}}"
    ctx = {"a": 1}
    with pytest.raises(RenderError, match="nested deeper than 200"):
        compile(src, impl=impl).render(ctx)
