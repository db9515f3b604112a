"""The SMS composer: Pinpoint's SMSMessage / DefaultMessage / SMSTemplateResponse plus per-address overrides
become one :class:`SmsContent`, the content every SMS channel (SMPP, HTTP SMS) sends.

Precedence follows Pinpoint's SendMessages: a per-address or per-endpoint BodyOverride wins, then
SMSMessage.Body, then DefaultMessage.Body, then the template's Body (message content overrides a template).
The body is personalized with the dispatcher's `render` (substitutions are already merged on the recipient).
Sender fields are validated here, once, so a bad request fails as ContentRejected before any provider call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from gateway import phone
from gateway.channels import families
from gateway.channels.base import Family, Recipient, Render, Screen
from gateway.errors import ContentRejected
from gateway.models import SMSTemplateResponse

SmsMessageType = Literal["TRANSACTIONAL", "PROMOTIONAL"]

#: Pinpoint's SMS body quota (SMS templates hold at most 1,600 characters).
MAX_BODY_CHARS = 1600
#: Without a MessageType, a message takes the promotional lane (Amazon SNS's documented default), so an
#: unlabelled bulk send can never delay an OTP, which Pinpoint callers label TRANSACTIONAL.
DEFAULT_MESSAGE_TYPE: SmsMessageType = "PROMOTIONAL"

# An alphanumeric sender id: 1-11 characters (3GPP TS 23.040 address of 11 GSM septets), at least one letter.
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 \-_.&]{1,11}$")
# A number: E.164 (optional +, up to 15 digits) or a short code (3-8 digits).
_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")
_KEYWORD = re.compile(r"^\S{1,30}$")


class SmsContent(msgspec.Struct, frozen=True, kw_only=True):
    """One SMS ready for a channel: the rendered body and who it comes from.

    `origination_number` (a phone number or short code, digits with an optional leading +) and `sender_id`
    (alphanumeric) may both be set; an SMPP channel prefers the number and encodes it with TON/NPI to match.
    `entity_id` and `template_id` are the regulatory registration ids some countries require (India DLT).
    """

    body: str
    message_type: SmsMessageType = DEFAULT_MESSAGE_TYPE
    origination_number: str | None = None
    sender_id: str | None = None
    keyword: str | None = None
    entity_id: str | None = None
    template_id: str | None = None

    @property
    def transactional(self) -> bool:
        return self.message_type == "TRANSACTIONAL"


def _pick(*values: str | None) -> str | None:
    for v in values:
        if v is not None and v != "":
            return v
    return None


def validate_sender(origination_number: str | None, sender_id: str | None) -> None:
    """Raise ContentRejected when a sender field cannot be put on the wire."""
    if origination_number is not None and not _NUMBER.match(origination_number):
        raise ContentRejected(
            "OriginationNumber must be a phone number (E.164, up to 15 digits) or a short code",
            detail="invalid_origination_number",
        )
    if sender_id is not None and not _SENDER_ID.match(sender_id):
        raise ContentRejected(
            "SenderId must be 1-11 letters, digits or spaces and contain a letter", detail="invalid_sender_id"
        )


def compose_sms(config: Any, template: Any, recipient: Recipient, render: Render) -> SmsContent:
    """Build the :class:`SmsContent` for one recipient (a :class:`gateway.channels.base.Composer`).

    `config` is the request's DirectMessageConfiguration (or any object with `SMSMessage` / `DefaultMessage`
    members, which may be None); `template` an SMSTemplateResponse or None.
    """
    sms = getattr(config, "SMSMessage", None) if config is not None else None
    default = getattr(config, "DefaultMessage", None) if config is not None else None
    source = _pick(
        recipient.body_override,
        getattr(sms, "Body", None),
        getattr(default, "Body", None),
        getattr(template, "Body", None),
    )
    if source is None:
        raise ContentRejected("the SMS message has no Body (request, default message or template)", detail="no_body")
    if getattr(sms, "MediaUrl", None):
        # Pinpoint reserves MediaUrl; accepting it and sending plain SMS would silently drop the media.
        raise ContentRejected("SMSMessage.MediaUrl (MMS) is not supported", detail="media_url")
    body = render(source)
    if body is None or body == "":
        raise ContentRejected("the SMS body is empty after personalization", detail="empty_body")
    if len(body) > MAX_BODY_CHARS:
        raise ContentRejected(
            f"the SMS body has {len(body)} characters; the limit is {MAX_BODY_CHARS}", detail="body_too_long"
        )
    message_type = getattr(sms, "MessageType", None) or DEFAULT_MESSAGE_TYPE
    if message_type not in ("TRANSACTIONAL", "PROMOTIONAL"):
        raise ContentRejected("MessageType must be TRANSACTIONAL or PROMOTIONAL", detail="invalid_message_type")
    origination = _pick(getattr(sms, "OriginationNumber", None))
    sender_id = _pick(getattr(sms, "SenderId", None))
    validate_sender(origination, sender_id)
    keyword = _pick(getattr(sms, "Keyword", None))
    if keyword is not None and not _KEYWORD.match(keyword):
        raise ContentRejected("Keyword must be 1-30 characters without spaces", detail="invalid_keyword")
    return SmsContent(
        body=body,
        message_type=message_type,
        origination_number=origination,
        sender_id=sender_id,
        keyword=keyword,
        entity_id=_pick(getattr(sms, "EntityId", None)),
        template_id=_pick(getattr(sms, "TemplateId", None)),
    )


def phone_address(channel_type: str) -> Callable[[str], str]:
    """The address check of a phone channel (SMS, VOICE): the number in E.164, or ValueError with the
    StatusMessage that says why nothing was sent."""

    def check(address: str) -> str:
        try:
            return phone.e164(address)
        except phone.InvalidPhoneNumber as exc:
            raise ValueError(
                f"Address is not a valid phone number ({str(exc).removeprefix('invalid phone number: ')}); "
                f"{channel_type} addresses must be in E.164 format (+<country code><number>): no message was sent"
            ) from None

    return check


#: The SMS family (every SMS channel sends it): SMSMessage / SMSTemplate, E.164 numbers, screened against the
#: application's SMS opt-outs.
FAMILY: Family[SMSTemplateResponse, SmsContent] = Family(
    events=families.SMS, compose=compose_sms, message_member="SMSMessage", default_member="DefaultMessage",
    template_member="SMSTemplate", template_type="SMS", template_class=SMSTemplateResponse,
    screen=Screen.OPT_OUTS, address=phone_address("SMS"))
