"""Receipt correlation through Redis: SMSC message id -> our message, durable before a send reports success, so a
receipt arriving after a gateway restart (up to `ttl`, 72 h by default) still maps.

Keys: `gw:{app}:smsid:<canonical smsc id>` holds a :class:`dlr.Sent` (JSON array), with a TTL. A receipt names
only the SMSC id, not the application, so the channel keeps the set of applications it has sent for at
`gw:smpp:{<channel>}:apps` and looks the id up under each (one pipelined round trip; a channel usually serves one
or a few applications).

A final receipt settles its part by claiming the mapping (DEL in a script, so exactly one receipt wins even when
the SMSC repeats one or two processes race); a part of a multi-part message also records its state in
`gw:{app}:smsparts:<message id>` in the same script, so exactly one event is emitted per message. The claims of
a burst of receipts go out in one pipeline.

Writes are group-committed: `note()` records a mapping synchronously (the session calls it while it reads the
submit_sm_resp, before the next PDU of the same read, so a receipt right behind it already finds it in memory)
and `durable()` awaits the pipelined write of every mapping noted so far.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from gateway import keys
from gateway.channels.smpp import dlr
from gateway.redisconn import next_delay

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
# Claim the mappings of many final receipts of one application (one slot) and, for a multi-part message, record
# the part's final state. KEYS = smsid key, parts key, per receipt; ARGV = part, state, ttl, parts, per receipt.
# One reply per receipt: nil when already claimed (a repeat), else the final states of the message's settled parts.
# One call per application and burst: a script call per receipt cost the client twice the CPU of the receipt's
# other work (measured: 23 µs per claim as one EVALSHA each, about 1 µs inside one call).
_SETTLE = """
local out = {}
for i = 1, #KEYS, 2 do
  local a = (i - 1) * 2
  if redis.call('DEL', KEYS[i]) == 0 then
    out[#out + 1] = false
  elseif ARGV[a + 4] == '1' then
    out[#out + 1] = {ARGV[a + 2]}
  else
    redis.call('HSET', KEYS[i + 1], ARGV[a + 1], ARGV[a + 2])
    redis.call('EXPIRE', KEYS[i + 1], ARGV[a + 3])
    out[#out + 1] = redis.call('HVALS', KEYS[i + 1])
  end
end
return out
"""
# Undo a claim whose event could not be written (the SMSC redelivers the receipt): KEYS as _SETTLE, ARGV = the
# mapping, ttl, part.
_UNSETTLE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[3])
return 1
"""
#: First wait before a failed mapping write is tried again (doubling up to `retry_s`).
_WRITE_RETRY_BASE_S = 0.01
_decode_sent = msgspec.json.Decoder(dlr.Sent).decode

#: A matched receipt: (canonical id, what we sent, the receipt).
Match = tuple[str, dlr.Sent, dlr.Receipt]


def smsid_key(app: str, smsc_id: str) -> str:
    return keys.app_key(app, "smsid", smsc_id)


def parts_key(app: str, message_id: str) -> str:
    return keys.app_key(app, "smsparts", message_id)


class Correlator:
    def __init__(self, redis: Any, channel: str, ttl_s: int, retry_s: float = 1.0,
                 recent_max: int = 100_000, id_base: str = "same") -> None:
        self.redis = redis
        self.id_base = id_base
        self._set_many = redis.register_script(_SET_MANY)
        self._settle = redis.register_script(_SETTLE)
        self._unsettle = redis.register_script(_UNSETTLE)
        #: Called with each canonical id as it is noted (the channel wakes receipts held for it).
        self.on_noted: Callable[[str], None] | None = None
        self._attempt: asyncio.Future[None] | None = None  # resolved after each write attempt
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
        self._pending: set[asyncio.Future[None]] = set()  # batches' futures until their write is tried
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self.write_failures = 0
        self._retry_delay = 0.0  # after consecutive failed writes: grows with them (redisconn.next_delay)

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
            done = self._batch_done = asyncio.get_running_loop().create_future()
            self._pending.add(done)
            done.add_done_callback(self._pending.discard)
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())  # keep a strong reference
        if self.on_noted is not None:
            self.on_noted(cid)

    async def durable(self) -> None:
        """Wait until every mapping noted so far has been written, including a batch whose write is in flight.
        A Redis failure ends the wait too: it is logged, the mappings stay in memory (receipts in this process
        still match) and are retried: the SMS itself was sent, so the send must not fail and be repeated."""
        pending = list(self._pending)  # the batch being gathered and the one being written
        if pending:
            await asyncio.shield(asyncio.gather(*pending))

    async def _flush_loop(self) -> None:
        try:
            while self._batch:
                batch, fut = self._batch, self._batch_done
                self._batch, self._batch_done = [], None
                try:
                    await self._write(batch)
                except Exception as exc:  # Redis busy or down: keep in memory, retry soon, then less often
                    self.write_failures += 1
                    delay = self._retry_delay = next_delay(self._retry_delay, _WRITE_RETRY_BASE_S, self.retry_s)
                    log.log(logging.ERROR if delay >= self.retry_s else logging.WARNING,
                            "cannot store %d SMSC message ids in Redis (%s); retrying in %.2fs", len(batch), exc, delay)
                    asyncio.get_running_loop().call_later(delay, self._requeue, batch)
                else:
                    self._retry_delay = 0.0
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
                attempt, self._attempt = self._attempt, None
                if attempt is not None and not attempt.done():
                    attempt.set_result(None)
        finally:
            self._flushing = False

    async def written(self, cids: list[str]) -> None:
        """Wait until these mappings are in Redis (not just tried: a failed write is retried), so a claim finds
        them there."""
        while any(cid in self._memory for cid in cids):
            if self._attempt is None:
                self._attempt = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._attempt)

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

    async def lookup(self, receipts: list[dlr.Receipt]) -> list[tuple[str, dlr.Sent] | None]:
        """(canonical id, Sent) for each receipt, None when nothing matches: memory first, then one pipelined
        MGET per application. A text id is read in another base only as `id_base` says."""
        results: list[tuple[str, dlr.Sent] | None] = [None] * len(receipts)
        todo: list[tuple[int, list[str]]] = []
        memory, recent = self._memory, self._recent
        for i, receipt in enumerate(receipts):
            candidates = dlr.receipt_candidates(receipt, self.id_base)
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

    async def settle(self, matches: list[Match]) -> list[str | None]:
        """The event each matched receipt produces (None: none, e.g. a repeated final receipt or a part of a
        multi-part message that is not the last delivered / first failed). Final receipts claim their mapping:
        one pipeline for the whole burst."""
        final = [m for m in matches if m[2].final]
        if not final:
            return [dlr.part_event(r, sent.parts, []) for _, sent, r in matches]
        await self.written([cid for cid, _, _ in final])  # a receipt right behind its response: write lands first
        by_app: dict[str, tuple[list[str], list[Any], list[int]]] = {}
        for n, (cid, sent, receipt) in enumerate(final):
            keys_, args, order = by_app.setdefault(sent.app, ([], [], []))
            keys_ += (smsid_key(sent.app, cid), parts_key(sent.app, sent.message_id))
            args += (sent.part, receipt.state, self.ttl_s, sent.parts)
            order.append(n)
        pipe = self.redis.pipeline(transaction=False)
        for keys_, args, _ in by_app.values():
            await self._settle(keys=keys_, args=args, client=pipe)
        states_of: list[Any] = [None] * len(final)
        for (_, _, order), replies in zip(by_app.values(), await pipe.execute(), strict=True):
            for n, states in zip(order, replies, strict=True):
                states_of[n] = states
        claimed = iter(states_of)
        out: list[str | None] = []
        for cid, sent, receipt in matches:
            if not receipt.final:
                out.append(dlr.BUFFERED_EVENT)
                continue
            states = next(claimed)
            self._memory.pop(cid, None)
            self._recent.pop(cid, None)
            out.append(None if states is None else dlr.part_event(receipt, sent.parts, [int(v) for v in states]))
        return out

    async def unsettle(self, matches: list[Match]) -> None:
        """Give back the claims of final receipts whose event could not be written, so the SMSC's redelivery
        matches again (one pipeline)."""
        pipe = self.redis.pipeline(transaction=False)
        queued = False
        for cid, sent, receipt in matches:
            if receipt.final:
                queued = True
                await self._unsettle(keys=[smsid_key(sent.app, cid), parts_key(sent.app, sent.message_id)],
                                     args=[_encode(sent), self.ttl_s, sent.part], client=pipe)
                self._recent[cid] = sent
        if queued:
            await pipe.execute()
