"""Channel credentials: Pinpoint's Update*Channel shapes in, *ChannelResponse out, AES-GCM at rest in Redis."""

from __future__ import annotations

import asyncio
import base64
import logging
import os

import pytest
import redis.asyncio as aioredis

from gateway import keys, models
from gateway.config import from_dict
from gateway.credentials import CredentialError, CredentialStore, load_key
from gateway.errors import ConfigError
from tests.push_support import KID, TEAM, ec_keys, service_json

KEY = os.urandom(32)


def apns_request(**kw: object) -> models.APNSChannelRequest:
    priv, _ = ec_keys()
    fields: dict[str, object] = {"BundleId": "com.x", "TeamId": TEAM, "TokenKeyId": KID, "TokenKey": priv}
    fields.update(kw)
    return models.APNSChannelRequest(**fields)  # type: ignore[arg-type]


async def test_apns_roundtrip_and_response_shape(redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, KEY)
    resp = await store.put_apns("app1", "APNS_SANDBOX", apns_request())
    assert isinstance(resp, models.APNSSandboxChannelResponse)
    assert (resp.ApplicationId, resp.Platform, resp.DefaultAuthenticationMethod, resp.Enabled, resp.HasTokenKey,
            resp.Version) == ("app1", "APNS_SANDBOX", "TOKEN", True, True, 1)
    assert await store.get_apns("app1", "APNS_SANDBOX") == resp
    assert await store.get_apns("app1", "APNS") is None
    creds = await store.apns_credentials("app1", "APNS_SANDBOX")
    assert creds is not None and creds.token_key == ec_keys()[0] and creds.team_id == TEAM
    assert "PRIVATE" not in repr(creds) and ec_keys()[0] not in repr(creds)
    # Update merges: a new BundleId keeps the key; the version goes up
    resp2 = await store.put_apns("app1", "APNS_SANDBOX", models.APNSChannelRequest(BundleId="com.y", Enabled=False))
    assert resp2.Version == 2 and resp2.Enabled is False and resp2.CreationDate == resp.CreationDate
    creds2 = await store.apns_credentials("app1", "APNS_SANDBOX")
    assert creds2 is not None and creds2.bundle_id == "com.y" and creds2.token_key == ec_keys()[0]
    deleted = await store.delete("app1", "APNS_SANDBOX")
    assert deleted is not None and deleted.Version == 2
    assert await store.delete("app1", "APNS_SANDBOX") is None
    assert await store.get_apns("app1", "APNS_SANDBOX") is None


async def test_secrets_are_encrypted_at_rest_and_bound_to_their_key(redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, KEY)
    await store.put_apns("app1", "APNS", apns_request())
    await store.put_gcm("app1", models.GCMChannelRequest(ServiceJson=service_json()))
    for ctype in ("APNS", "GCM"):
        raw = await redis.get(keys.app_key("app1", "channel", ctype))
        assert raw is not None
        for secret in (b"PRIVATE KEY", TEAM.encode(), b"client_email"):
            assert secret not in raw
    # a ciphertext moved to another application's key does not decrypt
    raw = await redis.get(keys.app_key("app1", "channel", "APNS"))
    await redis.set(keys.app_key("app2", "channel", "APNS"), raw)
    with pytest.raises(CredentialError):
        await store.apns_credentials("app2", "APNS")
    # a different key does not decrypt either
    with pytest.raises(CredentialError):
        await CredentialStore(redis, os.urandom(32)).apns_credentials("app1", "APNS")


async def test_nothing_secret_is_logged(redis: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = CredentialStore(redis, KEY)
    await store.put_apns("app1", "APNS", apns_request())
    await store.apns_credentials("app1", "APNS")
    assert "PRIVATE" not in caplog.text


async def test_incomplete_requests_are_refused(redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, KEY)
    with pytest.raises(CredentialError):
        await store.put_apns("app1", "APNS", models.APNSChannelRequest(BundleId="com.x", TeamId=TEAM))
    with pytest.raises(CredentialError):
        await store.put_apns("app1", "APNS", apns_request(DefaultAuthenticationMethod="CERTIFICATE"))
    with pytest.raises(CredentialError):
        await store.put_apns("app1", "EMAIL", apns_request())
    with pytest.raises(CredentialError):
        await store.put_gcm("app1", models.GCMChannelRequest(ServiceJson="{not json"))
    with pytest.raises(CredentialError):
        await store.put_gcm("app1", models.GCMChannelRequest(Enabled=True))
    cert = await store.put_apns("app1", "APNS_VOIP", models.APNSVoipChannelRequest(Certificate="C", PrivateKey="K"))
    assert isinstance(cert, models.APNSVoipChannelResponse) and cert.DefaultAuthenticationMethod == "CERTIFICATE"
    assert cert.HasTokenKey is False and cert.HasCredential is True


async def test_gcm_roundtrip(redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, KEY)
    resp = await store.put_gcm("app1", models.GCMChannelRequest(ServiceJson=service_json()))
    assert (resp.Platform, resp.HasFcmServiceCredentials, resp.DefaultAuthenticationMethod) == ("GCM", True, "TOKEN")
    assert resp.Credential is None  # never echoed
    creds = await store.gcm_credentials("app1")
    assert creds is not None and creds.service_json == service_json()
    assert "private_key" not in repr(creds)


def test_load_key_from_env_and_file(tmp_path: object) -> None:
    key = os.urandom(32)
    b64 = base64.b64encode(key).decode()
    assert load_key("K", None, {"K": b64}) == key
    assert load_key("K", None, {"K": base64.urlsafe_b64encode(key).decode()}) == key
    with pytest.raises(ConfigError, match="K is not set"):
        load_key("K", None, {})
    with pytest.raises(ConfigError, match="32 bytes"):
        load_key("K", None, {"K": base64.b64encode(b"short").decode()})
    p = os.path.join(str(tmp_path), "key")
    with open(p, "w") as f:
        f.write(b64 + "\n")
    assert load_key("K", p, {}) == key
    assert from_dict({"credentials": {"key_env": "MY_KEY"}}).credentials.key_env == "MY_KEY"


def test_configured_key_tells_unset_from_unusable(tmp_path: object) -> None:
    from pathlib import Path

    from gateway.credentials import configured_key

    good = base64.b64encode(KEY).decode()
    assert configured_key("GW_K", None, {}) is None
    assert configured_key("GW_K", None, {"GW_K": "  "}) is None
    assert configured_key("GW_K", None, {"GW_K": good}) == KEY
    with pytest.raises(ConfigError, match="GW_K"):
        configured_key("GW_K", None, {"GW_K": "not base64!"})  # set but unusable: never silently "no key"
    with pytest.raises(ConfigError, match="32 bytes"):
        configured_key("GW_K", None, {"GW_K": base64.b64encode(b"short").decode()})
    key_file = Path(str(tmp_path)) / "k"
    with pytest.raises(ConfigError, match="key_file"):
        configured_key("GW_K", str(key_file), {})
    key_file.write_text(good + "\n")
    assert configured_key("GW_K", str(key_file), {}) == KEY


async def test_adm_and_baidu_are_stored_encrypted_and_listed(redis: aioredis.Redis) -> None:
    store = CredentialStore(redis, KEY)
    adm = await store.put_adm("app1", models.ADMChannelRequest(ClientId="cid", ClientSecret="csecret"))
    baidu = await store.put_baidu("app1", models.BaiduChannelRequest(ApiKey="bkey", SecretKey="bsecret"))
    assert (adm.Platform, adm.HasCredential, adm.Id, baidu.Credential) == ("ADM", True, "adm", "********")
    for ctype in ("ADM", "BAIDU"):
        raw = await redis.get(keys.app_key("app1", "channel", ctype))
        assert raw is not None and b"secret" not in raw and b"cid" not in raw and b"bkey" not in raw
    assert await store.list("app1") == {"ADM": adm, "BAIDU": baidu}
    with pytest.raises(CredentialError):
        await store.put_adm("app1", models.ADMChannelRequest(ClientId="cid", ClientSecret=""))
    assert await store.delete("app1", "ADM") == adm
    assert await store.list("app1") == {"BAIDU": baidu}


async def test_concurrent_updates_are_all_applied(redis: aioredis.Redis) -> None:
    """Updates racing each other are applied one on top of the other (watched read-modify-write): none is lost."""
    store = CredentialStore(redis, KEY)
    first = await store.put_adm("app1", models.ADMChannelRequest(ClientId="c0", ClientSecret="s0"))
    await asyncio.gather(*(store.put_adm("app1", models.ADMChannelRequest(ClientId=f"c{i}", ClientSecret=f"s{i}"))
                           for i in range(1, 6)))
    last = await store.get("app1", "ADM")
    assert last.Version == first.Version + 5
