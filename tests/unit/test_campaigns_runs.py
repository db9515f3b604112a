"""The pure parts of campaign runs: which run is due after the last one done, and the order recipients are sent in."""

from __future__ import annotations

import datetime as dt

from gateway.campaigns import runs
from gateway.campaigns.plan import Recipient
from gateway.models import Schedule

T0 = dt.datetime(2030, 3, 1, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def hourly(**kw: object) -> Schedule:
    return Schedule(StartTime="2030-03-01T13:00:00Z", Frequency="HOURLY", **kw)  # type: ignore[arg-type]


def test_the_first_run_is_due_at_the_start_even_before_it() -> None:
    run = runs.due_run(hourly(), T0, None, T0)
    assert run is not None and (run.number, run.start) == (0, T0 + H)


def test_after_a_run_the_next_in_number_is_due() -> None:
    run = runs.due_run(hourly(), T0, 0, T0 + H)
    assert run is not None and (run.number, run.start) == (1, T0 + 2 * H)


def test_missed_runs_give_one_run_the_latest_passed() -> None:
    run = runs.due_run(hourly(), T0, 0, T0 + 5 * H + dt.timedelta(minutes=30))  # runs 1 to 4 were missed
    assert run is not None and (run.number, run.start) == (4, T0 + 5 * H)


def test_immediate_once_is_due_at_creation_and_then_never() -> None:
    once = Schedule(StartTime="IMMEDIATE", Frequency="ONCE")
    run = runs.due_run(once, T0, None, T0 + H)
    assert run is not None and (run.number, run.start) == (0, T0)
    assert runs.due_run(once, T0, 0, T0 + H) is None


def test_no_run_after_the_end_time() -> None:
    assert runs.due_run(hourly(EndTime="2030-03-01T15:00:00Z"), T0, 1, T0 + 2 * H) is None


def test_recipients_are_sent_by_delivery_time_then_id_after_the_cursor() -> None:
    a = Recipient("b", "EMAIL", T0)
    b = Recipient("a", "EMAIL", T0 + H)
    c = Recipient("c", "EMAIL", T0)
    order = runs.pending([b, a, c], None)
    assert [r.endpoint_id for _, r in order] == ["b", "c", "a"]
    assert [r.endpoint_id for _, r in runs.pending([b, a, c], order[0][0])] == ["c", "a"]


def test_activity_ids_are_stable_and_distinct_per_run_and_treatment() -> None:
    ids = {runs.activity_id("camp", n, t) for n in range(3) for t in range(5)}
    assert len(ids) == 15 and runs.activity_id("camp", 1, 2) == runs.activity_id("camp", 1, 2)
