"""Receipts that match no message yet, held briefly instead of guessed at (sans-I/O: the caller passes the time).

A receipt can overtake its own submit_sm_resp (a receiver bind, another process's bind of the same account): it
is held, unanswered, until its id is recorded (:meth:`HeldReceipts.release`, called when the correlator notes an
id) or its next look-up is due (the delays grow: another process's mapping shows up in Redis a little later). A
receipt whose look-ups are exhausted, or the oldest one when more than `max_held` are waiting (each one is a slot
of the SMSC's window), is given back as unknown: acknowledged and logged, never matched to a neighbour.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Delays before each new look-up of an unmatched receipt (then it is unknown): about 2.5 s in all.
HOLD_DELAYS_S = (0.05, 0.5, 2.0)
#: At most this many receipts wait at once; past it the oldest is handled as unknown.
MAX_HELD = 1000


class HeldReceipts(Generic[T]):
    """Unmatched receipts keyed by the canonical ids they may stand for; each remembers how many look-ups
    it has had (`attempt`, counted from 0)."""

    def __init__(self, delays: Sequence[float] = HOLD_DELAYS_S, max_held: int = MAX_HELD) -> None:
        self.delays = tuple(delays)
        self.max_held = max_held
        self._items: dict[int, tuple[T, int, tuple[str, ...]]] = {}  # insertion order = age
        self._by_key: dict[str, set[int]] = {}
        self._due: list[tuple[float, int]] = []  # heap; entries of released items are skipped
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def exhausted(self, attempt: int) -> bool:
        """Whether a receipt that failed look-up number `attempt` is unknown now (no further look-up)."""
        return attempt >= len(self.delays)

    def hold(self, keys: Sequence[str], item: T, attempt: int, now: float) -> list[T]:
        """Hold `item` (its look-up number `attempt` found nothing) until `now` + the delay for that attempt or
        until one of `keys` is recorded. Returns the items pushed out by the bound: handle them as unknown."""
        n = next(self._ids)
        self._items[n] = (item, attempt, tuple(keys))
        for k in keys:
            self._by_key.setdefault(k, set()).add(n)
        heapq.heappush(self._due, (now + self.delays[min(attempt, len(self.delays) - 1)], n))
        evicted: list[T] = []
        while len(self._items) > self.max_held:
            evicted.append(self._pop(next(iter(self._items)))[0])
        return evicted

    def release(self, key: str) -> list[tuple[T, int]]:
        """The held items that may be the receipt of `key`, just recorded: look them up again now."""
        ids = self._by_key.get(key)
        if not ids:
            return []
        return [self._pop(n) for n in sorted(ids)]

    def due(self, now: float) -> list[tuple[T, int]]:
        """The held items whose next look-up is due at `now`."""
        out: list[tuple[T, int]] = []
        while self._due and self._due[0][0] <= now:
            _, n = heapq.heappop(self._due)
            if n in self._items:
                out.append(self._pop(n))
        return out

    def next_due(self) -> float | None:
        """When the next look-up is due (None when nothing is held)."""
        while self._due and self._due[0][1] not in self._items:
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def drain(self) -> list[T]:
        """Everything held (at shutdown)."""
        items = [item for item, _, _ in self._items.values()]
        self._items.clear()
        self._by_key.clear()
        self._due.clear()
        return items

    def _pop(self, n: int) -> tuple[T, int]:
        item, attempt, keys = self._items.pop(n)
        for k in keys:
            ids = self._by_key.get(k)
            if ids is not None:
                ids.discard(n)
                if not ids:
                    del self._by_key[k]
        return item, attempt
