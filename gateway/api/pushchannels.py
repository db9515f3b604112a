"""The API's push channels (Get/Update/Delete for Apns, ApnsSandbox, ApnsVoip, ApnsVoipSandbox, Gcm, Adm and
Baidu, and their part of GetChannels) over the push engine's encrypted credential store.

`PushChannelStore` implements `services.PushChannelService` on `gateway.credentials.CredentialStore`, the
same store (same Redis keys, same AES-256-GCM key from `[credentials]`) the worker's APNs and FCM channels read
an application's credentials from, so a channel updated here is the one the next send uses (after the
channels' `credentials_ttl_s` cache). ADM and Baidu settings are stored and answered the same way; Gateway has
no ADM or Baidu delivery channel.

Without a configured key nothing can be stored encrypted, and nothing is ever stored in clear: every push
channel operation then answers ForbiddenException telling the operator which setting to configure. The
operations stay served (rather than NotFoundException) so the answer says what is wrong.

The credential store's errors reach the server as they are: an incomplete or inconsistent channel is its
InvalidChannelRequest (400, naming the member), a record the configured key cannot open its CredentialKeyError
(403, the operator's to fix; the record is left unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from gateway import errors as gw
from gateway import keys, models
from gateway.api.services import ChannelKind, ChannelResponse, PushChannelKind, PushChannelRequest
from gateway.config import CredentialsConfig
from gateway.credentials import PUSH_TYPES, CredentialStore, configured_key

_KINDS: tuple[PushChannelKind, ...] = get_args(PushChannelKind)


def missing_key_message(cfg: CredentialsConfig) -> str:
    """What ForbiddenException says when no credentials key is configured."""
    return (
        "Push channel credentials are stored encrypted, and this Gateway has no credentials key: set the "
        f"environment variable {cfg.key_env} (or [credentials] key_file) to the base64 of 32 random bytes "
        "(e.g. `openssl rand -base64 32`), the same key in every API and worker process, and restart"
    )


class PushChannelStore:
    """PushChannelService over a CredentialStore; `store` None means no key is configured (see module doc)."""

    def __init__(self, redis: Any, store: CredentialStore | None, missing_key: str) -> None:
        self.redis = redis
        self.store = store
        self.missing_key = missing_key

    @property
    def configured(self) -> bool:
        """False while no credentials key is configured (every operation then answers ForbiddenException)."""
        return self.store is not None

    def _store(self) -> CredentialStore:
        if self.store is None:
            raise gw.Forbidden(self.missing_key)
        return self.store

    async def get_channel(self, app_id: str, kind: PushChannelKind) -> ChannelResponse | None:
        doc: ChannelResponse | None = await self._store().get(app_id, kind)
        return doc

    async def update_channel(
        self, app_id: str, kind: PushChannelKind, request: PushChannelRequest
    ) -> ChannelResponse:
        store = self._store()
        if kind == "GCM":
            assert isinstance(request, models.GCMChannelRequest)
            return await store.put_gcm(app_id, request)
        if kind == "ADM":
            assert isinstance(request, models.ADMChannelRequest)
            return await store.put_adm(app_id, request)
        if kind == "BAIDU":
            assert isinstance(request, models.BaiduChannelRequest)
            return await store.put_baidu(app_id, request)
        doc: ChannelResponse = await store.put_apns(app_id, kind, request)
        return doc

    async def delete_channel(self, app_id: str, kind: PushChannelKind) -> ChannelResponse | None:
        doc: ChannelResponse | None = await self._store().delete(app_id, kind)
        return doc

    async def list_channels(self, app_id: str) -> dict[ChannelKind, ChannelResponse]:
        if self.store is None:
            # Nothing could have been stored without a key, unless the key was removed since: then say so
            # rather than list the application's channels without them.
            if await self.redis.exists(*(keys.app_key(app_id, "channel", t) for t in PUSH_TYPES)):
                raise gw.Forbidden(self.missing_key)
            return {}
        listed = await self.store.list(app_id)
        return {kind: listed[kind] for kind in _KINDS if kind in listed}


def push_channels_from_config(
    cfg: CredentialsConfig, redis: Any, environ: Mapping[str, str] | None = None
) -> PushChannelStore:
    """The API's push channel store for `[credentials]`. A key that is configured but unreadable, not base64 or
    not 32 bytes is a ConfigError now (the API refuses to start); an unset `key_env` (and no key_file) gives a
    store whose operations answer ForbiddenException with `missing_key_message`."""
    key = configured_key(cfg.key_env, cfg.key_file, environ)
    return PushChannelStore(redis, None if key is None else CredentialStore(redis, key), missing_key_message(cfg))
