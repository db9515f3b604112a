"""Journeys' definition layer below the API: ISO 8601 durations, the activity graph rules that are easiest to see
on the pure functions, Pinpoint's state rules, and the store's write counter (etag) and concurrent writes."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.journeys import state as states
from gateway.journeys.duration import parse_duration
from gateway.journeys.errors import JourneyNotFound, JourneyValidationError
from gateway.journeys.store import JourneyStore, journey_key, list_key
from gateway.journeys.validate import check_cycles, check_journey, check_schedule, targets
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "length"), [
    ("P1D", dt.timedelta(days=1)), ("PT1H", dt.timedelta(hours=1)), ("PT30M", dt.timedelta(minutes=30)),
    ("P2DT12H", dt.timedelta(days=2, hours=12)), ("PT0.5S", dt.timedelta(seconds=0.5)), ("P1W", dt.timedelta(days=7)),
])
def test_durations(text: str, length: dt.timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize(("text", "why"), [
    ("P", "not an ISO 8601 duration"), ("PT", "not an ISO 8601 duration"), ("P1DT", "not an ISO 8601 duration"),
    ("PT1D", "not an ISO 8601 duration"), ("1D", "not an ISO 8601 duration"), ("P1H", "not an ISO 8601 duration"),
    ("P1Y", "years and months"), ("P1M", "years and months"), ("PT0S", "longer than zero"),
])
def test_bad_durations(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_duration(text)


def _wait(nxt: str | None = None) -> models.Activity:
    return models.Activity(Wait=models.WaitActivity(WaitTime=models.WaitTime(WaitFor="P1D"), NextActivity=nxt))


def _holdout(nxt: str | None = None) -> models.Activity:
    return models.Activity(Holdout=models.HoldoutActivity(Percentage=10, NextActivity=nxt))


def test_a_cycle_through_a_wait_is_allowed_and_one_without_is_named() -> None:
    check_cycles({"a": _holdout("w"), "w": _wait("a")})  # a -> w -> a: the Wait paces it
    check_cycles({"w": _wait("w")})  # a Wait may lead to itself (a recurring reminder)
    with pytest.raises(JourneyValidationError, match=r"Activities\.a: the activities a -> b -> c -> a form a cycle"):
        check_cycles({"a": _holdout("b"), "b": _holdout("c"), "c": _holdout("a"), "w": _wait("a")})


def test_targets_lists_every_branch() -> None:
    split = models.Activity(MultiCondition=models.MultiConditionalSplitActivity(
        Branches=[models.MultiConditionalBranch(NextActivity="x"), models.MultiConditionalBranch(NextActivity="y")],
        DefaultActivity="z"))
    assert list(targets(split)) == [("MultiCondition.Branches[0].NextActivity", "x"),
                                    ("MultiCondition.Branches[1].NextActivity", "y"),
                                    ("MultiCondition.DefaultActivity", "z")]


def test_schedule_times_and_zone() -> None:
    check_schedule(models.JourneySchedule(StartTime="2026-06-02T00:00:00", EndTime="2026-06-03T00:00:00",
                                          Timezone="UTC+05"), NOW, None)
    with pytest.raises(JourneyValidationError, match=r"Schedule\.StartTime: 'soon' is not an ISO 8601 date-time"):
        check_schedule(models.JourneySchedule(StartTime="soon"), NOW, None)
    # an EndTime the journey already had is not refused for having passed (the store's clock moved on)
    check_schedule(models.JourneySchedule(StartTime="2026-05-01T00:00:00Z", EndTime="2026-05-02T00:00:00Z"), NOW,
                   "2026-05-02T00:00:00Z")


def test_wait_until_and_drafts_without_a_start() -> None:
    req = models.WriteJourneyRequest(Name="d", Activities={"w": models.Activity(Wait=models.WaitActivity(
        WaitTime=models.WaitTime(WaitUntil="2026-07-01T00:00:00Z")))})
    assert check_journey(req, now=NOW).templates == ()  # a DRAFT may lack StartCondition and StartActivity
    with pytest.raises(JourneyValidationError, match=r"StartCondition: is required to publish"):
        check_journey(models.WriteJourneyRequest(Name="d", State="ACTIVE", Activities=req.Activities), now=NOW)


def _doc(state: models.State, **extra: object) -> models.JourneyResponse:
    return models.JourneyResponse(ApplicationId="app", Id="j", Name="n", State=state, **extra)  # type: ignore[arg-type]


def test_state_transitions() -> None:
    assert states.transition("ACTIVE", "PAUSED", refresh=True) == "PAUSED"
    assert states.transition("PAUSED", "ACTIVE", refresh=True) == "ACTIVE"
    for current in ("DRAFT", "ACTIVE", "PAUSED"):
        assert states.transition(current, "CANCELLED", refresh=False) == "CANCELLED"
    refused = [("ACTIVE", "PAUSED", False, "segment refresh interval"), ("DRAFT", "PAUSED", True, "only an ACTIVE"),
               ("DRAFT", "ACTIVE", True, "resumes a PAUSED journey"), ("ACTIVE", "DRAFT", True, "must be ACTIVE"),
               ("ACTIVE", None, True, "is required")]
    refused += [(final, "CANCELLED", True, "which is final") for final in ("COMPLETED", "CANCELLED", "CLOSED")]
    for current, requested, refresh, why in refused:
        with pytest.raises(JourneyValidationError, match=why):
            states.transition(current, requested, refresh=refresh)  # type: ignore[arg-type]


def test_reported_state_completes_a_published_journey_after_its_end() -> None:
    ended = models.JourneySchedule(StartTime="2026-05-01T00:00:00Z", EndTime="2026-06-01T11:00:00Z")
    assert states.reported_state(_doc("ACTIVE", Schedule=ended), NOW) == "COMPLETED"
    assert states.reported_state(_doc("PAUSED", Schedule=ended), NOW) == "COMPLETED"
    assert states.reported_state(_doc("DRAFT", Schedule=ended), NOW) == "DRAFT"
    assert states.reported_state(_doc("ACTIVE", Schedule=ended), NOW - dt.timedelta(hours=2)) == "ACTIVE"


def _journey(segment_id: str, **extra: object) -> models.WriteJourneyRequest:
    return models.WriteJourneyRequest(
        Name="j", Activities={"w": _wait()}, StartActivity="w", RefreshFrequency="PT1H",
        StartCondition=models.StartCondition(SegmentStartCondition=models.SegmentCondition(SegmentId=segment_id)),
        **extra)  # type: ignore[arg-type]


async def test_every_write_bumps_the_etag_and_concurrent_writes_all_land(redis: aioredis.Redis) -> None:
    clock = [NOW]
    segments = SegmentStore(redis)
    seg = await segments.create("app", models.WriteSegmentRequest(Name="all"))
    store = JourneyStore(redis, segments, TemplateStore(redis), clock=lambda: clock[0])
    created = await store.create_journey("app", _journey(seg.Id))
    assert created.State == "DRAFT" and await store.etag("app", created.Id) == 1
    assert await redis.exists(journey_key("app", created.Id)) and await redis.zscore(list_key("app"), created.Id)
    names = [f"n{i}" for i in range(8)]
    await asyncio.gather(*(store.update_journey("app", created.Id, models.WriteJourneyRequest(Name=n)) for n in names))
    assert await store.etag("app", created.Id) == 9  # every update was a write of its own
    clock[0] = NOW + dt.timedelta(minutes=5)
    active = await store.update_journey("app", created.Id, models.WriteJourneyRequest(Name="go", State="ACTIVE"))
    assert active.LastModifiedDate == "2026-06-01T12:05:00.000Z" and active.CreationDate == "2026-06-01T12:00:00.000Z"
    paused = await store.update_journey_state("app", created.Id, models.JourneyStateRequest(State="PAUSED"))
    assert paused.State == "PAUSED" and await store.etag("app", created.Id) == 11
    with pytest.raises(JourneyValidationError, match="Activities: the journey is PAUSED"):
        await store.update_journey("app", created.Id, models.WriteJourneyRequest(Name="x", Activities={"v": _wait()}))
    assert await store.etag("app", created.Id) == 11  # a refused write writes nothing
    await store.delete_journey("app", created.Id)
    with pytest.raises(JourneyNotFound):
        await store.etag("app", created.Id)
    assert await redis.zcard(list_key("app")) == 0


async def test_the_journey_command(redis: aioredis.Redis, redis_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from gateway.journeys import cli

    segments = SegmentStore(redis)
    seg = await segments.create("app", models.WriteSegmentRequest(Name="all"))
    store = JourneyStore(redis, segments, TemplateStore(redis))
    j = await store.create_journey("app", _journey(seg.Id))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def gw(*argv: str) -> tuple[int, str, str]:
        code = await cli._run(parser.parse_args(["journey", *argv, "--redis", redis_server.url]))
        out, err = capsys.readouterr()
        return code, out, err

    assert await gw("list", "app") == (0, f"{j.Id}\tDRAFT\tj\tw\t1\n", "")
    code, out, _ = await gw("show", "app", j.Id)
    assert code == 0 and json.loads(out)["StartActivity"] == "w" and json.loads(out)["Id"] == j.Id
    code, out, err = await gw("show", "app", "nope")
    assert (code, out) == (2, "") and "Journey nope not found" in err


async def test_a_published_journey_past_its_end_is_completed_and_final(redis: aioredis.Redis) -> None:
    clock = [NOW]
    segments = SegmentStore(redis)
    seg = await segments.create("app", models.WriteSegmentRequest(Name="all"))
    store = JourneyStore(redis, segments, TemplateStore(redis), clock=lambda: clock[0])
    schedule = models.JourneySchedule(StartTime="2026-06-01T13:00:00Z", EndTime="2026-06-02T00:00:00Z")
    j = await store.create_journey("app", _journey(seg.Id, State="ACTIVE", Schedule=schedule))
    assert j.State == "ACTIVE"
    clock[0] = dt.datetime(2026, 6, 2, 1, tzinfo=dt.UTC)
    assert (await store.get_journey("app", j.Id)).State == "COMPLETED"
    with pytest.raises(JourneyValidationError, match="COMPLETED, which is final"):
        await store.update_journey("app", j.Id, models.WriteJourneyRequest(Name="late"))
    with pytest.raises(JourneyValidationError, match="COMPLETED, which is final"):
        await store.update_journey_state("app", j.Id, models.JourneyStateRequest(State="CANCELLED"))
