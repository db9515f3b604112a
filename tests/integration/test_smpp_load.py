"""Load: 10,000 SMS with receipts (GSM-7 and UCS-2, one part and several) through the whole engine (stream →
worker → SMPP channel) against the node SMSC peer, which numbers in hex from 1 and writes each response and its
receipt together, with a worker whose Redis pool has 4 connections. Every accepted message gets exactly one
receipt event, nothing stays pending, no deliver_sm is answered with an error."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.producer import Producer
from gateway.worker import Worker
from tests.integration.conftest import make_config
from tests.peers.node_smsc import NodeSmsc, node_smsc

N = 10_000
PER_REQUEST = 100
BODIES = [
    "Your code is 123456",  # GSM-7, one part
    "Ваш код 123456",  # UCS-2, one part
    "Your order {{n}} has shipped. " * 6,  # GSM-7, two parts
    "Заказ отправлен ✓ " * 10,  # UCS-2, three parts
]


@pytest.fixture
async def peer() -> AsyncIterator[NodeSmsc]:
    async with node_smsc() as p:
        yield p


async def test_ten_thousand_sms_with_receipts_through_a_small_pool(peer: NodeSmsc, redis: Any,
                                                                  redis_server: Any) -> None:
    small = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        redis_server.url, max_connections=4, timeout=20))
    smpp = {"kind": "smpp", "port": peer.port, "system_id": "gw", "binds": 2, "window": 64,
            "transactional_reserve": 0, "connect_timeout_s": 5}
    cfg = make_config(1, redis_server.url, channels=[smpp], stream={"batch_size": 256, "max_inflight": 2048})
    worker = Worker(cfg, redis=small, consumer="load")
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        requests = []
        for r in range(N // PER_REQUEST):
            body = BODIES[r % len(BODIES)]
            requests.append({
                "Addresses": {f"+1415555{r * PER_REQUEST + i:04d}": {"ChannelType": "SMS"}
                              for i in range(PER_REQUEST)},
                "MessageConfiguration": {"SMSMessage": {"Body": body, "MessageType": "PROMOTIONAL",
                                                        "OriginationNumber": "+14155550199",
                                                        "Substitutions": {"n": ["42"]}}}})
        await Producer(redis).send_many("app1", requests)
        accepted: set[str] = set()
        receipts: Counter[str] = Counter()
        last = "0"
        while len(receipts) < N or len(accepted) < N:  # a receipt may be stored before its send's outcome
            assert time.perf_counter() - started < 45, (len(accepted), len(receipts), await peer.stats())
            reply = await redis.xread({"gateway:events": last}, block=1000, count=5000)
            for _, items in reply or []:
                for entry_id, fields in items:
                    last = entry_id
                    record = msgspec.json.decode(fields[b"record"])
                    kind, mid = record["event_type"], record["attributes"]["message_id"]
                    if kind == "_SMS.BUFFERED" and "delivery_status" in record["attributes"]:
                        assert record["attributes"]["delivery_status"] == "SUCCESSFUL", record
                        accepted.add(mid)
                    elif kind == "_SMS.SUCCESS":
                        receipts[mid] += 1
                    else:
                        raise AssertionError(record)
        assert len(accepted) == N and set(receipts) == accepted and set(receipts.values()) == {1}
        stats = await peer.stats()
        while stats["unanswered"]:  # the last answers leave after their events are stored
            assert time.perf_counter() - started < 45, stats
            await asyncio.sleep(0.01)
            stats = await peer.stats()
        assert stats["deliver_errors"] == {}
        assert stats["messages"] == N and stats["ucs2"] == N // 2 and stats["multipart"] == N // 2
        assert stats["same_write"] == stats["submits"] == stats["deliver_ok"]
        pending = await redis.xpending("gateway:send", "gateway")
        assert pending["pending"] == 0
        assert await redis.keys("gw:{app1}:smsid:*") == []
    finally:
        worker.stop()
        await task
        await small.aclose()
