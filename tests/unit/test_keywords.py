"""Two-way SMS keywords: first-word matching, opt-out/opt-in/help actions, events and replies."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import models
from gateway.sms import keywords as kw
from gateway.sms.optouts import OptOutStore

APP = "app1"
USER = "+14255550100"
OURS = "+12065550199"


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("stop ", kw.Action.OPT_OUT),
        ("  STOP", kw.Action.OPT_OUT),
        ("Stop.", kw.Action.OPT_OUT),
        ("stop sending me this", kw.Action.OPT_OUT),
        ("unsubscribe", kw.Action.OPT_OUT),
        ("opt-out", kw.Action.OPT_OUT),
        ("OptOut", kw.Action.OPT_OUT),
        ("arret", kw.Action.OPT_OUT),
        ("td", kw.Action.OPT_OUT),
        ("cancel!", kw.Action.OPT_OUT),
        ("end", kw.Action.OPT_OUT),
        ("quit", kw.Action.OPT_OUT),
        ("remove", kw.Action.OPT_OUT),
        ("start", kw.Action.OPT_IN),
        ("Unstop", kw.Action.OPT_IN),
        ("help me understand", kw.Action.HELP),
        ("HELP?", kw.Action.HELP),
        ("please stop", kw.Action.NONE),  # only the first word counts
        ("stopping", kw.Action.NONE),
        ("", kw.Action.NONE),
        ("   ", kw.Action.NONE),
        ("yes", kw.Action.NONE),  # Twilio's YES is not a Pinpoint keyword
    ],
)
def test_classify(text: str, action: kw.Action) -> None:
    assert kw.classify(text) is action


def test_extra_keywords_from_config() -> None:
    cfg = kw.KeywordConfig(extra_opt_out=frozenset({"STOPALL"}), extra_opt_in=frozenset({"YES"}),
                           extra_help=frozenset({"INFO"}))
    assert kw.classify("stopall", cfg) is kw.Action.OPT_OUT
    assert kw.classify("yes", cfg) is kw.Action.OPT_IN
    assert kw.classify("info", cfg) is kw.Action.HELP


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.replies: list[tuple[str, models.MessageRequest]] = []

    async def sink(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    async def reply(self, app: str, request: models.MessageRequest) -> None:
        self.replies.append((app, request))


def msg(body: str, sender: str = USER) -> kw.InboundMessage:
    return kw.InboundMessage(app=APP, origination_number=sender, destination_number=OURS, body=body,
                             inbound_message_id="in-1")


async def test_stop_opts_out_records_events_and_confirms(redis: Any) -> None:
    rec = Recorder()
    store = OptOutStore(redis)
    handler = kw.KeywordHandler(store, rec.sink, rec.reply)
    assert await handler.handle(msg("stop ", sender="+1 (425) 555-0100")) is kw.Action.OPT_OUT
    assert await store.is_opted_out(APP, USER)
    assert not await store.is_opted_out("other-app", USER)  # per application
    assert [e["event_type"] for e in rec.events] == ["_SMS.INBOUND", "_SMS.OPTOUT"]
    inbound = rec.events[0]["attributes"]
    assert inbound["originationNumber"] == USER and inbound["messageKeyword"] == "STOP"
    assert inbound["messageBody"] == "stop "
    assert rec.events[1]["attributes"]["record_status"] == "OPTED_OUT"
    (app, reply), = rec.replies
    sms = reply.MessageConfiguration.SMSMessage
    assert app == APP and list(reply.Addresses or {}) == [USER]
    assert sms is not None and sms.OriginationNumber == OURS and sms.MessageType == "TRANSACTIONAL"
    assert sms.Body == kw.KeywordConfig().stop_text
    assert (reply.Context or {})[kw.REPLY_CONTEXT_KEY] == "OPT_OUT"
    why = await store.reason(APP, USER)
    assert why is not None and (why.source, why.detail) == ("keyword", "STOP")


async def test_start_opts_back_in_and_help_replies(redis: Any) -> None:
    rec = Recorder()
    store = OptOutStore(redis)
    cfg = kw.KeywordConfig(help_text="Acme support: 800-555-0100")
    handler = kw.KeywordHandler(store, rec.sink, rec.reply, config_for=lambda app: cfg)
    await handler.handle(msg("QUIT"))
    assert await handler.handle(msg("unstop please")) is kw.Action.OPT_IN
    assert not await store.is_opted_out(APP, USER)
    assert await handler.handle(msg("Help")) is kw.Action.HELP
    assert rec.replies[-1][1].MessageConfiguration.SMSMessage.Body == "Acme support: 800-555-0100"  # type: ignore
    assert await store.opted_out(APP, [USER, "+14255550101"]) == [False, False]


async def test_ordinary_message_is_only_an_event(redis: Any) -> None:
    rec = Recorder()
    handler = kw.KeywordHandler(OptOutStore(redis), rec.sink, rec.reply)
    assert await handler.handle(msg("thanks, see you")) is kw.Action.NONE
    assert [e["event_type"] for e in rec.events] == ["_SMS.INBOUND"]
    assert rec.replies == []


async def test_self_managed_records_but_does_not_act(redis: Any) -> None:
    rec = Recorder()
    store = OptOutStore(redis)
    handler = kw.KeywordHandler(store, rec.sink, rec.reply, config_for=lambda a: kw.KeywordConfig(self_managed=True))
    assert await handler.handle(msg("STOP")) is kw.Action.NONE
    assert not await store.is_opted_out(APP, USER)
    assert rec.events[0]["attributes"]["keyword_action"] == "OPT_OUT" and rec.replies == []


async def test_non_phone_sender_cannot_opt_out(redis: Any) -> None:
    rec = Recorder()
    store = OptOutStore(redis)
    handler = kw.KeywordHandler(store, rec.sink, rec.reply)
    assert await handler.handle(msg("STOP", sender="ACME")) is kw.Action.NONE
    assert await redis.scard("gw:{app1}:sms:optout") == 0
    assert len(rec.events) == 1


async def test_stream_replier_follows_the_stream_contract(redis: Any) -> None:
    replier = kw.StreamReplier(redis, "gateway:send")
    await replier(APP, kw.reply_request(USER, OURS, "hi", kw.Action.HELP))
    (_, fields), = await redis.xrange("gateway:send")
    assert fields[b"app"] == b"app1"
    import msgspec

    req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
    assert req.MessageConfiguration.SMSMessage.Body == "hi"  # type: ignore[union-attr]


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.sampled_from(sorted(kw.OPT_OUT_KEYWORDS | kw.OPT_IN_KEYWORDS | kw.HELP_KEYWORDS)),
       st.text(alphabet=" \t\n", max_size=3), st.text(alphabet=" \t\n", max_size=3),
       st.sampled_from(["", " please", " now!", "."]), st.booleans())
def test_keyword_match_ignores_case_whitespace_and_tail(word: str, lead: str, trail: str, tail: str,
                                                        lower: bool) -> None:
    text = lead + (word.lower() if lower else word) + tail + trail
    expected = (kw.Action.OPT_OUT if word in kw.OPT_OUT_KEYWORDS else
                kw.Action.OPT_IN if word in kw.OPT_IN_KEYWORDS else kw.Action.HELP)
    assert kw.classify(text) is expected
