"""The built-in recommender: item co-occurrence learned incrementally from PutEvents, with recency-weighted
popularity as the fallback. For users with no model service (RecommendationProviderUri `gateway:builtin`).

What it learns from: every PutEvents event whose Attributes carry an item id under the configured attribute name
(`recommenders.item_attribute`, default `item_id`), for the event's endpoint and, when the request's Endpoint
names a User.UserId, for that user too. Learning is on only while some recommender configuration names
`gateway:builtin` (gateway/recommenders/store.py `learning()`).

Redis, per application, all under the application's hash tag (one cluster slot; the scripts build the `co:` keys
from the declared prefix, which carries the same tag):

    gw:{app}:rec:meta          HASH  epoch → ms, the time popularity weights are measured from
    gw:{app}:rec:pop           ZSET  item → Σ 2^((arrival - epoch) / half_life): recency-weighted popularity
    gw:{app}:rec:n             HASH  item → how many histories it entered (the co-occurrence normaliser)
    gw:{app}:rec:co:<item>     ZSET  other item → times both were in one history (trimmed to its top co_size)
    gw:{app}:rec:h:e:<id>      ZSET  item → last interaction ms, of an endpoint (trimmed to history_size)
    gw:{app}:rec:h:u:<id>      ZSET  the same, of a user

Learning (one Lua script per PutEvents request, queued on the request's own pipeline, so no extra round trip):
each event adds its weight to the item's popularity; an item new to the history pairs with the `pair_window` most
recent items there (co-occurrence +1 both ways) and counts once in `n`. Weights grow as 2^(t/half_life) instead of
every score decaying (the usual forward-decay trick); when the exponent passes 256 the script rescales the
popularity set once and moves the epoch, so scores never overflow.

Answering (one Lua script, one round trip): the recipient's history, the top co-occurring items of its
`pair_window` most recent items (the top `co_read` of each), their counts and the most popular items; `rank` (pure) scores each candidate
Σ recency(x) · co(x, y) / √(n(x) · n(y)) (cosine-normalised, so a merely popular item does not beat a planted
partner), leaves out what the recipient already interacted with, and fills the rest from popularity (cold start:
popularity only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Final, Literal

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from gateway import keys

#: (endpoint id, user id or None, item id): one event that named an item.
Interaction = tuple[str, str | None, str]
IdType = Literal["PINPOINT_ENDPOINT_ID", "PINPOINT_USER_ID"]
_DAY_MS: Final = 86_400_000

_LEARN = """
local now = tonumber(ARGV[1])
local hl = tonumber(ARGV[2])
local hcap = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local cocap = tonumber(ARGV[5])
local coprefix = ARGV[6]
local ttl = tonumber(ARGV[7])
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch'))
if not epoch then
  epoch = now
  redis.call('HSET', KEYS[1], 'epoch', now)
end
local exp = (now - epoch) / hl
if exp > 256 then
  -- forward decay's weights grow with time: rescale once so they stay far from overflow
  local all = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local f = 2 ^ (-exp)
  for i = 1, #all, 2 do redis.call('ZADD', KEYS[2], tonumber(all[i + 1]) * f, all[i]) end
  epoch = now
  redis.call('HSET', KEYS[1], 'epoch', now)
  exp = 0
end
local weight = 2 ^ exp
local touched = {}
local popular = {}
for i = 8, #ARGV, 3 do
  local hkey = KEYS[tonumber(ARGV[i])]
  local second = tonumber(ARGV[i + 1])
  local item = ARGV[i + 2]
  popular[item] = (popular[item] or 0) + weight
  if not redis.call('ZSCORE', hkey, item) then
    local recent = redis.call('ZREVRANGE', hkey, 0, window - 1)
    for _, other in ipairs(recent) do
      redis.call('ZINCRBY', coprefix .. item, 1, other)
      redis.call('ZINCRBY', coprefix .. other, 1, item)
      touched[other] = true
    end
    touched[item] = true
    redis.call('HINCRBY', KEYS[3], item, 1)
  end
  redis.call('ZADD', hkey, now, item)
  if second > 0 then redis.call('ZADD', KEYS[second], now, item) end
end
-- one ZINCRBY per distinct item of the batch (popular items repeat within a batch)
for item, w in pairs(popular) do redis.call('ZINCRBY', KEYS[2], w, item) end
for i = 4, #KEYS do
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(hcap + 1))
  redis.call('PEXPIRE', KEYS[i], ttl)
end
for item in pairs(touched) do
  local k = coprefix .. item
  if redis.call('ZCARD', k) > 2 * cocap then redis.call('ZREMRANGEBYRANK', k, 0, -(cocap + 1)) end
end
return 0
"""

_ANSWER = """
local hist = redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local window = tonumber(ARGV[1])
local lists = {}
local seen = {}
local cands = {}
local used = math.min(#hist / 2, window)
for i = 1, used do
  local item = hist[2 * i - 1]
  local co = redis.call('ZREVRANGE', ARGV[4] .. item, 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
  lists[i] = co
  if not seen[item] then seen[item] = true; cands[#cands + 1] = item end
  for j = 1, #co, 2 do
    if not seen[co[j]] then seen[co[j]] = true; cands[#cands + 1] = co[j] end
  end
end
local counts = {}
if #cands > 0 then counts = redis.call('HMGET', KEYS[3], unpack(cands)) end
local pop = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)
return {hist, lists, cands, counts, pop}
"""


class BuiltinSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the built-in recommender learns (config `[recommenders]`, gateway/config.py RecommendersConfig)."""

    item_attribute: str = "item_id"
    half_life_days: float = 7.0
    history_size: int = 50
    pair_window: int = 5
    co_size: int = 200
    co_read: int = 50
    history_ttl_days: float = 90.0


class Recommendation(msgspec.Struct, frozen=True):
    """One recommended item, its score, and whether co-occurrence or popularity chose it."""

    item: str
    score: float
    source: Literal["co-occurrence", "popularity"]


def meta_key(app: str) -> str:
    return keys.app_key(app, "rec", "meta")


def pop_key(app: str) -> str:
    return keys.app_key(app, "rec", "pop")


def count_key(app: str) -> str:
    return keys.app_key(app, "rec", "n")


def co_prefix(app: str) -> str:
    return keys.app_key(app, "rec", "co", "")


def history_key(app: str, id_type: IdType, recipient: str) -> str:
    return keys.app_key(app, "rec", "h", "u" if id_type == "PINPOINT_USER_ID" else "e", recipient)


def rank(
    history: Sequence[tuple[str, float]], co_lists: Sequence[Sequence[tuple[str, float]]],
    counts: dict[str, float], popular: Sequence[str], n: int, now_ms: float, half_life_ms: float,
) -> list[Recommendation]:
    """The `n` best items for a recipient with `history` (item, last ms; newest first) given the co-occurrence
    lists of its newest items (same order), the items' history counts and the most popular items: co-occurrence
    first (recency-weighted, cosine-normalised), then popularity; never an item of the history."""
    seen = {item for item, _ in history}
    scores: dict[str, float] = {}
    for (item, at), co in zip(history, co_lists, strict=False):
        recency = 0.5 ** (max(0.0, now_ms - at) / half_life_ms)
        norm = math.sqrt(counts.get(item, 1.0) or 1.0)
        for other, together in co:
            if other in seen:
                continue
            scores[other] = scores.get(other, 0.0) + recency * together / (
                norm * math.sqrt(counts.get(other, 1.0) or 1.0))
    best = sorted(scores, key=lambda i: (-scores[i], i))[:n]
    out = [Recommendation(item, scores[item], "co-occurrence") for item in best]
    chosen = seen | set(best)
    for position, item in enumerate(popular):
        if len(out) >= n:
            break
        if item not in chosen:
            chosen.add(item)
            out.append(Recommendation(item, float(len(popular) - position), "popularity"))
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: Sequence[bytes | str]) -> list[tuple[str, float]]:
    return [(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class BuiltinRecommender:
    """Learns from interactions and answers recommendations, per application, in Redis. `clock` gives the
    current time in seconds (time.time; tests pass a mocked one)."""

    def __init__(self, redis: aioredis.Redis, settings: BuiltinSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.settings = settings or BuiltinSettings()
        self.clock = clock
        self._learn = redis.register_script(_LEARN)
        self._answer = redis.register_script(_ANSWER)

    @property
    def half_life_ms(self) -> float:
        return self.settings.half_life_days * _DAY_MS

    def _learn_call(self, app: str, interactions: Sequence[Interaction]) -> tuple[list[str], list[str | int | float]]:
        s = self.settings
        history_keys: dict[str, int] = {}

        def slot(key: str) -> int:
            return history_keys.setdefault(key, len(history_keys) + 4)  # KEYS[4...] in Lua's 1-based numbering

        triples: list[str | int | float] = []
        for endpoint_id, user_id, item in interactions:
            endpoint = slot(history_key(app, "PINPOINT_ENDPOINT_ID", endpoint_id))
            if user_id:
                # the user's history is the union over its devices: pairs are counted there, once
                triples += [slot(history_key(app, "PINPOINT_USER_ID", user_id)), endpoint, item]
            else:
                triples += [endpoint, 0, item]
        args: list[str | int | float] = [
            int(self.clock() * 1000), self.half_life_ms, s.history_size, s.pair_window, s.co_size, co_prefix(app),
            int(s.history_ttl_days * _DAY_MS), *triples,
        ]
        return [meta_key(app), pop_key(app), count_key(app), *history_keys], args

    async def stage(self, pipe: Pipeline, app: str, interactions: Sequence[Interaction]) -> None:
        """Queue the learning script for `interactions` on `pipe` (sent when the caller executes it)."""
        if interactions:
            script_keys, args = self._learn_call(app, interactions)
            await self._learn(keys=script_keys, args=args, client=pipe)

    async def learn(self, app: str, interactions: Sequence[Interaction]) -> None:
        """Learn from `interactions` now, in one round trip."""
        if interactions:
            script_keys, args = self._learn_call(app, interactions)
            await self._learn(keys=script_keys, args=args)

    async def recommend(self, app: str, recipient: str, n: int,
                        id_type: IdType = "PINPOINT_ENDPOINT_ID") -> list[Recommendation]:
        """Up to `n` items for an endpoint (or, with PINPOINT_USER_ID, a user) of `app`, in one round trip."""
        s = self.settings
        hist_raw, lists_raw, cands, counts_raw, pop = await self._answer(
            keys=[history_key(app, id_type, recipient), pop_key(app), count_key(app)],
            args=[s.pair_window, s.co_read, n + s.history_size, co_prefix(app)],
        )
        history = _pairs(hist_raw)
        counts = {_text(c): float(k) for c, k in zip(cands, counts_raw, strict=False) if k is not None}
        return rank(history, [_pairs(co) for co in lists_raw], counts, [_text(p) for p in pop], n,
                    self.clock() * 1000, self.half_life_ms)
