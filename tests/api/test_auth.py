"""SigV4: the server accepts exactly what botocore signs, and refuses everything else with 403."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from gateway.api.errors import Forbidden
from gateway.api.sigv4 import SigV4Verifier, canonical_query, canonical_uri
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer, error_of, send_signed_raw


def test_wrong_secret_is_forbidden(api_server: ApiServer, sync_redis: Any) -> None:
    client = api_server.client(secret="not-the-secret")
    code, status, message = error_of(lambda: client.get_apps())
    assert (code, status) == ("ForbiddenException", 403)
    assert "signature" in message


def test_unknown_access_key_is_forbidden(api_server: ApiServer, sync_redis: Any) -> None:
    code, status, message = error_of(lambda: api_server.client(key="AKIDUNKNOWN").get_apps())
    assert (code, status) == ("ForbiddenException", 403) and "AKIDUNKNOWN" in message


def test_unsigned_request_is_forbidden(api_server: ApiServer, sync_redis: Any) -> None:
    code, status, message = error_of(lambda: api_server.client(signature_version=UNSIGNED).get_apps())
    assert (code, status) == ("ForbiddenException", 403) and "Missing Authentication Token" in message


def test_any_region_is_accepted(api_server: ApiServer, sync_redis: Any) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client("pinpoint", endpoint_url=api_server.url, region_name="ap-southeast-2",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
                          config=Config(retries={"total_max_attempts": 1}))
    assert client.get_apps()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_clock_skew_beyond_five_minutes_is_forbidden(redis_server: Any) -> None:
    fast = SigV4Verifier({ACCESS_KEY: SECRET}, clock=lambda: time.time() + 301)
    server = ApiServer(redis_server.url, fast, with_fakes=False).start()
    try:
        code, status, message = error_of(lambda: server.client().get_apps())
        assert (code, status) == ("ForbiddenException", 403) and "expired" in message
    finally:
        server.stop()
    near = SigV4Verifier({ACCESS_KEY: SECRET}, clock=lambda: time.time() + 240)
    server = ApiServer(redis_server.url, near, with_fakes=False).start()
    try:
        assert server.client().get_apps()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        server.stop()


def test_auth_disabled_serves_unsigned(redis_server: Any) -> None:
    server = ApiServer(redis_server.url, None, with_fakes=False).start()
    try:
        client = server.client(signature_version=UNSIGNED)
        assert client.get_apps()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        server.stop()


# -- the verifier alone, against requests botocore signs -----------------------------------------------------

def _signed(method: str, url: str, body: bytes = b"", region: str = "us-west-2", when: float | None = None) -> AWSRequest:
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET), "mobiletargeting", region)
    if when is not None:
        import datetime as dt
        from unittest import mock

        fixed = dt.datetime.fromtimestamp(when, dt.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.datetime.datetime") as m:
            m.utcnow.return_value = fixed
            m.now.return_value = fixed
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    return req


def _verify(req: AWSRequest, body: bytes = b"", **kw: Any) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(req.url)
    headers = CIMultiDict((k, v) for k, v in req.headers.items())
    headers["Host"] = parts.netloc
    return SigV4Verifier({ACCESS_KEY: SECRET}, **kw).verify(req.method, parts.path, parts.query, headers, body)


@pytest.mark.parametrize("path,query", [
    ("/v1/apps", ""),
    ("/v1/tags/arn%3Aaws%3Amobiletargeting%3Aus-east-1%3A1%3Aapps%2Fabc", "tagKeys=b%20c&tagKeys=a"),
    ("/v1/templates/x/email", "version=2&create-new-version=true"),
    ("/v1/apps/a/users/%E2%82%AC~user", "page-size=5&token=a%2Fb%3D"),
])
def test_verifier_accepts_botocore_signatures(path: str, query: str) -> None:
    body = b'{"Name": "x"}'
    req = _signed("POST", f"http://127.0.0.1:8080{path}" + (f"?{query}" if query else ""), body)
    assert _verify(req, body) == ACCESS_KEY


def test_verifier_refuses_tampering() -> None:
    body = b'{"Name": "x"}'
    req = _signed("POST", "http://127.0.0.1:8080/v1/apps?x=1", body)
    with pytest.raises(Forbidden, match="does not match"):
        _verify(req, b'{"Name": "y"}')
    req = _signed("GET", "http://127.0.0.1:8080/v1/apps?page-size=1")
    req.url = "http://127.0.0.1:8080/v1/apps?page-size=2"
    with pytest.raises(Forbidden, match="does not match"):
        _verify(req)


def test_verifier_refuses_wrong_service_and_bad_hash() -> None:
    req = AWSRequest(method="GET", url="http://h/v1/apps", data=b"")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "ses", "us-east-1").add_auth(req)
    with pytest.raises(Forbidden, match="mobiletargeting"):
        _verify(req)
    req = _signed("GET", "http://h/v1/apps")
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(Forbidden, match="SHA-256"):
        _verify(req)


def test_verifier_clock_window_uses_injected_clock() -> None:
    req = _signed("GET", "http://h/v1/apps", when=1_700_000_000)
    assert _verify(req, clock=lambda: 1_700_000_000 + 299) == ACCESS_KEY
    with pytest.raises(Forbidden, match="expired"):
        _verify(req, clock=lambda: 1_700_000_000 - 301)


def test_canonical_forms_match_botocore() -> None:
    assert canonical_uri("/v1/tags/arn%3Aa%2Fb") == "/v1/tags/arn%253Aa%252Fb"
    assert canonical_uri("/a/./b/../c") == "/a/c"
    assert canonical_query("b=2&a=1&a=0&c") == "a=0&a=1&b=2&c="
    assert canonical_query("k=a%20b~") == "k=a%20b~"


def test_malformed_amz_date_is_forbidden() -> None:
    req = _signed("GET", "http://h/v1/apps")
    for bad in ("20260230T000000Z", "2026-01-01T00:00:00Z", "20260101T250000Z", ""):
        del req.headers["X-Amz-Date"]
        req.headers["X-Amz-Date"] = bad
        with pytest.raises(Forbidden, match="X-Amz-Date"):
            _verify(req)


# -- the path routed is the path signed ----------------------------------------------------------------------

@pytest.mark.parametrize("dots", ["..", "%2e%2e", "%2E.", ".", "%2e"])
def test_dot_segments_are_refused_before_routing(live_api: ApiServer, live_pp: Any, live_app: str, dots: str) -> None:
    """A DeleteApp signature replayed on `/v1/apps/A/segments/..`: botocore's canonical path (and so the
    signature) is `/v1/apps/A`, but the raw path routes to DeleteSegment with SegmentId `..`. Every dot segment,
    literal or percent-encoded, is a 400 in Pinpoint's shape, and nothing is touched."""
    seg = live_pp.create_segment(ApplicationId=live_app, WriteSegmentRequest={"Name": "s"})["SegmentResponse"]["Id"]
    path = f"/v1/apps/{live_app}/segments/{dots}"
    status, headers, body = send_signed_raw(live_api, "DELETE", path if "%" in dots else f"/v1/apps/{live_app}", path)
    assert status == 400, (status, body)
    assert headers["x-amzn-errortype"] == "BadRequestException"
    assert set(body) == {"Message", "RequestID"} and "dot segment" in body["Message"]
    assert live_pp.get_app(ApplicationId=live_app)["ApplicationResponse"]["Id"] == live_app
    assert live_pp.get_segment(ApplicationId=live_app, SegmentId=seg)["SegmentResponse"]["Id"] == seg


def test_dot_segments_are_refused_without_auth_too(redis_server: Any) -> None:
    server = ApiServer(redis_server.url, None, with_fakes=False).start()
    try:
        status, headers, _ = send_signed_raw(server, "GET", "/v1/apps", "/v1/apps/x/../../v1/apps")
        assert (status, headers["x-amzn-errortype"]) == (400, "BadRequestException")
    finally:
        server.stop()


@pytest.mark.parametrize("prefix", [b'{"Unknown":', b'{"Name":"x","Unknown":{"a":'])
def test_deeply_nested_json_is_a_bad_request(api_server: ApiServer, sync_redis: Any, prefix: bytes) -> None:
    """JSON nested deeper than the decoder's recursion limit inside a member msgspec skips is a 400 in
    Pinpoint's shape, not a 500."""
    depth = 100_000
    body = prefix + b"[" * depth + b"]" * depth + b"}" * prefix.count(b"{")
    status, headers, err = send_signed_raw(api_server, "POST", "/v1/apps", body=body)
    assert (status, headers["x-amzn-errortype"]) == (400, "BadRequestException"), err
    assert set(err) == {"Message", "RequestID"} and "too deeply" in err["Message"]
