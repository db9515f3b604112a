"""The Worker over fakes: an in-memory Redis (tests/unit/fake_redis.py), a dispatcher that holds every batch until
the test finishes or fails it, and the worker's waits (backoff and loop intervals) on a clock the test advances.
Nothing here sleeps to synchronize: tests wait for states through the fakes' change notifications."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway.config import Lane, from_dict
from gateway.stream import retry
from gateway.worker import Worker, _LaneState
from tests.unit.fake_redis import FakeRedis

TX = "gateway:send:transactional"
BULK = "gateway:send"
DEAD = "gateway:dead"
CLAIM_S, RETRY_S, TRIM_S = 30.0, 45.0, 60.0  # loop intervals, apart from every backoff step (0.1 … 5 s)


class Batch:
    def __init__(self, entries: list[Any], lane: Lane) -> None:
        self.ids = [e[0] for e in entries]
        self.fields = [e[1] for e in entries]
        self.lane = lane
        self.outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.cancelled = False

    def finish(self) -> None:
        if not self.outcome.done():
            self.outcome.set_result(None)

    def fail(self, exc: BaseException) -> None:
        self.outcome.set_exception(exc)


class FakeDispatcher:
    """Records every batch and holds it until the test finishes it (then acknowledges its entries, as the
    Dispatcher does once their outcomes are written) or fails it (process() raises). `auto`: finish at once.
    Keeps the peak number of entries inside process() per lane."""

    def __init__(self, redis: FakeRedis, auto: bool = False) -> None:
        self.redis = redis
        self.auto = auto
        self.batches: list[Batch] = []
        self.acked: list[str] = []
        self.inflight: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    async def process(self, raw: list[Any], lane: Lane) -> None:
        batch = Batch(raw, lane)
        self.batches.append(batch)
        self.inflight[lane.name] = self.inflight.get(lane.name, 0) + len(raw)
        self.peak[lane.name] = max(self.peak.get(lane.name, 0), self.inflight[lane.name])
        self.redis.changes.notify()
        try:
            if self.auto:
                batch.finish()
            try:
                await batch.outcome
            except asyncio.CancelledError:
                batch.cancelled = True
                raise
            await self.redis.xack(lane.send_key, "gateway", *batch.ids)
            self.acked += batch.ids
        finally:
            self.inflight[lane.name] -= len(raw)
            self.redis.changes.notify()

    def ids(self, lane: str | None = None) -> list[str]:
        return [i for b in self.batches if lane is None or b.lane.name == lane for i in b.ids]

    def held(self) -> list[Batch]:
        return [b for b in self.batches if not b.outcome.done()]


class Clock:
    """Stands in for Worker._sleep: records every wait asked for and holds the caller until the test advances the
    clock past it, or until stop() (the worker's own wait ends early then too)."""

    def __init__(self, worker: Worker, redis: FakeRedis) -> None:
        self.worker = worker
        self.redis = redis
        self.now = 0.0
        self.asked: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def __call__(self, seconds: float) -> None:
        sleeper = (self.now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(sleeper)
        self.asked.append(seconds)
        self.redis.changes.notify()
        stopping = asyncio.ensure_future(self.worker.stopping.wait())
        try:
            await asyncio.wait({sleeper[1], stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            self._sleepers.remove(sleeper)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for due, fut in self._sleepers:
            if due <= self.now + 1e-9 and not fut.done():
                fut.set_result(None)


class Run:
    def __init__(self, fake: FakeRedis, dispatcher: FakeDispatcher, worker: Worker) -> None:
        self.fake = fake
        self.dispatcher = dispatcher
        self.worker = worker
        self.clock = Clock(worker, fake)
        worker._sleep = self.clock  # type: ignore[method-assign]
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.worker.run())

    async def until(self, predicate: Any, timeout: float = 3.0) -> None:
        await self.fake.changes.until(predicate, timeout)

    async def stopped(self) -> None:
        assert self.task is not None
        async with asyncio.timeout(3):
            await self.task

    async def finish_all(self, total: int) -> None:
        """Finish batches as they come until `total` entries were acknowledged."""
        d = self.dispatcher
        while len(d.acked) < total:
            for b in d.held():
                b.finish()
            await self.until(lambda: d.held() or len(d.acked) >= total)

    def bulk(self) -> _LaneState:
        return self.worker.lanes[1]


def config(grace: float = 5.0, **stream: Any) -> Any:
    s = {"batch_size": 2, "block_ms": 20, "max_inflight": 4, "transactional_inflight": 2, "claim_idle_ms": 1_000,
         "claim_interval_ms": int(CLAIM_S * 1000), "trim_interval_ms": int(TRIM_S * 1000), "max_deliveries": 3,
         **stream}
    # the campaign scheduler's and the KPI rollups' loops are left out: these tests count the stream loops' rounds
    # (they have their own tests, tests/integration/test_campaign_runs.py, tests/unit/test_kpi.py)
    return from_dict({"redis_url": "redis://127.0.0.1:6379/0", "stream": s, "retry": {"poll_ms": int(RETRY_S * 1000)},
                      "shutdown_grace_s": grace, "campaigns": {"enabled": False}, "events": {"rollups": False, "trim": False}})


@pytest.fixture
async def make_run():
    runs: list[Run] = []

    def make(fake: FakeRedis | None = None, *, auto: bool = False, grace: float = 5.0, **stream: Any) -> Run:
        fake = fake or FakeRedis()
        dispatcher = FakeDispatcher(fake, auto=auto)
        worker = Worker(config(grace, **stream), redis=fake, routes={}, consumer="me", dispatcher=dispatcher)
        runs.append(Run(fake, dispatcher, worker))
        return runs[-1]

    yield make
    for run in runs:  # never leave a worker running behind a failed test
        if run.task is not None and not run.task.done():
            run.worker.stop()
            for b in run.dispatcher.batches:
                b.finish()
            try:
                async with asyncio.timeout(3):
                    await run.task
            except TimeoutError:
                run.task.cancel()


@pytest.fixture
def worker_log(caplog):
    caplog.set_level(logging.INFO, logger="gateway.worker")

    def lines(text: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "gateway.worker" and text in r.getMessage()]

    return lines


def add(fake: FakeRedis, key: str, n: int) -> list[str]:
    return [fake.add(key, {"n": str(i)}) for i in range(n)]


# -- lanes and budgets -------------------------------------------------------------------------------------------


def test_lane_state_takes_an_entry_once_until_it_is_released():
    state = _LaneState(Lane("default", BULK, "r", 3), None, None)  # type: ignore[arg-type]
    a, b, c = ("1-0", {}), ("2-0", {}), ("3-0", {})
    assert state.take([a, b]) == [a, b]
    assert state.take([b, c]) == [c]  # b is still being handled
    state.release([b])
    assert state.take([b]) == [b]
    state.inflight = 2
    assert state.free == 1


async def test_the_transactional_lane_is_read_first_and_a_full_bulk_lane_does_not_delay_it(make_run):
    run = make_run()
    bulk = add(run.fake, BULK, 10)
    tx = add(run.fake, TX, 3)
    run.start()
    d = run.dispatcher
    await run.until(lambda: len(d.ids("default")) == 4 and len(d.ids("transactional")) == 2)
    assert [c[1] for c in run.fake.calls_of("XREADGROUP")][:2] == [TX, BULK]
    assert d.batches[0].lane.name == "transactional"
    # bulk holds its whole budget; the transactional lane goes on as soon as its own capacity frees
    d.batches[0].finish()
    await run.until(lambda: len(d.ids("transactional")) == 3)
    assert d.ids("transactional") == tx
    assert not any(b.outcome.done() for b in d.batches if b.lane.name == "default")
    await run.finish_all(13)
    assert d.ids("default") == bulk
    assert d.peak == {"default": 4, "transactional": 2}


async def test_the_budget_frees_when_process_returns_or_raises_and_a_failed_batch_stays_pending(make_run, worker_log):
    run = make_run(max_inflight=3)
    e = add(run.fake, BULK, 7)
    run.start()
    d = run.dispatcher
    await run.until(lambda: len(d.ids("default")) == 3)
    assert [b.ids for b in d.batches] == [e[0:2], e[2:3]]  # 2, then what fits
    d.batches[0].fail(RuntimeError("provider exploded"))
    await run.until(lambda: len(d.ids("default")) == 5)
    assert d.batches[2].ids == e[3:5]
    assert worker_log("failed to process 2 entries; they stay pending")
    await run.finish_all(5)
    assert d.ids("default") == e
    assert sorted(d.acked) == e[2:]
    assert set(run.fake.pending(BULK)) == set(e[:2])  # never acknowledged: a later claim takes them again
    assert d.peak["default"] == 3


async def test_a_claim_and_a_read_together_never_exceed_the_budget(make_run):
    run = make_run(max_inflight=4, batch_size=4, max_deliveries=10)
    dead = add(run.fake, BULK, 4)
    run.fake.deliver(BULK, "dead", dead, ago_ms=5_000)
    new = add(run.fake, BULK, 4)
    run.start()
    # the claim loop's first round is done (both lanes) and no read is out on the bulk lane
    await run.until(lambda: run.clock.asked.count(CLAIM_S) == 2 and not run.fake.reading.get(BULK)
                    and run.bulk().inflight)
    assert run.bulk().inflight <= 4
    await run.finish_all(8)
    assert sorted(run.dispatcher.ids()) == sorted(dead + new)
    assert run.dispatcher.peak["default"] <= 4


# -- the same entry twice ----------------------------------------------------------------------------------------


async def test_an_entry_in_flight_is_not_taken_again_when_xautoclaim_returns_it(make_run):
    run = make_run(max_inflight=4, batch_size=4)
    f = run.fake
    a = f.add(BULK)
    run.start()
    await run.until(lambda: run.dispatcher.ids() == [a])
    b = f.add(BULK)
    f.deliver(BULK, "dead", [b])  # a dead worker's
    f.advance(2_000)  # a (still being processed here) and b are idle longer than claim_idle_ms
    run.clock.advance(CLAIM_S)
    await run.until(lambda: len(run.dispatcher.batches) == 2)
    assert run.dispatcher.batches[1].ids == [b]
    assert f.pending(BULK)[a] == ("me", 2)  # XAUTOCLAIM did hand it over again


async def test_own_pending_entries_seen_by_both_the_backlog_and_the_claim_are_processed_once(make_run):
    run = make_run(max_inflight=8, batch_size=8, max_deliveries=10)
    f = run.fake
    e = add(f, BULK, 3)
    f.deliver(BULK, "me", e, ago_ms=5_000)  # read before a restart; idle, so XAUTOCLAIM returns them too
    run.start()
    await run.until(lambda: run.clock.asked.count(CLAIM_S) == 2
                    and any(c[1] == BULK and c[2] == ">" for c in f.calls_of("XREADGROUP")))
    # both handed them over (one delivery each, on top of the first one), and each was processed once
    assert all(count == 3 for _, count in f.pending(BULK).values())
    assert sorted(run.dispatcher.ids()) == e


# -- the backlog -------------------------------------------------------------------------------------------------


async def test_the_own_backlog_is_read_from_id_0_before_new_entries(make_run):
    run = make_run(max_inflight=10, auto=True)
    f = run.fake
    old = add(f, BULK, 3)
    f.deliver(BULK, "me", old)
    new = add(f, BULK, 2)
    run.start()
    await run.until(lambda: len(run.dispatcher.acked) == 5)
    assert [b.ids for b in run.dispatcher.batches] == [old[:2], old[2:], new]
    assert [c[2] for c in f.calls_of("XREADGROUP") if c[1] == BULK][:4] == ["0", old[1], old[2], ">"]


@pytest.mark.parametrize("fields,dead_key", [
    ({b"app": b"shop", b"request": b"{}"}, b"request"),
    ({b"app": b"shop", b"\xffreq": b"{}"}, b"\\xffreq"),  # a field name that is not UTF-8 stays readable
])
async def test_a_backlog_entry_delivered_too_often_is_dead_lettered_not_processed(make_run, worker_log, fields,
                                                                                 dead_key):
    run = make_run(max_deliveries=3)
    f = run.fake
    poison = f.add(BULK, fields)
    ok = f.add(BULK)
    f.deliver(BULK, "me", [poison], count=2)  # read twice without an outcome; re-reading it is the third time
    f.deliver(BULK, "me", [ok], count=1)
    new = f.add(BULK)
    run.start()
    await run.until(lambda: new in run.dispatcher.ids())
    assert run.dispatcher.ids() == [ok, new]
    ((_, dead),) = f.entries(DEAD)
    failed_at = dead.pop(b"failed_at")
    assert abs(int(failed_at) - time.time() * 1000) < 60_000
    assert dead == {b"app": b"shop", dead_key: b"{}", b"stream": BULK.encode(), b"attempts": b"3",
                    b"reason": b"delivered 3 times without an outcome; a worker may crash on it"}
    assert poison not in f.pending(BULK)
    assert worker_log("dead-lettered 1 poison entries from gateway:send")


async def test_a_redis_error_while_screening_the_backlog_gives_the_page_back_to_be_read_again(make_run, worker_log):
    run = make_run(max_deliveries=10)
    f = run.fake
    e = add(f, BULK, 2)
    f.deliver(BULK, "me", e)
    # the poison screen's XPENDING (a range: more arguments than the trim loop's summary) fails once
    f.fail_next("XPENDING", RedisConnectionError("Connection reset by peer"), when=lambda args: len(args) > 2)
    run.start()
    await run.until(lambda: run.clock.asked.count(0.1) == 1)
    assert not run.dispatcher.batches
    run.clock.advance(0.1)
    await run.until(lambda: run.dispatcher.ids() == e)
    assert [c[2] for c in f.calls_of("XREADGROUP") if c[1] == BULK][:2] == ["0", "0"]
    assert len(worker_log("is unavailable")) == len(worker_log("is back after")) == 1


# -- Redis outages -----------------------------------------------------------------------------------------------


async def test_redis_down_at_start_is_waited_out_with_backoff_and_logged_once(make_run, worker_log):
    run = make_run()
    f, clock = run.fake, run.clock
    f.set_down(True)
    run.start()
    for n in range(1, 5):
        await run.until(lambda n=n: len(clock.asked) == n)
        clock.advance(clock.asked[-1])
    await run.until(lambda: len(clock.asked) == 5)
    assert clock.asked == [0.1, 0.2, 0.4, 0.8, 1.6]
    (line,) = worker_log("is unavailable")
    assert line.levelno == logging.ERROR
    assert "creating the group on gateway:send:transactional" in line.getMessage()
    assert "redis://127.0.0.1:6379/0" in line.getMessage()
    f.set_down(False)
    clock.advance(1.6)
    e = f.add(BULK)
    await run.until(lambda: run.dispatcher.ids() == [e])
    assert len(worker_log("is back after")) == 1
    assert len(worker_log("is unavailable")) == 1


async def test_redis_lost_while_running_every_loop_backs_off_one_line_each_way_and_work_resumes(make_run, worker_log):
    run = make_run()
    f, clock, d = run.fake, run.clock, run.dispatcher
    a = f.add(BULK)
    run.start()
    # every periodic loop had its first round; both readers wait for new entries
    await run.until(lambda: d.ids() == [a] and f.reading.get(BULK) and f.reading.get(TX) and len(clock.asked) == 6)
    base = len(clock.asked)
    f.set_down(True)  # the blocked reads fail
    await run.until(lambda: clock.asked[base:].count(0.1) == 2)
    d.batches[0].finish()  # its outcome cannot be acknowledged now: it stays pending
    await run.until(lambda: not d.inflight["default"])
    clock.advance(TRIM_S)  # every loop comes round and fails again: the claim, retry and trim loops too
    await run.until(lambda: sorted(clock.asked[base:]) == [0.1, 0.1, 0.2, 0.2] + [CLAIM_S] * 2 + [RETRY_S] * 2
                    + [TRIM_S] * 2)
    for command in ("XAUTOCLAIM", "EVALSHA", "XINFO GROUPS"):
        assert len(f.calls_of(command)) == 4  # each lane: once at start, once failing
    assert len(worker_log("is unavailable")) == 1
    assert not [r for r in worker_log("") if r.exc_info]  # an outage is not a traceback
    assert a in f.pending(BULK)
    f.set_down(False)
    clock.advance(0.2)
    b = f.add(BULK)
    await run.until(lambda: b in d.ids())
    assert len(worker_log("is back after")) == 1
    assert len(worker_log("is unavailable")) == 1


async def test_another_error_in_a_loop_is_logged_with_its_traceback_and_the_loop_goes_on(make_run, worker_log):
    run = make_run()
    f = run.fake
    f.fail_next("XAUTOCLAIM", ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    run.start()
    await run.until(lambda: run.clock.asked.count(CLAIM_S) == 2)
    (line,) = worker_log("_claim_once failed")
    assert line.exc_info and not worker_log("is unavailable")
    d = f.add(BULK)
    f.deliver(BULK, "dead", [d], ago_ms=5_000)
    run.clock.advance(CLAIM_S)
    await run.until(lambda: run.dispatcher.ids() == [d])


async def test_due_retries_are_moved_into_their_lane_and_processed(make_run):
    run = make_run(auto=True)
    now = int(time.time() * 1000)
    due = retry.schedule_member({"app": b"a", "n": b"due"}, "x1")
    later = retry.schedule_member({"app": b"a", "n": b"later"}, "x2")
    run.fake._zadd("gateway:retry", {due: now - 1_000, later: now + 3_600_000})
    run.start()
    await run.until(lambda: run.dispatcher.acked)
    assert run.dispatcher.batches[0].fields == [{b"app": b"a", b"n": b"due", b"retry_nonce": b"x1"}]
    assert list(run.fake.zsets["gateway:retry"]) == [later]


# -- stop --------------------------------------------------------------------------------------------------------


async def test_stop_lets_in_flight_batches_finish_and_launches_nothing_more(make_run):
    run = make_run()
    f, d = run.fake, run.dispatcher
    a = f.add(BULK)
    run.start()
    await run.until(lambda: d.ids() == [a] and f.reading.get(BULK))
    draining = asyncio.Event()
    drain = run.worker._drain

    async def observed_drain() -> None:
        draining.set()
        await drain()

    run.worker._drain = observed_drain  # type: ignore[method-assign]
    run.worker.stop()
    late = f.add(BULK)  # answers the read that was out when stop() came
    async with asyncio.timeout(3):
        await draining.wait()
    assert not run.task.done()  # waiting for the batch in flight
    d.batches[0].finish()
    await run.stopped()
    assert d.ids() == [a] and d.acked == [a]
    assert f.pending(BULK) == {late: ("me", 1)}  # read, not processed, not acknowledged: left for a claim


async def test_a_batch_still_running_after_the_grace_period_is_cancelled_and_stays_pending(make_run, worker_log):
    run = make_run(grace=0.05)
    a = run.fake.add(BULK)
    run.start()
    await run.until(lambda: run.dispatcher.ids() == [a])
    run.worker.stop()
    await run.stopped()
    assert run.dispatcher.batches[0].cancelled
    assert run.fake.pending(BULK) == {a: ("me", 1)}
    assert worker_log("1 batches did not finish within")


async def test_stop_while_redis_is_still_unreachable_returns_without_reading(make_run):
    run = make_run()
    run.fake.set_down(True)
    run.start()
    await run.until(lambda: run.clock.asked)
    run.worker.stop()
    await run.stopped()
    assert not run.dispatcher.batches
    assert not run.fake.calls_of("XREADGROUP")
