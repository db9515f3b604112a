"""Applications and their settings, through boto3's pinpoint client."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ACCOUNT, REGION, error_of


def test_create_get_delete_app(pp: Any) -> None:
    created = pp.create_app(CreateApplicationRequest={"Name": "shop", "tags": {"team": "growth"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    app = created["ApplicationResponse"]
    assert app["Name"] == "shop" and len(app["Id"]) == 32
    assert app["Arn"] == f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app['Id']}"
    assert app["tags"] == {"team": "growth"}
    assert app["CreationDate"].endswith("Z")

    got = pp.get_app(ApplicationId=app["Id"])["ApplicationResponse"]
    assert got == app

    deleted = pp.delete_app(ApplicationId=app["Id"])["ApplicationResponse"]
    assert deleted["Id"] == app["Id"]
    code, status, message = error_of(lambda: pp.get_app(ApplicationId=app["Id"]))
    assert (code, status) == ("NotFoundException", 404)
    assert app["Id"] in message


def test_delete_app_removes_everything_under_its_hash_tag(pp: Any, app_id: str, sync_redis: Any) -> None:
    other = pp.create_app(CreateApplicationRequest={"Name": "other", "tags": {"k": "v"}})["ApplicationResponse"]["Id"]
    pp.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}})
    pp.update_sms_channel(ApplicationId=app_id, SMSChannelRequest={"SenderId": "Shop"})
    arn = pp.get_app(ApplicationId=app_id)["ApplicationResponse"]["Arn"]
    pp.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "b"}})
    assert sync_redis.keys("gw:{" + app_id + "}:*")
    pp.delete_app(ApplicationId=app_id)
    assert sync_redis.keys("gw:{" + app_id + "}:*") == []
    assert pp.get_apps()["ApplicationsResponse"]["Item"][0]["tags"] == {"k": "v"}
    assert pp.get_app(ApplicationId=other)["ApplicationResponse"]["Id"] == other


def test_delete_unknown_app_is_not_found(pp: Any) -> None:
    assert error_of(lambda: pp.delete_app(ApplicationId="0" * 32))[:2] == ("NotFoundException", 404)


def test_get_apps_pages_with_token(pp: Any) -> None:
    ids = {pp.create_app(CreateApplicationRequest={"Name": f"a{i}"})["ApplicationResponse"]["Id"] for i in range(5)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"PageSize": "2"} | ({"Token": token} if token else {})
        page = pp.get_apps(**kwargs)["ApplicationsResponse"]
        pages += 1
        assert len(page["Item"]) <= 2
        seen += [a["Id"] for a in page["Item"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(ids) and len(seen) == 5


def test_bad_page_size_names_the_parameter(pp: Any) -> None:
    code, status, message = error_of(lambda: pp.get_apps(PageSize="zero"))
    assert (code, status) == ("BadRequestException", 400)
    assert "page-size" in message and "PageSize" in message


def test_create_app_validation_names_the_field(raw_pp: Any) -> None:
    code, status, message = error_of(lambda: raw_pp.create_app(CreateApplicationRequest={"tags": {}}))
    assert (code, status) == ("BadRequestException", 400)
    assert "Name" in message and "CreateApplicationRequest" in message
    code, _, message = error_of(lambda: raw_pp.create_app(CreateApplicationRequest={"Name": 5}))
    assert code == "BadRequestException" and "`CreateApplicationRequest.Name`" in message and "str" in message
    code, _, message = error_of(lambda: raw_pp.create_app(CreateApplicationRequest={"Name": "x", "tags": {"aws:x": "1"}}))
    assert code == "BadRequestException" and "aws:" in message


def test_application_settings_roundtrip(pp: Any, app_id: str) -> None:
    initial = pp.get_application_settings(ApplicationId=app_id)["ApplicationSettingsResource"]
    assert initial["ApplicationId"] == app_id
    updated = pp.update_application_settings(
        ApplicationId=app_id,
        WriteApplicationSettingsRequest={
            "QuietTime": {"Start": "22:00", "End": "07:00"},
            "Limits": {"Daily": 5, "MessagesPerSecond": 50},
            "CloudWatchMetricsEnabled": True,
        },
    )["ApplicationSettingsResource"]
    assert updated["QuietTime"] == {"Start": "22:00", "End": "07:00"}
    assert updated["Limits"] == {"Daily": 5, "MessagesPerSecond": 50}
    # a second update replaces only what it sets
    pp.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Total": 3}})
    now = pp.get_application_settings(ApplicationId=app_id)["ApplicationSettingsResource"]
    assert now["QuietTime"] == {"Start": "22:00", "End": "07:00"} and now["Limits"] == {"Total": 3}
    assert now["LastModifiedDate"].endswith("Z")


def test_application_settings_errors(pp: Any, raw_pp: Any, app_id: str) -> None:
    code, _, message = error_of(lambda: pp.update_application_settings(
        ApplicationId=app_id, WriteApplicationSettingsRequest={"QuietTime": {"Start": "25:00"}}))
    assert code == "BadRequestException" and "QuietTime.Start" in message
    code, _, message = error_of(lambda: raw_pp.update_application_settings(
        ApplicationId=app_id, WriteApplicationSettingsRequest={"CampaignHook": {"Mode": "LOUD"}}))
    assert code == "BadRequestException" and "CampaignHook.Mode" in message
    code, status, _ = error_of(lambda: pp.get_application_settings(ApplicationId="f" * 32))
    assert (code, status) == ("NotFoundException", 404)
