"""A date-range KPI query over the rollups: one pipelined round trip with one HMGET per day (HGETALL when grouped
by campaign or activity), and for a unique KPI a second of PFCOUNTs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from redis.exceptions import ResponseError

from gateway import models
from gateway.kpi import catalog, rollup

#: Why KPIs are refused while no worker runs the rollup consumer (its rollups would read as zeros).
NOT_COMPUTED = ("KPIs are not being computed: no worker runs the rollup consumer. Set [events] rollups = true on a "
                "worker (docs/analytics.md); events written from then on are counted")


async def rollups_running(redis: Any, events_key: str) -> bool:
    """Whether the rollup consumer group exists on the events stream (True too when there is no stream yet:
    nothing was ever sent, so zeros are the truth)."""
    try:
        groups = await redis.xinfo_groups(events_key)
    except ResponseError:
        return True
    return any(rollup.GROUP == (g["name"].decode() if isinstance(g["name"], bytes) else g["name"]) for g in groups)


async def date_range_kpi(redis: Any, app: str, level: str, target: str, name: str, start: dt.datetime,
                         end: dt.datetime) -> list[models.ResultRow]:
    """The rows of KPI `name` for `app` (`level` application, campaign or journey `target`) over [start, end]
    (already checked by catalog.date_range); catalog.RangeError for an unknown name."""
    return await run(redis, app, level, target, catalog.lookup(level, name), start, end)


async def run(redis: Any, app: str, level: str, target: str, kpi: catalog.Kpi, start: dt.datetime,
              end: dt.datetime) -> list[models.ResultRow]:
    """The rows of `kpi` (one of the catalog's, or a definition of the same shape such as the dashboard's
    all-channel counts) for `app` at `level` / `target` over [start, end]."""
    day_list = catalog.days(start, end)
    wanted = catalog.fields(kpi)
    pipe = redis.pipeline(transaction=False)
    for key in catalog.hash_keys(app, level, target, day_list):
        if wanted is None:
            pipe.hgetall(key)
        else:
            pipe.hmget(key, wanted)
    tallies = catalog.tally(kpi, dict(zip(day_list, await pipe.execute(), strict=True)))
    uniques: dict[str, int] = {}
    if kpi.kind == "unique":
        groups = list(tallies) if kpi.group in ("campaign", "activity") else []
        plan = catalog.unique_keys(app, kpi, level, target, day_list, groups)
        pipe = redis.pipeline(transaction=False)
        for key_list in plan.values():
            pipe.pfcount(*key_list)
        uniques = dict(zip(plan, (int(n) for n in await pipe.execute()), strict=True))
    groups_seen = set(tallies) | set(uniques)
    values = {g: catalog.value(kpi, tallies.get(g, {}), uniques.get(g, 0)) for g in groups_seen}
    return catalog.rows(kpi, values, day_list)
