"""Provider token lifetimes on a mocked clock: APNs JWT (20-60 min), FCM OAuth2 (before expiry, once on 401)."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.parse

import jwt
import pytest
import redis.asyncio as aioredis

from gateway import errors
from gateway.channels.push_auth import FCM_SCOPE, ApnsTokens, FcmTokens, parse_service_account
from tests.push_support import EMAIL, KID, TEAM, FakeClock, ec_keys, rsa_keys, service_json

MIN = 60.0


def test_apns_token_is_shared_and_never_refreshed_before_20_minutes() -> None:
    clock = FakeClock(wall=1_700_000_000)
    tokens = ApnsTokens(clock, refresh_after=5 * MIN)  # asked for 5 min: clamped to Apple's 20-minute floor
    priv, pub = ec_keys()
    first = tokens.token(TEAM, KID, priv)
    claims = jwt.decode(first, pub, algorithms=["ES256"])
    assert claims == {"iss": TEAM, "iat": 1_700_000_000}
    assert jwt.get_unverified_header(first)["kid"] == KID
    for _ in range(19):
        clock.advance(MIN)
        assert tokens.token(TEAM, KID, priv) == first
    clock.advance(MIN - 0.001)
    assert tokens.token(TEAM, KID, priv) == first  # 19:59.999
    clock.advance(0.001)
    second = tokens.token(TEAM, KID, priv)
    assert second != first and tokens.minted[TEAM] == 2


def test_apns_token_default_refreshes_at_50_minutes_and_never_older_than_60() -> None:
    clock = FakeClock(wall=1_700_000_000)
    tokens = ApnsTokens(clock)  # default 50 min
    priv, _ = ec_keys()
    seen = {tokens.token(TEAM, KID, priv): clock.mono}
    for _ in range(24 * 60):  # a day, minute by minute
        clock.advance(MIN)
        t = tokens.token(TEAM, KID, priv)
        seen.setdefault(t, clock.mono)
    starts = sorted(seen.values())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(20 * MIN <= g < 60 * MIN for g in gaps)
    assert all(g == 50 * MIN for g in gaps)
    too_long = ApnsTokens(clock, refresh_after=3 * 3600)
    assert too_long.refresh_after < 60 * MIN


def test_apns_expired_provider_token_regenerates_once() -> None:
    clock = FakeClock(wall=1_700_000_000)
    tokens = ApnsTokens(clock)
    priv, _ = ec_keys()
    old = tokens.token(TEAM, KID, priv)
    clock.advance(25 * MIN)
    fresh = tokens.rejected_as_expired(TEAM, KID, priv, old)
    assert fresh is not None and fresh != old
    # many in-flight requests rejected with the old token: no further regeneration
    assert tokens.rejected_as_expired(TEAM, KID, priv, old) == fresh
    assert tokens.minted[TEAM] == 2
    # the fresh one rejected right away (skewed clock): no regeneration under the 20-minute floor
    assert tokens.rejected_as_expired(TEAM, KID, priv, fresh) is None
    assert tokens.minted[TEAM] == 2


def test_apns_tokens_are_per_team() -> None:
    clock = FakeClock(wall=1_700_000_000)
    tokens = ApnsTokens(clock)
    priv, _ = ec_keys()
    assert tokens.token("TEAMA", KID, priv) != tokens.token("TEAMB", KID, priv)


def test_apns_bad_key_is_auth_failed() -> None:
    with pytest.raises(errors.AuthFailed):
        ApnsTokens(FakeClock(0)).token(TEAM, KID, "not a key")


class FakeTokenEndpoint:
    def __init__(self, status: int = 200, expires_in: int = 3600) -> None:
        self.status = status
        self.expires_in = expires_in
        self.calls: list[dict[str, list[str]]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, body: bytes) -> tuple[int, bytes]:
        self.calls.append(urllib.parse.parse_qs(body.decode()))
        if self.gate is not None:
            await self.gate.wait()
        if self.status != 200:
            return self.status, b'{"error": "invalid_grant"}'
        return 200, json.dumps({"access_token": f"tok{len(self.calls)}", "expires_in": self.expires_in}).encode()


def fcm_tokens(endpoint: FakeTokenEndpoint, clock: FakeClock) -> FcmTokens:
    return FcmTokens(parse_service_account(service_json()), "https://oauth.test/token", endpoint, clock)


async def test_fcm_assertion_claims() -> None:
    clock = FakeClock(wall=1_700_000_000)
    ep = FakeTokenEndpoint()
    tokens = fcm_tokens(ep, clock)
    assert await tokens.token() == "tok1"
    form = ep.calls[0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], rsa_keys()[1], algorithms=["RS256"], audience="https://oauth.test/token",
                        options={"verify_exp": False})
    assert claims == {"iss": EMAIL, "scope": FCM_SCOPE, "aud": "https://oauth.test/token", "iat": 1_700_000_000,
                      "exp": 1_700_003_600}


async def test_fcm_token_cached_and_refreshed_before_expiry() -> None:
    clock = FakeClock(wall=1_700_000_000)
    ep = FakeTokenEndpoint(expires_in=3600)
    tokens = fcm_tokens(ep, clock)  # margin 300 s
    assert await tokens.token() == "tok1"
    clock.advance(3299)
    assert await tokens.token() == "tok1" and len(ep.calls) == 1
    clock.advance(1)
    assert await tokens.token() == "tok2" and len(ep.calls) == 2


async def test_fcm_401_refreshes_once_even_with_many_callers() -> None:
    clock = FakeClock(wall=1_700_000_000)
    ep = FakeTokenEndpoint()
    tokens = fcm_tokens(ep, clock)
    old = await tokens.token()
    ep.gate = asyncio.Event()
    waiters = [asyncio.create_task(tokens.rejected(old)) for _ in range(5)]
    await asyncio.sleep(0)
    ep.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"tok2"}
    assert len(ep.calls) == 2
    assert await tokens.rejected(old) == "tok2"  # already replaced: no third fetch
    assert len(ep.calls) == 2


async def test_fcm_token_endpoint_refusal_is_auth_failed() -> None:
    tokens = fcm_tokens(FakeTokenEndpoint(status=400), FakeClock(0))
    with pytest.raises(errors.AuthFailed) as ei:
        await tokens.token()
    assert ei.value.detail == "invalid_grant"
    tokens = fcm_tokens(FakeTokenEndpoint(status=503), FakeClock(0))
    with pytest.raises(errors.ProviderUnavailable):
        await tokens.token()


async def test_apns_token_is_shared_by_processes_through_redis(redis: aioredis.Redis) -> None:
    """Two workers (two ApnsTokens) of one team present one token to APNs, refreshed once per 50 minutes."""
    priv, _ = ec_keys()
    a_clock, b_clock = FakeClock(wall=1_700_000_000), FakeClock(wall=1_700_000_000)
    a, b = ApnsTokens(a_clock), ApnsTokens(b_clock)
    first = await a.share(redis, TEAM, KID, priv)
    assert not a.due(TEAM, KID) and b.due(TEAM, KID)
    assert await b.share(redis, TEAM, KID, priv) == first == b.token(TEAM, KID, priv)
    assert (a.minted[TEAM], b.minted.get(TEAM, 0)) == (1, 0)
    for c in (a_clock, b_clock):
        c.advance(50 * MIN)
    assert a.due(TEAM, KID) and b.due(TEAM, KID)
    second = await b.share(redis, TEAM, KID, priv)
    assert second != first and await a.share(redis, TEAM, KID, priv) == second
    assert (a.minted[TEAM], b.minted[TEAM]) == (1, 1)


async def test_apns_token_share_race_has_one_winner(redis: aioredis.Redis) -> None:
    priv, _ = ec_keys()
    a, b = ApnsTokens(FakeClock(wall=1_700_000_000)), ApnsTokens(FakeClock(wall=1_700_000_000))
    # both read "nothing" before either publishes: the compare-and-set lets one token through
    got = await asyncio.gather(a.share(redis, TEAM, KID, priv), b.share(redis, TEAM, KID, priv))
    assert got[0] == got[1]
    assert a.minted.get(TEAM, 0) + b.minted.get(TEAM, 0) == 1
    # many concurrent callers in one process: one round trip, one token
    c = ApnsTokens(FakeClock(wall=1_700_000_000 + 3000))
    await redis.delete("gw:{apns-jwt:" + TEAM + "}:" + KID)
    tokens = await asyncio.gather(*(c.share(redis, TEAM, KID, priv) for _ in range(20)))
    assert len(set(tokens)) == 1 and c.minted[TEAM] == 1
