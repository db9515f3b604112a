"""Every APNs reason and FCM error code maps to exactly one gateway error class (protocols §3-4)."""

from __future__ import annotations

import json

import pytest

from gateway import errors
from gateway.channels import apns, fcm, push_common
from tests.outcomes import event

APNS_TABLE = [
    (400, "BadDeviceToken", errors.RecipientRejected, True),
    (400, "DeviceTokenNotForTopic", errors.RecipientRejected, False),
    (400, "MissingDeviceToken", errors.ContentRejected, False),
    (400, "BadTopic", errors.AuthFailed, False),
    (400, "TopicDisallowed", errors.AuthFailed, False),
    (400, "MissingTopic", errors.AuthFailed, False),
    (400, "BadCollapseId", errors.ContentRejected, False),
    (400, "BadExpirationDate", errors.ContentRejected, False),
    (400, "BadMessageId", errors.ContentRejected, False),
    (400, "BadPriority", errors.ContentRejected, False),
    (400, "PayloadEmpty", errors.ContentRejected, False),
    (400, "DuplicateHeaders", errors.ContentRejected, False),
    (400, "BadPath", errors.ContentRejected, False),
    (400, "InvalidPushType", errors.ContentRejected, False),
    (403, "ExpiredProviderToken", errors.AuthFailed, False),
    (403, "InvalidProviderToken", errors.AuthFailed, False),
    (403, "MissingProviderToken", errors.AuthFailed, False),
    (403, "BadCertificate", errors.AuthFailed, False),
    (403, "BadCertificateEnvironment", errors.AuthFailed, False),
    (403, "Forbidden", errors.AuthFailed, False),
    (404, "BadPath", errors.ContentRejected, False),
    (405, "MethodNotAllowed", errors.ContentRejected, False),
    (410, "Unregistered", errors.RecipientRejected, True),
    (410, "ExpiredToken", errors.RecipientRejected, True),
    (413, "PayloadTooLarge", errors.ContentRejected, False),
    (429, "TooManyRequests", errors.Throttled, False),
    (429, "TooManyProviderTokenUpdates", errors.Throttled, False),
    (500, "InternalServerError", errors.ProviderUnavailable, False),
    (503, "ServiceUnavailable", errors.ProviderUnavailable, False),
    (503, "Shutdown", errors.ProviderUnavailable, False),
]


@pytest.mark.parametrize(("status", "reason", "cls", "deactivate"), APNS_TABLE)
def test_apns_reason_maps_once(status: int, reason: str, cls: type[errors.DeliveryError], deactivate: bool) -> None:
    err = apns.map_error(status, reason, 7.0 if status in (429, 503) else None, 1700000000000)
    assert type(err) is cls
    assert (err.code, err.detail) == (status, reason)
    assert bool(getattr(err, "deactivate", False)) is deactivate
    if status in (429, 503):
        assert err.retry_after == 7.0
    if status == 410:
        assert err.provider_ms == 1700000000000
    assert err.retryable is issubclass(cls, errors.TransientError)


FCM_TABLE = [
    (404, "UNREGISTERED", "", errors.RecipientRejected, True),
    (403, "SENDER_ID_MISMATCH", "", errors.RecipientRejected, True),
    (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
     errors.RecipientRejected, True),
    (400, "INVALID_ARGUMENT", "Message is too big", errors.ContentRejected, False),
    (401, "THIRD_PARTY_AUTH_ERROR", "", errors.AuthFailed, False),
    (401, "UNAUTHENTICATED", "", errors.AuthFailed, False),
    (403, "PERMISSION_DENIED", "", errors.AuthFailed, False),
    (429, "QUOTA_EXCEEDED", "", errors.Throttled, False),
    (429, "RESOURCE_EXHAUSTED", "", errors.Throttled, False),
    (500, "INTERNAL", "", errors.ProviderUnavailable, False),
    (503, "UNAVAILABLE", "", errors.ProviderUnavailable, False),
]


@pytest.mark.parametrize(("status", "code", "message", "cls", "deactivate"), FCM_TABLE)
def test_fcm_code_maps_once(status: int, code: str, message: str, cls: type[errors.DeliveryError],
                            deactivate: bool) -> None:
    err = fcm.map_error(status, code, message, 30.0)
    assert type(err) is cls
    assert err.code == status and err.detail == code
    assert bool(getattr(err, "deactivate", False)) is deactivate


def test_fcm_parse_error_prefers_the_fcm_error_code() -> None:
    body = json.dumps({"error": {"code": 404, "message": "gone", "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.rpc.BadRequest"},
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}).encode()
    assert fcm.parse_error(body) == ("UNREGISTERED", "gone")
    assert fcm.parse_error(b'{"error": {"code": 401, "status": "UNAUTHENTICATED"}}') == ("UNAUTHENTICATED", "")
    assert fcm.parse_error(b"<html>") == ("", "")


def test_failure_events() -> None:
    assert event(apns.FAMILY, apns.map_error(410, "Unregistered", None)) == "_push.unregistered"
    assert event(apns.FAMILY, apns.map_error(429, "TooManyRequests", None)) == "_push.throttled"
    assert event(apns.FAMILY, apns.map_error(500, "InternalServerError", None)) == "_push.failure"


def test_retry_after_parsing() -> None:
    assert push_common.retry_after(b"30") == 30.0
    assert push_common.retry_after(None) is None
    assert push_common.retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert push_common.retry_after(b"-1") is None


def test_apns_id_is_our_message_id_or_derived_uuid() -> None:
    assert apns.apns_id("123E4567-E89B-12D3-A456-426614174000") == "123e4567-e89b-12d3-a456-426614174000"
    assert apns.apns_id("0a1b2c3d4e5f-00000000002a") == "00000000-0a1b-2c3d-4e5f-00000000002a"
    derived = apns.apns_id("msg-42")
    assert derived == apns.apns_id("msg-42") and len(derived) == 36
