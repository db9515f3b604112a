"""The per-application suppression list: addresses that hard-bounced or complained are never sent to again.

A send to a suppressed address ends PERMANENT_FAILURE with a StatusMessage naming the reason, and makes no
provider call. Stored as a Redis hash `gw:{app}:suppressed` (address, lower-cased → JSON {reason, at}).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from gateway import keys
from gateway.redisconn import text

REASONS = ("BOUNCE", "COMPLAINT", "MANUAL")


class Suppression(msgspec.Struct):
    reason: str
    at: int  # unix ms
    detail: str = ""


_decode = msgspec.json.Decoder(Suppression).decode
_encode = msgspec.json.Encoder().encode


def entry(reason: str, detail: str = "") -> bytes:
    return _encode(Suppression(reason=reason, at=int(time.time() * 1000), detail=detail[:200]))


class SuppressionList:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def add(self, app: str, address: str, reason: str = "MANUAL", detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}")
        await self.redis.hset(keys.suppressed(app), address.lower(), entry(reason, detail))

    async def remove(self, app: str, address: str) -> bool:
        return bool(await self.redis.hdel(keys.suppressed(app), address.lower()))

    async def lookup(self, app: str, addresses: Sequence[str]) -> list[Suppression | None]:
        if not addresses:
            return []
        raw = await self.redis.hmget(keys.suppressed(app), [a.lower() for a in addresses])
        return [None if r is None else _decode(r) for r in raw]

    async def list(self, app: str) -> dict[str, Suppression]:
        raw = await self.redis.hgetall(keys.suppressed(app))
        return {text(k): _decode(v) for k, v in raw.items()}
