"""Stream ingest rules: own backlog first, XAUTOCLAIM of dead consumers, poison entries, NOGROUP, safe trimming,
graceful stop."""

from __future__ import annotations

import asyncio

import pytest

from gateway.stream.consumer import StreamConsumer
from tests.integration.test_email_engine import email_request

pytestmark = pytest.mark.asyncio


async def _pending_for(redis, consumer: str, n: int) -> list[str]:
    """Read n entries as `consumer` without processing them (a consumer that then dies)."""
    reply = await redis.xreadgroup("gateway", consumer, {"gateway:send": ">"}, count=n)
    return [i.decode() for i, _ in reply[0][1]] if reply else []


async def _enqueue(run, n: int, prefix: str = "u") -> None:
    for i in range(n):
        await run.producer.send_messages("app1", email_request(f"{prefix}{i}@example.com"))


async def test_worker_rereads_its_own_pending_entries_on_start(engine, sink, redis):
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    from gateway.producer import Producer

    p = Producer(redis)
    for i in range(3):
        await p.send_messages("app1", email_request(f"own{i}@example.com"))
    assert len(await _pending_for(redis, "test-worker", 3)) == 3  # read by "us" before a crash
    run = await engine()  # same consumer name: the backlog is read first with id 0
    await run.outcomes(3)
    assert sorted(m[1] for m in sink.messages) == [f"own{i}@example.com" for i in range(3)]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


async def test_entries_of_a_dead_consumer_are_claimed_after_min_idle(engine, sink, redis):
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    from gateway.producer import Producer

    p = Producer(redis)
    for i in range(4):
        await p.send_messages("app1", email_request(f"orphan{i}@example.com"))
    await _pending_for(redis, "dead-worker", 4)
    # min-idle must exceed the slowest send, or in-flight entries would be claimed again: 300 ms is plenty here
    run = await engine(stream={"claim_idle_ms": 300, "claim_interval_ms": 20})
    await run.outcomes(4)
    assert sorted(m[1] for m in sink.messages) == [f"orphan{i}@example.com" for i in range(4)]
    summary = await redis.xpending("gateway:send", "gateway")
    assert summary["pending"] == 0


async def test_entry_delivered_too_often_without_outcome_is_dead_lettered(engine, sink, redis):
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    from gateway.producer import Producer

    await Producer(redis).send_messages("app1", email_request("poison@example.com"))
    entry_id = (await _pending_for(redis, "w1", 1))[0]
    for _ in range(3):  # three more crashed workers claimed it
        await redis.execute_command("XCLAIM", "gateway:send", "gateway", "w1", 0, entry_id)
    run = await engine(stream={"claim_idle_ms": 1, "claim_interval_ms": 20, "max_deliveries": 5})
    assert await redis.xread({"gateway:dead": "0"}, block=10_000, count=1)
    (_, fields), = await redis.xrange("gateway:dead")
    import re

    m = re.search(rb"delivered (\d+) times without an outcome", fields[b"reason"])
    assert m and int(m.group(1)) >= 5 and int(fields[b"attempts"]) >= 5
    assert sink.accepted == 0
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0
    await run.stop()


async def test_group_lost_in_a_redis_restart_is_recreated_and_new_entries_flow(engine, sink, redis):
    run = await engine()
    await run.producer.send_messages_and_wait("app1", email_request("before@example.com"))
    await redis.delete("gateway:send")  # what a restart without AOF does: stream, group and PEL are gone
    resp = await run.producer.send_messages_and_wait("app1", email_request("after@example.com"), timeout=10)
    assert resp.Result["after@example.com"].DeliveryStatus == "SUCCESSFUL"
    assert [m[1] for m in sink.messages] == ["before@example.com", "after@example.com"]


async def test_trim_keeps_every_pending_and_undelivered_entry(redis):
    from gateway.config import StreamConfig

    consumer = StreamConsumer(redis, StreamConfig(), "c1")
    await consumer.ensure_group()
    ids = [(await redis.xadd("gateway:send", {"n": str(i)})).decode() for i in range(10)]
    got = await consumer.read(6, 0)  # 6 delivered, 4 never delivered
    assert [g[0] for g in got] == ids[:6]
    await redis.xack("gateway:send", "gateway", *ids[:2], ids[3])  # ids[2], ids[4], ids[5] still pending
    await consumer.trim()
    remaining = [i.decode() for i, _ in await redis.xrange("gateway:send")]
    assert ids[2] in remaining and set(ids[4:]) <= set(remaining)
    assert ids[0] not in remaining and ids[1] not in remaining


async def test_stop_finishes_in_flight_work_and_leaves_unread_entries_pending(engine, sink, redis):
    run = await engine(stream={"max_inflight": 1, "batch_size": 1})
    await run.producer.send_messages("app1", email_request("slow1000@example.com"))
    await _enqueue(run, 5, "later")
    await asyncio.wait_for(sink.state.wait_accepted(1), 10)  # the slow reply is still a second away
    assert run.worker._inflight == 1
    await run.stop()
    # the in-flight message finished and was acknowledged; nothing else was read or sent
    assert [m[1] for m in sink.messages] == ["slow1000@example.com"]
    info = (await redis.xinfo_groups("gateway:send"))[0]
    assert info["pending"] == 0
    assert info["lag"] == 5 if "lag" in info else True


async def test_transactional_lane_is_not_delayed_by_a_bulk_backlog(engine, sink, redis):
    """With the default lane saturated by slow bulk sends, a transactional request is still read and delivered
    at once: it has its own stream and in-flight budget."""
    run = await engine(stream={"max_inflight": 1, "batch_size": 1, "transactional_inflight": 4})
    for i in range(20):
        await run.producer.send_messages("app1", email_request(f"slow2000-{i}@example.com"))
    otp = await run.producer.send_messages_and_wait("app1", email_request("otp@example.com"), transactional=True)
    assert otp.Result["otp@example.com"].DeliveryStatus == "SUCCESSFUL"
    delivered = [m[1] for m in sink.messages]
    assert "otp@example.com" in delivered and len(delivered) <= 2  # at most one bulk mail got there first
    info = {g["name"].decode(): g for g in await redis.xinfo_groups("gateway:send")}
    assert info["gateway"]["pending"] <= 1  # the bulk lane is still working through its backlog
    assert await redis.xlen("gateway:send:transactional") == 1


async def test_claim_acknowledges_entries_trimmed_while_pending_and_keeps_to_its_count(redis):
    """On the real server (Redis 6.2 answers a claimed entry whose data is gone as nil, without its id): the
    live entries are claimed, the trimmed one is acknowledged instead of staying pending for ever."""
    from gateway.config import StreamConfig

    cfg = StreamConfig(claim_idle_ms=5_000)
    await StreamConsumer(redis, cfg, "dead").ensure_group()
    ids = [(await redis.xadd("gateway:send", {"n": str(i)})).decode() for i in range(4)]
    assert await _pending_for(redis, "dead", 4) == ids
    await redis.xclaim("gateway:send", "gateway", "dead", 0, ids, idle=10_000)  # idle 10 s, without waiting
    await redis.xdel("gateway:send", ids[1])

    claimed = await StreamConsumer(redis, cfg, "me").claim(count=2)
    assert [i for i, _ in claimed] == [ids[0], ids[2]]
    pending = await redis.xpending_range("gateway:send", "gateway", min="-", max="+", count=10)
    assert {r["message_id"].decode(): r["consumer"] for r in pending} == {ids[0]: b"me", ids[2]: b"me", ids[3]: b"dead"}
