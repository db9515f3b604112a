"""The retry schedule and the dead-letter stream.

Temporary failures are re-enqueued later: the retry entry's fields go into a ZSET scored by due time (ms), and a
mover moves due entries back into the ingest stream with one atomic Lua script, so several workers can run the
mover and an entry is re-enqueued once. (On Redis Cluster give the stream prefix a hash tag, e.g. `{gateway}`,
so the ZSET and the stream share a slot.) Backoff is exponential with full jitter, capped, and a provider's
retry hint wins when it is longer. After `max_attempts` the entry goes to the dead-letter stream with the reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import msgspec
from redis.typing import EncodableT, FieldT

from gateway.config import RetryConfig

_encode = msgspec.json.Encoder().encode

_MOVE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local fields = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


_RNG = random.Random()


def backoff_s(cfg: RetryConfig, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1`: full-jitter exponential backoff, at least the provider's hint."""
    ceiling = min(cfg.cap_s, cfg.base_s * (2 ** max(0, attempt - 1)))
    delay: float = ceiling / 2 + (rng or _RNG).uniform(0, ceiling / 2)  # "equal jitter": never retries immediately
    if retry_after is not None:
        delay = max(delay, min(retry_after, cfg.cap_s))
    return delay


def schedule_member(fields: dict[str, bytes], nonce: str) -> bytes:
    """The ZSET member for a retry entry: a flat JSON list of field names and values (plus a unique nonce)."""
    flat: list[str] = []
    for k, v in fields.items():
        flat += [k, v.decode("utf-8")]
    flat += ["retry_nonce", nonce]
    return _encode(flat)


class RetryMover:
    """Moves due retries back into the ingest stream."""

    def __init__(self, redis: Any, retry_key: str, stream_key: str) -> None:
        self.redis = redis
        self.retry_key = retry_key
        self.stream_key = stream_key
        self._script = redis.register_script(_MOVE)

    async def move_due(self, now_ms: int, limit: int = 500) -> int:
        return int(await self._script(keys=[self.retry_key, self.stream_key], args=[now_ms, limit]))


def text_fields(fields: dict[bytes, bytes]) -> dict[str, bytes]:
    """A raw stream entry's fields with text names, for dead_fields. Producers can write any bytes: a name that is
    not UTF-8 is kept readable with backslash escapes, so it cannot stop the entry from being dead-lettered."""
    return {k.decode("utf-8", "backslashreplace"): v for k, v in fields.items()}


def dead_fields(fields: Mapping[str, bytes], reason: str, attempts: int, failed_at_ms: int,
                stream: str | None = None) -> dict[FieldT, EncodableT]:
    """A dead-letter entry: the original fields plus why, after how many attempts, when, and from which stream
    (typed as XADD takes its fields)."""
    out: dict[FieldT, EncodableT] = {}
    out.update(fields)
    if stream:
        out["stream"] = stream.encode()
    # cut at 2000 bytes without splitting a character: readers of the dead-letter stream decode it as UTF-8
    out["reason"] = reason.encode("utf-8", "replace")[:2000].decode("utf-8", "ignore").encode()
    out["attempts"] = str(attempts).encode()
    out["failed_at"] = str(failed_at_ms).encode()
    return out
