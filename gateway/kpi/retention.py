"""The events stream's retention: entries older than `[events] retention_days` are trimmed with XTRIM MINID, by
age only. A consumer group (an event destination, the rollups) lagging by more than the retention loses its
oldest unread entries; the engine is never held back by a slow reader."""

from __future__ import annotations

from typing import Any

DAY_MS = 86_400_000


def min_id(now_ms: int, retention_days: int) -> str:
    """The MINID below which entries are older than the retention (entry ids start with their ms timestamp)."""
    return f"{max(0, now_ms - retention_days * DAY_MS)}-0"


async def trim(redis: Any, key: str, retention_days: int, now_ms: int) -> int:
    """Trim `key` to the retention; returns how many entries went. Exact MINID (not `~`): the stream is
    trimmed only every few minutes, so the cost is small and the bound exact."""
    return int(await redis.execute_command("XTRIM", key, "MINID", min_id(now_ms, retention_days)))
