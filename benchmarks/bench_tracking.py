"""What does open/click tracking add to rendering an email? (issue 14: "the rendering cost of link rewriting on the
2 KB email under 20% of render time")

Render: the compiled template render of the 2 KB HTML email of bench_render (12 variables, an #each over 5 items,
3 helpers) with five http(s) links added (a logo, parcel tracking, the account page, returns, settings) and one
`ses:no-track` link. Tracking: what the dispatcher adds to each such email after rendering it, the one call it
makes for an email without an unsubscribe link, Tracker.track_message (the message's ids encoded once, the anchor
scan, five signed click URLs, the no-track attribute removed, the signed open pixel, one output string); until
2026-12-08 the dispatcher made the message's signer first (Signer.message) and then called Tracker.track_html, and
so did these loops. Reports renders/s of render alone and of render +
tracking, and the time of tracking alone on the rendered HTML, as a share of the render time (target < 20%).
Appends rows to benchmarks/RESULTS.md.

    python benchmarks/bench_tracking.py [--seconds 0.5] [--no-results]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import append_rows
from benchmarks.bench_render import EMAIL, EMAIL_DATA
from gateway.config import TrackingConfig
from gateway.templates import compile as hb_compile
from gateway.tracking.finish import Tracker

LINKED = (EMAIL
          .replace('<div class="wrap">', '<div class="wrap"><a href="https://acme.example/?utm_source=email">'
                   '<img src="https://acme.example/logo.png" alt="{{brand}}"></a>', 1)
          .replace("track your parcel", '<a href="https://acme.example/track/{{order}}">track your parcel</a>', 1)
          .replace("from your account page.", 'from <a href="https://acme.example/account">your account page</a>.', 1)
          .replace("Returns are free", '<a href="https://acme.example/returns?o={{order}}&amp;src=mail">Returns</a> '
                   'are free', 1)
          .replace("change your preferences", '<a ses:no-track href="https://acme.example/prefs">change your '
                   'preferences</a>', 1)
          .replace("in your account settings", 'in <a href="https://acme.example/settings">your account settings</a>', 1))


def rate(fn: object, seconds: float, rounds: int = 5) -> float:
    """Best of `rounds` calls per second (the least disturbed run on a shared machine)."""
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    n, _ = timer.autorange()
    n = max(1, int(n * seconds / 0.2))
    return max(n / timer.timeit(n) for _ in range(rounds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--no-results", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = ap.parse_args()

    prog = hb_compile(LINKED)
    html = prog.render(EMAIL_DATA)
    assert 2000 <= len(html) <= 2600, len(html)
    tracker = Tracker(TrackingConfig(public_url="https://t.acme.example"), {"k1": b"0123456789abcdef0123456789abcdef"})
    ids = ("5f1c0e7a9b2d4c3e8a7b6c5d4e3f2a1b", "a1b2c3d4e5f6-00000000002a", "ep-000123")  # app, message, endpoint
    app, mid, eid = ids
    tracked = tracker.track_html(html, tracker.signer.message(*ids))
    assert tracked.count("https://t.acme.example/c/") == 5 and "ses:no-track" not in tracked
    assert tracked.count("https://t.acme.example/o/") == 1
    assert tracker.track_message(html, tracker.signer, *ids) == tracked

    def render() -> object:
        return prog.render(EMAIL_DATA)

    def render_track() -> object:
        # the call gateway.tracking.finish makes (ids as separate arguments, as it passes them)
        return tracker.track_message(prog.render(EMAIL_DATA), tracker.signer, app, mid, eid)

    def track_only() -> object:
        return tracker.track_message(html, tracker.signer, app, mid, eid)

    r_render = rate(render, args.seconds)
    r_track = rate(render_track, args.seconds)
    r_only = rate(track_only, args.seconds)
    us_render, us_track, us_only = 1e6 / r_render, 1e6 / r_track, 1e6 / r_only
    share = us_only / us_render
    case = f"2 KB HTML email ({len(html)} B), 5 tracked links + 1 no-track + pixel"
    rows = [
        ("bench_tracking", case, "template render alone renders/s", f"{r_render:,.0f}", "1.0x", f"{us_render:.2f} µs"),
        ("bench_tracking", case, "render + tracking renders/s", f"{r_track:,.0f}", f"{r_render / r_track:.2f}x",
         f"{us_track:.2f} µs (+{(us_track - us_render) / us_render:.0%})"),
        ("bench_tracking", case, "tracking alone (signer + rewrite + pixel) per email", f"{r_only:,.0f}/s",
         f"{share:.0%} of render", f"{us_only:.2f} µs vs render {us_render:.2f} µs (target < 20%)"),
    ]
    for row in rows:
        print(" | ".join(row[1:]))
    if not args.no_results:
        append_rows(rows)


if __name__ == "__main__":
    main()
