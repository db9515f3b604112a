"""How fast do we render Pinpoint templates, against the Python template engines people would reach for?

One run, same templates and data, one core:
  (a) a 160-character SMS with 4 variables
  (b) a ~2 KB HTML email with 12 variables, an #each over 5 items and 3 helpers (upper, capitalize, add)
Engines: ours (compiled executor and its pure-Python twin), pybars3 (compiled once), chevron (Mustache; it has no
helpers, so their results are precomputed into its data), Jinja2 (compiled once, autoescape on, filters for the
helpers). Also: the time to compile (b). Prints a table and appends rows to benchmarks/RESULTS.md.

    python benchmarks/bench_render.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chevron
import jinja2
import pybars

from gateway import _fast
from gateway.templates import compile as hb_compile

SMS = ("Hi {{first}}, your {{brand}} code is {{code}}. It expires in {{minutes}} minutes. Never share it with anyone. "
       "Reply STOP to opt out. Msg & data rates may apply. Help: acme.example/h")
SMS_JINJA = SMS.replace("{{", "{{ ").replace("}}", " }}")
SMS_DATA = {"first": "Jane", "brand": "Acme", "code": "482913", "minutes": 10}

ROW = """      <tr><td class="item">{{name}}</td><td class="qty">{{qty}}</td><td class="price">${{price}}</td></tr>
"""
EMAIL = (
    """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{{subject}}</title>
<style>body{font-family:Arial,sans-serif;color:#333}.wrap{max-width:600px;margin:0 auto}table{width:100%}</style>
</head><body><div class="wrap">
  <h1>Hello {{upper first}} {{last}},</h1>
  <p>Thanks for shopping with {{brand}}! Your order <strong>#{{order}}</strong> placed on {{date}} is on its way
  to {{capitalize city}}. Below is a summary of what you bought; keep this email for your records.</p>
  <table cellpadding="4" cellspacing="0"><thead><tr><th>Item</th><th>Qty</th><th>Price</th></tr></thead><tbody>
    {{#each items}}
"""
    + ROW
    + """    {{/each}}
  </tbody></table>
  <p>Subtotal: ${{subtotal}} &middot; Shipping: ${{shipping}} &middot; Points earned: {{add points bonus}}</p>
  <p>Questions? Reply to this email or write to <a href="mailto:{{support}}">{{support}}</a>. We usually answer
  within one business day. You can track your parcel at any time from your account page.</p>
  <p>Returns are free within 30 days of delivery: pack the items in their original packaging, print the prepaid
  label from your account page and drop the parcel at any post office. Refunds reach your card in 3-5 days.</p>
  <p style="font-size:11px;color:#999">You receive this email because you have an account with {{brand}}.
  To stop receiving order updates, change your preferences in your account settings. {{brand}}, 1 Main Street,
  Springfield. This message was sent to {{email}}.</p>
</div></body></html>
"""
)
EMAIL_DATA: dict[str, Any] = {
    "subject": "Your order is on its way", "first": "jane", "last": "Doe", "brand": "Acme & Co", "order": "A-10293",
    "date": "Nov 25, 2025", "city": "new york", "subtotal": "142.50", "shipping": "5.00", "points": 142, "bonus": 50,
    "support": "help@acme.example", "email": "jane.doe@example.com",
    "items": [{"name": f"Item <{i}>", "qty": i + 1, "price": f"{9.99 * (i + 1):.2f}"} for i in range(5)],
}
EMAIL_JINJA = (
    EMAIL.replace("{{upper first}}", "{{ first|upper }}")
    .replace("{{capitalize city}}", "{{ city|title }}")
    .replace("{{add points bonus}}", "{{ points + bonus }}")
    .replace("{{#each items}}", "{% for item in items %}")
    .replace("{{/each}}", "{% endfor %}")
    .replace("{{name}}", "{{ item.name }}")
    .replace("{{qty}}", "{{ item.qty }}")
    .replace("{{price}}", "{{ item.price }}")
)
EMAIL_CHEVRON = (
    EMAIL.replace("{{upper first}}", "{{first_upper}}").replace("{{capitalize city}}", "{{city_cap}}")
    .replace("{{add points bonus}}", "{{points_total}}").replace("{{#each items}}", "{{#items}}")
    .replace("{{/each}}", "{{/items}}")
)
EMAIL_CHEVRON_DATA = {**EMAIL_DATA, "first_upper": "JANE", "city_cap": "New York", "points_total": 192}


def pybars_helpers() -> dict[str, Callable[..., Any]]:
    return {
        "upper": lambda this, v: str(v).upper(),
        "capitalize": lambda this, v: " ".join(w[:1].upper() + w[1:] for w in str(v).split(" ")),
        "add": lambda this, a, b: a + b,
    }


def rates(fns: dict[str, Callable[[], object]], seconds: float, rounds: int = 7) -> dict[str, float]:
    """Renders per second of each function: the best of `rounds` timed runs of about `seconds` each, the engines
    interleaved round by round so that this machine's drifting speed hits all of them alike."""
    numbers = {}
    for name, fn in fns.items():
        number = 1
        while timeit.timeit(fn, number=number) < 0.02:
            number *= 2
        per = timeit.timeit(fn, number=number) / number
        numbers[name] = max(1, int(seconds / per))
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], timeit.timeit(fn, number=numbers[name]) / numbers[name])
    return {name: 1 / t for name, t in best.items()}


def compile_time(fn: Callable[[], object]) -> float:
    """Seconds per compile: best of 5 runs."""
    number = 50
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.2)
    ap.add_argument("--no-results", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = ap.parse_args()

    compiler = pybars.Compiler()
    helpers = pybars_helpers()
    jenv = jinja2.Environment(autoescape=True)
    impls = {m.__name__.rsplit(".", 1)[-1]: m for m in _fast.implementations("render")}

    # Same output check (modulo engine differences in number formatting is not needed here: all are strings/ints).
    ours_sms = hb_compile(SMS)
    assert ours_sms.render(SMS_DATA) == compiler.compile(SMS)(SMS_DATA, helpers=helpers)
    assert len(ours_sms.render(SMS_DATA)) == 160, len(ours_sms.render(SMS_DATA))
    ours_email = hb_compile(EMAIL)
    email_out = ours_email.render(EMAIL_DATA)
    assert 1900 <= len(email_out) <= 2300, len(email_out)

    rows: list[tuple[str, str, str, float, str]] = []
    for case, src, data, jsrc, csrc, cdata in (
        ("a: SMS 160 chars, 4 vars", SMS, SMS_DATA, SMS_JINJA, SMS, SMS_DATA),
        ("b: HTML email 2 KB, 12 vars, each x5, 3 helpers", EMAIL, EMAIL_DATA, EMAIL_JINJA, EMAIL_CHEVRON,
         EMAIL_CHEVRON_DATA),
    ):
        fns: dict[str, Callable[[], object]] = {}
        for name, mod in impls.items():
            prog = hb_compile(src, impl=mod)
            fns["gateway" + ("" if name == "_render" else " (pure-Python twin)")] = (
                lambda prog=prog, data=data: prog.render(data))
        pyb = compiler.compile(src)
        fns["pybars3 (compiled once)"] = lambda pyb=pyb, data=data: pyb(data, helpers=helpers)
        jt = jenv.from_string(jsrc)
        fns["Jinja2 (compiled once)"] = lambda jt=jt, data=data: jt.render(**data)
        fns["chevron"] = lambda csrc=csrc, cdata=cdata: chevron.render(csrc, cdata)
        results = rates(fns, args.seconds)
        ours = results["gateway"] if "gateway" in results else results["gateway (pure-Python twin)"]
        for engine, value in results.items():
            rows.append((case, engine, "renders/s", value, f"{ours / value:.1f}x" if engine != "gateway" else "1.0x"))

    t_ours = compile_time(lambda: hb_compile(EMAIL))
    t_pyb = compile_time(lambda: compiler.compile(EMAIL))
    t_jinja = compile_time(lambda: jenv.from_string(EMAIL_JINJA))
    for engine, t in (("gateway", t_ours), ("pybars3", t_pyb), ("Jinja2", t_jinja)):
        rows.append(("compile b", engine, "ms", t * 1000, f"{t / t_ours:.1f}x" if engine != "gateway" else "1.0x"))

    print(f"{'case':<50} {'engine':<30} {'metric':<10} {'value':>14} {'ours is':>8}")
    for case, engine, metric, value, ratio in rows:
        shown = f"{value:,.0f}" if metric == "renders/s" else f"{value:.3f}"
        print(f"{case:<50} {engine:<30} {metric:<10} {shown:>14} {ratio:>8}")

    if not args.no_results:
        machine = f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
        today = datetime.date.today().isoformat()
        path = Path(__file__).with_name("RESULTS.md")
        lines = []
        if not path.exists():
            lines.append("| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n")
            lines.append("|---|---|---|---|---|---|---|---|\n")
        for case, engine, metric, value, ratio in rows:
            shown = f"{value:,.0f}" if metric == "renders/s" else f"{value:.3f}"
            note = ("ratio = how many times faster ours is (compile: their time / ours)"
                    if engine != "gateway" else "one core, same data, same run")
            lines.append(f"| {today} | {machine} | bench_render | {case} | {engine} {metric} | {shown} | {ratio} "
                         f"| {note} |\n")
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)


if __name__ == "__main__":
    main()
