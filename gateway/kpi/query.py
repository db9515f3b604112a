"""A date-range KPI query over the rollups: one pipelined round trip with one HMGET per day (HGETALL when grouped
by campaign or activity), and for a unique KPI a second of PFCOUNTs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway import models
from gateway.kpi import catalog


async def date_range_kpi(redis: Any, app: str, level: str, target: str, name: str, start: dt.datetime,
                         end: dt.datetime) -> list[models.ResultRow]:
    """The rows of KPI `name` for `app` (`level` application, campaign or journey `target`) over [start, end]
    (already checked by catalog.date_range); catalog.RangeError for an unknown name."""
    kpi = catalog.lookup(level, name)
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
