"""A date-range KPI query over the rollups: one pipelined round trip with one HMGET per day (HGETALL of the
campaign's hash when grouped by activity), or, grouped by campaign, one script call summing the by-campaign hash
of each counter read and day; for a unique KPI a second round trip of PFCOUNTs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway import models
from gateway.kpi import catalog

#: Why KPIs are refused when the deployment keeps no rollups ([events] rollups = false): they would read as zeros.
NOT_COMPUTED = ("KPIs are not being computed: [events] rollups is false in this deployment's config "
                "(docs/analytics.md)")

# Sums by-campaign hashes in Redis (KEYS the hashes, ARGV[i] the counter KEYS[i] holds): the reply is a total per
# (counter, campaign), not every day's fields (90 days x campaigns x counters) parsed and summed in Python.
# Read-only; every key is in the application's slot.
SUM_BY_CAMPAIGN = """
local sums, order = {}, {}
for i = 1, #KEYS do
  local c = ARGV[i]
  local acc = sums[c]
  if acc == nil then acc = {}; sums[c] = acc; order[#order + 1] = c end
  local flat = redis.call('HGETALL', KEYS[i])
  for j = 1, #flat, 2 do
    acc[flat[j]] = (acc[flat[j]] or 0) + tonumber(flat[j + 1])
  end
end
local out = {}
for _, c in ipairs(order) do
  for campaign, n in pairs(sums[c]) do
    out[#out + 1] = c; out[#out + 1] = campaign; out[#out + 1] = n
  end
end
return out
"""
_scripts: list[Any] = []


def _sum_script(redis: Any) -> Any:
    """The SUM_BY_CAMPAIGN script object (created once; each call names its client)."""
    if not _scripts:
        _scripts.append(redis.register_script(SUM_BY_CAMPAIGN))
    return _scripts[0]


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
    if kpi.group == "campaign":  # a hash per counter and day with a field per campaign: only what is needed
        summed = catalog.campaign_keys(app, kpi, day_list)
        flat = await _sum_script(redis)(keys=[k for _, k in summed], args=[c for c, _ in summed], client=redis)
        tallies = catalog.tally_by_campaign(flat)
    else:
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
