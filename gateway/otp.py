"""One-time passwords: Pinpoint's SendOTPMessage and VerifyOTPMessage.

`build_otp_request` draws a code with `secrets`, stores only HMAC-SHA256(server key, app|reference|destination|
code) in Redis at `gw:{app}:otp:<digest of reference and destination>` (the app's hash tag) with the validity as
TTL, and returns the TRANSACTIONAL MessageRequest for the SMS (or voice) channel plus the code; the lead's
engine sends it like any other request. `verify` compares in constant time, counts attempts, and deletes the
entry on success (a code works once) or when the attempts run out. A new send for the same reference and
destination replaces the previous code.

Defaults and bounds (Pinpoint's documented ranges where it has them): CodeLength 6 (5-8 digits), ValidityPeriod
15 minutes (5-60), AllowedAttempts 3 (1-5). The message reads "This is your One Time Password: <code> from
<BrandName>"; other languages come from :attr:`OtpConfig.templates` (`${code}`, `${brand}`, `${minutes}`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from gateway import keys, models
from gateway.channels.http_template import compile_template, render_template
from gateway.errors import ConfigError, InvalidRequest
from gateway.phone import normalize

DEFAULT_TEMPLATES = {"en-US": "This is your One Time Password: ${code} from ${brand}"}

CODE_LENGTH = (5, 8, 6)  # min, max, default
VALIDITY_MIN = (5, 60, 15)
ATTEMPTS = (1, 5, 3)
_CHANNELS: dict[str, models.ChannelType] = {"SMS": "SMS", "VOICE": "VOICE"}  # the channels a code is sent on


class OtpError(InvalidRequest):
    """The OTP request is invalid (the API answers 400 BadRequestException with this message)."""


class OtpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`key_env` names the environment variable holding the server HMAC key (at least 32 bytes)."""

    key_env: str = "GATEWAY_OTP_KEY"
    templates: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    default_language: str = "en-US"


def _bounded(name: str, value: int | None, bounds: tuple[int, int, int]) -> int:
    lo, hi, default = bounds
    if value is None:
        return default
    if not lo <= value <= hi:
        raise OtpError(f"{name} must be between {lo} and {hi}")
    return value


def _slot(reference: str, destination: str) -> str:
    return hashlib.sha256(f"{reference}\x00{destination}".encode()).hexdigest()[:40]


class OtpService:
    """OTP issue and verification for every application. `clock` returns Unix seconds (mock it in tests)."""

    def __init__(self, redis: Any, config: OtpConfig | None = None, *, key: bytes | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or OtpConfig()
        if key is None:
            env = os.environ if environ is None else environ
            raw = env.get(self.config.key_env)
            if not raw:
                raise ConfigError(f"otp: environment variable {self.config.key_env} (the OTP HMAC key) is not set")
            key = raw.encode()
        if len(key) < 32:
            raise ConfigError("otp: the HMAC key must be at least 32 bytes")
        self._key = key
        self._redis = redis
        self._clock = clock
        self._templates = {
            lang.lower(): compile_template(t, ("code", "brand", "minutes"), f"otp.templates.{lang}")
            for lang, t in self.config.templates.items()
        }

    def _digest(self, app: str, reference: str, destination: str, code: str) -> bytes:
        msg = f"{app}\x00{reference}\x00{destination}\x00{code}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def message_text(self, code: str, brand: str, minutes: int, language: str | None) -> str:
        lang = (language or self.config.default_language).lower()
        tmpl = self._templates.get(lang) or self._templates.get(lang.split("-")[0])
        if tmpl is None:
            raise OtpError(f"Language {language!r} has no OTP message template")
        return render_template(tmpl, {"code": code, "brand": brand, "minutes": str(minutes)}) or ""

    async def build_otp_request(
        self, app: str, params: models.SendOTPMessageRequestParameters
    ) -> tuple[models.MessageRequest, str]:
        """Issue a code for `params`; return the MessageRequest to send and the code (for the caller's tests
        and logs-free audit; never log it)."""
        channel = _CHANNELS.get(params.Channel.upper())
        if channel is None:
            raise OtpError("Channel must be SMS (or VOICE)")
        if not params.BrandName.strip() or not params.ReferenceId.strip():
            raise OtpError("BrandName and ReferenceId are required")
        length = _bounded("CodeLength", params.CodeLength, CODE_LENGTH)
        minutes = _bounded("ValidityPeriod", params.ValidityPeriod, VALIDITY_MIN)
        attempts = _bounded("AllowedAttempts", params.AllowedAttempts, ATTEMPTS)
        try:
            dest = normalize(params.DestinationIdentity)
        except ValueError as exc:
            raise OtpError(f"DestinationIdentity: {exc}") from None
        code = "".join(secrets.choice("0123456789") for _ in range(length))
        text = self.message_text(code, params.BrandName, minutes, params.Language)
        now = self._clock()
        entry = {
            "h": self._digest(app, params.ReferenceId, dest, code),
            "left": attempts,
            "exp": int((now + minutes * 60) * 1000),
        }
        key = keys.app_key(app, "otp", _slot(params.ReferenceId, dest))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=entry)
            pipe.expire(key, minutes * 60)
            await pipe.execute()
        origin = params.OriginationIdentity
        if channel == "SMS":
            mc = models.DirectMessageConfiguration(SMSMessage=models.SMSMessage(
                Body=text, MessageType="TRANSACTIONAL",
                OriginationNumber=origin if origin.lstrip("+").isdigit() else None,
                SenderId=None if origin.lstrip("+").isdigit() else origin,
                EntityId=params.EntityId, TemplateId=params.TemplateId,
            ))
        else:
            mc = models.DirectMessageConfiguration(VoiceMessage=models.VoiceMessage(
                Body=text.replace(code, " ".join(code)),  # digits read one by one
                OriginationNumber=origin, LanguageCode=params.Language,
            ))
        request = models.MessageRequest(
            Addresses={dest: models.AddressConfiguration(ChannelType=channel)},
            Context={"otp_reference_id": params.ReferenceId},
            MessageConfiguration=mc,
        )
        return request, code

    async def verify(self, app: str, params: models.VerifyOTPMessageRequestParameters) -> models.VerificationResponse:
        """Pinpoint's VerifyOTPMessage: Valid true once for the right code within validity and attempts."""
        try:
            dest = normalize(params.DestinationIdentity)
        except ValueError:
            return models.VerificationResponse(Valid=False)
        key = keys.app_key(app, "otp", _slot(params.ReferenceId, dest))
        entry = await self._redis.hgetall(key)
        if not entry:
            return models.VerificationResponse(Valid=False)
        if self._clock() * 1000 >= int(entry[b"exp"]):
            await self._redis.delete(key)
            return models.VerificationResponse(Valid=False)
        left = await self._redis.hincrby(key, "left", -1)
        if left < 0:
            await self._redis.delete(key)
            return models.VerificationResponse(Valid=False)
        offered = self._digest(app, params.ReferenceId, dest, params.Otp.strip())
        if hmac.compare_digest(offered, entry[b"h"]):
            # Only the caller whose DEL removed the entry wins: a code verifies once, even under concurrency.
            return models.VerificationResponse(Valid=bool(await self._redis.delete(key)))
        if left == 0:
            await self._redis.delete(key)
        return models.VerificationResponse(Valid=False)


async def build_otp_request(service: OtpService, app: str, params: models.SendOTPMessageRequestParameters
                            ) -> tuple[models.MessageRequest, str]:
    """Module-level form of :meth:`OtpService.build_otp_request`."""
    return await service.build_otp_request(app, params)


async def verify(service: OtpService, app: str, params: models.VerifyOTPMessageRequestParameters
                 ) -> models.VerificationResponse:
    """Module-level form of :meth:`OtpService.verify`."""
    return await service.verify(app, params)
