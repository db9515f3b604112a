"""The per-endpoint campaign counters behind Daily and Total (limits.py), shared exactly by every worker.

    admitted = await CapStore(redis).admit(app, campaign_id, run_number, endpoint_ids, caps, now)

One script call per chunk of recipients checks and counts them all atomically (no round trip per recipient, and
two workers can never both take an endpoint's last message). Keys, under the application's hash tag so the
script's keys are all in one cluster slot:
- `gw:{app}:camp:<id>:cap:<endpoint>`: zset of the runs of campaign <id> that messaged the endpoint, member the run
  number, score the send time (ms). Daily counts the members of the last 24 h, Total all of them. Without a Total
  it is trimmed to the last 24 h and expires 24 h after its last send; with a Total it lives as long as the
  campaign (Total is over the campaign's whole life): DeleteCampaign removes it (`forget_campaign`).
- `gw:{app}:camp:cap:<endpoint>`: zset of every campaign run that messaged the endpoint while the application had
  a Daily (`<campaign>:<run>`, score the send time), trimmed to 24 h and expiring 24 h after its last send.

The members make a repeat idempotent: a chunk enqueued again after a takeover finds its endpoints already counted
for this run and lets them through without counting them twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

import redis.asyncio as aioredis

from gateway import keys
from gateway.campaigns.limits import CAMPAIGN_CAP, DAILY_CAP, DAY, Caps

#: What `admit` answers per endpoint: None (admitted and counted) or the reason it is not messaged.
_CODES: Final[dict[int, str | None]] = {0: None, 1: DAILY_CAP, 2: CAMPAIGN_CAP}

# KEYS: per endpoint its campaign zset, then (when ARGV[6] is 1) its application zset.
# ARGV: now (ms), "(" .. start of the 24 h window (ms), Daily, Total, the application's Daily (0: none), whether
# the application's zset is kept (1/0), this run's member, its member in the application's zset, window (ms).
_ADMIT = """
local now, since = tonumber(ARGV[1]), ARGV[2]
local daily, total, appdaily = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stride = tonumber(ARGV[6]) == 1 and 2 or 1
local m, am, window = ARGV[7], ARGV[8], tonumber(ARGV[9])
local out = {}
for i = 1, #KEYS, stride do
  local ck = KEYS[i]
  local code = 0
  if not redis.call('ZSCORE', ck, m) then
    if total > 0 and redis.call('ZCARD', ck) >= total then
      code = 2
    elseif daily > 0 and redis.call('ZCOUNT', ck, since, '+inf') >= daily then
      code = 1
    elseif appdaily > 0 and redis.call('ZCOUNT', KEYS[i + 1], since, '+inf') >= appdaily then
      code = 1
    end
    if code == 0 then
      redis.call('ZADD', ck, now, m)
      if total == 0 then
        redis.call('ZREMRANGEBYSCORE', ck, '-inf', '(' .. string.sub(since, 2))
        redis.call('PEXPIRE', ck, window)
      end
      if stride == 2 then
        local ak = KEYS[i + 1]
        redis.call('ZADD', ak, now, am)
        redis.call('ZREMRANGEBYSCORE', ak, '-inf', '(' .. string.sub(since, 2))
        redis.call('PEXPIRE', ak, window)
      end
    end
  end
  out[#out + 1] = code
end
return out
"""


def campaign_cap_key(app: str, campaign_id: str, endpoint_id: str) -> str:
    return keys.app_key(app, "camp", campaign_id, "cap", endpoint_id)


def app_cap_key(app: str, endpoint_id: str) -> str:
    return keys.app_key(app, "camp", "cap", endpoint_id)


async def forget_campaign(redis: aioredis.Redis, app: str, campaign_id: str) -> None:
    """Remove a deleted campaign's counters (its Total zsets are kept for the campaign's life, so nothing else
    would): a SCAN of the keyspace for its prefix, as deleting an application does; DeleteCampaign is rare."""
    pattern = campaign_cap_key(app, campaign_id, "*").replace("{", "\\{").replace("}", "\\}")
    batch: list[bytes | str] = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


class CapStore:
    """Daily and Total counters per endpoint (module doc)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._admit = redis.register_script(_ADMIT)

    async def admit(
        self, app: str, campaign_id: str, run: int | str, endpoint_ids: Sequence[str], caps: Caps, now: dt.datetime
    ) -> list[str | None]:
        """Check and count a chunk of a run's recipients at once: per endpoint, None when it may be messaged (now
        counted), else DAILY_CAP or CAMPAIGN_CAP. A recipient already counted for this run is admitted again
        without being counted twice. `run` is the run's number, or for an EVENT campaign the event's own member
        (`e<entry id>`: every event is a send of its own)."""
        if not endpoint_ids or not caps.counted:
            return [None] * len(endpoint_ids)
        now_ms = int(now.timestamp() * 1000)
        window = int(DAY.total_seconds() * 1000)
        track = caps.track_app
        key_list: list[str] = []
        for eid in endpoint_ids:
            key_list.append(campaign_cap_key(app, campaign_id, eid))
            if track:
                key_list.append(app_cap_key(app, eid))
        codes = await self._admit(keys=key_list, args=[
            now_ms, f"({now_ms - window}", caps.daily or 0, caps.total or 0, caps.app_daily or 0, int(track),
            str(run), f"{campaign_id}:{run}", window,
        ])
        return [_CODES[int(c)] for c in codes]
