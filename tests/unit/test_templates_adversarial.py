"""Hostile templates and data cannot stall or exhaust a worker (issue 10): every helper runs in time linear in its
input, no render allocates much beyond its output limit, and hostile values end in a RenderError (a rendering
failure for that recipient), never another exception or a crash. Both executors are held to it.

Timing is ratio-based, so it holds on a loaded machine: each case is timed (best of a few runs, CPU time of this
process) at a size n large enough to measure and at 4n; linear work takes about 4x as long, quadratic work 16x.
Memory is measured with tracemalloc around the pure-Python twin (the compiled executor allocates through the same
helpers and the same checks, and must fail with the same error).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from gateway import _fast
from gateway._fast import _render_py
from gateway.templates import RenderError, TemplateError, compile, helpers
from gateway.templates.program import DEFAULT_LIMITS

IMPLS = _fast.implementations("render")


def impl_ids(m: Any) -> str:
    return str(m.__name__.rsplit(".", 1)[-1])


# -- linear time -----------------------------------------------------------------------------------------------------

#: Limits large enough that the timed renders succeed at every size.
ROOMY = (10**8, 10**6, 32, RenderError)
Ctx = Callable[[int], dict[str, Any]]

#: (case id, template, context of size n). Every helper and predicate appears (checked below), with the inputs that
#: made the old implementations quadratic or exponential, or that force the most work per character.
CASES: list[tuple[str, str, Ctx]] = [
    ("abbreviate", "{{abbreviate s 10}}", lambda n: {"s": "é" * n}),
    ("abbreviate-width", "{{abbreviate 'hello world' w}}", lambda n: {"w": "1" * n + "x"}),
    ("capitalize", "{{capitalize s fully=true}}", lambda n: {"s": "aß " * (n // 3)}),
    ("capitalizeFirst", "{{capitalizeFirst s}}", lambda n: {"s": "ß" * n}),
    ("center", "{{center 'x' w pad='ab'}}", lambda n: {"w": n}),
    ("cut", "{{cut s 'ab'}}", lambda n: {"s": "aab" * (n // 3)}),
    ("dateFormat-iso", "{{dateFormat s}}", lambda n: {"s": "2024-01-01" + " " * n + "x"}),
    ("dateFormat-input", "{{dateFormat s inputFormat='HmHmHmHm'}}", lambda n: {"s": "1" * n + "y"}),
    ("dateFormat-output", "{{dateFormat '2024-01-05' outputFormat=p}}", lambda n: {"p": "yMdE" * (n // 4)}),
    ("dateFormat-quote", "{{dateFormat '2024-01-05' outputFormat=p}}", lambda n: {"p": "'" + "a" * n}),
    ("dateFormat-quotes", "{{dateFormat '2024-01-05' outputFormat=p}}", lambda n: {"p": "'a'" * (n // 3) + "'"}),
    ("dateFormat-tz", "{{dateFormat '2024-01-05' tz=z}}", lambda n: {"z": "Europe/" + "x" * n}),
    ("inflect", "{{inflect s 'a' 'b'}}", lambda n: {"s": "1" * n + "x"}),
    ("inflect-dot", "{{inflect s 'a' 'b'}}", lambda n: {"s": "1" * n + ".1e"}),
    ("join", "{{join l ', ' prefix='[' suffix=']'}}", lambda n: {"l": ["ab", None, 1.5] * (n // 3)}),
    ("ljust", "{{ljust 'x' w pad='ab'}}", lambda n: {"w": n}),
    ("lower", "{{lower s}}", lambda n: {"s": "İ" * n}),
    ("now", "{{now p}}", lambda n: {"p": "yMdEaHz" * (n // 7)}),
    ("ordinalize", "{{ordinalize s}}", lambda n: {"s": "9" * n + "x"}),
    ("replace", "{{replace s 'aab' 'x'}}", lambda n: {"s": "a" * n}),
    ("replace-long-needle", "{{replace s n 'x'}}", lambda n: {"s": "a" * n, "n": "a" * 60 + "b"}),
    ("replace-grow", "{{replace s 'a' 'bb'}}", lambda n: {"s": "a" * n}),
    ("rjust", "{{rjust 'x' size=w}}", lambda n: {"w": n}),
    ("slugify", "{{slugify s}}", lambda n: {"s": "-é ." * (n // 4)}),
    ("stripTags", "{{stripTags s}}", lambda n: {"s": "<a" * (n // 2)}),
    ("stripTags-open", "{{stripTags s}}", lambda n: {"s": "<" * n}),
    ("stripTags-tags", "{{stripTags s}}", lambda n: {"s": "<a>b" * (n // 4)}),
    ("substring", "{{substring s 1 e}}", lambda n: {"s": "é" * n, "e": n - 1}),
    ("upper", "{{upper s}}", lambda n: {"s": "ﬃ" * n}),
    ("yesno", "{{yesno s yes=s}}", lambda n: {"s": "x" * n}),
    ("add", "{{add s s}}", lambda n: {"s": "1" * n + "x"}),
    ("subtract", "{{subtract s 1}}", lambda n: {"s": "." + "1" * n + "e+"}),
    ("multiply", "{{multiply s 2}}", lambda n: {"s": "1" * n}),
    ("divide", "{{divide s 3}}", lambda n: {"s": "0x" + "f" * n}),
    ("modulo", "{{modulo s 7}}", lambda n: {"s": "+" + "1" * n + "." + "1" * n + "x"}),
    ("ceiling", "{{ceiling s}}", lambda n: {"s": " " * n + "1.5"}),
    ("floor", "{{floor s}}", lambda n: {"s": ["1" * n + "x"]}),
    ("round", "{{round s}}", lambda n: {"s": "1" * n + "e1x"}),
    ("decode64", "{{decode64 s}}", lambda n: {"s": "-_=" * (n // 3)}),
    ("decode64-junk", "{{decode64 s}}", lambda n: {"s": "QUJD!" * (n // 5)}),
    ("encode64", "{{encode64 s}}", lambda n: {"s": "é" * n}),
    ("md5", "{{md5 s}}", lambda n: {"s": "é" * n}),
    ("sha256", "{{sha256 s}}", lambda n: {"s": "é" * n}),
    ("sha512", "{{sha512 s}}", lambda n: {"s": "é" * n}),
    ("uuid", "{{uuid}}{{s.length}}", lambda n: {"s": "x" * n}),
    ("lookup", "{{lookup s 5}}", lambda n: {"s": "é" * n}),
    ("lookup-key", "{{lookup l k}}", lambda n: {"l": [1], "k": "1" * n}),
    ("log", "{{log s}}", lambda n: {"s": "x" * n}),
    ("and", "{{and s s yes='y'}}", lambda n: {"s": "x" * n}),
    ("or", "{{#or s s}}y{{/or}}", lambda n: {"s": "x" * n}),
    ("not", "{{not s}}", lambda n: {"s": "x" * n}),
    ("eq", "{{#eq a b}}y{{/eq}}", lambda n: {"a": [[1, "x"]] * n, "b": [[1, "x"]] * n}),
    ("neq", "{{neq a b}}", lambda n: {"a": {str(i): i for i in range(n)}, "b": {str(i): i for i in range(n)}}),
    ("gt", "{{gt a b}}", lambda n: {"a": "é" * n, "b": "é" * n}),
    ("gte", "{{gte a b}}", lambda n: {"a": "😀" * n, "b": "😀" * n}),
    ("lt", "{{lt a b}}", lambda n: {"a": "x" * n, "b": "x" * n}),
    ("lte", "{{#lte a b}}y{{/lte}}", lambda n: {"a": "é" * n + "a", "b": "é" * n + "b"}),
    ("if", "{{if s yes='y'}}", lambda n: {"s": "x" * n}),
    # the executor's own conversions
    ("escape", "{{s}}", lambda n: {"s": "<" * n}),
    ("array", "{{l}}", lambda n: {"l": [1.5, None, [True]] * (n // 3)}),
    ("keys", "{{#each d}}{{@key}}{{/each}}", lambda n: {"d": {str(n - i): i for i in range(n)}}),
    ("path-index", "{{s.[5]}}{{s.length}}", lambda n: {"s": "é" * n}),
    ("indent", '{{#*inline "p"}}{{{s}}}{{/inline}}\n   {{> p}}\n', lambda n: {"s": "\n" * n}),
]

NAMES_COVERED = {case_id.split("-")[0] for case_id, _, _ in CASES}


def test_every_helper_and_predicate_has_a_timing_case() -> None:
    missing = (set(helpers.VALUE_HELPERS) | set(helpers.PREDICATES) | {"if"}) - NAMES_COVERED
    assert not missing, f"add adversarial timing cases for {sorted(missing)}"


def _cpu_time(fn: Callable[[], Any], runs: int = 3) -> float:
    """Best of `runs` CPU times of `fn()` (the minimum is the run least disturbed by anything else)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(runs):
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
    finally:
        gc.enable()
    return best


def _linear_ratio(program: Callable[[dict[str, Any]], str], ctx: Ctx) -> tuple[int, float, float]:
    """(n, t(n), t(4n)) with n doubled from 256 until t(n) is at least 2 ms (or n reaches 32768)."""

    def render(context: dict[str, Any]) -> None:
        try:
            program(context)
        except RenderError:  # refusing is an outcome too: it must come as fast
            pass

    n = 256
    while True:
        small = ctx(n)
        t1 = _cpu_time(partial(render, small))
        if t1 >= 0.002 or n >= 32768:
            break
        n *= 2
    big = ctx(4 * n)
    t4 = _cpu_time(partial(render, big))
    return n, t1, t4


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
@pytest.mark.parametrize(("case_id", "source", "ctx"), CASES, ids=[c[0] for c in CASES])
def test_helper_time_is_linear_in_its_input(impl: Any, case_id: str, source: str, ctx: Ctx) -> None:
    render = compile(source, limits=ROOMY, impl=impl).render
    n, t1, t4 = _linear_ratio(render, ctx)
    # Linear: 4x (n log n: a little more). Quadratic: 16x. The 0.5 ms absorbs clock noise on cases too fast to time.
    assert t4 <= 9 * t1 + 0.0005, f"{case_id}: {t1 * 1e3:.2f} ms at n={n}, {t4 * 1e3:.2f} ms at 4n"


def test_stripping_tags_matches_the_regular_expression() -> None:
    import re

    tag = re.compile(r"<[^>]*>")
    for s in ["", "a", "<", ">", "<a", "a>", "<a>", "x<a>y<b>z", "<a<b>c>", "<<>>", "<a>>b<", "a<b", "<a\n>b",
              "é<😀>é", "<a" * 5, "<>" * 3 + "<"]:
        assert helpers.strip_tags(s) == tag.sub("", s), s


def test_exponential_input_formats_are_matched_fast() -> None:
    """A backtracking regular expression tried every way to split the digits among the fields: 10x per 2 fields."""
    benign = compile("{{dateFormat s inputFormat='yyyy-MM-dd HH:mm'}}").render
    hostile = compile("{{dateFormat s inputFormat=f}}").render
    ctx = {"s": "1" * 60 + "y", "f": "Hm" * 10 + "'x'"}  # 20 fields, the most an inputFormat may have
    t_benign = _cpu_time(lambda: benign({"s": "2024-01-05 10:30"}))
    t_hostile = _cpu_time(lambda: hostile(ctx))
    assert hostile(ctx) == ctx["s"]  # no match: rendered unchanged
    assert t_hostile <= 50 * t_benign + 0.001, (t_hostile, t_benign)


def test_input_format_semantics_are_kept() -> None:
    """The new matcher finds what the regular expression found: greedy fields, first alternative first."""
    cases = {
        ("20240105", "yyyyMMdd"): "Jan 5, 2024",
        ("202415", "yyyyMd"): "Jan 5, 2024",  # greedy year (4 digits), then the month gives back a digit
        ("5 march 2024 3:07 pm", "d MMMM yyyy h:mm a"): "Mar 5, 2024",
        ("Tue, 05 Mar 2024 10:00 +0530", "EEE, dd MMM yyyy HH:mm Z"): "Mar 5, 2024",
        ("05/03/24", "dd/MM/yy"): "Mar 5, 2024",
    }
    for (text, fmt), expected in cases.items():
        assert compile("{{dateFormat s inputFormat=f}}").render({"s": text, "f": fmt}) == expected, (text, fmt)
    with pytest.raises(RenderError, match="at most 20 fields"):
        compile("{{dateFormat s inputFormat=f}}").render({"s": "1", "f": "Hm" * 11})


# -- the output limit holds before anything is allocated -------------------------------------------------------------


def _peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory allocated while `fn()` runs (tracemalloc), beyond what was allocated before."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _fails(source: str, ctx: dict[str, Any], limits: tuple[int, int, int, type] = DEFAULT_LIMITS) -> list[str]:
    """Render with each executor; each must raise RenderError. Returns the messages (one per executor)."""
    messages = []
    for impl in IMPLS:
        with pytest.raises(RenderError) as info:
            compile(source, limits=limits, impl=impl).render(ctx)
        messages.append(str(info.value))
    return messages


def _bounded(source: str, ctx: dict[str, Any], limits: tuple[int, int, int, type], factor: int = 8) -> str:
    """The render fails in both executors with the same message, and the twin's peak allocation stays within
    `factor` bytes per character of the output limit (ASCII text: one byte per character, plus overheads)."""
    messages = _fails(source, ctx, limits)
    assert len(set(messages)) == 1, messages
    program = compile(source, limits=limits, impl=_render_py)

    def attempt() -> None:
        with pytest.raises(RenderError):
            program.render(ctx)

    peak = _peak_bytes(attempt)
    assert peak <= factor * limits[0] + 200_000, f"peak {peak} bytes for an output limit of {limits[0]}"
    return messages[0]


SMALL = (100_000, 100_000, 32, RenderError)


def test_nested_replace_fails_before_allocating() -> None:
    """The issue's case: a short template whose nested replaces would build ~1 GB (32^6 characters)."""
    this = "{{#with 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}"
    source = this + ('{{replace (replace (replace (replace (replace this "a" this) "a" this) "a" this) "a" this)'
                     ' "a" this}}{{/with}}')
    message = _bounded(source, {}, DEFAULT_LIMITS, factor=6)
    assert message.startswith("replace would produce")
    # and quickly: no faster than rendering an ordinary template a few thousand times, not seconds of work
    ordinary = compile("Hello {{name}}, {{upper city}}!").render
    t_ordinary = _cpu_time(lambda: [ordinary({"name": "x", "city": "y"}) for _ in range(1000)])
    t_hostile = _cpu_time(lambda: _fails(source, {}))
    assert t_hostile <= 50 * t_ordinary + 0.05, (t_hostile, t_ordinary)


def test_nested_replace_with_a_small_limit() -> None:
    source = '{{replace (replace (replace (replace (replace (replace (replace s "a" s) "a" s) "a" s) "a" s) ' \
             '"a" s) "a" s) "a" s}}'
    assert "would produce" in _bounded(source, {"s": "aaaaaaaaaa"}, SMALL)


def test_a_long_separator_times_a_long_list_is_refused() -> None:
    message = _bounded("{{join l (ljust '' 5000)}}", {"l": ["x"] * 1000}, SMALL)
    assert message.startswith("join would produce")


def test_many_arguments_exhaust_the_helper_allowance() -> None:
    """Each argument fits the output limit alone; together they may not be built (helper work allowance)."""
    source = "{{upper " + " ".join(["(ljust '' 90000)"] * 40) + "}}"
    assert _bounded(source, {}, SMALL) == "ljust would produce 90000 characters; this render has 40000 left"


def test_helpers_inside_loops_exhaust_the_helper_allowance() -> None:
    source = ("{{#each a}}{{#each ../a}}{{#each ../../a}}{{#if (lower @root.big)}}{{/if}}"
              "{{/each}}{{/each}}{{/each}}")
    ctx = {"a": list(range(15)), "big": "X" * 20_000}
    assert "handled more than" in _bounded(source, ctx, SMALL)


def test_padding_is_refused_when_it_would_pass_the_limit() -> None:
    assert "would produce" in _bounded("{{center 'x' 200000}}", {}, SMALL)
    assert "would produce" in _bounded("{{{ljust 'x' 60000}}}{{{rjust 'x' 60000}}}", {}, SMALL)


def test_growing_helpers_are_refused_when_the_result_is_over() -> None:
    assert "would produce" in _bounded("{{encode64 s}}", {"s": "é" * 40_000}, SMALL)
    # case mapping can triple a string: its result is checked when it returns
    assert "produced" in _bounded("{{upper s}}", {"s": "ﬃ" * 40_000}, SMALL)
    tiny = (500, 100, 8, RenderError)
    assert "would produce" in _bounded("{{dateFormat '2024-01-05' outputFormat=p}}", {"p": "yM" * 400}, tiny)
    assert "would produce" in _bounded("{{now p}}", {"p": "y" * 999}, tiny)
    assert "at most 1000 characters" in _bounded("{{now p}}", {"p": "y" * 200_000}, SMALL)


def test_repeated_statements_are_counted_as_they_are_rendered() -> None:
    """Straight-line code (no loop step in between) used to be measured only once the whole text was joined."""
    _bounded("{{{ljust 'x' 9000}}}" * 60, {}, (10_000, 1000, 8, RenderError))
    _bounded("{{s}}" * 200, {"s": "<" * 10_000}, (50_000, 1000, 8, RenderError))
    _bounded("{{{s}}}" * 1000, {"s": "y" * 10_000}, (50_000, 1000, 8, RenderError))
    _bounded("{{l}}" * 200, {"l": [12345] * 3000}, (50_000, 1000, 8, RenderError))


def test_an_indented_partial_is_measured_before_it_is_indented() -> None:
    source = '{{#*inline "p"}}{{{nl}}}{{/inline}}\n' + " " * 1000 + "{{> p}}\n"
    _bounded(source, {"nl": "\n" * 5000}, SMALL)
    # the text rendered before the partial counts too
    source = '{{#*inline "p"}}{{{s}}}{{/inline}}{{{s}}}\n  {{> p}}\n'
    _bounded(source, {"s": "y" * 60_000}, SMALL)


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_indented_partials_render_as_before(impl: Any) -> None:
    source = '{{#*inline "p"}}{{{s}}}{{/inline}}<\n  {{> p}}\n>'
    for s, expected in [("", "<\n>"), ("a", "<\n  a>"), ("a\n", "<\n  a\n>"), ("a\nb", "<\n  a\n  b>"),
                        ("\n\n", "<\n  \n  \n>"), ("\na\n\nb\n", "<\n  \n  a\n  \n  b\n>")]:
        assert compile(source, impl=impl).render({"s": s}) == expected, s


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_ordinary_templates_with_helpers_are_not_limited(impl: Any) -> None:
    """A 600,000-character email (Pinpoint's largest template) passed through several helpers renders."""
    body = ("<p>Hello &amp; welcome</p>\n" * 24_000)[:600_000]
    source = "{{{stripTags body}}}|{{slugify (lower (stripTags body))}}|{{{replace body 'p>' 'div>'}}}"
    out = compile(source, impl=impl).render({"body": body})
    assert len(out) > 1_000_000
    assert out.count("|") == 2


# -- hostile values end in a RenderError -----------------------------------------------------------------------------


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value, 1]
    return value


@pytest.mark.parametrize("depth", [900, 200_000])
def test_deeply_nested_values_are_a_render_error(depth: int) -> None:
    """900 deep is what JSON can bring (msgspec stops near 1000); the compiled executor used to overflow the C stack
    (a segfault) and the twin raised RecursionError."""
    value = _nested_list(depth)
    for source in ["{{x}}", "{{eq x x}}", "{{join x}}", "{{upper x}}"]:
        messages = _fails(source, {"x": value})
        assert all("nest" in m for m in messages), messages


def test_moderately_nested_values_still_render() -> None:
    value = _nested_list(50)
    for impl in IMPLS:
        assert compile("{{x}}|{{eq x x}}", impl=impl).render({"x": value}) == ",1" * 50 + "|true"


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_a_huge_index_finds_nothing(impl: Any) -> None:
    """int() refuses more than 4300 digits: the twin raised ValueError where the compiled executor found nothing."""
    key = "1" * 5000
    assert compile("[{{l.[" + key + "]}}][{{s.[" + key + "]}}][{{lookup l k}}]", impl=impl).render(
        {"l": [1, 2], "s": "ab", "k": key}) == "[][][]"


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_zone_offsets_of_a_day_or_more_are_not_dates(impl: Any) -> None:
    """timezone() refuses them: a ValueError escaped the render (not a rendering failure)."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("{{dateFormat d inputFormat='XXX'}}", {"d": "+8458"}, "+8458"),
        ("{{dateFormat d}}", {"d": "2020-01-01T00:00+99:00"}, "2020-01-01T00:00+99:00"),
    ]
    for source, ctx, expected in cases:
        assert compile(source, impl=impl).render(ctx) == expected, source


@pytest.mark.parametrize("impl", IMPLS, ids=impl_ids)
def test_dates_at_the_ends_of_the_calendar_render_unchanged(impl: Any) -> None:
    """Year 1 in a zone west of UTC, or 9999 east of it, cannot be shown: astimezone raised OverflowError."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("{{dateFormat d tz='America/Los_Angeles'}}", {"d": -62135596800000}, "-62135596800000"),
        ("{{dateFormat d tz='Asia/Tokyo'}}", {"d": 253402300799000}, "253402300799000"),
    ]
    for source, ctx, expected in cases:
        assert compile(source, impl=impl).render(ctx) == expected, source


def test_long_patterns_and_zone_names_are_not_kept_in_caches() -> None:
    """The date caches held up to 256 entries of any size: long distinct patterns pinned memory across renders."""
    program = compile("{{dateFormat '2024-01-05' outputFormat=p tz=z}}", limits=ROOMY)
    program.render({"p": "y", "z": "UTC"})
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(40):
            program.render({"p": "yM" * 450 + str(i), "z": "Zone/" + "x" * 50_000 + str(i)})
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 500_000, f"{kept} bytes kept after the renders"


def test_helper_errors_are_template_errors() -> None:
    """Whatever a helper refuses, the dispatcher sees a TemplateError (its rendering-failure path)."""
    assert issubclass(RenderError, TemplateError)
    with pytest.raises(TemplateError):
        compile("{{replace (replace s 'a' s) 'a' s}}").render({"s": "a" * 2000})
