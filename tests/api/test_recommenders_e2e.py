"""Recommender configurations end to end: boto3's pinpoint client → API → gateway/recommenders in Redis; every
member's rule refused with a BadRequestException naming the member."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from gateway.api.sigv4 import SigV4Verifier
from gateway.embedded_redis import EmbeddedRedis
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer, error_of

ROLE = "arn:aws:iam::123456789012:role/PinpointPersonalize"
CAMPAIGN = "arn:aws:personalize:eu-west-1:123456789012:campaign/shop-recs"
BASE: dict[str, Any] = {"RecommendationProviderUri": CAMPAIGN, "RecommendationProviderRoleArn": ROLE,
                        "RecommendationsDisplayName": "Picks"}


def create(pp: Any, **members: Any) -> dict[str, Any]:
    body = {k: v for k, v in {**BASE, **members}.items() if v is not None}
    return dict(pp.create_recommender_configuration(CreateRecommenderConfiguration=body)[
        "RecommenderConfigurationResponse"])


def test_create_get_list_update_delete(pp: Any) -> None:
    full = create(pp, Name="Shop recs_1", Description="Top items (v1); weekly",
                  RecommendationProviderIdType="PINPOINT_USER_ID", RecommendationsPerMessage=3)
    assert len(full["Id"]) == 32 and int(full["Id"], 16) >= 0
    assert full["CreationDate"] == full["LastModifiedDate"] and full["CreationDate"].endswith("Z")
    for member, value in (("Name", "Shop recs_1"), ("Description", "Top items (v1); weekly"),
                          ("RecommendationProviderIdType", "PINPOINT_USER_ID"), ("RecommendationsPerMessage", 3),
                          ("RecommendationProviderUri", CAMPAIGN), ("RecommendationProviderRoleArn", ROLE),
                          ("RecommendationsDisplayName", "Picks")):
        assert full[member] == value, member
    defaults = create(pp, RecommendationProviderUri="gateway:builtin")
    assert defaults["RecommendationProviderIdType"] == "PINPOINT_ENDPOINT_ID"
    assert defaults["RecommendationsPerMessage"] == 5
    got = pp.get_recommender_configuration(RecommenderId=full["Id"])["RecommenderConfigurationResponse"]
    assert got == full

    updated = pp.update_recommender_configuration(RecommenderId=full["Id"], UpdateRecommenderConfiguration={
        **BASE, "RecommendationTransformerUri": "https://transform.example.com/items",
        "Attributes": {"Title": "Item title", "Image_url": "Image"}, "Name": "renamed"})["RecommenderConfigurationResponse"]
    assert updated["Id"] == full["Id"] and updated["CreationDate"] == full["CreationDate"]
    assert updated["Name"] == "renamed" and updated["Attributes"] == {"Title": "Item title", "Image_url": "Image"}
    assert updated["RecommendationTransformerUri"] == "https://transform.example.com/items"
    assert updated["RecommendationsPerMessage"] == 5  # a PUT: the absent member took its default again
    assert updated["LastModifiedDate"] >= full["LastModifiedDate"]

    third = create(pp, Name="third")
    page1 = pp.get_recommender_configurations(PageSize="2")["ListRecommenderConfigurationsResponse"]
    assert [i["Id"] for i in page1["Item"]] == [full["Id"], defaults["Id"]]
    page2 = pp.get_recommender_configurations(PageSize="2", Token=page1["NextToken"])[
        "ListRecommenderConfigurationsResponse"]
    assert [i["Id"] for i in page2["Item"]] == [third["Id"]] and "NextToken" not in page2

    deleted = pp.delete_recommender_configuration(RecommenderId=defaults["Id"])["RecommenderConfigurationResponse"]
    assert deleted["Id"] == defaults["Id"]
    code, status, _ = error_of(lambda: pp.get_recommender_configuration(RecommenderId=defaults["Id"]))
    assert (code, status) == ("NotFoundException", 404)
    assert error_of(lambda: pp.delete_recommender_configuration(RecommenderId=defaults["Id"]))[1] == 404
    assert error_of(lambda: pp.update_recommender_configuration(
        RecommenderId=defaults["Id"], UpdateRecommenderConfiguration=BASE))[1] == 404
    listed = pp.get_recommender_configurations()["ListRecommenderConfigurationsResponse"]["Item"]
    assert [i["Id"] for i in listed] == [full["Id"], third["Id"]]


TRANSFORMER = {"RecommendationTransformerUri": "https://transform.example.com/x", "Attributes": {"Title": "Title"}}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("Name", {"Name": "-starts-with-hyphen"}, "start with a letter or number"),
    ("Name", {"Name": "a" * 129}, "128"),
    ("Name", {"Name": "semi;colon"}, "letters"),
    ("Description", {"Description": "d" * 129}, "128"),
    ("Description", {"Description": "no <html>"}, "letters"),
    ("RecommendationProviderIdType", {"RecommendationProviderIdType": "PINPOINT_DEVICE_ID"}, "PINPOINT_USER_ID"),
    ("RecommendationsPerMessage", {"RecommendationsPerMessage": 0}, "1 to 5"),
    ("RecommendationsPerMessage", {"RecommendationsPerMessage": 6}, "1 to 5"),
    ("RecommendationsDisplayName", {"RecommendationsDisplayName": "x" * 26}, "25"),
    ("RecommendationsDisplayName", {"RecommendationsDisplayName": "bad!name"}, "25"),
    ("RecommendationsDisplayName", {"RecommendationsDisplayName": None}, "required when there is no"),
    ("Attributes", {"Attributes": {"Title": "Title"}}, "goes only with a RecommendationTransformerUri"),
    ("Attributes", {"RecommendationTransformerUri": "https://transform.example.com/x"}, "is required with"),
    ("Attributes", {**TRANSFORMER, "Attributes": {f"a{i}": "x" for i in range(11)}}, "1 to 10"),
    ("Attributes", {**TRANSFORMER, "Attributes": {"_title": "Title"}}, "start with a letter or number"),
    ("Attributes", {**TRANSFORMER, "Attributes": {"t" * 51: "Title"}}, "50"),
    ("Attributes.Title", {**TRANSFORMER, "Attributes": {"Title": "y" * 26}}, "25"),
    ("Attributes.Title", {**TRANSFORMER, "Attributes": {"Title": "Bad$display"}}, "25"),
    ("RecommendationProviderRoleArn", {"RecommendationProviderRoleArn": "arn:aws:iam::123:role/x"}, "IAM role ARN"),
    ("RecommendationProviderRoleArn", {"RecommendationProviderRoleArn": "arn:aws:iam::123456789012:user/bob"},
     "IAM role ARN"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "arn:aws:personalize:eu-west-1:1234:campaign/x"},
     "Personalize campaign ARN"),
    ("RecommendationProviderUri", {"RecommendationProviderUri":
                                   "arn:aws:personalize:eu-west-1:123456789012:solution/x"}, "campaign ARN"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "http://models.example.com/recs"}, "https://"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "gateway:magic"}, "gateway:builtin"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "https://127.0.0.1:8443/recs"}, "loopback"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "https://10.1.2.3/recs"}, "private"),
    ("RecommendationProviderUri", {"RecommendationProviderUri": "https://user:pw@models.example.com/"},
     "credentials"),
    ("RecommendationTransformerUri", {**TRANSFORMER, "RecommendationTransformerUri": "my-transformer"},
     "Lambda is not available here; use an https transformer"),
    ("RecommendationTransformerUri", {**TRANSFORMER, "RecommendationTransformerUri":
                                      "arn:aws:lambda:eu-west-1:123456789012:function:recs"},
     "Lambda is not available here"),
    ("RecommendationTransformerUri", {**TRANSFORMER, "RecommendationTransformerUri": "ftp://x.example.com/t"},
     "https://"),
    ("RecommendationTransformerUri", {**TRANSFORMER, "RecommendationTransformerUri": "https://localhost/t"},
     "internal name"),
]


@pytest.mark.parametrize(("member", "change", "why"), BAD, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)])
def test_bad_member_is_refused_naming_it(raw_pp: Any, member: str, change: dict[str, Any], why: str) -> None:
    body = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    code, status, message = error_of(
        lambda: raw_pp.create_recommender_configuration(CreateRecommenderConfiguration=body))
    assert (code, status) == ("BadRequestException", 400)
    assert f"CreateRecommenderConfiguration.{member} " in message and why in message, message
    # the same rule holds on update, naming the update's shape
    good = create(raw_pp)
    code, status, message = error_of(lambda: raw_pp.update_recommender_configuration(
        RecommenderId=good["Id"], UpdateRecommenderConfiguration=body))
    assert (code, status) == ("BadRequestException", 400)
    assert f"UpdateRecommenderConfiguration.{member} " in message and why in message, message
    assert raw_pp.get_recommender_configuration(RecommenderId=good["Id"])["RecommenderConfigurationResponse"] == good


def test_required_members_missing(raw_pp: Any) -> None:
    for missing in ("RecommendationProviderUri", "RecommendationProviderRoleArn"):
        body = {k: v for k, v in BASE.items() if k != missing}
        code, status, message = error_of(
            lambda b=body: raw_pp.create_recommender_configuration(CreateRecommenderConfiguration=b))  # type: ignore[misc]
        assert (code, status) == ("BadRequestException", 400) and missing in message, message


def test_accepted_provider_and_transformer_forms(pp: Any) -> None:
    https = create(pp, RecommendationProviderUri="https://models.example.com/recommendations",
                   RecommendationTransformerUri="https://transform.example.com/items",
                   Attributes={"Title": "Item title", "Price-1": "Price 1"}, RecommendationsDisplayName=None)
    assert https["RecommendationProviderUri"] == "https://models.example.com/recommendations"
    assert "RecommendationsDisplayName" not in https
    assert create(pp, RecommendationProviderUri="gateway:builtin")["RecommendationProviderUri"] == "gateway:builtin"
    assert create(pp, Description="Uses \u2010 and - hyphens")["Description"] == "Uses \u2010 and - hyphens"


@pytest.fixture(scope="module")
def loopback_api(redis_server: EmbeddedRedis) -> Iterator[ApiServer]:
    """The API with the custom channel's SSRF allowlist opened to 127.0.0.1, as the webhook tests run it."""
    server = ApiServer(redis_server.url, SigV4Verifier({ACCESS_KEY: SECRET}),
                       config={"campaigns": {"webhooks": {"allow_networks": ["127.0.0.1/32"]}}}).start()
    yield server
    server.stop()


def test_loopback_model_service_only_under_the_custom_channel_allowlist(
    loopback_api: ApiServer, sync_redis: redis.Redis
) -> None:
    pp = loopback_api.client()
    made = create(pp, RecommendationProviderUri="https://127.0.0.1:8443/recs")
    assert made["RecommendationProviderUri"] == "https://127.0.0.1:8443/recs"
    code, _, message = error_of(lambda: create(pp, RecommendationProviderUri="https://10.0.0.1/recs"))
    assert code == "BadRequestException" and "RecommendationProviderUri" in message


def _put(pp: Any, app_id: str, endpoint: str, items: list[str], user: str | None = None) -> None:
    batch: dict[str, Any] = {"Endpoint": {"User": {"UserId": user}} if user else {}, "Events": {
        f"ev-{i}": {"EventType": "product.viewed", "Timestamp": "2026-12-08T00:00:00Z", "Attributes": {"item_id": it}}
        for i, it in enumerate(items)}}
    out = pp.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": {endpoint: batch}})
    assert {r["StatusCode"] for r in out["EventsResponse"]["Results"][endpoint]["EventsItemResponse"].values()} == {202}


def test_put_events_feed_the_builtin_recommender_only_once_configured(
    pp: Any, app_id: str, sync_redis: redis.Redis, api_server: ApiServer
) -> None:
    rec_keys = f"gw:{{{app_id}}}:rec:*"
    _put(pp, app_id, "ep-1", ["tent", "stove"])
    assert sync_redis.keys(rec_keys) == []  # off: no configuration names gateway:builtin
    made = create(pp, RecommendationProviderUri="gateway:builtin")
    _put(pp, app_id, "ep-1", ["tent", "stove"])
    _put(pp, app_id, "ep-2", ["tent", "stove", "lamp"], user="alice")
    _put(pp, app_id, "ep-3", ["tent"])
    assert sync_redis.keys(rec_keys) != []
    services = api_server.services
    assert services.recommenders is not None
    builtin = services.recommenders.builtin  # type: ignore[attr-defined]
    got = api_server.call(builtin.recommend(app_id, "ep-3", 2))
    assert [r.item for r in got] == ["stove", "lamp"] and got[0].source == "co-occurrence"
    by_user = api_server.call(builtin.recommend(app_id, "alice", 5, "PINPOINT_USER_ID"))
    assert by_user == []  # alice had every item there is
    # deleting the last built-in configuration turns learning off again
    pp.delete_recommender_configuration(RecommenderId=made["Id"])
    sync_redis.delete(*sync_redis.keys(rec_keys))
    _put(pp, app_id, "ep-4", ["kayak"])
    assert sync_redis.keys(rec_keys) == []
