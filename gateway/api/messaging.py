"""Sending: SendMessages and SendUsersMessages through the send engine (`Services.messages`, the same engine the
stream feeds), SendOTPMessage and VerifyOTPMessage (`Services.otp`), PhoneNumberValidate (`Services.phone`).

The request checks here are the ones Pinpoint makes before accepting a send: at least one recipient, and at most
100 addresses/endpoints (SendMessages) or users (SendUsersMessages) per request.
"""

from __future__ import annotations

from gateway import models
from gateway.api.errors import BadRequest
from gateway.api.registry import Call, Registry
from gateway.channels.custom import CHANNEL_CONTEXT_KEY

registry = Registry()
operation = registry.operation

MAX_RECIPIENTS = 100


@operation("SendMessages", needs=("messages",))
async def send_messages(call: Call) -> models.MessageResponse:
    assert call.services.messages is not None
    req: models.MessageRequest = call.body
    n = len(req.Addresses or ()) + len(req.Endpoints or ())
    if n == 0:
        raise BadRequest("MessageRequest needs Addresses or Endpoints")
    if n > MAX_RECIPIENTS:
        raise BadRequest(f"MessageRequest: at most {MAX_RECIPIENTS} Addresses and Endpoints together, got {n}")
    if req.Context and CHANNEL_CONTEXT_KEY in req.Context:
        # the campaigns' custom delivery marker: a send of one's own must not reach a campaign's webhook
        raise BadRequest(f"MessageRequest.Context: the key {CHANNEL_CONTEXT_KEY!r} is reserved for campaign runs")
    return await call.services.messages.send_messages(call.app_id, req)


@operation("SendUsersMessages", needs=("messages",))
async def send_users_messages(call: Call) -> models.SendUsersMessageResponse:
    assert call.services.messages is not None
    req: models.SendUsersMessageRequest = call.body
    if not req.Users:
        raise BadRequest("SendUsersMessageRequest.Users must not be empty")
    if len(req.Users) > MAX_RECIPIENTS:
        raise BadRequest(f"SendUsersMessageRequest.Users: at most {MAX_RECIPIENTS} users, got {len(req.Users)}")
    return await call.services.messages.send_users_messages(call.app_id, req)


@operation("SendOTPMessage", needs=("otp",))
async def send_otp(call: Call) -> models.MessageResponse:
    assert call.services.otp is not None
    return await call.services.otp.send_otp(call.app_id, call.body)


@operation("VerifyOTPMessage", needs=("otp",))
async def verify_otp(call: Call) -> models.VerificationResponse:
    assert call.services.otp is not None
    return await call.services.otp.verify_otp(call.app_id, call.body)


@operation("PhoneNumberValidate", needs=("phone",), check_app=False)
async def phone_number_validate(call: Call) -> models.NumberValidateResponse:
    assert call.services.phone is not None
    return call.services.phone.validate(call.body)
