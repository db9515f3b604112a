"""The plain Redis store of channel settings that carry no credentials (EMAIL, SMS, VOICE).

Each channel's public document is JSON at `gw:{app}:channel:<KIND>`. It refuses credentials outright, so push
settings can never land here in clear text: those go to the encrypted push credential store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway import keys, models
from gateway.api.services import ChannelKind, ChannelResponse

PLAIN_KINDS: dict[ChannelKind, type[Any]] = {
    "EMAIL": models.EmailChannelResponse,
    "SMS": models.SMSChannelResponse,
    "VOICE": models.VoiceChannelResponse,
}
_decoders = {k: msgspec.json.Decoder(t) for k, t in PLAIN_KINDS.items()}
_encode = msgspec.json.Encoder().encode


def channel_key(app_id: str, kind: str) -> str:
    return keys.app_key(app_id, "channel", kind)


class RedisChannelStore:
    """ChannelSettingsStore for EMAIL, SMS and VOICE."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    @staticmethod
    def _check(kind: str) -> None:
        if kind not in PLAIN_KINDS:
            raise ValueError(f"channel {kind} carries credentials and belongs in the push credential store")

    async def get_channel(self, app_id: str, kind: ChannelKind) -> ChannelResponse | None:
        self._check(kind)
        raw = await self.redis.get(channel_key(app_id, kind))
        return None if raw is None else _decoders[kind].decode(raw)

    async def put_channel(
        self, app_id: str, kind: ChannelKind, document: ChannelResponse, secrets: Mapping[str, str]
    ) -> None:
        self._check(kind)
        if secrets:
            raise ValueError(f"channel {kind}: refusing to store credentials {sorted(secrets)} in clear text")
        await self.redis.set(channel_key(app_id, kind), _encode(document))

    async def delete_channel(self, app_id: str, kind: ChannelKind) -> ChannelResponse | None:
        self._check(kind)
        key = channel_key(app_id, kind)
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(key)
        pipe.delete(key)
        raw, _ = await pipe.execute()
        return None if raw is None else _decoders[kind].decode(raw)

    async def list_channels(self, app_id: str) -> dict[ChannelKind, ChannelResponse]:
        kinds = list(PLAIN_KINDS)
        raws = await self.redis.mget([channel_key(app_id, k) for k in kinds])
        return {k: _decoders[k].decode(r) for k, r in zip(kinds, raws, strict=True) if r is not None}
