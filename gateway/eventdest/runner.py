"""The destination runner every worker runs: one task per configured event stream, each reading the events
stream through the destination's own consumer group and acknowledging entries only once the destination took
them (docs/event-streams.md).

* A destination's group (`evdest:{app}:{digest of the ARN}`) is created with `$` when PutEventStream stores it
  (gateway/api/events.py) and by the runner if it is missing: delivery starts with the events written after
  the configuration, as in Pinpoint.
* Each worker is one consumer of each group. A task first re-reads its own unacknowledged entries (a restarted
  worker with the same consumer name resumes exactly there), takes over a dead worker's after `claim_idle_ms`
  (XAUTOCLAIM), then reads new entries. Entries of other applications are acknowledged with the batch.
* A batch is retried with backoff until the destination accepted every record (only the failed ones are sent
  again), then acknowledged: at-least-once, and in order per consumer for webhooks and Redis streams. While a
  destination refuses, its cursor stays put (its backlog is the events stream, kept for the events retention)
  and one line is logged when the outage starts and one when it ends. Other destinations and the engine do not
  wait: each destination has its own task and group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from gateway import keys, models
from gateway.channels.webhook import WebhookClient
from gateway.config import GatewayConfig
from gateway.eventdest import targets
from gateway.eventdest.senders import AwsSender, Item, RedisSender, Sender, WebhookSender
from gateway.redisconn import REDIS_DOWN, text

log = logging.getLogger(__name__)

_dec_stream = msgspec.json.Decoder(models.EventStream).decode
SenderFactory = Callable[[targets.Destination, str], Sender]


def index_key(events_key: str) -> str:
    """The set of application ids that have (or had) an event stream: what the runner looks at."""
    return events_key.rsplit(":", 1)[0] + ":eventstreams" if ":" in events_key else events_key + ":eventstreams"


async def ensure_group(redis: aioredis.Redis, events_key: str, group: str) -> None:
    """Create `group` on the events stream at its end (`$`) unless it exists."""
    try:
        await redis.xgroup_create(events_key, group, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def attach(redis: aioredis.Redis, events_key: str, app: str, spec: str, previous: str | None) -> None:
    """Book-keeping of a stored event stream (PutEventStream): its group starts at the end of the events stream, a
    replaced destination's group goes (with its cursor), and the runners learn of the application."""
    group = targets.group_name(app, spec)
    await ensure_group(redis, events_key, group)
    if previous is not None and targets.group_name(app, previous) != group:
        await redis.xgroup_destroy(events_key, targets.group_name(app, previous))
    await redis.sadd(index_key(events_key), app)


async def detach(redis: aioredis.Redis, events_key: str, app: str, spec: str) -> None:
    """Book-keeping of a deleted event stream (DeleteEventStream): its group and cursor go."""
    await redis.srem(index_key(events_key), app)
    await redis.xgroup_destroy(events_key, targets.group_name(app, spec))


class _Watch:
    """One running destination: its task and what it was started with."""

    def __init__(self, app: str, spec: str, role: str, task: asyncio.Task[None], halt: asyncio.Event) -> None:
        self.app, self.spec, self.role, self.task, self.halt = app, spec, role, task, halt


class DestinationRunner:
    """Delivers every application's event stream (module doc). `sender_factory` builds a destination's sender
    (tests); `consumer` is this worker's consumer name in every destination group."""

    def __init__(self, redis: aioredis.Redis, cfg: GatewayConfig, consumer: str, *,
                 sender_factory: SenderFactory | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic, environ: Mapping[str, str] | None = None) -> None:
        self.redis = redis
        self.cfg = cfg.event_destinations
        self.events_key = cfg.stream.events_key
        self.consumer = consumer
        self._sleep = sleep
        self._clock = clock
        self._environ = environ
        self._factory = sender_factory or self.make_sender
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._webhooks: WebhookClient | None = None
        self._running: dict[str, _Watch] = {}
        self.delivered: dict[str, int] = {}  # records accepted per group, since start
        self.progress = asyncio.Condition()  # notified whenever a batch is acknowledged
        self.outages: dict[str, float] = {}  # group -> when its destination started refusing

    # -- senders ------------------------------------------------------------------------------------------------
    def make_sender(self, dest: targets.Destination, role_arn: str) -> Sender:
        """The sender of one destination (AWS calls share one bounded thread pool, webhooks one client)."""
        if dest.kind in ("kinesis", "firehose"):
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.cfg.aws_threads, "evdest-aws")
            return AwsSender(dest, role_arn, self.cfg, self._pool)
        if dest.kind == "webhook":
            if self._webhooks is None:
                self._webhooks = WebhookClient(self.cfg.webhook, environ=self._environ)
            return WebhookSender(dest, self._webhooks, self.cfg.webhook_max_bytes)
        return RedisSender(dest, self.redis, self.cfg.redis_maxlen)

    # -- the set of destinations ----------------------------------------------------------------------------------
    async def wanted(self) -> dict[str, tuple[str, str, str]]:
        """group -> (app, DestinationStreamArn, RoleArn) of every stored, valid event stream."""
        apps = sorted(text(a) for a in await self.redis.smembers(index_key(self.events_key)))
        out: dict[str, tuple[str, str, str]] = {}
        for app in apps:
            raw = await self.redis.get(keys.app_key(app, "eventstream"))
            if raw is None:
                continue
            stream = _dec_stream(raw)
            out[targets.group_name(app, stream.DestinationStreamArn)] = (app, stream.DestinationStreamArn,
                                                                         stream.RoleArn)
        return out

    async def sync(self) -> None:
        """Start a task for each new or changed destination and stop those no longer configured."""
        want = await self.wanted()
        gone = [g for g, w in self._running.items() if want.get(g) != (w.app, w.spec, w.role) or w.task.done()]
        await self._stop([self._running.pop(g) for g in gone])
        for group, (app, spec, role) in want.items():
            if group in self._running:
                continue
            try:
                dest = targets.parse(spec, events_key=self.events_key)
            except ValueError as exc:  # stored by an older version or by hand: say so once per start
                log.error("event stream of application %s: DestinationStreamArn %r %s; not delivered", app, spec, exc)
                continue
            await ensure_group(self.redis, self.events_key, group)
            halt = asyncio.Event()
            scope = self.cfg.aws_pinpoint_scope and dest.kind in ("kinesis", "firehose")
            task = asyncio.create_task(self.deliver_loop(group, app, self._factory(dest, role), halt, scope),
                                       name=f"evdest {app}")
            self._running[group] = _Watch(app, spec, role, task, halt)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the configured destinations every `poll_ms` until `stop` is set."""
        delay = 0.0
        try:
            while not stop.is_set():
                try:
                    await self.sync()
                    delay = self.cfg.poll_ms / 1000
                except REDIS_DOWN:  # the worker's outage log says so; try again soon
                    delay = min(self.cfg.backoff_cap_s, max(delay * 2, 0.1))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            await self.aclose()

    async def _stop(self, watches: list[_Watch]) -> None:
        """End destination tasks. Asked first: a task between batches ends after its current read (cancelling a
        blocking XREADGROUP can leave redis-py waiting on the connection); one stuck in a destination's call is
        cancelled, its batch left pending."""
        for w in watches:
            w.halt.set()
        tasks = [w.task for w in watches]
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=self.cfg.block_ms / 1000 + 1)
        for task in stuck:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def aclose(self) -> None:
        """Stop every destination task (a batch in flight stays pending: the next start resends it)."""
        await self._stop(list(self._running.values()))
        self._running.clear()
        if self._webhooks is not None:
            await self._webhooks.aclose()
            self._webhooks = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- one destination ------------------------------------------------------------------------------------------
    async def _read(self, group: str, start: str, block: int | None) -> list[tuple[str, dict[bytes, bytes] | None]]:
        reply: Any = await self.redis.xreadgroup(group, self.consumer, {self.events_key: start},
                                                 count=self.cfg.batch_size, block=block)
        if not reply:
            return []
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [(text(eid), fields or None) for eid, fields in entries]

    async def _claim(self, group: str) -> int:
        """Take over entries another consumer of `group` left unacknowledged for `claim_idle_ms`."""
        reply: Any = await self.redis.xautoclaim(self.events_key, group, self.consumer, self.cfg.claim_idle_ms,
                                                 "0-0", count=self.cfg.batch_size, justid=True)
        return len(reply or ())  # JUSTID: the ids taken

    async def deliver_loop(self, group: str, app: str, sender: Sender, halt: asyncio.Event,
                           pinpoint_scope: bool = False) -> None:
        """Deliver `app`'s records through `group` until `halt` is set or cancelled (module doc); with
        `pinpoint_scope`, only the records Pinpoint streams (`targets.streamed_by_pinpoint`)."""
        own: str | None = "0"  # read our own pending entries first, from here
        next_claim = self._clock()
        delay = 0.0
        # The next batch is read while this one is with the destination (its entries wait in our pending list
        # until delivered, like any read batch): Redis and the destination work at the same time.
        ahead: asyncio.Task[list[tuple[str, dict[bytes, bytes] | None]]] | None = None
        mine = app.encode()
        try:
            while not halt.is_set():
                try:
                    if ahead is not None:
                        entries, ahead = await ahead, None
                    elif own is None and self._clock() >= next_claim:
                        next_claim = self._clock() + self.cfg.claim_idle_ms / 2000
                        if await self._claim(group):
                            own = "0"
                        continue
                    elif own is not None:
                        entries = await self._read(group, own, None)
                        own = entries[-1][0] if entries else None
                    else:
                        entries = await self._read(group, ">", self.cfg.block_ms)
                    if not entries:
                        continue
                    if own is None and self._clock() < next_claim:
                        ahead = asyncio.create_task(self._read(group, ">", self.cfg.block_ms))
                    items = [Item(eid, app, text(f[b"event_type"]), f[b"record"]) for eid, f in entries
                             if f is not None and f.get(b"app") == mine and b"record" in f]
                    if pinpoint_scope:
                        items = [it for it in items if targets.streamed_by_pinpoint(it.event_type, it.record)]
                    await self._deliver(group, sender, items)
                    await self.redis.xack(self.events_key, group, *[eid for eid, _ in entries])
                    delay = 0.0
                except REDIS_DOWN:
                    await self._discard(ahead)
                    ahead, own = None, "0"  # what was read and not acknowledged is read again from our pending list
                    delay = targets.next_delay(delay, 0.1, self.cfg.backoff_cap_s)
                    await self._sleep(delay)
                    continue
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    await self._discard(ahead)
                    ahead = None
                    await ensure_group(self.redis, self.events_key, group)  # deleted under us (FLUSHALL, by hand)
                    own = "0"
                    continue
                async with self.progress:
                    self.delivered[group] = self.delivered.get(group, 0) + len(items)
                    self.progress.notify_all()
        except Exception:  # a bug, not an outage: say so; the next sync starts the destination again
            log.exception("event stream %s stopped; restarting it within %d ms", group, self.cfg.poll_ms)
            raise
        finally:
            await self._discard(ahead)
            await sender.aclose()

    @staticmethod
    async def _discard(ahead: asyncio.Task[Any] | None) -> None:
        """Let a read-ahead finish and drop its entries: they stay pending and are read again (at a restart, from
        our pending list)."""
        if ahead is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await ahead

    async def _deliver(self, group: str, sender: Sender, items: Sequence[Item]) -> None:
        """Send `items` until the destination accepted them all, retrying only the refused ones with backoff."""
        todo = list(items)
        delay = 0.0
        while todo:
            out = await sender.send(todo)
            if out.refused:
                log.error("event stream %s: %d record(s) over the destination's record size limit were skipped",
                          group, out.refused)
            if not out.failed:
                break
            if group not in self.outages:
                self.outages[group] = self._clock()
                log.error("event stream %s (%s) refuses records: %s; they stay pending and are retried with "
                          "backoff", group, sender.dest.spec, out.error)
            todo = [todo[i] for i in out.failed]
            delay = targets.next_delay(delay, self.cfg.backoff_base_s, self.cfg.backoff_cap_s)
            await self._sleep(delay)
        since = self.outages.pop(group, None)
        if since is not None:
            log.warning("event stream %s accepts records again after %.1fs", group, self._clock() - since)

    async def wait_delivered(self, group: str, count: int) -> None:
        """Return once `group` delivered at least `count` records (tests, benchmarks)."""
        async with self.progress:
            await self.progress.wait_for(lambda: self.delivered.get(group, 0) >= count)
