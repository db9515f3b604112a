"""The SMS opt-out list of each application, in Redis.

One Redis set per application, `gw:{app}:sms:optout`, of E.164 numbers, plus a hash `gw:{app}:sms:optout:why`
recording when and why (keyword, provider error) for audit. Pinpoint's opt-out is per application and SMS only:
voice and email to the same person are unaffected. The dispatcher calls :meth:`OptOutStore.is_opted_out` (or the
batched :meth:`OptOutStore.opted_out`) before every SMS send, so a send to an opted-out number ends OPT_OUT
with zero provider calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from gateway import keys
from gateway.phone import e164


def optout_key(app: str) -> str:
    return keys.app_key(app, "sms", "optout")


def optout_reason_key(app: str) -> str:
    return keys.app_key(app, "sms", "optout", "why")


class OptOutRecord(msgspec.Struct, kw_only=True):
    """Why a number is on the list: `source` is "keyword" (with the word received) or "provider" (with its code)."""

    source: str
    detail: str | None = None
    at_ms: int = 0


class OptOutStore:
    """Opt-out list operations. Numbers are normalized to E.164 on the way in, so "+1 (425) 555-0100" and
    "+14255550100" are one entry."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def _norm(number: str) -> str:
        # e164: a number already in E.164 (what sends carry) is checked without a full parse; others normalize
        return e164(number)

    @classmethod
    def _lookup_form(cls, number: str) -> str:
        """The stored form to look a number up by; one that cannot be parsed is looked up as given (it cannot
        have been stored normalized, and checking it must not fail the send it guards)."""
        try:
            return cls._norm(number)
        except ValueError:
            return number

    async def is_opted_out(self, app: str, number: str) -> bool:
        """True when `number` opted out of SMS for `app`."""
        return bool(await self._redis.sismember(optout_key(app), self._lookup_form(number)))

    async def opted_out(self, app: str, numbers: Sequence[str]) -> list[bool]:
        """Batched form of :meth:`is_opted_out` (one SMISMEMBER round trip), in the order given."""
        return await self.opted_out_e164(app, [self._lookup_form(n) for n in numbers])

    async def opted_out_e164(self, app: str, numbers: Sequence[str]) -> list[bool]:
        """:meth:`opted_out` for numbers already in their stored form, E.164 (as the SMS family's address check
        returns them): the send path does not normalize each number a second time."""
        if not numbers:
            return []
        res = await self._redis.smismember(optout_key(app), list(numbers))
        return [bool(x) for x in res]

    async def opt_out(self, app: str, number: str, *, source: str, detail: str | None = None) -> bool:
        """Add `number`; True if it was not on the list before."""
        e164 = self._norm(number)
        rec = msgspec.json.encode(OptOutRecord(source=source, detail=detail, at_ms=int(time.time() * 1000)))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(optout_key(app), e164)
            pipe.hset(optout_reason_key(app), e164, rec)
            added, _ = await pipe.execute()
        return bool(added)

    async def opt_in(self, app: str, number: str) -> bool:
        """Remove `number`; True if it was on the list."""
        e164 = self._norm(number)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(optout_key(app), e164)
            pipe.hdel(optout_reason_key(app), e164)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def reason(self, app: str, number: str) -> OptOutRecord | None:
        raw = await self._redis.hget(optout_reason_key(app), self._norm(number))
        return None if raw is None else msgspec.json.decode(raw, type=OptOutRecord)
