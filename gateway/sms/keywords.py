"""Two-way SMS keywords: STOP-family opt-out, HELP, START/UNSTOP opt-in (pinpoint.md §10, reference §6).

An incoming message (SMPP deliver_sm MO or the HTTP inbound webhook) is matched on its *first word*, trimmed and
case-insensitive, with trailing punctuation ignored ("stop ", "Stop.", "HELP me" all match). Every incoming
message becomes an `_SMS.INBOUND` event; an opt-out also gives `_SMS.OPTOUT`. Replies go to the number that
wrote, from the number it wrote to, through the injected :class:`Replier` (the lead wires it to the send
stream as a TRANSACTIONAL MessageRequest; a STOP confirmation must skip the opt-out check, see
:func:`reply_request`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from gateway import models
from gateway.phone import InvalidPhoneNumber, normalize
from gateway.sms import events
from gateway.sms.events import EventSink
from gateway.sms.optouts import OptOutStore

log = logging.getLogger(__name__)

#: Pinpoint / AWS End User Messaging opt-out keywords.
OPT_OUT_KEYWORDS = frozenset(
    {"ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOP", "TD", "UNSUBSCRIBE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP"})
_TRAILING = ".,!?;:\"')"

#: Context key on a reply MessageRequest marking it as a keyword confirmation (sent even to an opted-out number).
REPLY_CONTEXT_KEY = "gateway.keyword_reply"


class Action(enum.Enum):
    OPT_OUT = "OPT_OUT"
    OPT_IN = "OPT_IN"
    HELP = "HELP"
    NONE = "NONE"


class KeywordConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Keyword replies of one application (or the default). Empty text = no reply.

    `self_managed` mirrors Pinpoint's self-managed opt-outs: no automatic opt-out or reply, the message is only
    recorded as an event for the application to act on.
    """

    help_text: str = "Reply STOP to unsubscribe. Msg&data rates may apply."
    stop_text: str = "You have been unsubscribed and will receive no further messages. Reply START to resubscribe."
    start_text: str = "You have been resubscribed. Reply STOP to unsubscribe."
    extra_opt_out: frozenset[str] = frozenset()
    extra_opt_in: frozenset[str] = frozenset()
    extra_help: frozenset[str] = frozenset()
    self_managed: bool = False


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One incoming SMS. `origination_number` is the person who wrote; `destination_number` is our number."""

    app: str
    origination_number: str
    destination_number: str
    body: str
    inbound_message_id: str | None = None
    source: str = "http"


def first_word(text: str) -> str:
    """The first word of `text`, upper-cased, trailing punctuation removed ('' for an empty message)."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return ""
    return words[0].rstrip(_TRAILING).upper()


def classify(text: str, config: KeywordConfig | None = None) -> Action:
    """Which keyword action `text` triggers (sans-I/O)."""
    cfg = config or KeywordConfig()
    word = first_word(text)
    if not word:
        return Action.NONE
    if word in OPT_OUT_KEYWORDS or word in cfg.extra_opt_out:
        return Action.OPT_OUT
    if word in OPT_IN_KEYWORDS or word in cfg.extra_opt_in:
        return Action.OPT_IN
    if word in HELP_KEYWORDS or word in cfg.extra_help:
        return Action.HELP
    return Action.NONE


class Replier(Protocol):
    """Sends one keyword reply SMS."""

    async def __call__(self, app: str, request: models.MessageRequest) -> None: ...


def reply_request(to: str, from_: str, text: str, action: Action) -> models.MessageRequest:
    """The TRANSACTIONAL MessageRequest answering a keyword, from our number to the person who wrote.

    Its Context carries REPLY_CONTEXT_KEY=<action>: the dispatcher must let an OPT_OUT confirmation through the
    opt-out check (the number has just been added to the list).
    """
    return models.MessageRequest(
        Addresses={to: models.AddressConfiguration(ChannelType="SMS")},
        Context={REPLY_CONTEXT_KEY: action.value},
        MessageConfiguration=models.DirectMessageConfiguration(
            SMSMessage=models.SMSMessage(Body=text, MessageType="TRANSACTIONAL", OriginationNumber=from_)
        ),
    )


class KeywordHandler:
    """Applies keyword actions to incoming messages (see module doc)."""

    def __init__(self, optouts: OptOutStore, sink: EventSink, replier: Replier | None = None,
                 config_for: Callable[[str], KeywordConfig] | None = None) -> None:
        self._optouts = optouts
        self._sink = sink
        self._replier = replier
        default = KeywordConfig()
        self._config_for = config_for or (lambda app: default)

    async def handle(self, msg: InboundMessage) -> Action:
        """Record the message, apply its keyword, send the reply; return the action taken."""
        cfg = self._config_for(msg.app)
        action = classify(msg.body, cfg)
        try:
            sender, e164 = normalize(msg.origination_number), True
        except InvalidPhoneNumber:
            sender, e164 = msg.origination_number, False  # not a phone number: recorded, cannot opt out
        attrs: dict[str, Any] = {
            "originationNumber": sender,
            "destinationNumber": msg.destination_number,
            "messageKeyword": first_word(msg.body) or None,
            "messageBody": msg.body,
            "inboundMessageId": msg.inbound_message_id,
            "keyword_action": action.value,
            "source": msg.source,
        }
        await self._sink(events.record(events.SMS_INBOUND, msg.app, attrs))
        if cfg.self_managed or action is Action.NONE:
            return Action.NONE if cfg.self_managed else action
        text: str | None = None
        if action is Action.OPT_OUT:
            if not e164:
                log.warning("app %s: opt-out from a non-E.164 sender ignored", msg.app)
                return Action.NONE
            await self._optouts.opt_out(msg.app, sender, source="keyword", detail=first_word(msg.body))
            await self._sink(events.record(events.SMS_OPTOUT, msg.app, {
                "destination_phone_number": sender,
                "origination_phone_number": msg.destination_number,
                "record_status": "OPTED_OUT",
                "keyword": first_word(msg.body),
            }))
            text = cfg.stop_text
        elif action is Action.OPT_IN:
            await self._optouts.opt_in(msg.app, sender)
            text = cfg.start_text
        elif action is Action.HELP:
            text = cfg.help_text
        if text and self._replier is not None:
            await self._replier(msg.app, reply_request(sender, msg.destination_number, text, action))
        return action


class StreamReplier:
    """Replier that XADDs the reply onto the ingest stream (`app`, `request` fields: the stream contract)."""

    def __init__(self, redis: Any, send_key: str = "gateway:send") -> None:
        self._redis = redis
        self._key = send_key

    async def __call__(self, app: str, request: models.MessageRequest) -> None:
        await self._redis.xadd(self._key, {"app": app, "request": msgspec.json.encode(request)})
