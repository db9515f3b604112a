"""Channel settings: plain channels in Redis, push channels through the (fake) credential store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import ApiServer, error_of


def test_email_channel_lifecycle(pp: Any, app_id: str) -> None:
    assert error_of(lambda: pp.get_email_channel(ApplicationId=app_id))[:2] == ("NotFoundException", 404)
    first = pp.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "news@example.com", "Identity": "example.com"})["EmailChannelResponse"]
    assert first["Platform"] == "EMAIL" and first["Enabled"] is True and first["Version"] == 1
    assert first["FromAddress"] == "news@example.com" and first["ApplicationId"] == app_id
    second = pp.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "news@example.com", "Identity": "example.com", "Enabled": False})["EmailChannelResponse"]
    assert second["Version"] == 2 and second["Enabled"] is False and second["CreationDate"] == first["CreationDate"]
    assert pp.get_email_channel(ApplicationId=app_id)["EmailChannelResponse"] == second
    assert pp.delete_email_channel(ApplicationId=app_id)["EmailChannelResponse"] == second
    assert error_of(lambda: pp.delete_email_channel(ApplicationId=app_id))[0] == "NotFoundException"


def test_channel_validation_names_the_member(pp: Any, raw_pp: Any, app_id: str) -> None:
    code, _, message = error_of(lambda: pp.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "nobody", "Identity": "example.com"}))
    assert code == "BadRequestException" and "FromAddress" in message
    code, _, message = error_of(lambda: raw_pp.update_email_channel(ApplicationId=app_id, EmailChannelRequest={
        "FromAddress": "a@example.com"}))
    assert code == "BadRequestException" and "Identity" in message
    code, _, message = error_of(lambda: pp.update_sms_channel(ApplicationId=app_id, SMSChannelRequest={"SenderId": "TOO-LONG-SENDER"}))
    assert code == "BadRequestException" and "SenderId" in message


def test_sms_voice_and_get_channels(pp: Any, app_id: str) -> None:
    sms = pp.update_sms_channel(ApplicationId=app_id, SMSChannelRequest={"SenderId": "Shop", "ShortCode": "12345"})
    assert sms["SMSChannelResponse"]["SenderId"] == "Shop" and sms["SMSChannelResponse"]["Platform"] == "SMS"
    pp.update_voice_channel(ApplicationId=app_id, VoiceChannelRequest={"Enabled": True})
    pp.update_gcm_channel(ApplicationId=app_id, GCMChannelRequest={"ApiKey": "legacy-key"})
    channels = pp.get_channels(ApplicationId=app_id)["ChannelsResponse"]["Channels"]
    assert set(channels) == {"SMS", "VOICE", "GCM"}
    assert channels["GCM"]["HasCredential"] is True and "ApiKey" not in channels["GCM"]
    assert pp.get_voice_channel(ApplicationId=app_id)["VoiceChannelResponse"]["Enabled"] is True
    assert pp.delete_sms_channel(ApplicationId=app_id)["SMSChannelResponse"]["ShortCode"] == "12345"


@pytest.mark.parametrize("op,kind,request_member,response_member", [
    ("apns_channel", "APNS", "APNSChannelRequest", "APNSChannelResponse"),
    ("apns_sandbox_channel", "APNS_SANDBOX", "APNSSandboxChannelRequest", "APNSSandboxChannelResponse"),
    ("apns_voip_channel", "APNS_VOIP", "APNSVoipChannelRequest", "APNSVoipChannelResponse"),
    ("apns_voip_sandbox_channel", "APNS_VOIP_SANDBOX", "APNSVoipSandboxChannelRequest", "APNSVoipSandboxChannelResponse"),
])
def test_apns_credentials_go_to_the_push_store_only(
    pp: Any, app_id: str, api_server: ApiServer, op: str, kind: str, request_member: str, response_member: str
) -> None:
    req = {"TokenKey": "-----BEGIN PRIVATE KEY-----x", "TokenKeyId": "KEY123", "TeamId": "TEAM1", "BundleId": "com.shop",
           "DefaultAuthenticationMethod": "TOKEN"}
    doc = getattr(pp, f"update_{op}")(ApplicationId=app_id, **{request_member: req})[response_member]
    assert doc["Platform"] == kind and doc["HasCredential"] is True and doc["HasTokenKey"] is True
    assert not {"TokenKey", "TokenKeyId", "TeamId", "BundleId"} & set(doc)
    assert api_server.services.push_channels.secrets[(app_id, kind)]["TokenKey"].startswith("-----BEGIN")
    assert getattr(pp, f"get_{op}")(ApplicationId=app_id)[response_member] == doc
    code, _, message = error_of(lambda: getattr(pp, f"update_{op}")(ApplicationId=app_id, **{request_member: {"TokenKey": "k"}}))
    assert code == "BadRequestException" and "TokenKeyId" in message
    assert getattr(pp, f"delete_{op}")(ApplicationId=app_id)[response_member]["Version"] == 1
    assert (app_id, kind) not in api_server.services.push_channels.secrets


def test_gcm_adm_baidu(pp: Any, app_id: str, api_server: ApiServer) -> None:
    service_json = json.dumps({"private_key": "k", "client_email": "fcm@p.iam.gserviceaccount.com", "project_id": "p"})
    gcm = pp.update_gcm_channel(ApplicationId=app_id, GCMChannelRequest={
        "ServiceJson": service_json, "DefaultAuthenticationMethod": "TOKEN"})["GCMChannelResponse"]
    assert gcm["HasFcmServiceCredentials"] is True and "ServiceJson" not in gcm
    assert error_of(lambda: pp.update_gcm_channel(ApplicationId=app_id, GCMChannelRequest={"ServiceJson": "{"}))[2].count("ServiceJson")
    adm = pp.update_adm_channel(ApplicationId=app_id, ADMChannelRequest={"ClientId": "id", "ClientSecret": "s"})["ADMChannelResponse"]
    assert adm["Platform"] == "ADM" and "ClientSecret" not in adm
    baidu = pp.update_baidu_channel(ApplicationId=app_id, BaiduChannelRequest={"ApiKey": "a", "SecretKey": "b"})["BaiduChannelResponse"]
    assert baidu["Credential"] != "a" and api_server.services.push_channels.secrets[(app_id, "BAIDU")] == {"ApiKey": "a", "SecretKey": "b"}
    assert pp.get_adm_channel(ApplicationId=app_id)["ADMChannelResponse"] == adm
    assert pp.delete_baidu_channel(ApplicationId=app_id)["BaiduChannelResponse"]["Platform"] == "BAIDU"


def test_push_channels_are_not_served_without_a_credential_store(redis_server: Any) -> None:
    server = ApiServer(redis_server.url, None, with_fakes=False).start()
    try:
        from botocore import UNSIGNED

        client = server.client(signature_version=UNSIGNED)
        app = client.create_app(CreateApplicationRequest={"Name": "x"})["ApplicationResponse"]["Id"]
        code, status, message = error_of(lambda: client.get_apns_channel(ApplicationId=app))
        assert (code, status) == ("NotFoundException", 404) and "GetApnsChannel" in message
        assert client.get_channels(ApplicationId=app)["ChannelsResponse"]["Channels"] == {}
    finally:
        server.stop()
