"""Provider tokens for push: APNs ES256 provider JWTs and FCM OAuth2 access tokens.

Both are driven by a :class:`Clock` so the refresh rules are tested on a mocked clock: `monotonic()` (the loop
clock) decides ages and refreshes; `wall()` only stamps `iat`/`exp` claims, which the provider checks.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any, Protocol

import jwt
import msgspec

from gateway import errors

#: Apple: refresh no more than once every 20 minutes and no less than once every 60 minutes.
APNS_MIN_AGE = 20 * 60.0
APNS_MAX_AGE = 60 * 60.0
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class LoopClock:
    """The event loop's clock for ages; the system clock only for the claims the provider reads."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()


class _Minted:
    __slots__ = ("at", "value")

    def __init__(self, value: str, at: float) -> None:
        self.value = value
        self.at = at


class ApnsTokens:
    """One provider JWT per (team id, key id), shared by every connection of the process.

    A token is reused until it is `refresh_after` seconds old (default 50 minutes; clamped to Apple's window of
    20 to 60 minutes), so it is never regenerated more often than every 20 minutes and never used past 60.
    """

    def __init__(self, clock: Clock | None = None, refresh_after: float = 50 * 60.0) -> None:
        self.clock = clock or LoopClock()
        self.refresh_after = min(max(refresh_after, APNS_MIN_AGE), APNS_MAX_AGE - 60.0)
        self._tokens: dict[tuple[str, str], _Minted] = {}
        #: tokens minted over the process's life, per team (tests and metrics)
        self.minted: dict[str, int] = {}
        self._sharing: dict[tuple[str, str], asyncio.Future[str]] = {}

    def _mint(self, team_id: str, key_id: str, private_key: str) -> _Minted:
        try:
            value = jwt.encode(
                {"iss": team_id, "iat": int(self.clock.wall())}, private_key, algorithm="ES256",
                headers={"kid": key_id},
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise errors.AuthFailed("APNs token key cannot sign an ES256 JWT", detail="InvalidProviderToken") from exc
        tok = self._tokens[(team_id, key_id)] = _Minted(value, self.clock.monotonic())
        self.minted[team_id] = self.minted.get(team_id, 0) + 1
        return tok

    def token(self, team_id: str, key_id: str, private_key: str) -> str:
        """The current token, minted first if there is none or it reached `refresh_after`."""
        tok = self._tokens.get((team_id, key_id))
        if tok is None or self.clock.monotonic() - tok.at >= self.refresh_after:
            tok = self._mint(team_id, key_id, private_key)
        return tok.value

    def due(self, team_id: str, key_id: str) -> bool:
        """True when the next `token()` call would mint (no token yet, or it reached `refresh_after`)."""
        tok = self._tokens.get((team_id, key_id))
        return tok is None or self.clock.monotonic() - tok.at >= self.refresh_after

    async def share(self, redis: Any, team_id: str, key_id: str, private_key: str) -> str:
        """Make the team's token the same in every process: adopt the one in Redis while it is younger than
        `refresh_after`, else mint one and publish it with a compare-and-set, adopting the winner's token if
        another process published first (the loser's token never reaches APNs, which counts only tokens it
        sees). Call it when :meth:`due`; `token()` then returns the shared token. Concurrent callers share one
        round of this (single flight)."""
        key = (team_id, key_id)
        running = self._sharing.get(key)
        if running is not None:
            return await asyncio.shield(running)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._sharing[key] = fut
        try:
            value = await self._share(redis, team_id, key_id, private_key)
            fut.set_result(value)
            return value
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            del self._sharing[key]

    async def _share(self, redis: Any, team_id: str, key_id: str, private_key: str) -> str:
        rkey = "gw:{apns-jwt:" + team_id + "}:" + key_id
        raw = await redis.get(rkey)
        seen = raw.decode() if isinstance(raw, bytes) else raw
        if seen:
            adopted = self._adopt(team_id, key_id, seen)
            if adopted is not None:
                return adopted
        fresh = self._mint(team_id, key_id, private_key).value
        winner = await redis.eval(_CAS, 1, rkey, seen or "", fresh, int(APNS_MAX_AGE))
        winner = winner.decode() if isinstance(winner, bytes) else winner
        if winner != fresh:
            self.minted[team_id] -= 1  # ours was never used
            return self._adopt(team_id, key_id, winner) or fresh
        return fresh

    def _adopt(self, team_id: str, key_id: str, value: str) -> str | None:
        try:
            iat = int(jwt.decode(value, options={"verify_signature": False})["iat"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
        age = self.clock.wall() - iat
        if not 0 <= age < self.refresh_after:
            return None
        self._tokens[(team_id, key_id)] = _Minted(value, self.clock.monotonic() - age)
        return value

    def rejected_as_expired(self, team_id: str, key_id: str, private_key: str, rejected: str) -> str | None:
        """APNs answered ExpiredProviderToken for `rejected`: the token to retry with, or None.

        Regenerates once: if another request already replaced `rejected`, that newer token is returned; if the
        token is younger than 20 minutes, regenerating would only earn TooManyProviderTokenUpdates (the cause is
        a skewed clock), so None is returned and the caller reports the auth failure.
        """
        tok = self._tokens.get((team_id, key_id))
        if tok is not None and tok.value != rejected:
            return tok.value
        if tok is not None and self.clock.monotonic() - tok.at < APNS_MIN_AGE:
            return None
        return self._mint(team_id, key_id, private_key).value


#: Set KEYS[1] to ARGV[2] if it still holds ARGV[1] (or nothing); return what it holds afterwards.
_CAS = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
return cur
"""


class ServiceAccount(msgspec.Struct, kw_only=True):
    """The fields of a Google service-account JSON key that FCM needs."""

    client_email: str
    private_key: str
    project_id: str | None = None
    token_uri: str | None = None
    private_key_id: str | None = None


def parse_service_account(text: str) -> ServiceAccount:
    try:
        return msgspec.json.decode(text, type=ServiceAccount)
    except msgspec.DecodeError as exc:
        raise errors.ConfigError(f"FCM service account JSON is invalid: {exc}") from None


class _TokenReply(msgspec.Struct):
    access_token: str
    expires_in: int = 3600
    token_type: str = "Bearer"


class Poster(Protocol):
    """Posts a form to the token endpoint: returns (status, body)."""

    async def __call__(self, body: bytes) -> tuple[int, bytes]: ...


class FcmTokens:
    """An OAuth2 access token for one service account: RS256 assertion → token endpoint, cached, refreshed
    `margin` seconds before it expires and once when FCM answers 401 (single-flight: concurrent callers share
    one refresh)."""

    def __init__(
        self, account: ServiceAccount, audience: str, post: Poster, clock: Clock | None = None, margin: float = 300.0
    ) -> None:
        self.account = account
        self.audience = audience
        self.post = post
        self.clock = clock or LoopClock()
        self.margin = margin
        self._value: str | None = None
        self._expires = 0.0
        self._refreshing: asyncio.Future[str] | None = None
        self.fetched = 0

    def assertion(self) -> str:
        now = int(self.clock.wall())
        headers = {"kid": self.account.private_key_id} if self.account.private_key_id else None
        try:
            return jwt.encode(
                {"iss": self.account.client_email, "scope": FCM_SCOPE, "aud": self.audience, "iat": now,
                 "exp": now + 3600},
                self.account.private_key, algorithm="RS256", headers=headers,
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise errors.AuthFailed("FCM service account key cannot sign an RS256 JWT", detail="invalid_key") from exc

    async def token(self) -> str:
        """A valid access token, fetched or refreshed when missing or within `margin` of expiry."""
        if self._value is not None and self.clock.monotonic() < self._expires - self.margin:
            return self._value
        return await self._refresh()

    async def rejected(self, value: str) -> str:
        """FCM answered 401 with `value`: refresh once (unless another caller already did) and return the new."""
        if self._value is not None and self._value != value:
            return self._value
        return await self._refresh()

    async def _refresh(self) -> str:
        if self._refreshing is not None:
            return await asyncio.shield(self._refreshing)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._refreshing = fut
        try:
            value = await self._fetch()
            fut.set_result(value)
            return value
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it
            raise
        finally:
            self._refreshing = None

    async def _fetch(self) -> str:
        form = urllib.parse.urlencode(
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self.assertion()}
        ).encode()
        started = self.clock.monotonic()
        status, body = await self.post(form)
        if status != 200:
            detail = _oauth_error(body)
            if status in (400, 401, 403):
                raise errors.AuthFailed(f"FCM token endpoint refused the service account ({status})",
                                        code=status, detail=detail)
            raise errors.ProviderUnavailable(f"FCM token endpoint answered {status}", code=status, detail=detail)
        try:
            reply = msgspec.json.decode(body, type=_TokenReply)
        except msgspec.DecodeError as exc:
            raise errors.ProviderUnavailable("FCM token endpoint answered malformed JSON", code=status) from exc
        self._value = reply.access_token
        self._expires = started + reply.expires_in
        self.fetched += 1
        return reply.access_token


def _oauth_error(body: bytes) -> str | None:
    try:
        obj: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(obj, dict):
        err = obj.get("error")
        return err if isinstance(err, str) else None
    return None
