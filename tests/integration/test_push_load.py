"""10,000 APNs pushes with 2% dead tokens through the engine, against the independent node APNs peer, with the
worker's Redis client on a small blocking pool: every push gets exactly one outcome, every dead token's endpoint
ends INACTIVE, nothing stays pending."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import trustme

from gateway.endpoints.store import EndpointStore
from gateway.models import EndpointBatchItem, EndpointBatchRequest
from tests.integration.test_push_engine import push_config, running
from tests.push_peer import node_apns

PUSHES = 10_000
PER_REQUEST = 100  # Pinpoint's limit of endpoints per SendMessages request


def token(i: int) -> str:
    return f"{i:064x}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_ten_thousand_pushes_with_dead_tokens_on_a_small_redis_pool(redis: Any, redis_server: Any,
                                                                          tmp_path: Path, ca: trustme.CA) -> None:
    ids = [f"ep-{i:05d}" for i in range(PUSHES)]
    dead = {ids[i] for i in range(0, PUSHES, 50)}  # 2%
    store = EndpointStore(redis)
    for start in range(0, PUSHES, 100):
        await store.update_endpoints_batch("app1", EndpointBatchRequest(Item=[
            EndpointBatchItem(Id=ids[i], Address=token(i), ChannelType="APNS") for i in range(start, start + 100)]))
    # 4 connections, and a wait for one short enough that a burst of 410s outlasts it: deactivation must wait
    # the busy pool out, not drop the update (it did: about a third of the dead tokens stayed ACTIVE).
    small = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        redis_server.url, max_connections=4, timeout=0.1))
    async with node_apns(tmp_path, ca, dead=[token(int(e[3:])) for e in dead]) as peer:
        cfg = push_config(redis_server.url, tmp_path, peer.url, "http://127.0.0.1:9", apns={"ca_file": peer.cafile})
        try:
            async with running(cfg, redis, worker_redis=small) as run:
                await run.producer.send_many("app1", [
                    {"Endpoints": {e: {} for e in ids[i:i + PER_REQUEST]},
                     "MessageConfiguration": {"APNSMessage": {"Body": "b"}}}
                    for i in range(0, PUSHES, PER_REQUEST)])
                outcomes = await run.outcomes(PUSHES, timeout=180)  # seconds on a quiet machine; a bound, not a figure
        finally:
            await small.aclose()
        stats = await peer.stats()
    per_endpoint = collections.Counter(e["client"]["client_id"] for e in outcomes)
    assert len(outcomes) == PUSHES and set(per_endpoint) == set(ids) and set(per_endpoint.values()) == {1}
    kinds = collections.Counter((e["client"]["client_id"] in dead, e["event_type"]) for e in outcomes)
    assert kinds == {(False, "_push.success"): PUSHES - len(dead), (True, "_push.unregistered"): len(dead)}
    assert stats["accepted"] == PUSHES - len(dead) and stats["duplicates"] == 0
    assert stats["answers"]["Unregistered"] == len(dead)
    status = {e.Id: e.EndpointStatus for e in await store.get_many("app1", ids) if e is not None}
    assert sorted(i for i, s in status.items() if s == "INACTIVE") == sorted(dead)
    assert all(status[i] == "ACTIVE" for i in ids if i not in dead)
    for lane in cfg.stream.lanes:
        assert (await redis.xpending(lane.send_key, cfg.stream.group))["pending"] == 0
        assert await redis.zcard(lane.retry_key) == 0
    assert await redis.xlen(cfg.stream.dead_key) == 0
