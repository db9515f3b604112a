"""Per-application push channel credentials, as Pinpoint's UpdateApnsChannel / UpdateGcmChannel (and
UpdateAdmChannel / UpdateBaiduChannel, which are stored for API compatibility: Gateway has no ADM or Baidu
delivery channel) hold them, stored encrypted at rest in Redis.

Each channel's record is one Redis string at `gw:{app}:channel:<CHANNEL_TYPE>`: a 12-byte nonce followed by the
AES-256-GCM ciphertext of the record's JSON, with the Redis key as associated data (a ciphertext copied to
another application's key does not decrypt). The 32-byte key comes from configuration (base64 in an
environment variable or a file, see :class:`gateway.config.CredentialsConfig`).

Secrets never leave this module except as :class:`ApnsCredentials` / :class:`GcmCredentials`, whose repr hides
them; the API-facing methods return Pinpoint's *ChannelResponse shapes, which carry no secrets.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import WatchError

from gateway import keys, models
from gateway.errors import ConfigError, Forbidden, GatewayError, InvalidRequest

APNS_TYPES = ("APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX")
#: every channel type this store keeps, in GetChannels order
PUSH_TYPES = (*APNS_TYPES, "GCM", "ADM", "BAIDU")
#: what BaiduChannelResponse.Credential (required by the model) answers: the API key itself is never returned
MASKED = "********"
_APNS_RESPONSES: dict[str, type[Any]] = {
    "APNS": models.APNSChannelResponse,
    "APNS_SANDBOX": models.APNSSandboxChannelResponse,
    "APNS_VOIP": models.APNSVoipChannelResponse,
    "APNS_VOIP_SANDBOX": models.APNSVoipSandboxChannelResponse,
}


class CredentialError(GatewayError, ValueError):
    """Channel credentials that cannot be stored or read: InvalidChannelRequest or CredentialKeyError."""


class InvalidChannelRequest(CredentialError, InvalidRequest):
    """A channel request is incomplete or inconsistent; the message names the member (the caller's to fix)."""


class CredentialKeyError(CredentialError, Forbidden):
    """A stored record does not decrypt with the configured key (the key changed, or the record was moved): the
    operator's to fix, and the record is left as it is."""


class _Record(msgspec.Struct, kw_only=True):
    platform: str
    id: str
    creation_date: str
    last_modified_date: str
    version: int = 1
    enabled: bool = True
    default_auth: str | None = None
    # APNs
    bundle_id: str | None = None
    team_id: str | None = None
    token_key_id: str | None = None
    token_key: str | None = None
    certificate: str | None = None
    private_key: str | None = None
    # GCM (api_key is also Baidu's ApiKey)
    api_key: str | None = None
    service_json: str | None = None
    # ADM
    client_id: str | None = None
    client_secret: str | None = None
    # Baidu
    secret_key: str | None = None


class ApnsCredentials:
    """Decrypted APNs credentials of one application and channel type (repr never shows secrets)."""

    __slots__ = (
        "bundle_id",
        "certificate",
        "channel_type",
        "enabled",
        "key_id",
        "method",
        "private_key",
        "team_id",
        "token_key",
        "version",
    )

    def __init__(self, rec: _Record, channel_type: str) -> None:
        self.channel_type = channel_type
        self.bundle_id = rec.bundle_id
        self.team_id = rec.team_id
        self.key_id = rec.token_key_id
        self.token_key = rec.token_key
        self.certificate = rec.certificate
        self.private_key = rec.private_key
        self.method = rec.default_auth or ("TOKEN" if rec.token_key else "CERTIFICATE")
        self.enabled = rec.enabled
        self.version = rec.version

    def __repr__(self) -> str:
        return f"ApnsCredentials({self.channel_type}, team={self.team_id}, method={self.method}, v{self.version})"


class GcmCredentials:
    """Decrypted FCM credentials of one application (repr never shows secrets)."""

    __slots__ = ("api_key", "enabled", "method", "service_json", "version")

    def __init__(self, rec: _Record) -> None:
        self.service_json = rec.service_json
        self.api_key = rec.api_key
        self.method = rec.default_auth or ("TOKEN" if rec.service_json else "KEY")
        self.enabled = rec.enabled
        self.version = rec.version

    def __repr__(self) -> str:
        return f"GcmCredentials(method={self.method}, v{self.version})"


def load_key(key_env: str, key_file: str | None, environ: Mapping[str, str] | None = None) -> bytes:
    """The 32-byte AES key: base64 (standard or urlsafe) from the file `key_file` or the variable `key_env`."""
    environ = os.environ if environ is None else environ
    if key_file is not None:
        try:
            with open(key_file, "rb") as f:
                text = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"credentials.key_file {key_file}: {exc.strerror}") from None
        source = f"credentials.key_file {key_file}"
    else:
        value = environ.get(key_env)
        if not value:
            raise ConfigError(f"credentials key: environment variable {key_env} is not set")
        text = value.strip().encode()
        source = f"environment variable {key_env}"
    try:
        key = base64.urlsafe_b64decode(text.replace(b"+", b"-").replace(b"/", b"_"))
    except (binascii.Error, ValueError):
        raise ConfigError(f"credentials key in {source} is not base64") from None
    if len(key) != 32:
        raise ConfigError(f"credentials key in {source} must decode to 32 bytes, got {len(key)}")
    return key


def configured_key(key_env: str, key_file: str | None, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The `[credentials]` key, or None when none is configured (no key_file and `key_env` unset or blank). A key
    that is configured but unreadable, not base64 or not 32 bytes is a ConfigError: the API and the worker agree
    on this, so neither runs on without the credentials the other stores."""
    environ = os.environ if environ is None else environ
    if key_file is None and not environ.get(key_env, "").strip():
        return None
    return load_key(key_env, key_file, environ)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CredentialStore:
    """Encrypted channel credentials of every application, in Redis."""

    def __init__(self, redis: Any, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("credentials key must be 32 bytes")
        self.redis = redis
        self._aead = AESGCM(key)

    # -- encryption ------------------------------------------------------------------------------------------

    def _seal(self, rkey: str, rec: _Record) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, msgspec.json.encode(rec), rkey.encode())

    def _open(self, app: str, rkey: str, blob: bytes) -> _Record:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], rkey.encode())
        except InvalidTag:
            raise CredentialKeyError(
                f"The stored push channel credentials of application {app} do not decrypt with the configured "
                "[credentials] key: restore the key they were stored with (the record is left unchanged)"
            ) from None
        return msgspec.json.decode(plain, type=_Record)

    async def _get(self, app: str, channel_type: str) -> _Record | None:
        rkey = keys.app_key(app, "channel", channel_type)
        blob = await self.redis.get(rkey)
        return None if blob is None else self._open(app, rkey, blob)

    async def _update(self, app: str, channel_type: str, change: Callable[[_Record], _Record]) -> _Record:
        """Read, change (which validates, raising InvalidChannelRequest) and write a record as one watched
        transaction: an update racing another is applied again on top of it, so no version increment or field is
        lost."""
        rkey = keys.app_key(app, "channel", channel_type)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(rkey)
                blob = await pipe.get(rkey)
                rec = change(self._next(None if blob is None else self._open(app, rkey, blob), channel_type))
                pipe.multi()
                pipe.set(rkey, self._seal(rkey, rec))
                try:
                    await pipe.execute()
                except WatchError:
                    continue
                return rec

    def _next(self, old: _Record | None, platform: str) -> _Record:
        now = _now()
        if old is None:
            # Id as Pinpoint's channel responses carry it ("Not used, only for backwards compatibility")
            return _Record(platform=platform, id=platform.lower(), creation_date=now, last_modified_date=now)
        return msgspec.structs.replace(old, last_modified_date=now, version=old.version + 1)

    # -- APNs (APNS, APNS_SANDBOX, APNS_VOIP, APNS_VOIP_SANDBOX) ---------------------------------------------

    async def put_apns(self, app: str, channel_type: str, req: Any) -> Any:
        """UpdateApns*Channel: merge `req` (any of the four APNs*ChannelRequest shapes) into the stored record
        and return the matching APNs*ChannelResponse. Raises InvalidChannelRequest when the result has neither
        complete token credentials (TeamId, TokenKeyId, TokenKey, BundleId) nor a certificate with its private
        key."""
        if channel_type not in _APNS_RESPONSES:
            raise InvalidChannelRequest(f"{channel_type} is not an APNs channel type")
        updates = {
            "bundle_id": req.BundleId, "team_id": req.TeamId, "token_key_id": req.TokenKeyId,
            "token_key": req.TokenKey, "certificate": req.Certificate, "private_key": req.PrivateKey,
            "default_auth": req.DefaultAuthenticationMethod, "enabled": req.Enabled,
        }

        def change(rec: _Record) -> _Record:
            rec = msgspec.structs.replace(rec, **{k: v for k, v in updates.items() if v is not None})
            has_token = bool(rec.team_id and rec.token_key_id and rec.token_key and rec.bundle_id)
            has_cert = bool(rec.certificate and rec.private_key)
            if not (has_token or has_cert):
                raise InvalidChannelRequest(
                    "APNs channel needs TeamId, TokenKeyId, TokenKey and BundleId, or Certificate and PrivateKey"
                )
            method = (rec.default_auth or "").upper() or ("TOKEN" if has_token else "CERTIFICATE")
            if method not in ("TOKEN", "CERTIFICATE"):
                raise InvalidChannelRequest("DefaultAuthenticationMethod must be TOKEN or CERTIFICATE")
            if (method == "TOKEN" and not has_token) or (method == "CERTIFICATE" and not has_cert):
                raise InvalidChannelRequest(f"DefaultAuthenticationMethod {method} but its credentials are incomplete")
            return msgspec.structs.replace(rec, default_auth=method)

        return self._apns_response(app, channel_type, await self._update(app, channel_type, change))

    async def get_apns(self, app: str, channel_type: str) -> Any | None:
        """GetApns*Channel: the response shape (no secrets), or None when the channel is not set."""
        rec = await self._get(app, channel_type)
        return None if rec is None else self._apns_response(app, channel_type, rec)

    async def apns_credentials(self, app: str, channel_type: str) -> ApnsCredentials | None:
        rec = await self._get(app, channel_type)
        return None if rec is None else ApnsCredentials(rec, channel_type)

    def _apns_response(self, app: str, channel_type: str, rec: _Record) -> Any:
        return _APNS_RESPONSES[channel_type](
            ApplicationId=app, CreationDate=rec.creation_date, DefaultAuthenticationMethod=rec.default_auth,
            Enabled=rec.enabled, HasCredential=bool(rec.certificate or rec.token_key),
            HasTokenKey=bool(rec.token_key), Id=rec.id, IsArchived=False, LastModifiedDate=rec.last_modified_date,
            Platform=channel_type, Version=rec.version,
        )

    # -- GCM (FCM) -------------------------------------------------------------------------------------------

    async def put_gcm(self, app: str, req: models.GCMChannelRequest) -> models.GCMChannelResponse:
        """UpdateGcmChannel: merge and store; needs ServiceJson (TOKEN, FCM HTTP v1) or ApiKey (KEY, kept for
        compatibility; Google shut the legacy API that used it down in 2024, so sends with it fail)."""
        updates = {"api_key": req.ApiKey, "service_json": req.ServiceJson,
                   "default_auth": req.DefaultAuthenticationMethod, "enabled": req.Enabled}

        def change(rec: _Record) -> _Record:
            rec = msgspec.structs.replace(rec, **{k: v for k, v in updates.items() if v is not None})
            if rec.service_json is not None:
                try:
                    sa = msgspec.json.decode(rec.service_json)
                except msgspec.DecodeError:
                    raise InvalidChannelRequest("ServiceJson is not valid JSON") from None
                if not isinstance(sa, dict) or not sa.get("client_email") or not sa.get("private_key"):
                    raise InvalidChannelRequest("ServiceJson must be a service account key with client_email and private_key")
            if not (rec.service_json or rec.api_key):
                raise InvalidChannelRequest("GCM channel needs ServiceJson (or ApiKey)")
            method = (rec.default_auth or "").upper() or ("TOKEN" if rec.service_json else "KEY")
            if method not in ("TOKEN", "KEY"):
                raise InvalidChannelRequest("DefaultAuthenticationMethod must be TOKEN or KEY")
            return msgspec.structs.replace(rec, default_auth=method)

        return self._gcm_response(app, await self._update(app, "GCM", change))

    async def get_gcm(self, app: str) -> models.GCMChannelResponse | None:
        rec = await self._get(app, "GCM")
        return None if rec is None else self._gcm_response(app, rec)

    async def gcm_credentials(self, app: str) -> GcmCredentials | None:
        rec = await self._get(app, "GCM")
        return None if rec is None else GcmCredentials(rec)

    def _gcm_response(self, app: str, rec: _Record) -> models.GCMChannelResponse:
        return models.GCMChannelResponse(
            ApplicationId=app, CreationDate=rec.creation_date, DefaultAuthenticationMethod=rec.default_auth,
            Enabled=rec.enabled, HasCredential=bool(rec.api_key or rec.service_json),
            HasFcmServiceCredentials=bool(rec.service_json), Id=rec.id, IsArchived=False,
            LastModifiedDate=rec.last_modified_date, Platform="GCM", Version=rec.version,
        )

    # -- ADM and Baidu (stored and answered only: Gateway has no ADM or Baidu delivery channel) -------------

    async def put_adm(self, app: str, req: models.ADMChannelRequest) -> models.ADMChannelResponse:
        """UpdateAdmChannel: store ClientId and ClientSecret (both required by the model, non-empty here)."""
        if not req.ClientId.strip() or not req.ClientSecret.strip():
            raise InvalidChannelRequest("ADM channel needs a non-empty ClientId and ClientSecret")
        enabled = {} if req.Enabled is None else {"enabled": req.Enabled}
        rec = await self._update(
            app, "ADM", lambda old: msgspec.structs.replace(old, client_id=req.ClientId, client_secret=req.ClientSecret,
                                                             **enabled))
        return self._adm_response(app, rec)

    def _adm_response(self, app: str, rec: _Record) -> models.ADMChannelResponse:
        return models.ADMChannelResponse(
            ApplicationId=app, CreationDate=rec.creation_date, Enabled=rec.enabled,
            HasCredential=bool(rec.client_id and rec.client_secret), Id=rec.id, IsArchived=False,
            LastModifiedDate=rec.last_modified_date, Platform="ADM", Version=rec.version,
        )

    async def put_baidu(self, app: str, req: models.BaiduChannelRequest) -> models.BaiduChannelResponse:
        """UpdateBaiduChannel: store ApiKey and SecretKey (both required by the model, non-empty here)."""
        if not req.ApiKey.strip() or not req.SecretKey.strip():
            raise InvalidChannelRequest("Baidu channel needs a non-empty ApiKey and SecretKey")
        enabled = {} if req.Enabled is None else {"enabled": req.Enabled}
        rec = await self._update(
            app, "BAIDU", lambda old: msgspec.structs.replace(old, api_key=req.ApiKey, secret_key=req.SecretKey,
                                                               **enabled))
        return self._baidu_response(app, rec)

    def _baidu_response(self, app: str, rec: _Record) -> models.BaiduChannelResponse:
        return models.BaiduChannelResponse(
            ApplicationId=app, CreationDate=rec.creation_date, Credential=MASKED, Enabled=rec.enabled,
            HasCredential=bool(rec.api_key and rec.secret_key), Id=rec.id, IsArchived=False,
            LastModifiedDate=rec.last_modified_date, Platform="BAIDU", Version=rec.version,
        )

    # -- common ----------------------------------------------------------------------------------------------

    def _response(self, app: str, channel_type: str, rec: _Record) -> Any:
        if channel_type == "GCM":
            return self._gcm_response(app, rec)
        if channel_type == "ADM":
            return self._adm_response(app, rec)
        if channel_type == "BAIDU":
            return self._baidu_response(app, rec)
        return self._apns_response(app, channel_type, rec)

    async def get(self, app: str, channel_type: str) -> Any | None:
        """Get*Channel for any of PUSH_TYPES: the response shape (no secrets), or None when not set."""
        if channel_type not in PUSH_TYPES:
            raise InvalidChannelRequest(f"{channel_type} is not a push channel type")
        rec = await self._get(app, channel_type)
        return None if rec is None else self._response(app, channel_type, rec)

    async def list(self, app: str) -> dict[str, Any]:
        """GetChannels' push part: the response shape of every push channel the application has, by type."""
        rkeys = [keys.app_key(app, "channel", t) for t in PUSH_TYPES]
        blobs = await self.redis.mget(rkeys)
        return {
            t: self._response(app, t, self._open(app, k, b))
            for t, k, b in zip(PUSH_TYPES, rkeys, blobs, strict=True)
            if b is not None
        }

    async def delete(self, app: str, channel_type: str) -> Any | None:
        """Delete*Channel for any of PUSH_TYPES: remove the record, returning its last response shape, or None
        when there was none. A record that does not decrypt is left in place (CredentialKeyError), and a record
        changed between the read and the delete is read again (WATCH), so the answer is what was deleted."""
        if channel_type not in PUSH_TYPES:
            raise InvalidChannelRequest(f"{channel_type} is not a push channel type")
        rkey = keys.app_key(app, "channel", channel_type)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(rkey)
                blob = await pipe.get(rkey)
                if blob is None:
                    return None
                response = self._response(app, channel_type, self._open(app, rkey, blob))
                pipe.multi()
                pipe.delete(rkey)
                try:
                    await pipe.execute()
                except WatchError:
                    continue
                return response
