"""A gateway worker: reads the ingest lanes and runs the dispatcher with bounded in-flight work.

Each lane (transactional first, then the default lane) is its own stream with its own reader, in-flight budget,
retry schedule, claim and trim loops, so a backlog of bulk sends never delays a transactional one. Background
loops take over entries of dead consumers (XAUTOCLAIM), move due retries back into their stream and trim the
streams safely; with `campaigns.enabled` (the default) one more runs due campaign runs (gateway/campaigns/runner.py,
one worker per run under a lease) and one sends EVENT campaigns as their events arrive (campaigns/listener.py).
On `stop()` (SIGTERM) the worker stops reading, lets in-flight batches finish within the grace period and leaves
everything else pending for another worker: nothing read is acknowledged without an outcome.
While Redis is unreachable (at start or later) every loop waits and retries with backoff; the outage is logged
once when it starts and once when it ends (gateway/redisconn.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway import redisconn
from gateway.channels.base import AnyRoute, Runtime
from gateway.config import GatewayConfig, Lane
from gateway.dispatch import Dispatcher
from gateway.endpoints.store import EndpointStore
from gateway.metrics.core import EngineMetrics
from gateway.metrics.sample import Sampler
from gateway.redisconn import REDIS_DOWN, next_delay
from gateway.stream import retry
from gateway.stream.consumer import Entry, StreamConsumer

log = logging.getLogger("gateway.worker")


class Processor(Protocol):
    """What the worker hands each batch of a lane to: the Dispatcher (or a stand-in in tests). It returns once the
    entries' outcomes are written and the entries acknowledged; when it raises they stay pending."""

    async def process(self, raw: list[Entry], lane: Lane, /) -> None: ...


class _LaneState:
    """One lane's reader state: its consumer, retry mover and in-flight accounting."""

    def __init__(self, lane: Lane, consumer: StreamConsumer, mover: retry.RetryMover) -> None:
        self.lane = lane
        self.consumer = consumer
        self.mover = mover
        self.inflight = 0
        self.capacity = asyncio.Event()
        # Held by the reader and by the claim loop from counting the free capacity until what they got is launched:
        # both asking for the same free slots at once would launch up to twice the budget. A claim waits at most
        # block_ms for a blocked read.
        self.intake = asyncio.Lock()
        # Ids being processed or dead-lettered here: an entry can come back through XAUTOCLAIM or our own backlog
        # while we still work on it, and must not be handled twice at once.
        self.active: set[str] = set()

    def take(self, entries: list[Entry]) -> list[Entry]:
        """The entries not already being handled, now marked as being handled."""
        fresh = [e for e in entries if e[0] not in self.active]
        self.active.update(e[0] for e in fresh)
        return fresh

    def release(self, entries: list[Entry]) -> None:
        self.active.difference_update(e[0] for e in entries)

    @property
    def free(self) -> int:
        return self.lane.max_inflight - self.inflight


class Worker:
    """Reads every lane and hands batches to `dispatcher` (default: a Dispatcher over `routes`, built from the
    config when not given); `redis` defaults to a pool of the worker's own."""

    def __init__(self, cfg: GatewayConfig, *, redis: Any = None, routes: dict[str, AnyRoute] | None = None,
                 consumer: str | None = None, templates: Any = None, optouts: Any = None,
                 dispatcher: Processor | None = None) -> None:
        self.cfg = cfg
        # A blocking pool: under a burst, commands wait for a free connection instead of failing. The lanes'
        # blocking reads get one connection each, of their own (see StreamConsumer).
        self.redis = redis or redisconn.connect(cfg)
        self._own_redis = redis is None
        self._reader = redis or redisconn.connect(cfg, max_connections=len(cfg.stream.lanes))
        self.outage = redisconn.Outage(redisconn.url_of(cfg), log)
        self.runtime = Runtime(self.redis, EndpointStore(self.redis))
        if routes is None:
            from gateway.channels.registry import build_routes

            routes = build_routes(cfg, self.runtime)
        self.routes = routes
        self.lanes = [
            _LaneState(lane, StreamConsumer(self.redis, cfg.stream, consumer, key=lane.send_key, reader=self._reader),
                       retry.RetryMover(self.redis, lane.retry_key, lane.send_key))
            for lane in cfg.stream.lanes
        ]
        self.consumer = self.lanes[-1].consumer  # the default lane's
        # /metrics (gateway/metrics/): recorded only when a metrics listener is configured
        self.metrics = EngineMetrics() if cfg.metrics.listen else None
        self.sampler = Sampler(self.redis, cfg) if cfg.metrics.listen else None
        if dispatcher is None:
            if templates is None:
                from gateway.templates.store import TemplateStore

                templates = TemplateStore(self.redis)
            dispatcher = Dispatcher(self.redis, cfg, routes, templates=templates, optouts=optouts,
                                    metrics=self.metrics)
        self.dispatcher: Processor = dispatcher
        self.campaigns: Any = None  # the campaign Scheduler when campaigns.enabled (built in run())
        self._campaign_task: asyncio.Task[None] | None = None
        self.destinations: Any = None  # the event-stream DestinationRunner when event_destinations.enabled
        self.event_listener: Any = None  # the EVENT campaigns' listener when campaigns.enabled (built in run())
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._started: list[Any] = []  # channels started, closed by _drain
        self.processed = 0

    @property
    def stopping(self) -> asyncio.Event:
        """Set once stop() was called."""
        return self._stopping

    @property
    def _inflight(self) -> int:
        return sum(s.inflight for s in self.lanes)

    @property
    def channels(self) -> list[Any]:
        seen: dict[int, Any] = {}
        for r in self.routes.values():
            seen[id(r.channel)] = r.channel
        return list(seen.values())

    async def start(self) -> bool:
        """Create the consumer groups (waiting for Redis while it is down) and start the channels. False when
        stop() was requested before Redis could be reached."""
        for state in self.lanes:
            if not await self._until_done(state.consumer.ensure_group, f"creating the group on {state.lane.send_key}"):
                return False
        for ch in self.channels:
            await ch.start()
            self._started.append(ch)
        return True

    async def run(self) -> None:
        """Read and dispatch until stop() is requested, then drain (see the module docstring)."""
        try:
            if not await self.start():
                return
            stream = self.cfg.stream
            for s in self.lanes:
                self._loops += [
                    self._lane_loop("claim", stream.claim_interval_ms, self._claim_once, s),
                    self._lane_loop("retry", self.cfg.retry.poll_ms, self._move_retries, s),
                    self._lane_loop("trim", stream.trim_interval_ms, self._trim, s),
                ]
            if self.sampler is not None:
                self._loops.append(asyncio.create_task(self._every(
                    self.cfg.metrics.sample_interval_ms, self._sample_metrics, "sampling metrics"), name="metrics"))
            self._loops += self._event_stream_loops()
            if self.cfg.campaigns.enabled:
                self._campaign_task = asyncio.create_task(self._campaign_loop(), name="campaigns")
                self._loops.append(asyncio.create_task(self._event_loop(), name="campaign-events"))
            if self.cfg.event_destinations.enabled:  # PutEventStream delivery (gateway/eventdest/runner.py)
                from gateway.eventdest.runner import DestinationRunner

                self.destinations = DestinationRunner(self.redis, self.cfg, self.consumer.consumer)
                self._loops.append(asyncio.create_task(self.destinations.run(self._stopping), name="event-destinations"))
            log.info("worker %s reading %s (group %s)", self.consumer.consumer,
                     ", ".join(s.lane.send_key for s in self.lanes), stream.group)
            await asyncio.gather(*(self._read_loop(s) for s in self.lanes))
        finally:
            await self._drain()

    def stop(self) -> None:
        """Ask the worker to stop reading and drain; safe to call from a signal handler."""
        self._stopping.set()
        for s in self.lanes:
            s.capacity.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def _until_done(self, fn: Callable[[], Awaitable[Any]], doing: str) -> bool:
        """Run `fn` until it gets through to Redis, backing off while Redis is down; False if stop() comes first."""
        delay = 0.0
        while not self._stopping.is_set():
            try:
                await fn()
            except REDIS_DOWN as exc:
                self.outage.failed(exc, doing)
                delay = next_delay(delay)
                await self._sleep(delay)
                continue
            self.outage.ok()
            return True
        return False

    async def _read_loop(self, state: _LaneState) -> None:
        cfg = self.cfg.stream
        delay = 0.0
        while not self._stopping.is_set():
            if state.free <= 0:
                state.capacity.clear()
                await state.capacity.wait()
                continue
            try:
                async with state.intake:
                    count = min(cfg.batch_size, state.free)
                    if count <= 0:
                        continue  # a claim took the capacity while we waited for the lock
                    entries = await state.consumer.read(count, cfg.block_ms)
                    if entries and self._stopping.is_set():
                        break  # stopping: leave what was just read pending for another worker
                    if entries:
                        # Only the backlog (our own pending entries, read again) can have been delivered before.
                        backlog = state.consumer.reading_backlog
                        await self._take_and_launch(state, entries, screen=backlog, unread=backlog)
            except REDIS_DOWN as exc:
                self.outage.failed(exc, f"reading {state.lane.send_key}")
                delay = next_delay(delay)
                await self._sleep(delay)
                continue
            except Exception:  # e.g. the stream key holds another type: keep the worker up, say why, back off
                log.exception("reading %s failed", state.lane.send_key)
                delay = next_delay(delay)
                await self._sleep(delay)
                continue
            delay = 0.0
            self.outage.ok()

    async def _take_and_launch(self, state: _LaneState, entries: list[Entry], *, screen: bool, unread: bool) -> None:
        """Launch the entries not already being handled, dead-lettering poison first when `screen`. When Redis
        fails on the way, nothing is launched and the entries are given back (`unread`: the consumer returns them
        again from its backlog; else XAUTOCLAIM takes them later)."""
        entries = state.take(entries)
        if entries and screen:
            try:
                entries = await self._screen_poison(state, entries)
            except BaseException:
                state.release(entries)
                if unread:
                    state.consumer.unread()
                raise
        if entries:
            self._launch(state, entries)

    def _launch(self, state: _LaneState, entries: list[Entry]) -> None:
        state.inflight += len(entries)
        task = asyncio.create_task(self._process(state, entries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, state: _LaneState, entries: list[Entry]) -> None:
        try:
            await self.dispatcher.process(entries, state.lane)
            self.processed += len(entries)
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN as exc:
            self.outage.failed(exc, f"finishing {len(entries)} entries (they stay pending)")
        except Exception:
            log.exception("failed to process %d entries; they stay pending and will be claimed again", len(entries))
        finally:
            state.inflight -= len(entries)
            state.release(entries)
            state.capacity.set()

    async def _screen_poison(self, state: _LaneState, entries: list[Entry]) -> list[Entry]:
        """Dead-letter redelivered entries that were delivered max_deliveries times without an outcome (they
        crash workers)."""
        limit = self.cfg.stream.max_deliveries
        counts = await state.consumer.delivery_counts([e[0] for e in entries])
        keep: list[Entry] = []
        poison: list[Entry] = []
        for e in entries:
            (poison if counts.get(e[0], 1) >= limit else keep).append(e)
        if poison:
            now_ms = int(time.time() * 1000)
            pipe = self.redis.pipeline(transaction=True)
            for entry_id, fields in poison:
                reason = f"delivered {counts[entry_id]} times without an outcome; a worker may crash on it"
                dead: Any = retry.dead_fields(retry.text_fields(fields), reason, counts[entry_id], now_ms,
                                              state.lane.send_key)
                pipe.xadd(self.cfg.stream.dead_key, dead)
            pipe.xack(state.consumer.key, state.consumer.group, *[e[0] for e in poison])
            await pipe.execute()
            state.release(poison)
            log.error("dead-lettered %d poison entries from %s", len(poison), state.lane.send_key)
        return keep

    async def _claim_once(self, state: _LaneState) -> None:
        async with state.intake:
            if state.free <= 0 or self._stopping.is_set():
                return
            entries = await state.consumer.claim(count=min(state.free, self.cfg.stream.batch_size))
            if entries:
                log.warning("claimed %d entries of %s idle longer than %d ms", len(entries), state.lane.send_key,
                            self.cfg.stream.claim_idle_ms)
                await self._take_and_launch(state, entries, screen=True, unread=False)

    async def _move_retries(self, state: _LaneState) -> None:
        moved = await state.mover.move_due(int(time.time() * 1000))
        if moved:
            log.info("re-enqueued %d due retries into %s", moved, state.lane.send_key)

    async def _sample_metrics(self) -> None:
        assert self.sampler is not None
        await self.sampler.sample(int(time.time() * 1000))

    async def _trim(self, state: _LaneState) -> None:
        await state.consumer.trim()

    async def _every(self, interval_ms: int, fn: Callable[[], Awaitable[object]], doing: str,
                     name: str | None = None) -> None:
        """Run `fn` every `interval_ms` until stop(): Redis being down is reported to the outage log (as `doing`)
        and waited out with backoff; any other failure is logged (as `name`, default `doing`) and the loop goes on.
        The loop never runs more often than its interval."""
        delay = 0.0
        while not self._stopping.is_set():
            try:
                await fn()
                delay = 0.0
                self.outage.ok()
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN as exc:
                self.outage.failed(exc, doing)
                delay = next_delay(delay)
            except Exception:
                log.exception("%s failed", name or doing)
            await self._sleep(max(interval_ms / 1000, delay))

    def _lane_loop(self, task: str, interval_ms: int, fn: Callable[[_LaneState], Awaitable[None]],
                   state: _LaneState) -> asyncio.Task[None]:
        """One of a lane's background loops (claim, retry, trim), as a task named `task`-<lane>."""
        doing = f"{fn.__name__.lstrip('_')} on {state.lane.send_key}"
        return asyncio.create_task(self._every(interval_ms, functools.partial(fn, state), doing, fn.__name__),
                                   name=f"{task}-{state.lane.name}")

    def _event_stream_loops(self) -> list[asyncio.Task[None]]:
        """The events stream's retention trim (the KPI rollups are written with the events: docs/analytics.md)."""
        from gateway.kpi import retention

        ev, key = self.cfg.events, self.cfg.stream.events_key

        async def trim() -> None:
            await retention.trim(self.redis, key, ev.retention_days, int(time.time() * 1000))

        loops = []
        if ev.trim:
            loops.append(asyncio.create_task(self._every(ev.trim_interval_ms, trim, f"trimming {key}"),
                                             name="events-trim"))
        return loops

    async def _campaign_loop(self) -> None:
        """Run due campaign runs every campaigns.poll_ms. On stop() a run stops before its next chunk and gives its
        lease back, so another worker continues it from its cursor at once."""
        from gateway.campaigns.runner import Scheduler
        from gateway.producer import Producer

        if self.campaigns is None:
            self.campaigns = Scheduler(self.redis, producer=Producer(self.redis, prefix=self.cfg.stream.prefix),
                                       config=self.cfg.campaigns, owner=self.consumer.consumer, stopping=self._stopping,
                                       events_key=self.cfg.stream.events_key)
        await self._every(self.cfg.campaigns.poll_ms, self.campaigns.tick, "running due campaigns")

    async def _event_loop(self) -> None:
        """Send EVENT campaigns as their events arrive (gateway/campaigns/listener.py): a consumer group on the
        events stream; what is read and not yet handled stays pending when the worker stops."""
        from gateway.campaigns.listener import EventListener
        from gateway.producer import Producer

        # the blocking read gets a connection of its own: waiting for events must not hold one the sends need
        reader = redisconn.connect(self.cfg, max_connections=1)
        try:
            if self.event_listener is None:
                self.event_listener = EventListener(
                    self.redis, producer=Producer(self.redis, prefix=self.cfg.stream.prefix), stream=self.cfg.stream,
                    config=self.cfg.campaigns, consumer=self.consumer.consumer, reader=reader)
            await self.event_listener.run(self._stopping)
        finally:
            await reader.aclose()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _drain(self) -> None:
        for t in self._loops:
            t.cancel()
        if self._campaign_task is not None:  # it stops between chunks: let it write its progress and its lease
            _, late = await asyncio.wait({self._campaign_task}, timeout=self.cfg.shutdown_grace_s)
            for t in late:
                t.cancel()
            await asyncio.gather(self._campaign_task, return_exceptions=True)
        if self.campaigns is not None:
            await self.campaigns.aclose()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.cfg.shutdown_grace_s)
            if pending:
                log.warning("%d batches did not finish within %.0fs; cancelling (they stay pending)",
                            len(pending), self.cfg.shutdown_grace_s)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*self._loops, return_exceptions=True)
        for ch in self._started:
            try:
                await ch.aclose()
            except Exception:
                log.exception("closing channel %r failed", ch)
        if self._own_redis:
            await self.redis.aclose()
            await self._reader.aclose()
        log.info("worker %s stopped after %d entries", self.consumer.consumer, self.processed)
