"""Voice channel: Pinpoint's VoiceMessage (Body as plain text or SSML, LanguageCode, VoiceId, OriginationNumber)
through an HTTP voice provider configured exactly like HTTP SMS (same field map, auth, response mapping, lanes).

The composer picks the body with Pinpoint's precedence (per-address BodyOverride, VoiceMessage.Body,
DefaultMessage.Body, the template's Body) and LanguageCode/VoiceId from the message, then the template, then the
channel default. A body starting with `<speak` is SSML: it must be well-formed XML with a `speak` root, or the
message is rejected (ContentRejected) before any provider call. Template variables: ${text} (plain text, SSML
tags removed), ${ssml} (SSML document, or None for plain text), ${twiml} (a TwiML <Say> document, Polly voice
names as Twilio spells them, "Polly.<VoiceId>").

Events: Pinpoint streams no events for transactional voice (pinpoint.md §7) and documents no `_voice.*` names,
so this channel uses the End User Messaging v2 voice statuses in the SMS naming style: `_VOICE.INITIATED`
(the provider accepted the call) and `_VOICE.FAILED`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

import msgspec

from gateway import ratelimit
from gateway.channels import families, http_provider
from gateway.channels.base import Delivered, Family, Outbound, Recipient, Render, Runtime
from gateway.channels.http_provider import Provider, ProviderClient
from gateway.channels.http_sms import status_callback
from gateway.channels.sms_content import phone_address
from gateway.config import VoiceChannelConfig
from gateway.errors import ContentRejected
from gateway.metrics.core import PoolUse
from gateway.models import VoiceTemplateResponse

#: Polly's longest synthesis input is 3,000 billed characters; longer scripts are refused up front.
MAX_VOICE_CHARS = 3000


class VoiceContent(msgspec.Struct, frozen=True, kw_only=True):
    """One voice message ready for a channel."""

    body: str
    ssml: bool = False
    language_code: str | None = None
    voice_id: str | None = None
    origination_number: str | None = None
    message_type: str = "TRANSACTIONAL"

    @property
    def text(self) -> str:
        """The words to speak, SSML markup removed."""
        if not self.ssml:
            return self.body
        return "".join(ET.fromstring(self.body).itertext()).strip()


def _pick(*values: str | None) -> str | None:
    for v in values:
        if v:
            return v
    return None


def _check_ssml(body: str) -> None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ContentRejected("the voice message SSML is not well-formed XML", detail=f"ssml: {exc}") from None
    if root.tag.rsplit("}", 1)[-1] != "speak":
        raise ContentRejected("the voice message SSML must have a <speak> root element", detail="ssml_root")


def compose_voice(config: Any, template: Any, recipient: Recipient, render: Render) -> VoiceContent:
    """Build the :class:`VoiceContent` for one recipient (a :class:`gateway.channels.base.Composer`)."""
    vm = getattr(config, "VoiceMessage", None) if config is not None else None
    default = getattr(config, "DefaultMessage", None) if config is not None else None
    source = _pick(recipient.body_override, getattr(vm, "Body", None), getattr(default, "Body", None),
                   getattr(template, "Body", None))
    if source is None:
        raise ContentRejected("the voice message has no Body", detail="no_body")
    body = render(source)
    if not body or not body.strip():
        raise ContentRejected("the voice message body is empty after personalization", detail="empty_body")
    if len(body) > MAX_VOICE_CHARS:
        raise ContentRejected(f"the voice body has {len(body)} characters; the limit is {MAX_VOICE_CHARS}",
                              detail="body_too_long")
    ssml = body.lstrip().startswith("<speak")
    if ssml:
        body = body.strip()
        _check_ssml(body)
    return VoiceContent(
        body=body,
        ssml=ssml,
        language_code=_pick(getattr(vm, "LanguageCode", None), getattr(template, "LanguageCode", None)),
        voice_id=_pick(getattr(vm, "VoiceId", None), getattr(template, "VoiceId", None)),
        origination_number=_pick(getattr(vm, "OriginationNumber", None)),
    )


compose = compose_voice


def twiml(content: VoiceContent, language_code: str, voice_id: str | None) -> str:
    """A TwiML document speaking `content` (text escaped; SSML's inner markup passed inside <Say>)."""
    attrs = f" language={quoteattr(language_code)}"
    if voice_id:
        attrs += f" voice={quoteattr('Polly.' + voice_id)}"
    if content.ssml:
        root = ET.fromstring(content.body)
        inner = escape(root.text or "") + "".join(ET.tostring(child, encoding="unicode") for child in root)
    else:
        inner = escape(content.body)
    return f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say{attrs}>{inner}</Say></Response>"


#: The VOICE family: VoiceMessage / VoiceTemplate to E.164 numbers.
FAMILY: Family[VoiceTemplateResponse, VoiceContent] = Family(
    events=families.VOICE, compose=compose_voice, message_member="VoiceMessage", default_member="DefaultMessage",
    template_member="VoiceTemplate", template_type="VOICE", template_class=VoiceTemplateResponse,
    address=phone_address("VOICE"))


class VoiceChannel:
    """The HTTP voice channel (see module doc)."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"VOICE"})

    def __init__(self, cfg: VoiceChannelConfig, runtime: Runtime, provider: Provider | None = None) -> None:
        self.cfg = cfg
        self.provider = provider if provider is not None else http_provider.resolve(cfg, voice=True)
        self._client = ProviderClient(self.provider, cfg, limiter=ratelimit.from_config(
            cfg.rate_limit, f"voice:{cfg.name}", runtime.redis))

    async def start(self) -> None:
        await self._client.start()

    def body_for(self, msg: Outbound[VoiceContent]) -> bytes:
        c: VoiceContent = msg.content
        lang = c.language_code or self.cfg.default_language_code
        voice = c.voice_id or self.cfg.default_voice_id
        values = {
            "to": msg.recipient.address,
            "from": c.origination_number,
            "body": c.body,
            "text": c.text,
            "ssml": c.body if c.ssml else None,
            "language_code": lang,
            "voice_id": voice,
            "twiml": twiml(c, lang, voice),
            "message_id": msg.message_id,
            "app": msg.app,
            "message_type": c.message_type,
            "status_callback": status_callback(self.provider.status_callback_url, msg.app, msg.message_id),
        }
        return http_provider.encode_body(self.provider, values)

    async def send(self, msg: Outbound[VoiceContent]) -> Delivered:
        c: VoiceContent = msg.content
        provider_id = await self._client.post(self.body_for(msg), promotional=c.message_type == "PROMOTIONAL")
        return Delivered(event_type="_VOICE.INITIATED", status_message="INITIATED", provider_message_id=provider_id)

    def pool_use(self) -> list[PoolUse]:
        """The provider connections' use, per MessageType lane (for /metrics)."""
        return self._client.pool_use()

    async def aclose(self) -> None:
        await self._client.aclose()


def create(cfg: VoiceChannelConfig, runtime: Runtime) -> VoiceChannel:
    """Build the channel from its config (raises ConfigError naming the bad key)."""
    return VoiceChannel(cfg, runtime)
