"""Unmatched receipts are held (bounded in time and count) instead of guessed at: the pure bookkeeping, with
the clock passed in."""

from __future__ import annotations

from gateway.channels.smpp.held import HeldReceipts


def test_a_recorded_id_releases_its_receipts_at_once() -> None:
    held: HeldReceipts[str] = HeldReceipts(delays=(0.05, 0.5, 2.0))
    assert held.hold(["a"], "r1", 0, now=100.0) == []
    assert held.hold(["b"], "r2", 0, now=100.0) == []
    assert held.release("a") == [("r1", 0)]
    assert held.release("a") == []
    assert len(held) == 1 and held.next_due() == 100.05


def test_lookups_are_due_after_growing_delays_then_exhausted() -> None:
    held: HeldReceipts[str] = HeldReceipts(delays=(0.05, 0.5, 2.0))
    held.hold(["a"], "r", 0, now=0.0)
    assert held.due(0.049) == []
    assert held.due(0.05) == [("r", 0)]  # look it up again (attempt 1)
    held.hold(["a"], "r", 1, now=0.06)
    assert held.next_due() == 0.56
    assert held.due(0.56) == [("r", 1)]
    held.hold(["a"], "r", 2, now=0.6)
    assert held.due(2.59) == [] and held.due(2.6) == [("r", 2)]
    assert held.exhausted(3) and not held.exhausted(2)  # the fourth look-up that fails makes it unknown
    assert held.next_due() is None


def test_past_the_bound_the_oldest_is_given_back() -> None:
    held: HeldReceipts[int] = HeldReceipts(max_held=3)
    for i in range(3):
        assert held.hold([str(i)], i, 0, now=float(i)) == []
    assert held.hold(["3"], 3, 0, now=3.0) == [0]
    assert held.release("0") == []  # gone with its key
    assert sorted(i for i, _ in held.due(10.0)) == [1, 2, 3]


def test_one_receipt_under_several_keys_is_released_once() -> None:
    held: HeldReceipts[str] = HeldReceipts()
    held.hold(["10", "a", "16"], "r", 0, now=0.0)
    assert held.release("16") == [("r", 0)]
    assert held.release("a") == [] and held.due(99.0) == [] and len(held) == 0
