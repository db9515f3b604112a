"""Tags, routing errors, the error shape for every exception type, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import urllib3

from gateway import errors as gw
from gateway.api import errors
from gateway.api.routing import ROUTES
from gateway.models import OPERATIONS
from tests.api.conftest import ApiServer, error_of


def test_tags_on_an_application(pp: Any, app_id: str) -> None:
    arn = pp.get_app(ApplicationId=app_id)["ApplicationResponse"]["Arn"]
    pp.tag_resource(ResourceArn=arn, TagsModel={"tags": {"env": "prod", "team": "crm"}})
    assert pp.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"env": "prod", "team": "crm"}
    pp.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert pp.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"env": "prod"}
    assert pp.get_app(ApplicationId=app_id)["ApplicationResponse"]["tags"] == {"env": "prod"}


def test_tags_on_templates_and_errors(pp: Any, raw_pp: Any, app_id: str) -> None:
    arn = "arn:aws:mobiletargeting:us-east-1:123456789012:templates/welcome/EMAIL"
    pp.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "1"}})
    assert pp.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"a": "1"}
    code, _, message = error_of(lambda: pp.list_tags_for_resource(ResourceArn="arn:aws:s3:::bucket"))
    assert code == "BadRequestException" and "ResourceArn" in message
    gone = f"arn:aws:mobiletargeting:us-east-1:123456789012:apps/{'0' * 32}"
    assert error_of(lambda: pp.tag_resource(ResourceArn=gone, TagsModel={"tags": {"a": "1"}}))[0] == "NotFoundException"
    too_many = {f"k{i}": "v" for i in range(51)}
    code, _, message = error_of(lambda: pp.tag_resource(ResourceArn=arn, TagsModel={"tags": too_many}))
    assert code == "BadRequestException" and "50" in message
    code, _, message = error_of(lambda: raw_pp.untag_resource(ResourceArn=arn))
    assert code == "BadRequestException" and "tagKeys" in message


def test_unknown_path_and_wrong_method(api_server: ApiServer, pp: Any) -> None:
    # boto3 cannot send these, so a plain HTTP client signs nothing and sees the 403 first; with auth off:
    server = ApiServer(api_server.redis_url, None, with_fakes=False).start()
    try:
        http = urllib3.PoolManager(retries=False)
        r = http.request("GET", server.url + "/v2/nothing")
        assert r.status == 404 and r.headers["x-amzn-ErrorType"] == "NotFoundException"
        body = json.loads(r.data)
        assert set(body) == {"Message", "RequestID"} and body["RequestID"] == r.headers["x-amzn-RequestId"]
        r = http.request("PATCH", server.url + "/v1/apps")
        assert r.status == 405 and r.headers["x-amzn-ErrorType"] == "MethodNotAllowedException"
        r = http.request("POST", server.url + "/v1/apps", body=b"{not json")
        assert r.status == 400 and "not valid JSON" in json.loads(r.data)["Message"]
        r = http.request("POST", server.url + "/v1/apps", body=b"x" * (7 * 1024 * 1024 + 1))
        assert r.status == 413 and r.headers["x-amzn-ErrorType"] == "PayloadTooLargeException"
        doc = json.loads(http.request("GET", server.url + "/openapi.json").data)
        ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
        assert ops == set(OPERATIONS)
        assert "MessageRequest" in doc["components"]["schemas"]
    finally:
        server.stop()


def test_every_error_type_reaches_boto3_with_its_code(pp: Any, app_id: str, api_server: ApiServer) -> None:
    fake = api_server.services.messages
    request = {"Addresses": {"a@example.com": {"ChannelType": "EMAIL"}},
               "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"}}}}}
    for exc_type in (errors.BadRequest, errors.Forbidden, errors.NotFound, errors.MethodNotAllowed, errors.Conflict,
                     errors.PayloadTooLarge, errors.TooManyRequests, errors.InternalServerError):
        fake.raise_next = exc_type("told to fail")
        code, status, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest=request))
        assert (code, status, message) == (exc_type.code, exc_type.status, "told to fail")
    # the stores' own classes (gateway.errors) are translated once, by the dispatcher
    for store_exc, code_status in ((gw.NotFound, ("NotFoundException", 404)), (gw.Conflict, ("ConflictException", 409)),
                                   (gw.InvalidRequest, ("BadRequestException", 400))):
        fake.raise_next = store_exc("store says no")
        assert error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest=request)) == (*code_status, "store says no")
    fake.raise_next = RuntimeError("bug")
    code, status, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest=request))
    assert (code, status) == ("InternalServerErrorException", 500) and "bug" not in message


def test_route_table_covers_the_model() -> None:
    assert set(ROUTES) == set(OPERATIONS)
    for name, (method, path, _i, _o, status) in OPERATIONS.items():
        r = ROUTES[name]
        assert (r.method, r.template, r.status) == (method, path, status)
