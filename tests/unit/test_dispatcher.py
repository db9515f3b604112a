"""The Dispatcher on its own: a batch of raw stream entries in, and what it wrote to (fake) Redis out.

No Redis server and no sockets: tests/unit/dispatcher_fakes.py holds an in-memory Redis that records each round
trip, fake channels that answer as told and fake families (a trivial composer, their own event names), so each
test states a batch and asserts the exact events, retries, dead letters, list writes, replies and
acknowledgements the dispatcher's plan produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway import keys
from gateway.channels.base import Delivered, EventNames, Family, Recipient, Render, Screen, checked_route
from gateway.config import GatewayConfig, RetryConfig
from gateway.dispatch import KEYWORD_REPLY, PER_APP_RETRY, Dispatcher
from gateway.endpoints.store import Deactivation
from gateway.errors import ContentRejected, MaybeSent, RecipientRejected, TransientError
from gateway.models import (
    DirectMessageConfiguration,
    EmailTemplateResponse,
    EndpointResponse,
    MessageResponse,
    PushNotificationTemplateResponse,
    SendUsersMessageResponse,
    SMSTemplateResponse,
)
from gateway.sms.optouts import optout_key
from gateway.suppression import Suppression
from gateway.suppression import entry as suppression_entry
from tests.unit.dispatcher_fakes import FakeChannel, FakeRedis, FakeTemplates

APP = "app1"
SEND, RETRY, DEAD, EVENTS, GROUP = "gateway:send", "gateway:retry", "gateway:dead", "gateway:events", "gateway"
MAX_ATTEMPTS = 3

# Event names of the fake families: none is a real family's, so an event can only come from the route's Family.
MAIL = EventNames(prefix="_fmail", send="_fmail.send", bounce="_fmail.bounce", transient="_fmail.soft",
                  unknown="_fmail.unknown", suppress_bounces=True)
TEXT = EventNames(prefix="_ftext", opt_out="_ftext.optout")
PUSH = EventNames(prefix="_fpush", send="_fpush.send", unregistered="_fpush.unregistered")


def compose(config: DirectMessageConfiguration, template: Any, recipient: Recipient, render: Render) -> str:
    """The fake families' composer: the template's Body, else the default message's, personalized."""
    body = getattr(template, "Body", None) if template is not None else \
        (config.DefaultMessage.Body if config.DefaultMessage is not None else None)
    text = render(recipient.body_override or body)
    if not text:
        raise ContentRejected("the body is empty", detail="empty_body")
    return text


def phone(address: str) -> str:
    """The fake text family's address check: digits after a '+', spaces dropped."""
    number = address.replace(" ", "")
    if not number.startswith("+") or not number[1:].isdigit():
        raise ValueError("Address is not a phone number: no message was sent")
    return number


MAIL_FAMILY: Family[EmailTemplateResponse, str] = Family(
    events=MAIL, compose=compose, message_member="EmailMessage", default_member="DefaultMessage",
    template_member="EmailTemplate", template_type="EMAIL", template_class=EmailTemplateResponse,
    screen=Screen.SUPPRESSION)
TEXT_FAMILY: Family[SMSTemplateResponse, str] = Family(
    events=TEXT, compose=compose, message_member="SMSMessage", default_member="DefaultMessage",
    template_member="SMSTemplate", template_type="SMS", template_class=SMSTemplateResponse,
    screen=Screen.OPT_OUTS, address=phone)
PUSH_FAMILY: Family[PushNotificationTemplateResponse, str] = Family(
    events=PUSH, compose=compose, message_member="GCMMessage", default_member="DefaultPushNotificationMessage",
    template_member="PushTemplate", template_type="PUSH", template_class=PushNotificationTemplateResponse)


@dataclass
class Rig:
    redis: FakeRedis
    mail: FakeChannel
    text: FakeChannel
    push: FakeChannel
    templates: FakeTemplates
    dispatcher: Dispatcher
    n: int = 0
    waits: list[float] = field(default_factory=list)

    async def backoff(self, seconds: float) -> None:
        self.waits.append(seconds)

    def entry(self, request: dict[str, Any], entry_id: str | None = None, **extra: Any) -> tuple[str, dict[bytes, bytes]]:
        """A raw stream entry of APP (extra fields as given; lists and dicts as JSON)."""
        self.n += 1
        fields = {b"app": APP.encode(), b"request": msgspec.json.encode(request)}
        for k, v in extra.items():
            fields[k.encode()] = v if isinstance(v, bytes) else \
                msgspec.json.encode(v) if isinstance(v, (list, dict)) else str(v).encode()
        return entry_id or f"{self.n}-0", fields

    async def process(self, *raw: tuple[str, dict[bytes, bytes]]) -> None:
        await self.dispatcher.process(list(raw))

    def events(self) -> list[dict[str, Any]]:
        return self.redis.event_records(EVENTS)

    def events_of(self, address: str) -> list[tuple[str, str, str]]:
        """(event type, delivery status, status code) of every event about `address`, in order."""
        return [(r["event_type"], r["attributes"]["delivery_status"], r["attributes"]["status_code"])
                for r in self.events() if _address(r) == address]

    def only(self, address: str) -> dict[str, Any]:
        """The attributes of the one outcome event (not the send event) about `address`."""
        found = [r["attributes"] for r in self.events() if _address(r) == address
                 and not r["event_type"].endswith(".send")]
        assert len(found) == 1, found
        return found[0]


def _address(record: dict[str, Any]) -> str:
    a = record["attributes"]
    if "address" in a:
        return str(a["address"])
    if "destination_phone_number" in a:
        return str(a["destination_phone_number"])
    return str(record["facets"]["email_channel"]["mail_event"]["mail"]["destination"][0])


@pytest.fixture
def rig() -> Rig:
    redis = FakeRedis()
    mail, text, push = FakeChannel(), FakeChannel(), FakeChannel()
    templates = FakeTemplates()
    cfg = GatewayConfig(retry=RetryConfig(max_attempts=MAX_ATTEMPTS, base_s=1.0, cap_s=600.0))
    routes = {"EMAIL": checked_route(mail, MAIL_FAMILY), "SMS": checked_route(text, TEXT_FAMILY),
              "GCM": checked_route(push, PUSH_FAMILY)}
    dispatcher = Dispatcher(redis, cfg, routes, templates=templates)
    rig = Rig(redis, mail, text, push, templates, dispatcher)
    dispatcher.sleep = rig.backoff  # a recorded wait, not a real one
    return rig


def send(*addresses: str, channel: str = "EMAIL", body: str = "hello", **request: Any) -> dict[str, Any]:
    return {"Addresses": {a: {"ChannelType": channel} for a in addresses},
            "MessageConfiguration": {"DefaultMessage": {"Body": body}}, **request}


def to_endpoints(*ids: str, body: str = "hello", **request: Any) -> dict[str, Any]:
    return {"Endpoints": {i: {} for i in ids}, "MessageConfiguration": {"DefaultMessage": {"Body": body}}, **request}


def put_endpoint(redis: FakeRedis, eid: str, address: str, channel: str = "GCM", user: str | None = None,
                 **fields: Any) -> None:
    ep = EndpointResponse(Id=eid, ApplicationId=APP, ChannelType=channel, Address=address,  # type: ignore[arg-type]
                          EndpointStatus="ACTIVE", **fields)
    redis.strings[keys.endpoint(APP, eid)] = msgspec.json.encode(ep)
    if user is not None:
        redis.sets.setdefault(keys.user(APP, user), set()).add(eid.encode())


def retry_members(redis: FakeRedis) -> list[tuple[dict[str, str], float]]:
    """The retry schedule's members as field dicts, with their due time (ms)."""
    out = []
    for member, score in redis.zsets.get(RETRY, {}).items():
        flat = msgspec.json.decode(member)
        out.append((dict(zip(flat[::2], flat[1::2], strict=True)), score))
    return sorted(out, key=lambda m: m[0]["origin"])


# ------------------------------------------------------------------------------------------ outcomes and events


async def test_a_mixed_batch_writes_each_recipients_send_and_outcome_events_from_its_family(rig: Rig) -> None:
    rig.mail.answers = {
        "hard@example.com": RecipientRejected("550 5.1.1 user unknown", code=550),
        "soft@example.com": TransientError("421 try later", code=421),
        "maybe@example.com": MaybeSent("timeout after the final dot"),
    }
    rig.push.answers = {"tok-dead": RecipientRejected("Unregistered", code=410, deactivate=True)}
    put_endpoint(rig.redis, "ep1", "tok-dead")
    await rig.process(
        rig.entry(send("ok@example.com", "hard@example.com", "soft@example.com", "maybe@example.com")),
        rig.entry(send("+14155550100", channel="SMS")),
        rig.entry(to_endpoints("ep1")),
    )
    assert rig.events_of("ok@example.com") == [("_fmail.send", "SUCCESSFUL", "200"),
                                               ("_fake.delivered", "SUCCESSFUL", "200")]
    assert rig.events_of("hard@example.com") == [("_fmail.send", "SUCCESSFUL", "200"),
                                                 ("_fmail.bounce", "PERMANENT_FAILURE", "550")]
    assert rig.events_of("soft@example.com") == [("_fmail.send", "SUCCESSFUL", "200"),
                                                 ("_fmail.soft", "TEMPORARY_FAILURE", "421")]
    assert rig.events_of("maybe@example.com") == [("_fmail.send", "SUCCESSFUL", "200"),
                                                  ("_fmail.unknown", "UNKNOWN_FAILURE", "500")]
    # the text family names no send event: only the outcome is written
    assert rig.events_of("+14155550100") == [("_fake.delivered", "SUCCESSFUL", "200")]
    assert rig.events_of("tok-dead") == [("_fpush.send", "SUCCESSFUL", "200"),
                                         ("_fpush.unregistered", "PERMANENT_FAILURE", "410")]
    assert len(rig.events()) == 11
    # a recipient's send and outcome events carry its one message id; recipients' ids differ
    ids: dict[str, set[str]] = {}
    for r in rig.events():
        ids.setdefault(_address(r), set()).add(r["attributes"]["message_id"])
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == len(ids)
    assert rig.dispatcher.counts == {"SUCCESSFUL": 2, "PERMANENT_FAILURE": 2, "TEMPORARY_FAILURE": 1,
                                     "UNKNOWN_FAILURE": 1}


async def test_retries_are_scheduled_one_per_entry_with_only_the_failed_recipients_and_their_message_ids(rig: Rig) -> None:
    rig.mail.answers = {
        "a2@example.com": TransientError("busy", code=421, retry_after=300),
        "a3@example.com": TransientError("busy", code=421, retry_after=120),
        "b1@example.com": TransientError("busy", code=451, retry_after=60),
    }
    a = rig.entry(send("a1@example.com", "a2@example.com", "a3@example.com"), "100-0")
    b = rig.entry(send("b1@example.com"), "200-0")
    await rig.process(a, b)
    now_ms = rig.events()[0]["arrival_timestamp"]
    (retry_a, due_a), (retry_b, due_b) = retry_members(rig.redis)
    assert len(rig.redis.zsets[RETRY]) == 2  # one per entry, not one per recipient
    ids = {_address(r): r["attributes"]["message_id"] for r in rig.events()}
    assert msgspec.json.decode(retry_a["only"]) == ["a2@example.com", "a3@example.com"]
    assert msgspec.json.decode(retry_a["message_ids"]) == {k: ids[k] for k in ("a2@example.com", "a3@example.com")}
    assert (retry_a["attempt"], retry_a["origin"], retry_a["app"]) == ("2", "100-0", APP)
    assert retry_a["request"].encode() == a[1][b"request"]
    assert due_a == now_ms + 300_000  # the longest delay of the entry's recipients (the provider's hint here)
    assert msgspec.json.decode(retry_b["only"]) == ["b1@example.com"]
    assert due_b == now_ms + 60_000
    assert rig.only("a2@example.com")["status_message"] == "busy (attempt 1 of 3; will retry)"
    assert RETRY + ":transactional" not in rig.redis.zsets and not rig.redis.stream(DEAD)

    # The retry, read back: only the failed recipients are sent again, under their first ids, with no send event.
    fields = {k.encode(): v.encode() for k, v in retry_a.items() if k != "retry_nonce"}
    rig.mail.answers, rig.mail.sent, rig.redis.streams[EVENTS] = {}, [], []
    await rig.process(("300-0", fields))
    assert rig.mail.addresses == ["a2@example.com", "a3@example.com"]
    assert [m.message_id for m in rig.mail.sent] == [ids["a2@example.com"], ids["a3@example.com"]]
    assert rig.events_of("a2@example.com") == [("_fake.delivered", "SUCCESSFUL", "200")]
    assert {r["attributes"]["attempt"] for r in rig.events()} == {"2"}
    assert {r["attributes"]["request_id"] for r in rig.events()} == {"100-0"}


async def test_a_recipient_out_of_attempts_is_dead_lettered_with_the_reason(rig: Rig) -> None:
    rig.mail.answers = {"x@example.com": TransientError("451 greylisted", code=451)}
    last = rig.entry(send("x@example.com", "y@example.com", "z@example.com"), "9-0", attempt=MAX_ATTEMPTS,
                     only=["x@example.com", "y@example.com"], origin="1-0",
                     message_ids={"x@example.com": "m-x", "y@example.com": "m-y"})
    await rig.process(last)
    assert rig.mail.addresses == ["x@example.com", "y@example.com"]
    (dead,) = rig.redis.stream(DEAD)
    assert msgspec.json.decode(dead[b"only"]) == ["x@example.com"]
    assert msgspec.json.decode(dead[b"message_ids"]) == {"x@example.com": "m-x"}
    assert dead[b"reason"] == b"451 greylisted (gave up after 3 attempts)"
    assert (dead[b"attempts"], dead[b"stream"], dead[b"origin"]) == (b"3", SEND.encode(), b"1-0")
    assert RETRY not in rig.redis.zsets
    assert rig.events_of("x@example.com") == [("_fmail.soft", "TEMPORARY_FAILURE", "451")]
    assert rig.only("x@example.com")["message_id"] == "m-x"
    assert rig.events_of("y@example.com") == [("_fake.delivered", "SUCCESSFUL", "200")]
    assert rig.events_of("z@example.com") == []  # delivered on an earlier attempt: not in `only`
    assert rig.redis.acks == [(SEND, GROUP, "9-0")]


# ----------------------------------------------------------------------------------------- per-application writes


async def test_a_hard_bounce_is_suppressed_before_the_transaction_that_acknowledges_it(rig: Rig) -> None:
    rig.mail.answers = {"Hard@Example.com": RecipientRejected("550 5.1.1 no such user", code=550)}
    await rig.process(rig.entry(send("Hard@Example.com", "ok@example.com")))
    stored = rig.redis.hashes[keys.suppressed(APP)]
    assert list(stored) == [b"hard@example.com"]
    sup = msgspec.json.decode(stored[b"hard@example.com"], type=Suppression)
    assert (sup.reason, sup.detail) == ("BOUNCE", "550 5.1.1 no such user")
    suppress, ack = rig.redis.index_of("hset"), rig.redis.index_of("xack")
    assert suppress < ack and not rig.redis.log[suppress].transaction and rig.redis.log[ack].transaction
    # a family that does not suppress bounces leaves the list alone
    rig.text.answers = {"+14155550100": RecipientRejected("unknown subscriber", code=1)}
    await rig.process(rig.entry(send("+14155550100", channel="SMS")))
    assert list(rig.redis.hashes[keys.suppressed(APP)]) == [b"hard@example.com"]
    assert rig.only("+14155550100")["delivery_status"] == "PERMANENT_FAILURE"


async def test_what_a_channel_asks_to_remember_rides_in_the_outcome_transaction(rig: Rig) -> None:
    """Late-bounce correlation (an email's Message-ID record) costs no round trip of its own: the SETs go in the
    transaction that writes the events and acknowledges the batch, and only for recipients that were delivered."""
    rig.mail.answers = {
        "a@example.com": Delivered(event_type="_fake.delivered", remember=("gw:mailsent:{p}:m-a", b"rec-a", 600)),
        "b@example.com": Delivered(event_type="_fake.delivered", remember=("gw:mailsent:{p}:m-b", b"rec-b", 600)),
        "c@example.com": RecipientRejected("550 5.1.1 no such user", code=550),
    }
    await rig.process(rig.entry(send("a@example.com", "b@example.com", "c@example.com")))
    assert (rig.redis.strings["gw:mailsent:{p}:m-a"], rig.redis.strings["gw:mailsent:{p}:m-b"]) == (b"rec-a", b"rec-b")
    assert rig.redis.ttl["gw:mailsent:{p}:m-a"] == 600
    ack = rig.redis.log[rig.redis.index_of("xack")]
    assert ack.transaction and ack.commands.count("evalsha:set_many") == 1  # keys of one hash tag: one call
    assert sum(1 for e in rig.redis.log if "evalsha:set_many" in e.commands) == 1  # no other round trip


async def test_a_dead_token_makes_its_endpoint_inactive_before_the_acknowledgement(rig: Rig) -> None:
    put_endpoint(rig.redis, "ep1", "tok-dead")
    put_endpoint(rig.redis, "ep2", "tok-live")
    rig.push.answers = {"tok-dead": RecipientRejected("Unregistered", code=410, detail="Unregistered",
                                                      deactivate=True, provider_ms=1_700_000_000_000)}
    await rig.process(rig.entry(to_endpoints("ep1", "ep2")))
    ep1 = msgspec.json.decode(rig.redis.strings[keys.endpoint(APP, "ep1")], type=EndpointResponse)
    ep2 = msgspec.json.decode(rig.redis.strings[keys.endpoint(APP, "ep2")], type=EndpointResponse)
    assert (ep1.EndpointStatus, ep2.EndpointStatus) == ("INACTIVE", "ACTIVE")
    why = msgspec.json.decode(rig.redis.hashes[keys.app_key(APP, "deactivated")][b"ep1"], type=Deactivation)
    assert (why.reason, why.since_ms) == ("Unregistered", 1_700_000_000_000)
    assert rig.redis.stream(keys.app_key(APP, "epchg")) == [{b"ids": b'["ep1"]'}]
    assert keys.suppressed(APP) not in rig.redis.hashes
    assert rig.events_of("tok-dead")[-1] == ("_fpush.unregistered", "PERMANENT_FAILURE", "410")
    write = next(i for i, e in enumerate(rig.redis.log) if e.commands == ["set", "xadd"])
    assert write < rig.redis.index_of("xack")


# -------------------------------------------------------------------------------------------------- screening


async def test_a_reused_idempotency_key_is_a_duplicate_and_nothing_is_sent(rig: Rig) -> None:
    rig.redis.strings[keys.idempotency(APP, "k1")] = b"earlier-request"
    rig.redis.strings[keys.idempotency(APP, "k3")] = b"1-0"  # this request's own key: a retry of it
    await rig.process(
        rig.entry(send("dup@example.com"), "5-0", idempotency_key="k1"),
        rig.entry(send("fresh@example.com"), "6-0", idempotency_key="k2"),
        rig.entry(send("again@example.com"), "7-0", idempotency_key="k3", origin="1-0", attempt=2,
                  only=["again@example.com"]),
    )
    assert rig.events_of("dup@example.com") == [("_fmail.rejected", "DUPLICATE", "409")]
    assert rig.only("dup@example.com")["status_message"] == "Duplicate request: this idempotency key was already used"
    assert rig.mail.addresses == ["fresh@example.com", "again@example.com"]
    assert rig.redis.strings[keys.idempotency(APP, "k2")] == b"6-0"
    assert rig.redis.ttl[keys.idempotency(APP, "k2")] == rig.dispatcher.cfg.idempotency.ttl_s
    assert rig.redis.strings[keys.idempotency(APP, "k1")] == b"earlier-request"


async def test_recipients_are_screened_against_the_list_their_family_names(rig: Rig) -> None:
    rig.redis.hashes[keys.suppressed(APP)] = {b"gone@example.com": suppression_entry("COMPLAINT")}
    rig.redis.sets[optout_key(APP)] = {b"+14155550100"}
    put_endpoint(rig.redis, "ep1", "gone@example.com")  # a push token that happens to equal a suppressed address
    await rig.process(
        rig.entry(send("GONE@example.com", "kept@example.com")),
        rig.entry(send("+14155550100", "+14155550101", channel="SMS")),
        rig.entry(send("+14155550100", channel="SMS", Context={KEYWORD_REPLY: "STOP"})),
        rig.entry(to_endpoints("ep1")),
    )
    assert rig.events_of("GONE@example.com") == [("_fmail.rejected", "PERMANENT_FAILURE", "400")]
    assert rig.only("GONE@example.com")["status_message"] == \
        "Address is on the suppression list (COMPLAINT); no message was sent"
    assert rig.mail.addresses == ["kept@example.com"]
    # the opt-out refusal of the plain send, then the keyword reply, which is exempt and sent
    assert rig.events_of("+14155550100") == [("_ftext.optout", "OPT_OUT", "400"),
                                             ("_fake.delivered", "SUCCESSFUL", "200")]
    assert rig.text.addresses == ["+14155550101", "+14155550100"]
    assert rig.text.sent[1].recipient.context == {KEYWORD_REPLY: "STOP"}
    assert rig.push.addresses == ["gone@example.com"]  # Screen.NONE: never checked against either list
    # one lookup per list and application, whatever the number of recipients
    assert [e.commands for e in rig.redis.log].count(["hmget"]) == 1
    assert [e.commands for e in rig.redis.log].count(["smismember"]) == 1


async def test_the_familys_address_check_refuses_or_normalizes_the_address(rig: Rig) -> None:
    await rig.process(rig.entry(send("not-a-number", "+1 415 555 0102", channel="SMS")))
    assert rig.events_of("not-a-number") == [("_ftext.rejected", "PERMANENT_FAILURE", "400")]
    assert rig.only("not-a-number")["status_message"] == "Address is not a phone number: no message was sent"
    assert rig.text.addresses == ["+14155550102"]
    assert rig.events_of("+14155550102") == [("_fake.delivered", "SUCCESSFUL", "200")]


async def test_endpoints_that_must_not_be_sent_to_are_refused_with_the_reason(rig: Rig) -> None:
    put_endpoint(rig.redis, "off", "tok-off")
    rig.redis.strings[keys.endpoint(APP, "off")] = rig.redis.strings[keys.endpoint(APP, "off")].replace(
        b'"ACTIVE"', b'"INACTIVE"')
    put_endpoint(rig.redis, "out", "tok-out", OptOut="ALL")
    put_endpoint(rig.redis, "fax", "+14155550100", channel="VOICE")  # no route for VOICE in this rig
    await rig.process(rig.entry(to_endpoints("off", "out", "fax", "ghost")))
    attrs = {r["client"]["client_id"]: r["attributes"] for r in rig.events()}
    assert {k: (a["delivery_status"], a["status_code"], a["status_message"]) for k, a in attrs.items()} == {
        "off": ("PERMANENT_FAILURE", "400", "Endpoint is INACTIVE; messages aren't sent to it"),
        "out": ("OPT_OUT", "400", "Endpoint has opted out of all messages"),
        "fax": ("PERMANENT_FAILURE", "400", "No channel is configured for ChannelType VOICE"),
        "ghost": ("PERMANENT_FAILURE", "404", "Endpoint not found"),
    }
    # a recipient with no route still gets its family's events (VOICE's by ChannelType)
    assert {r["client"]["client_id"]: r["event_type"] for r in rig.events()}["fax"] == "_VOICE.FAILED"
    assert rig.push.sent == []


# ------------------------------------------------------------------------------------------ templates and content


async def test_a_template_that_is_not_found_is_a_404_refusal_fetched_once_per_batch(rig: Rig) -> None:
    rig.templates.templates[("wrong-kind", "SMS")] = (EmailTemplateResponse(
        CreationDate="", LastModifiedDate="", TemplateName="wrong-kind", TemplateType="EMAIL"), {})
    missing = {"SMSTemplate": {"Name": "missing", "Version": "3"}}
    await rig.process(
        rig.entry(send("+14155550100", "+14155550101", channel="SMS", TemplateConfiguration=missing)),
        rig.entry(send("+14155550102", channel="SMS", TemplateConfiguration={"SMSTemplate": {"Name": "wrong-kind"}})),
    )
    for number in ("+14155550100", "+14155550101"):
        assert rig.events_of(number) == [("_ftext.rejected", "PERMANENT_FAILURE", "404")]
        assert rig.only(number)["status_message"] == "Template 'missing' (SMS) version 3 not found"
    assert rig.only("+14155550102")["status_message"] == "Template 'wrong-kind' (SMS) not found"
    assert rig.templates.gets == [("missing", "SMS", "3"), ("wrong-kind", "SMS", None)]
    assert rig.text.sent == []


async def test_a_template_renders_with_its_default_substitutions(rig: Rig) -> None:
    rig.templates.templates[("hi", "SMS")] = (SMSTemplateResponse(
        Body="Hi {{name}}, code {{code}}", CreationDate="", LastModifiedDate="", TemplateName="hi",
        TemplateType="SMS"), {"name": "there", "code": "0"})
    request = send("+14155550100", channel="SMS", TemplateConfiguration={"SMSTemplate": {"Name": "hi"}})
    request["Addresses"]["+14155550100"]["Substitutions"] = {"code": ["42"]}
    await rig.process(rig.entry(request))
    assert [m.content for m in rig.text.sent] == ["Hi there, code 42"]


async def test_a_body_that_does_not_render_is_a_rendering_failure_and_content_refusals_are_the_familys(rig: Rig) -> None:
    await rig.process(
        rig.entry(send("+14155550100", channel="SMS", body="Hi {{#if}}")),
        rig.entry(send("empty@example.com", body="")),
    )
    assert rig.events_of("+14155550100") == [("_ftext.rendering_failure", "PERMANENT_FAILURE", "400")]
    assert rig.only("+14155550100")["status_message"].startswith("Rendering failed: line 1, column 11: expected {{/if}}")
    # the composer's ContentRejected is a failure decided like a channel's, before any send (no send event)
    assert rig.events_of("empty@example.com") == [("_fmail.failure", "PERMANENT_FAILURE", "400")]
    assert rig.text.sent == [] and rig.mail.sent == []


# ------------------------------------------------------------------------------------------------------ replies


async def test_reply_to_gets_a_message_response_keyed_as_the_request_named_its_recipients(rig: Rig) -> None:
    put_endpoint(rig.redis, "ep1", "tok-1")
    rig.redis.hashes[keys.suppressed(APP)] = {b"gone@example.com": suppression_entry("BOUNCE")}
    request = send("ok@example.com", "gone@example.com")
    request["Endpoints"] = {"ep1": {}, "ghost": {}}
    reply_key = keys.reply("r1")
    await rig.process(rig.entry(request, "7-0", reply_to=reply_key))
    (raw,) = rig.redis.lists[reply_key]
    assert rig.redis.ttl[reply_key] == 300
    resp = msgspec.json.decode(raw, type=MessageResponse)
    assert (resp.ApplicationId, resp.RequestId) == (APP, "7-0")
    assert resp.Result is not None and resp.EndpointResult is not None
    ok, gone = resp.Result["ok@example.com"], resp.Result["gone@example.com"]
    assert (ok.DeliveryStatus, ok.StatusCode, ok.StatusMessage) == ("SUCCESSFUL", 200, "accepted")
    assert ok.MessageId == rig.mail.sent[0].message_id
    assert (gone.DeliveryStatus, gone.StatusCode) == ("PERMANENT_FAILURE", 400)
    assert set(resp.EndpointResult) == {"ep1", "ghost"}
    ep1, ghost = resp.EndpointResult["ep1"], resp.EndpointResult["ghost"]
    assert (ep1.Address, ep1.DeliveryStatus, ep1.MessageId) == ("tok-1", "SUCCESSFUL", rig.push.sent[0].message_id)
    assert (ghost.Address, ghost.DeliveryStatus, ghost.StatusCode, ghost.StatusMessage) == \
        (None, "PERMANENT_FAILURE", 404, "Endpoint not found")
    assert rig.redis.log[rig.redis.index_of("evalsha:reply")].transaction  # in the transaction that acknowledges


async def test_reply_to_of_a_users_request_maps_users_to_their_endpoints(rig: Rig) -> None:
    put_endpoint(rig.redis, "ep2", "tok-2", user="u1")
    put_endpoint(rig.redis, "ep1", "tok-1", user="u1")
    rig.push.answers = {"tok-2": TransientError("unavailable", code=503)}
    users = {"Users": {"u1": {}, "nobody": {}}, "MessageConfiguration": {"DefaultMessage": {"Body": "hi"}}}
    await rig.process(rig.entry(users, "8-0", kind="users", reply_to=keys.reply("r2")))
    resp = msgspec.json.decode(rig.redis.lists[keys.reply("r2")][0], type=SendUsersMessageResponse)
    assert resp.RequestId == "8-0" and resp.Result is not None
    assert set(resp.Result) == {"u1", "nobody"} and resp.Result["nobody"] == {}
    assert {eid: r.DeliveryStatus for eid, r in resp.Result["u1"].items()} == \
        {"ep1": "SUCCESSFUL", "ep2": "TEMPORARY_FAILURE"}
    assert rig.push.addresses == ["tok-1", "tok-2"]  # a user's endpoints in id order
    # the retry keeps the user\x1fendpoint key and the message id; it writes no second reply
    (retry, _), = retry_members(rig.redis)
    assert msgspec.json.decode(retry["only"]) == ["u1\x1fep2"]
    fields = {k.encode(): v.encode() for k, v in retry.items() if k != "retry_nonce"}
    fields[b"reply_to"] = keys.reply("r2").encode()
    rig.push.answers = {}
    await rig.process(("9-0", fields))
    assert rig.push.addresses == ["tok-1", "tok-2", "tok-2"]
    assert rig.push.sent[2].message_id == rig.push.sent[1].message_id
    assert len(rig.redis.lists[keys.reply("r2")]) == 1


# ------------------------------------------------------------------------------------------ acknowledgement


async def test_every_entry_of_a_batch_is_acknowledged_exactly_once_in_the_outcome_transaction(rig: Rig) -> None:
    rig.redis.strings[keys.idempotency(APP, "used")] = b"someone-else"
    rig.mail.answers = {"soft@example.com": TransientError("busy", code=421),
                        "last@example.com": TransientError("busy", code=421)}
    raw = [
        ("1-0", {b"app": APP.encode()}),  # undecodable: no request
        rig.entry(send("dup@example.com"), "2-0", idempotency_key="used"),
        rig.entry(send("ok@example.com", "soft@example.com"), "3-0"),
        rig.entry(send("last@example.com"), "4-0", attempt=MAX_ATTEMPTS),
        rig.entry(send("nowhere", channel="VOICE"), "5-0"),
    ]
    await rig.dispatcher.process(raw)
    assert sorted(rig.redis.acks) == [(SEND, GROUP, i) for i in ("1-0", "2-0", "3-0", "4-0", "5-0")]
    ack = rig.redis.log[rig.redis.index_of("xack")]
    assert ack.transaction and ack.commands[-1] == "xack"
    assert {"evalsha:emit", "zadd", "xadd"} <= set(ack.commands)  # events, retry and dead letters with it
    dead = rig.redis.stream(DEAD)
    assert [d[b"reason"] for d in dead] == [b"busy (gave up after 3 attempts)",
                                            b"undecodable entry: missing field 'request'"]


async def test_redis_down_in_the_per_application_writes_leaves_the_batch_unacknowledged(rig: Rig) -> None:
    rig.mail.answers = {"hard@example.com": RecipientRejected("550 no such user", code=550)}
    batch = rig.entry(send("hard@example.com", "ok@example.com"), "1-0")
    rig.redis.down = {"hset"}
    with pytest.raises(RedisConnectionError):
        await rig.process(batch)
    assert rig.redis.acks == [] and EVENTS not in rig.redis.streams and keys.suppressed(APP) not in rig.redis.hashes
    # it was waited out first, with growing waits, for PER_APP_RETRY's attempts
    assert rig.redis.failures == PER_APP_RETRY.max_attempts and len(rig.waits) == PER_APP_RETRY.max_attempts - 1
    assert rig.waits[-1] > rig.waits[0]
    # Redis is back: the same entry, read again, is decided again and acknowledged once
    rig.redis.down = set()
    await rig.process(batch)
    assert rig.redis.acks == [(SEND, GROUP, "1-0")]
    assert list(rig.redis.hashes[keys.suppressed(APP)]) == [b"hard@example.com"]


async def test_a_busy_pool_in_the_per_application_writes_is_waited_out_however_long(rig: Rig) -> None:
    # every connection lent out is contention, not an outage: giving up would leave the batch pending and its
    # redelivery would send the same messages again (the push load test saw dead tokens answered twice)
    put_endpoint(rig.redis, "ep1", "tok-dead")
    rig.push.answers = {"tok-dead": RecipientRejected("Unregistered", code=410, deactivate=True)}
    rig.redis.busy = {"watch": PER_APP_RETRY.max_attempts * 3}
    await rig.process(rig.entry(to_endpoints("ep1"), "1-0"))
    assert rig.redis.busy == {"watch": 0} and rig.redis.acks == [(SEND, GROUP, "1-0")]
    ep = msgspec.json.decode(rig.redis.strings[keys.endpoint(APP, "ep1")], type=EndpointResponse)
    assert ep.EndpointStatus == "INACTIVE"


async def test_a_busy_pool_at_the_outcome_transaction_is_waited_out_and_the_batch_written_once(rig: Rig) -> None:
    rig.redis.busy = {"xack": 20}
    await rig.process(rig.entry(send("ok@example.com"), "1-0"))
    assert rig.redis.busy == {"xack": 0} and rig.redis.acks == [(SEND, GROUP, "1-0")]
    assert [e[b"event_type"] for e in rig.redis.stream(EVENTS)].count(b"_fake.delivered") == 1


async def test_redis_down_while_deactivating_an_endpoint_leaves_the_batch_unacknowledged(rig: Rig) -> None:
    put_endpoint(rig.redis, "ep1", "tok-dead")
    rig.push.answers = {"tok-dead": RecipientRejected("Unregistered", code=410, deactivate=True)}
    rig.redis.down = {"watch"}
    with pytest.raises(RedisConnectionError):
        await rig.process(rig.entry(to_endpoints("ep1")))
    assert rig.redis.acks == [] and EVENTS not in rig.redis.streams
    ep = msgspec.json.decode(rig.redis.strings[keys.endpoint(APP, "ep1")], type=EndpointResponse)
    assert ep.EndpointStatus == "ACTIVE"


async def test_a_reply_key_of_the_wrong_type_fails_alone_and_the_rest_of_the_transaction_is_written(rig: Rig) -> None:
    rig.redis.strings[keys.reply("taken")] = b"not a list"
    await rig.process(rig.entry(send("ok@example.com"), "1-0", reply_to=keys.reply("taken")))
    assert rig.redis.strings[keys.reply("taken")] == b"not a list" and keys.reply("taken") not in rig.redis.ttl
    assert rig.redis.acks == [(SEND, GROUP, "1-0")]
    assert rig.events_of("ok@example.com")[-1] == ("_fake.delivered", "SUCCESSFUL", "200")


async def test_a_channel_bug_is_an_unknown_failure_never_resent(rig: Rig) -> None:
    rig.mail.answers = {"bug@example.com": RuntimeError("oops")}
    await rig.process(rig.entry(send("bug@example.com")))
    assert rig.events_of("bug@example.com") == [("_fmail.send", "SUCCESSFUL", "200"),
                                                ("_fmail.unknown", "UNKNOWN_FAILURE", "500")]
    assert rig.only("bug@example.com")["status_message"] == "internal error in the channel: RuntimeError"
    assert RETRY not in rig.redis.zsets and rig.redis.acks == [(SEND, GROUP, "1-0")]



async def test_a_busy_redis_is_waited_out_so_the_batch_is_not_sent_again(rig: Rig) -> None:
    """A small blocking pool timing out under a burst of dead tokens ("No connection available") is not an outage
    to give the batch up for: left pending, the whole batch would be sent again when claimed, and its dead tokens
    refused as INACTIVE instead of reported as unregistered."""
    for i in range(3):
        put_endpoint(rig.redis, f"ep{i}", f"tok-{i}")
    rig.push.answers = {"tok-0": RecipientRejected("Unregistered", code=410, deactivate=True),
                        "tok-2": RecipientRejected("Unregistered", code=410, deactivate=True)}
    rig.redis.flaky = {"watch": 3}
    await rig.process(rig.entry(to_endpoints("ep0", "ep1", "ep2"), "1-0"))
    assert rig.redis.failures == 3 and len(rig.waits) >= 1
    status = {i: msgspec.json.decode(rig.redis.strings[keys.endpoint(APP, f"ep{i}")], type=EndpointResponse)
              .EndpointStatus for i in range(3)}
    assert status == {0: "INACTIVE", 1: "ACTIVE", 2: "INACTIVE"}
    assert rig.redis.acks == [(SEND, GROUP, "1-0")]
    assert [r["event_type"] for r in rig.events() if not r["event_type"].endswith(".send")] == \
        ["_fpush.unregistered", "_fake.delivered", "_fpush.unregistered"]
    assert rig.push.addresses == ["tok-0", "tok-1", "tok-2"]  # each sent once


# ------------------------------------------------------------------------------------------ deadlines


async def test_a_request_past_its_deadline_is_not_sent_and_each_recipient_fails_with_an_event(rig: Rig) -> None:
    rig.dispatcher.wall = lambda: 1_800_000_000.0  # a mocked wall clock
    put_endpoint(rig.redis, "ep1", "tok-1")
    await rig.process(
        rig.entry(send("late@example.com", Context={"campaign_id": "c1", "treatment_id": "0"}), "1-0",
                  deadline_ms=1_799_999_999_999),
        rig.entry(to_endpoints("ep1"), "2-0", deadline_ms=1_799_999_999_000),
        rig.entry(send("due@example.com"), "3-0", deadline_ms=1_800_000_000_000),  # the deadline itself is in time
        rig.entry(send("free@example.com"), "4-0"),
    )
    assert rig.mail.addresses == ["due@example.com", "free@example.com"] and rig.push.addresses == []
    assert rig.events_of("late@example.com") == [("_fmail.rejected", "PERMANENT_FAILURE", "410")]
    assert rig.events_of("tok-1") == [("_fpush.rejected", "PERMANENT_FAILURE", "410")]
    assert rig.only("late@example.com")["status_message"] == (
        "Not sent: the request's deadline (2027-01-15T07:59:59.999Z) passed before it could be sent")
    assert (rig.only("late@example.com")["campaign_id"], rig.only("late@example.com")["treatment_id"]) == ("c1", "0")
    assert rig.dispatcher.counts == {"SUCCESSFUL": 2, "PERMANENT_FAILURE": 2}


async def test_a_retry_keeps_the_first_attempts_deadline_and_expires_by_it(rig: Rig) -> None:
    now = [1_800_000_000.0]
    rig.dispatcher.wall = lambda: now[0]
    rig.mail.answers = {"soft@example.com": TransientError("421 try later", code=421)}
    await rig.process(rig.entry(send("soft@example.com"), "1-0", deadline_ms=1_800_000_060_000))
    [(fields, _)] = retry_members(rig.redis)
    assert fields["deadline_ms"] == "1800000060000"
    rig.mail.answers = {}
    now[0] += 61  # the retry is due after the deadline
    again = {k: v for k, v in fields.items() if k not in ("app", "request")}
    await rig.process(rig.entry(send("soft@example.com"), "9-0", **again))
    assert rig.mail.addresses == ["soft@example.com"]  # the first attempt only
    assert rig.events_of("soft@example.com")[-1] == ("_fmail.rejected", "PERMANENT_FAILURE", "410")


@pytest.mark.parametrize("raw", [b"", b"-5", b"0", b"12.5", b"soon", b"9" * 16, b"253402300800000"])
async def test_a_deadline_that_is_not_a_time_in_milliseconds_dead_letters_the_entry(rig: Rig, raw: bytes) -> None:
    await rig.process(rig.entry(send("x@example.com"), "1-0", deadline_ms=raw))
    assert rig.mail.addresses == []
    [dead] = rig.redis.stream(DEAD)
    assert b"field 'deadline_ms' must be a Unix time in milliseconds" in dead[b"reason"]
