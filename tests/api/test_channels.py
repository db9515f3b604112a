"""Channel settings of EMAIL, SMS and VOICE (push channels: test_push_channels_e2e.py)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import error_of


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
