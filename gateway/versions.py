"""Documents kept as versions in one Redis hash (segments, campaigns): field `latest` holds the newest version's
number and field `v<N>` each version's JSON."""

from __future__ import annotations

import redis.asyncio as aioredis


async def latest_documents(redis: aioredis.Redis, hash_keys: list[str]) -> list[bytes]:
    """The latest version of each document (two pipelined round trips for any number of them); a document deleted
    meanwhile is left out."""
    pipe = redis.pipeline(transaction=False)
    for key in hash_keys:
        pipe.hget(key, "latest")
    latest = await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for key, v in zip(hash_keys, latest, strict=True):
        pipe.hget(key, f"v{int(v or 0)}")
    return [raw for raw in await pipe.execute() if raw is not None]
