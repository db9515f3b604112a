"""Receipt correlation through Redis: SMSC message id -> our message, durable before a send reports success, so a
receipt arriving after a gateway restart (up to `ttl`, 72 h by default) still maps.

Keys: `gw:{app}:smsid:<canonical smsc id>` holds a :class:`dlr.Sent` (JSON array), with a TTL. A receipt names
only the SMSC id, not the application, so the channel keeps the set of applications it has sent for at
`gw:smpp:{<channel>}:apps` and looks the id up under each (one pipelined round trip; a channel usually serves one
or a few applications). Multi-part messages are settled in `gw:{app}:smsparts:<message id>`, a hash of part ->
state updated in MULTI/EXEC, so exactly one event is emitted per message even when the SMSC repeats a receipt
or two parts' receipts race.

Writes are group-committed: `note()` records a mapping synchronously (a receipt handled in the same loop
iteration already finds it in memory) and `durable()` awaits the pipelined write of every mapping noted so far.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import msgspec

from gateway import keys
from gateway.channels.smpp import dlr

log = logging.getLogger("gateway.smpp.dlr")

_encode = msgspec.json.Encoder().encode

# SET every key of one application (one hash slot, so Cluster-safe) in a single call: KEYS = smsid keys,
# ARGV[1] = TTL, ARGV[i + 1] = the value of KEYS[i]. One command per batch instead of one per part.
_SET_MANY = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
end
return #KEYS
"""
_decode_sent = msgspec.json.Decoder(dlr.Sent).decode


def smsid_key(app: str, smsc_id: str) -> str:
    return keys.app_key(app, "smsid", smsc_id)


def parts_key(app: str, message_id: str) -> str:
    return keys.app_key(app, "smsparts", message_id)


class Correlator:
    def __init__(self, redis: Any, channel: str, ttl_s: int, retry_s: float = 1.0,
                 recent_max: int = 100_000) -> None:
        self.redis = redis
        self._set_many = redis.register_script(_SET_MANY)
        # Written mappings stay here too (newest last, at most recent_max): most receipts arrive within seconds
        # and are matched without a Redis read; Redis is for older ones and for a restarted process.
        self._recent: dict[str, dlr.Sent] = {}
        self.recent_max = recent_max
        self.channel = channel
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.apps_key = "gw:smpp:{" + channel + "}:apps"
        self._apps: list[str] = []
        self._apps_saved: set[str] = set()
        self._memory: dict[str, dlr.Sent] = {}  # canonical id -> Sent, until written
        self._batch: list[tuple[str, dlr.Sent]] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self.write_failures = 0

    async def load(self) -> None:
        """Read the applications this channel has sent for (a restart must still match their receipts)."""
        members = await self.redis.smembers(self.apps_key)
        for m in members:
            app = m.decode() if isinstance(m, bytes) else str(m)
            if app not in self._apps_saved:
                self._apps_saved.add(app)
                self._apps.append(app)

    def note(self, smsc_id: str, sent: dlr.Sent) -> None:
        """Remember one accepted part now; it is written with the next batch."""
        cid = dlr.canonical_id(smsc_id)
        self._memory[cid] = sent
        self._batch.append((cid, sent))
        if self._batch_done is None:
            self._batch_done = asyncio.get_running_loop().create_future()
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())  # keep a strong reference

    async def durable(self) -> None:
        """Wait until every mapping noted so far is in Redis. A Redis failure is logged, the mappings stay in
        memory (receipts in this process still match) and are retried: the SMS itself was sent, so the send must
        not fail and be repeated."""
        fut = self._batch_done
        if fut is not None:
            await asyncio.shield(fut)

    async def _flush_loop(self) -> None:
        try:
            while self._batch:
                batch, fut = self._batch, self._batch_done
                self._batch, self._batch_done = [], None
                try:
                    await self._write(batch)
                except Exception as exc:  # Redis down: keep in memory, retry later
                    self.write_failures += 1
                    log.error("cannot store %d SMSC message ids in Redis (%s); retrying in %.1fs",
                              len(batch), exc, self.retry_s)
                    asyncio.get_running_loop().call_later(self.retry_s, self._requeue, batch)
                else:
                    recent = self._recent
                    for cid, sent in batch:
                        if self._memory.get(cid) is sent:
                            del self._memory[cid]
                            recent[cid] = sent
                    excess = len(recent) - self.recent_max
                    if excess > 0:
                        for cid in list(itertools.islice(recent, excess)):
                            del recent[cid]
                if fut is not None and not fut.done():
                    fut.set_result(None)
        finally:
            self._flushing = False

    def _requeue(self, batch: list[tuple[str, dlr.Sent]]) -> None:
        for cid, sent in batch:
            self.note(cid, sent)

    async def _write(self, batch: list[tuple[str, dlr.Sent]]) -> None:
        by_app: dict[str, tuple[list[str], list[Any]]] = {}
        for cid, sent in batch:
            entry = by_app.get(sent.app)
            if entry is None:
                entry = by_app[sent.app] = ([], [self.ttl_s])
            entry[0].append(smsid_key(sent.app, cid))
            entry[1].append(_encode(sent))
        pipe = self.redis.pipeline(transaction=False)
        for app, (keys_, args) in by_app.items():
            if app not in self._apps_saved:
                pipe.sadd(self.apps_key, app)
            await self._set_many(keys=keys_, args=args, client=pipe)
        await pipe.execute()
        for _, sent in batch:
            if sent.app not in self._apps_saved:
                self._apps_saved.add(sent.app)
                self._apps.append(sent.app)

    async def resolve(self, smsc_id: str) -> tuple[str, dlr.Sent] | None:
        """(canonical id, Sent) for a receipt's id, trying its hex/decimal forms; None when nothing matches."""
        return (await self.resolve_many([smsc_id]))[0]

    async def resolve_many(self, smsc_ids: list[str]) -> list[tuple[str, dlr.Sent] | None]:
        """:meth:`resolve` for a batch of receipts in one pipelined round trip."""
        results: list[tuple[str, dlr.Sent] | None] = [None] * len(smsc_ids)
        todo: list[tuple[int, list[str]]] = []
        memory, recent = self._memory, self._recent
        for i, smsc_id in enumerate(smsc_ids):
            candidates = dlr.id_candidates(smsc_id)
            for cid in candidates:
                hit = memory.get(cid) or recent.get(cid)
                if hit is not None:
                    results[i] = (cid, hit)
                    break
            else:
                todo.append((i, candidates))
        for attempt in range(2):
            apps = list(self._apps)
            if todo and apps:
                # One MGET per application (its keys share a hash slot), candidates in order.
                flat = [(i, cid) for i, candidates in todo for cid in candidates]
                pipe = self.redis.pipeline(transaction=False)
                for app in apps:
                    pipe.mget([smsid_key(app, cid) for _, cid in flat])
                per_app = await pipe.execute()
                for values in per_app:
                    for (i, cid), value in zip(flat, values, strict=True):
                        if value is not None and results[i] is None:
                            results[i] = (cid, _decode_sent(value))
                todo = [t for t in todo if results[t[0]] is None]
            for i, candidates in todo:  # noted (or written) while the lookup was in flight
                for cid in candidates:
                    hit = self._memory.get(cid) or self._recent.get(cid)
                    if hit is not None:
                        results[i] = (cid, hit)
                        break
            todo = [t for t in todo if results[t[0]] is None]
            if not todo or attempt == 1:
                break
            before = len(self._apps)
            await self.load()  # another worker may have sent for an application we have not seen
            if len(self._apps) == before:
                break
        return results

    async def settle(self, sent: dlr.Sent, receipt: dlr.Receipt) -> str | None:
        """The event type a final receipt for this part produces, or None when it produces none (a repeated
        receipt, or a part of a multi-part message that is not the last delivered / first failed)."""
        if not receipt.final:
            return dlr.BUFFERED_EVENT
        ok = receipt.delivered
        if sent.parts == 1:
            return dlr.SUCCESS_EVENT if ok else dlr.FAILURE_EVENT
        key = parts_key(sent.app, sent.message_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, str(sent.part), str(receipt.state))
        pipe.hgetall(key)
        pipe.expire(key, self.ttl_s)
        new, states, _ = await pipe.execute()
        if not new:
            return None
        failed = [int(v) for v in states.values() if int(v) not in dlr.FINAL_SUCCESS]
        if not ok:
            return dlr.FAILURE_EVENT if len(failed) == 1 else None
        if len(states) == sent.parts and not failed:
            return dlr.SUCCESS_EVENT
        return None

    async def forget(self, items: list[tuple[str, dlr.Sent]]) -> None:
        """Drop mappings once their final receipts have been handled (one round trip)."""
        if any(cid in self._memory for cid, _ in items):
            await self.durable()  # a write may still be in flight: delete after it lands
        by_app: dict[str, list[str]] = {}
        for cid, sent in items:
            self._memory.pop(cid, None)
            self._recent.pop(cid, None)
            by_app.setdefault(sent.app, []).append(smsid_key(sent.app, cid))
        if by_app:
            pipe = self.redis.pipeline(transaction=False)  # one DEL per application: its keys share a slot
            for keys_ in by_app.values():
                pipe.delete(*keys_)
            await pipe.execute()
