"""Pinpoint's error shape.

Every failure leaves the server as `{"Message": ..., "RequestID": ...}` with the status and the
`x-amzn-ErrorType` header botocore reads to pick the error code, so `botocore.exceptions.ClientError` carries
the same `Error.Code` it carried against Pinpoint (e.g. `BadRequestException`).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from gateway import errors as gw


class ApiError(Exception):
    """An error answered to the client; subclasses fix the status and Pinpoint's error type."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalServerErrorException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400
    code = "BadRequestException"


class Forbidden(ApiError):
    status = 403
    code = "ForbiddenException"


class NotFound(ApiError):
    status = 404
    code = "NotFoundException"


class MethodNotAllowed(ApiError):
    status = 405
    code = "MethodNotAllowedException"


class Conflict(ApiError):
    status = 409
    code = "ConflictException"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PayloadTooLargeException"


class TooManyRequests(ApiError):
    status = 429
    code = "TooManyRequestsException"


class InternalServerError(ApiError):
    status = 500
    code = "InternalServerErrorException"


class _Body(msgspec.Struct):
    Message: str
    RequestID: str


_encode = msgspec.json.Encoder().encode


# The one translation of the stores' errors: each store raises its own subclass of one of these roots (e.g.
# EndpointNotFound, TemplateExists, CredentialKeyError), whose message the client gets as it is.
_FROM_ROOT: tuple[tuple[type[gw.GatewayError], type[ApiError]], ...] = (
    (gw.NotFound, NotFound),
    (gw.Conflict, Conflict),
    (gw.Forbidden, Forbidden),
    (gw.InvalidRequest, BadRequest),
)


def from_store_error(exc: gw.GatewayError) -> ApiError | None:
    """The API error for a store's domain error (a subclass of gateway.errors NotFound / Conflict / Forbidden /
    InvalidRequest), with its message; None for any other GatewayError (a bug: answered 500)."""
    for root, api_error in _FROM_ROOT:
        if isinstance(exc, root):
            return api_error(str(exc))
    return None


def error_body(exc: ApiError, request_id: str) -> bytes:
    """JSON body of an error response in Pinpoint's shape."""
    return _encode(_Body(Message=exc.message, RequestID=request_id))


def error_headers(exc: ApiError, request_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": exc.code,
        "x-amzn-RequestId": request_id,
    }
