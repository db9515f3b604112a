"""The cold index build from Redis (SSCAN run ahead, several MGETs in flight) against a real Redis: the same columns
as indexing the same documents in memory, whatever the batch size, pipelining depth or client decoding; ids whose
document is gone are skipped; a failing scan fails the build and leaves no task behind."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway import _fast, keys
from gateway.embedded_redis import EmbeddedRedis
from gateway.endpoints.store import all_ids_key
from gateway.segments.index import build, from_documents

from ..unit.test_segments_build import columns

APP = "app"
KERNEL = _fast.load("segfilter")
enc = msgspec.json.Encoder().encode


def doc(i: int) -> bytes:
    return enc(
        {
            "Id": f"e{i}",
            "ChannelType": ["EMAIL", "SMS"][i % 2],
            "EffectiveDate": f"2024-05-{1 + i % 28:02d}T10:00:00.{i % 1000:03d}Z",
            "Attributes": {"plan": [f"p{i % 5}"], "tags": [f"t{i % 3}", f"t{i % 7}"][: i % 3]},
            "Metrics": {"m": float(i)} if i % 4 else {},
            "Demographic": {"Platform": "ios"} if i % 3 else None,
            "Location": {"Country": "FR", "Latitude": 1.5, "Longitude": float(i % 90)},
            "User": {"UserAttributes": {"tier": [f"t{i % 2}"]}},
        }
    )


async def seed(redis: aioredis.Redis, n: int) -> dict[str, bytes]:
    docs = {f"e{i}": doc(i) for i in range(n)}
    await redis.mset({keys.endpoint(APP, k): v for k, v in docs.items()})
    await redis.sadd(all_ids_key(APP), *docs, "gone")  # "gone": listed, document deleted meanwhile
    return docs


@pytest.mark.parametrize(("batch", "depth"), [(7, 1), (7, 2), (50, 3), (5000, 3)])
async def test_build_gives_the_columns_of_the_same_documents_in_memory(
    redis: aioredis.Redis, batch: int, depth: int
) -> None:
    docs = await seed(redis, 300)
    idx = await build(redis, APP, KERNEL, batch=batch, depth=depth)
    order = idx.ids(range(idx.n))
    assert sorted(order) == sorted(docs) and idx.live == 300
    assert columns(idx) == columns(from_documents([docs[i] for i in order], KERNEL))
    assert idx.row_of("e17") == order.index("e17") and idx.row_of("gone") == -1


async def test_build_with_a_decoding_client(redis_server: EmbeddedRedis, redis: aioredis.Redis) -> None:
    docs = await seed(redis, 40)
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        idx = await build(client, APP, KERNEL, batch=9, depth=2)
    finally:
        await client.aclose()
    order = idx.ids(range(idx.n))
    assert columns(idx) == columns(from_documents([docs[i] for i in order], KERNEL))


async def test_a_failing_scan_fails_the_build_and_leaves_no_task(redis: aioredis.Redis) -> None:
    await redis.set(all_ids_key(APP), "not a set")
    before = asyncio.all_tasks()
    with pytest.raises(aioredis.ResponseError, match="WRONGTYPE"):
        await build(redis, APP, KERNEL, batch=7, depth=2)
    left: set[Any] = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not left
