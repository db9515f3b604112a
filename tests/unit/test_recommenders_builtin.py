"""The built-in recommender against a real Redis: planted co-occurrences recovered at the top of a generated
event history, recency-weighted popularity (mocked clock), cold start, exclusion of what a recipient already
had, the weight rescale, and the `gateway recommend` command."""

from __future__ import annotations

import random

import pytest
import redis.asyncio as aioredis

from gateway.cli import main as cli_main
from gateway.embedded_redis import EmbeddedRedis
from gateway.recommenders.builtin import (
    BuiltinRecommender,
    BuiltinSettings,
    Interaction,
    Recommendation,
    meta_key,
    pop_key,
    rank,
)

DAY = 86_400.0
T0 = 1_780_000_000.0


class Clock:
    """A mocked wall clock (seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def learn_in_batches(rec: BuiltinRecommender, app: str, events: list[Interaction], size: int = 100) -> None:
    for i in range(0, len(events), size):
        await rec.learn(app, events[i:i + size])


def history_with_planted_pairs(seed: int = 7) -> tuple[list[Interaction], list[tuple[str, str]]]:
    """400 users browsing 300 items with a heavy popularity skew (item-0..9 are everywhere), and five planted
    pairs: whoever looks at planted-a<k> also looks at planted-b<k> (and a few random items around them)."""
    rnd = random.Random(seed)
    items = [f"item-{i}" for i in range(300)]
    weights = [1.0 / (i + 1) for i in range(300)]
    pairs = [(f"planted-a{k}", f"planted-b{k}") for k in range(5)]
    events: list[Interaction] = []
    for u in range(400):
        endpoint = f"ep-{u}"
        browsing = rnd.choices(items, weights, k=rnd.randint(3, 12))
        if u % 4 == 0:
            a, b = pairs[(u // 4) % len(pairs)]
            cut = rnd.randint(0, len(browsing))
            browsing[cut:cut] = [a, b] if rnd.random() < 0.5 else [b, a]
        events += [(endpoint, None, item) for item in browsing]
    return events, pairs


async def test_planted_cooccurrences_come_out_on_top(redis: aioredis.Redis) -> None:
    rec = BuiltinRecommender(redis, clock=Clock())
    events, pairs = history_with_planted_pairs()
    await learn_in_batches(rec, "shop", events)
    for a, b in pairs:
        # a newcomer who just looked at one side of a pair gets the other side first
        await rec.learn("shop", [(f"new-{a}", None, a)])
        got = await rec.recommend("shop", f"new-{a}", 5)
        assert got[0].item == b and got[0].source == "co-occurrence", got
        assert a not in [r.item for r in got]
        await rec.learn("shop", [(f"new-{b}", None, b)])
        assert (await rec.recommend("shop", f"new-{b}", 1))[0].item == a


async def test_popular_items_do_not_drown_a_planted_partner(redis: aioredis.Redis) -> None:
    # "bestseller" is in every history, so it co-occurs with "camera" more often than the planted partner
    # "lens" does (lens follows camera in 60% of its histories): normalising by each item's count is what puts
    # the partner first (raw co-occurrence counts would answer bestseller)
    rnd = random.Random(3)
    rec = BuiltinRecommender(redis, clock=Clock())
    events: list[Interaction] = []
    for u in range(300):
        seq = ["bestseller", *rnd.sample([f"item-{i}" for i in range(100)], 3)]
        if u % 10 == 0:
            seq += ["camera", "lens"] if u % 50 < 30 else ["camera"]
        events += [(f"ep-{u}", None, item) for item in seq]
    await learn_in_batches(rec, "shop", events)
    await rec.learn("shop", [("probe", None, "camera")])
    top = await rec.recommend("shop", "probe", 3)
    assert top[0].item == "lens", top
    assert "bestseller" in [r.item for r in top]


async def test_cold_start_falls_back_to_popularity(redis: aioredis.Redis) -> None:
    rec = BuiltinRecommender(redis, clock=Clock())
    events = [(f"ep-{i}", None, "hat") for i in range(30)] + [(f"ep-{i}", None, "scarf") for i in range(20)] \
        + [(f"ep-{i}", None, "glove") for i in range(10)]
    await rec.learn("shop", events)
    got = await rec.recommend("shop", "someone-new", 5)
    assert [r.item for r in got] == ["hat", "scarf", "glove"]
    assert {r.source for r in got} == {"popularity"}
    assert await rec.recommend("empty-app", "anyone", 5) == []


async def test_old_popularity_decays(redis: aioredis.Redis) -> None:
    clock = Clock()
    rec = BuiltinRecommender(redis, BuiltinSettings(half_life_days=7.0), clock=clock)
    await rec.learn("a", [(f"ep-{i}", None, "last-season") for i in range(100)])
    await rec.learn("b", [(f"ep-{i}", None, "last-season") for i in range(100)])
    clock.now += 70 * DAY  # ten half-lives: 100 old events now weigh about 0.1 of a fresh one
    await rec.learn("a", [(f"ep-{i}", None, "this-week") for i in range(5)])
    assert [r.item for r in await rec.recommend("a", "newcomer", 2)] == ["this-week", "last-season"]
    # the control: the same five events one day after the old ones do not beat a hundred
    clock.now = T0 + DAY
    await rec.learn("b", [(f"ep-{i}", None, "this-week") for i in range(5)])
    assert [r.item for r in await rec.recommend("b", "newcomer", 2)] == ["last-season", "this-week"]


async def test_weights_are_rescaled_before_they_overflow(redis: aioredis.Redis) -> None:
    clock = Clock()
    rec = BuiltinRecommender(redis, BuiltinSettings(half_life_days=1.0), clock=clock)
    await rec.learn("a", [("e1", None, "x"), ("e2", None, "x"), ("e3", None, "y")])
    clock.now += 300 * DAY  # 2^300 would still fit a double, but 2^1100 would not: the script rescales at 2^256
    await rec.learn("a", [("e4", None, "z")])
    assert float(await redis.hget(meta_key("a"), "epoch")) == clock.now * 1000
    scores = dict(await redis.zrange(pop_key("a"), 0, -1, withscores=True))
    assert scores[b"z"] == 1.0 and 0 < scores[b"y"] < scores[b"x"] < 1e-80
    clock.now += 900 * DAY
    await rec.learn("a", [("e5", None, "w")])
    assert (await rec.recommend("a", "nobody", 2))[0].item == "w"


async def test_history_items_are_excluded_and_users_span_endpoints(redis: aioredis.Redis) -> None:
    rec = BuiltinRecommender(redis, clock=Clock())
    await rec.learn("shop", [("phone", "alice", "boots"), ("laptop", "alice", "socks")]
                    + [(f"ep-{i}", None, it) for i in range(10) for it in ("boots", "laces")])
    by_user = [r.item for r in await rec.recommend("shop", "alice", 5, "PINPOINT_USER_ID")]
    assert "boots" not in by_user and "socks" not in by_user and by_user[0] == "laces"
    # each endpoint keeps its own history too
    assert "boots" not in [r.item for r in await rec.recommend("shop", "phone", 5)]
    assert "socks" in [r.item for r in await rec.recommend("shop", "phone", 5)]


def test_rank_is_a_pure_decision() -> None:
    got = rank(history=[("a", 1000.0)], co_lists=[[("b", 4.0), ("c", 4.0), ("a", 9.0)]],
               counts={"a": 4.0, "b": 4.0, "c": 16.0}, popular=["a", "d", "b"], n=3, now_ms=1000.0,
               half_life_ms=1000.0)
    assert got == [Recommendation("b", 1.0, "co-occurrence"), Recommendation("c", 0.5, "co-occurrence"),
                   Recommendation("d", 2.0, "popularity")]


async def test_cli_prints_what_a_recipient_would_get(
    redis: aioredis.Redis, redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = BuiltinRecommender(redis)
    await rec.learn("shop", [("e1", None, "tent"), ("e1", None, "stove"), ("e2", None, "tent"),
                             ("e2", None, "stove"), ("e3", None, "lamp"), ("me", None, "tent")])
    code = await _cli(["recommend", "shop", "me", "-n", "2", "--redis", redis_server.url])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [line.split("\t") for line in out.out.splitlines()]
    assert [(item, source) for item, _, source in lines] == [("stove", "co-occurrence"), ("lamp", "popularity")]
    assert await _cli(["recommend", "nowhere", "me", "--redis", redis_server.url]) == 1
    assert "nothing to recommend" in capsys.readouterr().err


async def _cli(argv: list[str]) -> int:
    # the command runs its own event loop (asyncio.run): give it a thread of its own
    import asyncio

    return await asyncio.wait_for(asyncio.to_thread(cli_main, argv), 30)


async def test_the_learning_switch_is_cached_per_process_for_flag_ttl(redis: aioredis.Redis) -> None:
    from gateway import models
    from gateway.recommenders.store import RecommenderStore

    ticks = Clock(0.0)
    here = RecommenderStore(redis, flag_ttl_s=5.0, clock=ticks)
    there = RecommenderStore(redis, flag_ttl_s=5.0, clock=ticks)  # another API process
    assert await here.learning() is False
    made = await there.create(models.CreateRecommenderConfiguration(
        RecommendationProviderRoleArn="arn:aws:iam::123456789012:role/r", RecommendationProviderUri="gateway:builtin",
        RecommendationsDisplayName="Picks"))
    assert await there.learning() is True  # the process that made the change sees it at once
    assert await here.learning() is False  # the other one within flag_ttl_s
    ticks.now = 5.0
    assert await here.learning() is True
    await there.update(made.Id, models.UpdateRecommenderConfiguration(
        RecommendationProviderRoleArn="arn:aws:iam::123456789012:role/r",
        RecommendationProviderUri="https://models.example.com/r", RecommendationsDisplayName="Picks"))
    assert await there.learning() is False
    ticks.now = 10.0
    assert await here.learning() is False
