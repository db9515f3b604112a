# ruff: noqa: E501
"""Push channels end to end, driven only through boto3: Update/Get/Delete for the seven push channel types and
GetChannels over the encrypted credential store, and a channel updated through the API being what the worker
then sends with: UpdateApnsChannel with a token key → SendMessages → the sandbox APNs server verifies the
provider token signed with that key (likewise UpdateGcmChannel's ServiceJson → the sandbox FCM server). The
API, a worker and both sandboxes run in one event loop."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from botocore import UNSIGNED

from gateway.sandbox.apns import ApnsSandbox
from gateway.sandbox.fcm import FcmSandbox
from tests.api.conftest import ACCOUNT, REGION, ApiServer, EngineServer, error_of
from tests.push_support import BUNDLE, EMAIL, KID, TEAM, ec_keys, rsa_keys, service_json

# (operation suffix, Pinpoint's channel type, request member, response member)
APNS_KINDS = [
    ("apns_channel", "APNS", "APNSChannelRequest", "APNSChannelResponse"),
    ("apns_sandbox_channel", "APNS_SANDBOX", "APNSSandboxChannelRequest", "APNSSandboxChannelResponse"),
    ("apns_voip_channel", "APNS_VOIP", "APNSVoipChannelRequest", "APNSVoipChannelResponse"),
    ("apns_voip_sandbox_channel", "APNS_VOIP_SANDBOX", "APNSVoipSandboxChannelRequest", "APNSVoipSandboxChannelResponse"),
]
ALL_KINDS = [*APNS_KINDS, ("gcm_channel", "GCM", "GCMChannelRequest", "GCMChannelResponse"),
             ("adm_channel", "ADM", "ADMChannelRequest", "ADMChannelResponse"),
             ("baidu_channel", "BAIDU", "BaiduChannelRequest", "BaiduChannelResponse")]
# Every member Pinpoint's response shapes have that Gateway answers (LastModifiedBy is never set).
COMMON = {"ApplicationId", "CreationDate", "Enabled", "HasCredential", "Id", "IsArchived", "LastModifiedDate",
          "Platform", "Version"}
SHAPES = {
    **{kind: COMMON | {"DefaultAuthenticationMethod", "HasTokenKey"} for _, kind, _, _ in APNS_KINDS},
    "GCM": COMMON | {"DefaultAuthenticationMethod", "HasFcmServiceCredentials"},
    "ADM": COMMON,
    "BAIDU": COMMON | {"Credential"},
}
OTHER_KEY = base64.b64encode(b"another-32-byte-credentials-key!").decode()


def token_request() -> dict[str, Any]:
    return {"TokenKey": ec_keys()[0], "TokenKeyId": KID, "TeamId": TEAM, "BundleId": BUNDLE,
            "DefaultAuthenticationMethod": "TOKEN"}


def requests() -> dict[str, dict[str, Any]]:
    """A valid Update*Channel request of each type, whose secret values the tests look for in every answer."""
    return {
        **{kind: token_request() for _, kind, _, _ in APNS_KINDS},
        "GCM": {"ServiceJson": service_json()},
        "ADM": {"ClientId": "amzn1.application-oa2-client.adm", "ClientSecret": "adm-client-secret-value"},
        "BAIDU": {"ApiKey": "baidu-api-key-value", "SecretKey": "baidu-secret-key-value"},
    }


SECRETS = ["PRIVATE KEY", KID, TEAM, BUNDLE, EMAIL, "adm-client-secret-value", "amzn1.application",
           "baidu-api-key-value", "baidu-secret-key-value"]


def assert_no_secret(answer: Any) -> None:
    text = json.dumps(answer, default=str)
    for secret in SECRETS:
        assert secret not in text, secret


class PushEngineServer(EngineServer):
    """The API from `services_from_config` with a `[credentials]` key file, a worker whose APNs and FCM channels
    have NO default credentials (so a successful push proves the API-stored ones were used), and both sandboxes."""

    consumer = "push-api-e2e"

    def __init__(self, redis_url: str, key_file: Path) -> None:
        super().__init__(redis_url, services_environ={})
        self.key_file = key_file

    async def _sandboxes(self) -> dict[str, Any]:
        self.apns = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start()
        self.fcm = await FcmSandbox({EMAIL: rsa_keys()[1]}).start()
        push = {"credentials_ttl_s": 0, "connect_timeout_s": 5, "request_timeout_s": 5}
        return {
            "retry": {"base_s": 0.02, "cap_s": 0.1, "poll_ms": 10, "max_attempts": 1},
            "credentials": {"key_env": "GW_TEST_UNSET_KEY", "key_file": str(self.key_file)},
            "channels": [
                {"kind": "apns", "production_url": self.apns.url, "sandbox_url": self.apns.url, **push},
                {"kind": "fcm", "send_url": self.fcm.url, "token_url": self.fcm.url + "/token", **push},
            ],
            "api": {"region": REGION, "account_id": ACCOUNT, "send_timeout_s": 10},
        }

    async def _close_sandboxes(self) -> None:
        for ch in self.worker.channels:
            await ch.aclose()
        await self.apns.aclose()
        await self.fcm.aclose()


@pytest.fixture(scope="module")
def engine(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushEngineServer]:
    sync_redis.Redis.from_url(redis_server.url).flushall()
    key_file = tmp_path_factory.mktemp("credentials") / "credentials.key"
    key_file.write_text(base64.b64encode(b"push-e2e-credentials-key-32bytes").decode() + "\n")
    server = PushEngineServer(redis_server.url, key_file).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyless(redis_server: Any, engine: PushEngineServer) -> Iterator[ApiServer]:
    """The same deployment without any credentials key (its environment has no GW_CREDENTIALS_KEY)."""
    server = ApiServer(redis_server.url, None, with_fakes=False, environ={}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rekeyed(redis_server: Any, engine: PushEngineServer) -> Iterator[ApiServer]:
    """The same deployment restarted with a different credentials key."""
    server = ApiServer(redis_server.url, None, with_fakes=False, environ={"GW_CREDENTIALS_KEY": OTHER_KEY}).start()
    yield server
    server.stop()


@pytest.fixture
def epp(engine: PushEngineServer) -> Any:
    return engine.client()


@pytest.fixture
def eapp(epp: Any) -> str:
    return str(epp.create_app(CreateApplicationRequest={"Name": "push"})["ApplicationResponse"]["Id"])


def send(pp: Any, app: str, address: str, channel_type: str) -> dict[str, Any]:
    resp = pp.send_messages(ApplicationId=app, MessageRequest={
        "Addresses": {address: {"ChannelType": channel_type}},
        "MessageConfiguration": {"DefaultPushNotificationMessage": {"Title": "Hi", "Body": "Order shipped"}},
    })["MessageResponse"]
    result: dict[str, Any] = resp["Result"][address]
    return result


def test_apns_token_key_from_the_api_signs_the_worker_push(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    doc = epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest=token_request())["APNSChannelResponse"]
    assert set(doc) == SHAPES["APNS"]
    assert (doc["Platform"], doc["ApplicationId"], doc["Version"], doc["Enabled"], doc["IsArchived"]) == ("APNS", eapp, 1, True, False)
    assert (doc["HasCredential"], doc["HasTokenKey"], doc["DefaultAuthenticationMethod"], doc["Id"]) == (True, True, "TOKEN", "apns")
    assert_no_secret(doc)

    before = len(engine.apns.deliveries)
    result = send(epp, eapp, "a1b2c3d4", "APNS")
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200), result
    delivery = engine.apns.deliveries[before]
    assert delivery.token == "a1b2c3d4" and delivery.headers["apns-topic"] == BUNDLE
    assert b'"title":"Hi"' in delivery.payload

    # Disabling through the API (credentials kept, as Amplify's {"Enabled": false}) stops the worker's sends
    off = epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={"Enabled": False})["APNSChannelResponse"]
    assert (off["Enabled"], off["Version"], off["HasTokenKey"], off["CreationDate"]) == (False, 2, True, doc["CreationDate"])
    refused = send(epp, eapp, "a1b2c3d4", "APNS")
    assert refused["DeliveryStatus"] == "PERMANENT_FAILURE" and "disabled" in refused["StatusMessage"]
    assert len(engine.apns.deliveries) == before + 1
    epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={"Enabled": True})
    assert send(epp, eapp, "a1b2c3d5", "APNS")["DeliveryStatus"] == "SUCCESSFUL"

    # Deleted: the worker has no credentials for the application any more (it has no default ones)
    assert epp.delete_apns_channel(ApplicationId=eapp)["APNSChannelResponse"]["Version"] == 3
    gone = send(epp, eapp, "a1b2c3d6", "APNS")
    assert gone["DeliveryStatus"] == "PERMANENT_FAILURE" and "no APNS channel credentials" in gone["StatusMessage"]


def test_a_key_the_provider_does_not_know_is_refused_by_it(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    """The sandbox really checks the signature: a token key it has no public key for is answered 403."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    epp.update_apns_sandbox_channel(ApplicationId=eapp, APNSSandboxChannelRequest={
        **token_request(), "TokenKey": other, "TokenKeyId": "KEYUNKNOWN", "TeamId": "TEAMOTHER1"})
    before = engine.apns.answers["InvalidProviderToken"]
    result = send(epp, eapp, "b1b2", "APNS_SANDBOX")
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("PERMANENT_FAILURE", 403), result
    assert engine.apns.answers["InvalidProviderToken"] == before + 1


def test_gcm_service_json_from_the_api_authorizes_the_worker_push(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    doc = epp.update_gcm_channel(ApplicationId=eapp, GCMChannelRequest={"ServiceJson": service_json()})["GCMChannelResponse"]
    assert set(doc) == SHAPES["GCM"] and "Credential" not in doc
    assert (doc["HasCredential"], doc["HasFcmServiceCredentials"], doc["DefaultAuthenticationMethod"]) == (True, True, "TOKEN")
    assert_no_secret(doc)
    before = len(engine.fcm.messages)
    result = send(epp, eapp, "fcm-token-1", "GCM")
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200), result
    message = engine.fcm.messages[before]
    assert message["token"] == "fcm-token-1" and message["notification"]["title"] == "Hi"


def test_every_push_channel_lifecycle_and_get_channels(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    reqs = requests()
    epp.update_email_channel(ApplicationId=eapp, EmailChannelRequest={"FromAddress": "news@shop.example", "Identity": "shop.example"})
    answered: dict[str, dict[str, Any]] = {}
    for op, kind, req_member, resp_member in ALL_KINDS:
        assert error_of(partial(getattr(epp, f"get_{op}"), ApplicationId=eapp))[:2] == ("NotFoundException", 404)
        doc = getattr(epp, f"update_{op}")(ApplicationId=eapp, **{req_member: reqs[kind]})[resp_member]
        assert set(doc) == SHAPES[kind], kind
        assert (doc["Platform"], doc["Id"], doc["Version"], doc["HasCredential"]) == (kind, kind.lower(), 1, True)
        assert_no_secret(doc)
        assert getattr(epp, f"get_{op}")(ApplicationId=eapp)[resp_member] == doc
        answered[kind] = doc
    assert answered["BAIDU"]["Credential"] == "********"

    channels = epp.get_channels(ApplicationId=eapp)["ChannelsResponse"]["Channels"]
    assert set(channels) == {"EMAIL", *answered}
    for kind, doc in answered.items():
        # ChannelsResponse holds Pinpoint's generic ChannelResponse: the common members of each channel
        assert channels[kind] == {k: v for k, v in doc.items() if k in COMMON - {"Platform"}}, kind
    assert_no_secret(channels)

    # An update merges (ADM and Baidu requests always carry their credentials: the model requires them)
    second = epp.update_adm_channel(ApplicationId=eapp, ADMChannelRequest={**reqs["ADM"], "Enabled": False})["ADMChannelResponse"]
    assert (second["Version"], second["Enabled"], second["CreationDate"]) == (2, False, answered["ADM"]["CreationDate"])

    for op, kind, _req_member, resp_member in ALL_KINDS:
        deleted = getattr(epp, f"delete_{op}")(ApplicationId=eapp)[resp_member]
        assert deleted["Platform"] == kind and deleted["Version"] == (2 if kind == "ADM" else 1)
        assert error_of(partial(getattr(epp, f"delete_{op}"), ApplicationId=eapp))[:2] == ("NotFoundException", 404)
    assert set(epp.get_channels(ApplicationId=eapp)["ChannelsResponse"]["Channels"]) == {"EMAIL"}


def test_credentials_are_encrypted_at_rest(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    reqs = requests()
    for op, kind, req_member, _ in ALL_KINDS:
        getattr(epp, f"update_{op}")(ApplicationId=eapp, **{req_member: reqs[kind]})
    stored = sync_redis.Redis.from_url(engine.redis_url)
    try:
        found = {k: stored.get(k) for k in stored.scan_iter(f"gw:{{{eapp}}}:*")}
    finally:
        stored.close()
    channel_keys = [k for k in found if b":channel:" in k]
    assert len(channel_keys) == len(ALL_KINDS)
    everything = b"".join(v or b"" for v in found.values())
    for secret in SECRETS:
        assert secret.encode() not in everything, secret


def test_validation_names_the_member(engine: PushEngineServer, epp: Any, eapp: str) -> None:
    def bad(call: Any) -> str:
        code, status, message = error_of(call)
        assert (code, status) == ("BadRequestException", 400), message
        return message

    assert "TokenKey" in bad(lambda: epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={"Enabled": True}))
    assert "TokenKeyId" in bad(lambda: epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={"TokenKey": "k"}))
    assert "PrivateKey" in bad(lambda: epp.update_apns_voip_channel(ApplicationId=eapp, APNSVoipChannelRequest={"Certificate": "c"}))
    epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest=token_request())
    # the merged channel must have what its DefaultAuthenticationMethod needs
    assert "CERTIFICATE" in bad(lambda: epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={
        "DefaultAuthenticationMethod": "CERTIFICATE"}))
    assert "ServiceJson" in bad(lambda: epp.update_gcm_channel(ApplicationId=eapp, GCMChannelRequest={"ServiceJson": "{"}))
    assert "ServiceJson" in bad(lambda: epp.update_gcm_channel(ApplicationId=eapp, GCMChannelRequest={"Enabled": True}))
    assert "ClientSecret" in bad(lambda: epp.update_adm_channel(ApplicationId=eapp, ADMChannelRequest={"ClientId": "id", "ClientSecret": " "}))
    assert "SecretKey" in bad(lambda: epp.update_baidu_channel(ApplicationId=eapp, BaiduChannelRequest={"ApiKey": "a", "SecretKey": ""}))
    # nothing refused was stored; the valid APNs channel is unchanged
    assert epp.get_apns_channel(ApplicationId=eapp)["APNSChannelResponse"]["Version"] == 1
    assert set(epp.get_channels(ApplicationId=eapp)["ChannelsResponse"]["Channels"]) == {"APNS"}
    assert error_of(lambda: epp.get_gcm_channel(ApplicationId="no-such-app"))[:2] == ("NotFoundException", 404)


def test_without_a_credentials_key_push_operations_say_what_to_configure(
    engine: PushEngineServer, keyless: ApiServer, epp: Any, eapp: str
) -> None:
    pp = keyless.client(signature_version=UNSIGNED)
    app = pp.create_app(CreateApplicationRequest={"Name": "keyless"})["ApplicationResponse"]["Id"]
    reqs = requests()
    for op, kind, req_member, _ in ALL_KINDS:
        for call in (partial(getattr(pp, f"update_{op}"), ApplicationId=app, **{req_member: reqs[kind]}),
                     partial(getattr(pp, f"get_{op}"), ApplicationId=app),
                     partial(getattr(pp, f"delete_{op}"), ApplicationId=app)):
            code, status, message = error_of(call)
            assert (code, status) == ("ForbiddenException", 403), (kind, message)
            assert "GW_CREDENTIALS_KEY" in message and "key_file" in message
    # nothing was stored, in clear or otherwise; the plain channels still work and list
    stored = sync_redis.Redis.from_url(engine.redis_url)
    try:
        assert not list(stored.scan_iter(f"gw:{{{app}}}:channel:*"))
    finally:
        stored.close()
    pp.update_sms_channel(ApplicationId=app, SMSChannelRequest={"SenderId": "Shop"})
    assert set(pp.get_channels(ApplicationId=app)["ChannelsResponse"]["Channels"]) == {"SMS"}
    # an application whose push channels were stored with a key: listing them is refused, not silently partial
    epp.update_gcm_channel(ApplicationId=eapp, GCMChannelRequest={"ServiceJson": service_json()})
    code, status, message = error_of(lambda: pp.get_channels(ApplicationId=eapp))
    assert (code, status) == ("ForbiddenException", 403) and "GW_CREDENTIALS_KEY" in message


def test_a_changed_key_is_refused_and_the_record_kept(
    engine: PushEngineServer, rekeyed: ApiServer, epp: Any, eapp: str
) -> None:
    pp = rekeyed.client(signature_version=UNSIGNED)
    epp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest=token_request())
    for call in (lambda: pp.get_apns_channel(ApplicationId=eapp), lambda: pp.delete_apns_channel(ApplicationId=eapp),
                 lambda: pp.update_apns_channel(ApplicationId=eapp, APNSChannelRequest={"Enabled": False}),
                 lambda: pp.get_channels(ApplicationId=eapp)):
        code, status, message = error_of(call)
        assert (code, status) == ("ForbiddenException", 403) and "do not decrypt" in message, message
    # the record is intact for the deployment holding the right key
    assert epp.get_apns_channel(ApplicationId=eapp)["APNSChannelResponse"]["Version"] == 1
