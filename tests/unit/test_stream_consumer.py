"""The stream consumer and the retry schedule against an in-memory Redis (tests/unit/fake_redis.py): what each
read, claim and trim does to the group's pending list, for both XAUTOCLAIM reply shapes (Redis 6.2 and 7)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from redis.exceptions import ResponseError

from gateway.config import StreamConfig
from gateway.stream import retry
from gateway.stream.consumer import StreamConsumer
from tests.unit.fake_redis import FakeRedis

KEY = "gateway:send"
IDLE = 1_000  # claim_idle_ms


def make(fake: FakeRedis, consumer: str = "me", **cfg) -> StreamConsumer:
    return StreamConsumer(fake, StreamConfig(claim_idle_ms=IDLE, **cfg), consumer)


def ids(entries) -> list[str]:
    return [e[0] for e in entries]


def fill(fake: FakeRedis, n: int, key: str = KEY) -> list[str]:
    out = []
    for i in range(n):
        out.append(fake.add(key, {"n": str(i)}))
        fake.advance(1)
    return out


@pytest.fixture
def fake() -> FakeRedis:
    return FakeRedis()


# -- the group ---------------------------------------------------------------------------------------------------


async def test_ensure_group_creates_the_stream_and_the_group_from_id_0_once(fake):
    c = make(fake)
    await c.ensure_group()
    await c.ensure_group()  # BUSYGROUP: already there, fine
    assert fake.streams[KEY].groups["gateway"].last == (0, 0)
    fake.fail_next("XGROUP CREATE", ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await c.ensure_group()


# -- read: own backlog first, then new entries --------------------------------------------------------------------


async def test_read_returns_the_own_backlog_from_id_0_in_pages_then_new_entries(fake):
    e = fill(fake, 6)
    fake.group(KEY)
    fake.deliver(KEY, "me", e[:3])  # read before a restart, never acknowledged
    fake.deliver(KEY, "other", e[3:4])  # another consumer's: not ours to re-read
    c = make(fake)

    assert c.reading_backlog
    assert ids(await c.read(2, 0)) == e[:2]
    assert c.reading_backlog
    assert ids(await c.read(2, 0)) == e[2:3]
    assert ids(await c.read(2, 0)) == e[4:6]  # backlog done: new entries
    assert not c.reading_backlog
    assert [call[2] for call in fake.calls_of("XREADGROUP")] == ["0", e[1], e[2], ">"]
    # re-reading counts as a delivery (what poison screening relies on)
    assert fake.pending(KEY)[e[0]] == ("me", 2)


async def test_unread_gives_the_last_backlog_page_back(fake):
    e = fill(fake, 4)
    fake.deliver(KEY, "me", e)
    c = make(fake)
    assert ids(await c.read(2, 0)) == e[:2]
    assert ids(await c.read(2, 0)) == e[2:]
    c.unread()  # e.g. Redis went down before e[2:] were launched
    assert c.reading_backlog
    assert ids(await c.read(2, 0)) == e[2:]


async def test_backlog_entries_whose_data_was_trimmed_are_acknowledged_as_lost(fake, caplog):
    e = fill(fake, 5)
    fake.deliver(KEY, "me", e)
    for i in e[:3]:
        fake.delete(KEY, i)  # a whole page without data, then one more
    c = make(fake)
    with caplog.at_level(logging.ERROR, logger="gateway.stream"):
        assert ids(await c.read(2, 0)) == e[3:4]  # a page of dead entries is skipped, not returned empty
    assert set(fake.pending(KEY)) == {e[3], e[4]}
    assert [r.getMessage() for r in caplog.records] == [
        "2 pending entries have no data (trimmed): acknowledging them as lost",
        "1 pending entries have no data (trimmed): acknowledging them as lost",
    ]


async def test_a_group_lost_in_a_restart_is_recreated_from_0_and_said_at_error(fake, caplog):
    fill(fake, 2)
    fake.group(KEY)
    c = make(fake)
    assert len(await c.read(10, 0)) == 2
    caplog.set_level(logging.ERROR, logger="gateway.stream")
    fake.restart()
    assert await c.read(10, 0) == []
    fake.restart()
    after = fill(fake, 1)  # written after the restart, before the group is back
    assert await c.claim() == []
    assert sum("is gone (NOGROUP)" in r.getMessage() for r in caplog.records) == 2
    assert ids(await c.read(10, 0)) == after  # the group starts from id 0: nothing written since is skipped


async def test_a_blocking_read_returns_when_an_entry_arrives(fake):
    c = make(fake)
    await c.ensure_group()
    assert await c.read(10, 0) == []  # backlog empty, nothing new, no BLOCK: returns at once
    reading = asyncio.create_task(c.read(10, 60_000))
    await fake.changes.until(lambda: fake.reading.get(KEY))
    new = fake.add(KEY)
    assert ids(await reading) == [new]


# -- claim: XAUTOCLAIM, 2- and 3-element replies ----------------------------------------------------------------


@pytest.mark.parametrize("version", [6, 7])
async def test_claim_takes_over_idle_entries_and_acknowledges_trimmed_ones(version, caplog):
    fake = FakeRedis(version=version)
    e = fill(fake, 6)
    fake.deliver(KEY, "dead", e[:4], ago_ms=IDLE * 2)
    fake.deliver(KEY, "alive", e[4:], ago_ms=IDLE // 2)  # not idle long enough
    fake.delete(KEY, e[1])
    c = make(fake)
    with caplog.at_level(logging.ERROR, logger="gateway.stream"):
        claimed = await c.claim(count=10)
    assert ids(claimed) == [e[0], e[2], e[3]]
    assert claimed[0][1] == {b"n": b"0"}
    pending = fake.pending(KEY)
    assert {i: pending[i] for i in e[:4] if i in pending} == {e[0]: ("me", 2), e[2]: ("me", 2), e[3]: ("me", 2)}
    assert pending[e[4]] == ("alive", 1)  # untouched
    assert [r.getMessage() for r in caplog.records] == [
        "1 claimed entries were trimmed before delivery: acknowledging them as lost"]


@pytest.mark.parametrize("version", [6, 7])
async def test_claim_follows_the_cursor_and_never_returns_more_than_count(version):
    fake = FakeRedis(version=version)
    e = fill(fake, 40)
    if version >= 7:  # Redis 7 scans at most COUNT*10 pending entries per call: busy ones first make a short page
        fake.deliver(KEY, "alive", e[:29])
        fake.deliver(KEY, "dead", e[29:], ago_ms=IDLE * 2)
    else:  # Redis 6.2: trimmed entries count against COUNT without being returned
        fake.deliver(KEY, "dead", e, ago_ms=IDLE * 2)
        fake.delete(KEY, e[0])
        fake.delete(KEY, e[1])
    claimed = await make(fake).claim(count=3)
    assert len(claimed) == 3
    assert len(fake.calls_of("XAUTOCLAIM")) == 2
    # the rest stays with the dead consumer for the next claim
    assert sum(owner == "dead" for owner, _ in fake.pending(KEY).values()) == (40 - 29 - 3 if version >= 7 else 35)


async def test_delivery_counts_are_this_consumers_pending_counts(fake):
    e = fill(fake, 3)
    fake.deliver(KEY, "me", e[:1], count=4)
    fake.deliver(KEY, "me", e[2:], count=1)
    fake.deliver(KEY, "other", e[1:2], count=9)
    assert await make(fake).delivery_counts([e[2], e[0]]) == {e[0]: 4, e[2]: 1}
    assert await make(fake).delivery_counts([]) == {}


# -- trim --------------------------------------------------------------------------------------------------------


async def test_trim_keeps_pending_and_undelivered_entries_of_every_group(fake):
    e = fill(fake, 8)
    fake.group(KEY, "gateway")
    fake.deliver(KEY, "me", e[:6], group="gateway")
    fake._ack(KEY, "gateway", e[:2] + e[3:6])  # e[2] still pending in group 1
    fake.group(KEY, "audit")
    fake.deliver(KEY, "x", e[:4], group="audit")
    fake._ack(KEY, "audit", e[:4])  # group 2 read up to e[3]: e[4:] undelivered
    assert await make(fake).trim() == 2  # e[0], e[1]
    assert [i for i, _ in fake.entries(KEY)] == e[2:]


async def test_trim_without_a_stream_or_deliveries_does_nothing(fake):
    assert await make(fake).trim() == 0
    fill(fake, 3)
    fake.group(KEY)
    assert await make(fake).trim() == 0
    assert len(fake.entries(KEY)) == 3
    assert not fake.calls_of("XTRIM")


async def test_trim_below_the_last_delivered_entry_when_nothing_is_pending(fake):
    e = fill(fake, 3)
    fake.deliver(KEY, "me", e[:2])
    fake._ack(KEY, "gateway", e[:2])
    assert await make(fake).trim() == 2
    assert [i for i, _ in fake.entries(KEY)] == e[2:]


# -- the retry schedule and the dead-letter stream ----------------------------------------------------------------


async def test_the_mover_moves_only_due_retries_oldest_first_up_to_the_limit(fake):
    mover = retry.RetryMover(fake, "gateway:retry", KEY)
    now = 1_000_000
    members = {name: retry.schedule_member({"app": b"a", "request": name.encode()}, f"nonce-{name}")
               for name in ("late", "due1", "due2", "exact", "future")}
    await fake.zadd("gateway:retry", {members["due2"]: now - 10, members["due1"]: now - 500, members["exact"]: now,
                                      members["future"]: now + 1, members["late"]: now + 60_000})

    assert await mover.move_due(now, limit=2) == 2
    assert [f[b"request"] for _, f in fake.entries(KEY)] == [b"due1", b"due2"]
    assert await mover.move_due(now) == 1
    assert await mover.move_due(now) == 0
    assert [f[b"request"] for _, f in fake.entries(KEY)] == [b"due1", b"due2", b"exact"]
    assert set(fake.zsets["gateway:retry"]) == {members["future"], members["late"]}
    # the entry in the stream is the scheduled fields, plus the nonce that kept equal retries apart in the ZSET
    assert fake.entries(KEY)[0][1] == {b"app": b"a", b"request": b"due1", b"retry_nonce": b"nonce-due1"}
    assert fake.calls_of("EVALSHA")[0][1:] == ("gateway:retry", KEY)


def test_schedule_member_is_a_flat_list_and_the_nonce_keeps_equal_retries_apart():
    fields = {"app": b"shop", "request": '{"x": "é"}'.encode()}
    one = retry.schedule_member(fields, "n1")
    assert json.loads(one) == ["app", "shop", "request", '{"x": "é"}', "retry_nonce", "n1"]
    assert retry.schedule_member(fields, "n2") != one


def test_dead_fields_add_why_when_how_often_and_from_where():
    original = {"app": b"shop", "request": b"{}"}
    dead = retry.dead_fields(original, "bounced: 550 no such user", 3, 1_700_000_000_123, "gateway:send")
    assert dead == {"app": b"shop", "request": b"{}", "stream": b"gateway:send",
                    "reason": b"bounced: 550 no such user", "attempts": b"3", "failed_at": b"1700000000123"}
    assert original == {"app": b"shop", "request": b"{}"}  # not modified
    assert "stream" not in retry.dead_fields(original, "x", 1, 0)


def test_a_long_reason_is_cut_to_2000_bytes_of_valid_utf8():
    reason = retry.dead_fields({}, "a" + "é" * 1500, 1, 0)["reason"]  # byte 2000 is inside an é
    assert reason.decode("utf-8") == "a" + "é" * 999


def test_text_fields_keeps_a_name_that_is_not_utf8_readable():
    assert retry.text_fields({b"app": b"a", b"\xffx": b"\xfe"}) == {"app": b"a", "\\xffx": b"\xfe"}
