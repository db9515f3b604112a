"""`gateway kpi rebuild APP`: recompute an application's KPI rollups from the events stream, for when they lost
counts (a writer died between a batch's events and its rollups, or a rollup write failed: docs/analytics.md).

The application's rollup keys are deleted, then every retained event of the application up to the stream's last
id at the start is counted again (XRANGE pages, decoded with gateway.kpi.rollup's record shape) and written as
the writers write them (Roller, one script call per page). Events written after the start are counted by their
writers as usual. A writer's batch in flight at the very start may be counted twice (its rollups land after the
deletion and its events are in the range): run it when the application is quiet for exact numbers.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway import keys
from gateway.kpi.rollup import Roller, Tally, _decode


async def rebuild(redis: Any, events_key: str, app: str, *, retention_days: int, page: int = 1000) -> int:
    """Recompute `app`'s rollups from `events_key`; returns how many of its events were read."""
    info = await redis.xinfo_stream(events_key) if await redis.exists(events_key) else None
    last = info["last-generated-id"] if info is not None else None
    doomed = [k async for k in redis.scan_iter(match=keys.app_key(app, "kpi", "*"), count=1000)]
    for i in range(0, len(doomed), 500):
        await redis.unlink(*doomed[i:i + 500])
    if last is None:
        return 0
    roller = Roller(redis, retention_days=retention_days)
    seen, cursor = 0, "-"
    while True:
        entries = await redis.xrange(events_key, min=cursor, max=last, count=page)
        if not entries:
            return seen
        tally = Tally()
        for _, fields in entries:
            if fields.get(b"app", b"").decode() != app:
                continue
            seen += 1
            try:
                rec = _decode(fields.get(b"record", b""))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            tally.add(app, fields.get(b"event_type", b"").decode(), rec.event_timestamp,
                      msgspec.structs.asdict(rec.attributes), rec.client.client_id)
        await roller.write_or_raise(tally)
        last_id = entries[-1][0]
        cursor = "(" + (last_id.decode() if isinstance(last_id, bytes) else str(last_id))
