"""Documents kept as versions in one Redis hash (segments, campaigns): field `latest` holds the newest version's
number and field `v<N>` each version's JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def page_start(token: str | None, error: Callable[[str], Exception]) -> int:
    """Where a listing's page starts: 0, or the NextToken a previous page returned (anything else: `error`)."""
    if token is not None and not token.isdigit():
        raise error("Token is not a token this listing returned")
    return int(token or 0)


async def page_ids(redis: aioredis.Redis, list_key: str, start: int, size: int | None) -> tuple[list[str], str | None]:
    """One page of the ids of a listing (`list_key`, a zset of ids oldest first) from position `start` (`size` of
    them, None: all), and the NextToken of the page after it (None on the last)."""
    stop = -1 if size is None else start + size  # one more than the page, to know whether there is a next
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in await redis.zrange(list_key, start, stop)]
    more = size is not None and len(ids) > size
    ids = ids[:size] if size is not None else ids
    return ids, str(start + len(ids)) if more else None


async def latest_page(
    redis: aioredis.Redis, list_key: str, hash_key: Callable[[str], str], start: int, size: int | None
) -> tuple[list[bytes], str | None]:
    """One page of a listing (page_ids; `hash_key(id)`, each id's hash): the latest version of each document,
    and the NextToken of the page after it (None on the last)."""
    ids, next_token = await page_ids(redis, list_key, start, size)
    return await latest_documents(redis, [hash_key(i) for i in ids]), next_token


async def versions_page(
    redis: aioredis.Redis, hash_key: str, latest: int, start: int, size: int | None
) -> tuple[list[bytes], str | None]:
    """One page of a document's versions, newest first, from position `start` (`size` of them, None: all) given
    its latest version number, and the NextToken of the page after it (None on the last)."""
    numbers = list(range(latest, 0, -1))
    page = numbers[start : start + size] if size is not None else numbers[start:]
    raws: list[Any] = await redis.hmget(hash_key, [f"v{v}" for v in page]) if page else []
    more = size is not None and start + size < len(numbers)
    return [r for r in raws if r is not None], str(start + len(page)) if more else None
