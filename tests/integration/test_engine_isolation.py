"""Hostile and broken input through the whole engine: a failure stays with the entry or the recipient that caused
it (dead-lettered, or failed with a status and an event), its neighbours are delivered, and no key outside the
reply namespace is ever written or expired."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from gateway import keys
from gateway.channels.base import AnyRoute as Route
from gateway.channels.base import Delivered, Outbound
from gateway.errors import TransientError
from gateway.sandbox.http_sms import SandboxHttpSms
from gateway.sandbox.smtp import SmtpSink
from gateway.worker import Worker
from tests.integration.conftest import Running, make_config
from tests.integration.test_email_engine import email_request

pytestmark = pytest.mark.asyncio

NUMBER = "+14155550100"


def _fields(app: str, request: dict[str, Any] | bytes, **extra: bytes) -> dict[bytes, bytes]:
    raw = request if isinstance(request, bytes) else msgspec.json.encode(request)
    return {b"app": app.encode(), b"request": raw, **{k.encode(): v for k, v in extra.items()}}


async def _dead(redis: Any, n: int) -> list[dict[bytes, bytes]]:
    """Wait (XREAD BLOCK, no sleeps) until the dead-letter stream holds n entries."""
    got: list[dict[bytes, bytes]] = []
    last = "0"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(got) < n:
        left = deadline - loop.time()
        assert left > 0, f"only {len(got)} of {n} dead letters arrived"
        for _, items in await redis.xread({"gateway:dead": last}, block=int(min(left, 2) * 1000) + 1) or []:
            for entry_id, fields in items:
                last = entry_id.decode()
                got.append(fields)
    return got


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    """One sink (the SMTP transport is not what these tests are about; conftest's runs both)."""
    s = await SmtpSink(record=True).start()
    yield s
    await s.aclose()


@pytest.fixture
async def custom(redis: Any, redis_server: Any, sink: Any) -> AsyncIterator[Any]:
    """Factory: a running worker whose routes `patch(routes)` may replace (a composer or channel that breaks)."""
    started: list[Running] = []

    async def start(patch: Any = None, **overrides: Any) -> Running:
        cfg = make_config(sink.port, redis_server.url, **overrides)
        worker = Worker(cfg, redis=redis, consumer="test-worker")
        if patch is not None:
            patch(worker.routes)
            worker.dispatcher.routes = worker.routes
        running = Running(worker, redis)
        running.task = asyncio.create_task(worker.run())
        started.append(running)
        return running

    yield start
    for r in started:
        await r.stop()


# ----------------------------------------------------------------------------------------- one entry, one batch


async def test_a_deeply_nested_entry_is_dead_lettered_and_its_batch_neighbours_are_delivered(engine, sink, redis):
    deep = (b'{"Addresses": {"deep@example.com": {"ChannelType": "EMAIL"}}, "MessageConfiguration": {}, '
            b'"Unknown": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    # written before the worker starts, so the three are read in one batch
    await redis.xadd("gateway:send", _fields("app1", email_request("before@example.com")))
    await redis.xadd("gateway:send", _fields("app1", deep))
    await redis.xadd("gateway:send", _fields("app1", email_request("after@example.com")))
    run = await engine()
    outcomes = await run.outcomes(2)
    assert {o["event_type"] for o in outcomes} == {"_email.delivered"}
    assert sorted(m[1] for m in sink.messages) == ["after@example.com", "before@example.com"]
    (dead,) = await _dead(redis, 1)
    assert b"nested too deeply" in dead[b"reason"] and dead[b"request"] == deep
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


async def test_an_entry_with_a_field_name_that_is_not_utf8_is_dead_lettered_and_its_neighbour_delivered(
        engine, sink, redis):
    # undecodable (its request is not JSON), and one of its field names is not UTF-8 either
    await redis.xadd("gateway:send", {**_fields("app1", b"{not json"), b"\xff\xfe": b"1"})
    await redis.xadd("gateway:send", _fields("app1", email_request("after@example.com")))
    run = await engine()
    assert {o["event_type"] for o in await run.outcomes(1)} == {"_email.delivered"}
    (dead,) = await _dead(redis, 1)
    assert dead[b"\\xff\\xfe"] == b"1" and b"undecodable entry" in dead[b"reason"]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0
    await run.stop()


async def test_an_entry_that_breaks_its_batch_is_dead_lettered_alone_with_the_reason(engine, sink, redis):
    """A user's endpoint set that is not a set (WRONGTYPE in the batch's lookup round trip) breaks preparation
    for the whole batch: the entry naming that user is found and dead-lettered, the others are delivered."""
    await redis.set(keys.user("app1", "u1"), "not a set")
    users = {"Users": {"u1": {}}, "MessageConfiguration": {"DefaultMessage": {"Body": "hi"}}}
    await redis.xadd("gateway:send", _fields("app1", email_request("one@example.com")))
    await redis.xadd("gateway:send", {**_fields("app1", users), b"kind": b"users"})
    await redis.xadd("gateway:send", _fields("app1", email_request("two@example.com")))
    run = await engine()
    await run.outcomes(2)
    assert sorted(m[1] for m in sink.messages) == ["one@example.com", "two@example.com"]
    (dead,) = await _dead(redis, 1)
    assert dead[b"kind"] == b"users" and b"WRONGTYPE" in dead[b"reason"]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


# ------------------------------------------------------------------------------------------------ one recipient


async def test_a_recipient_whose_composer_raises_fails_alone_with_a_status_and_an_event(custom, sink):
    def patch(routes: dict[str, Route]) -> None:
        route = routes["EMAIL"]

        def compose(config: Any, template: Any, recipient: Any, render: Any) -> Any:
            if recipient.address.startswith("boom"):
                raise RuntimeError("composer bug")
            return route.family.compose(config, template, recipient, render)

        routes["EMAIL"] = dataclasses.replace(route, family=dataclasses.replace(route.family, compose=compose))

    run = await custom(patch)
    resp = await run.producer.send_messages_and_wait(
        "app1", email_request("a@example.com", "boom@example.com", "b@example.com"))
    r = resp.Result
    assert r["a@example.com"].DeliveryStatus == r["b@example.com"].DeliveryStatus == "SUCCESSFUL"
    boom = r["boom@example.com"]
    assert (boom.DeliveryStatus, boom.StatusCode) == ("PERMANENT_FAILURE", 500)
    assert "Internal error while composing the message: RuntimeError: composer bug" in boom.StatusMessage
    assert sorted(m[1] for m in sink.messages) == ["a@example.com", "b@example.com"]
    events = {e["attributes"]["message_id"]: e for e in await run.outcomes(3)}
    assert events[boom.MessageId]["event_type"] == "_email.rejected"
    assert events[boom.MessageId]["attributes"]["delivery_status"] == "PERMANENT_FAILURE"


class _BrokenFailureEvent:
    """A channel whose error is hostile (a retry hint that is not a number): deciding its outcome raises."""

    channel_types = frozenset({"EMAIL"})

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def start(self) -> None:
        pass

    async def send(self, msg: Outbound) -> Delivered:
        self.sent.append(msg.recipient.address)
        if msg.recipient.address.startswith("bad"):
            raise TransientError("refused", retry_after="soon")  # type: ignore[arg-type]
        return Delivered(event_type="_email.delivered")

    async def aclose(self) -> None:
        pass


async def test_a_recipient_whose_outcome_cannot_be_decided_is_dead_lettered_alone(custom, redis):
    channel = _BrokenFailureEvent()

    def patch(routes: dict[str, Route]) -> None:
        routes["EMAIL"] = dataclasses.replace(routes["EMAIL"], channel=channel)

    run = await custom(patch)
    resp = await run.producer.send_messages_and_wait("app1", email_request("ok@example.com", "bad@example.com"))
    assert resp.Result["ok@example.com"].DeliveryStatus == "SUCCESSFUL"
    bad = resp.Result["bad@example.com"]
    assert (bad.DeliveryStatus, bad.StatusCode) == ("UNKNOWN_FAILURE", 500)  # it was handed to the channel
    (dead,) = await _dead(redis, 1)
    assert msgspec.json.decode(dead[b"only"]) == ["bad@example.com"]
    assert b"Internal error while deciding the outcome: TypeError" in dead[b"reason"]
    assert [e["attributes"]["message_id"] for e in await run.outcomes(1)] == [resp.Result["ok@example.com"].MessageId]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


# --------------------------------------------------------------------------------------------------- reply_to


async def test_a_reply_to_outside_the_reply_namespace_is_refused_and_that_key_is_untouched(engine, sink, redis):
    victim = keys.suppressed("other-app")
    await redis.hset(victim, "x@example.com", "{}")
    run = await engine()
    for target in (victim, "gateway:send"):
        await redis.xadd("gateway:send", _fields("app1", email_request("r@example.com"), reply_to=target.encode()))
    dead = await _dead(redis, 2)
    assert all(b"field 'reply_to' must be a reply key" in d[b"reason"] for d in dead)
    assert await redis.hgetall(victim) == {b"x@example.com": b"{}"}
    assert await redis.ttl(victim) == -1 and await redis.ttl("gateway:send") == -1
    assert sink.accepted == 0  # refused at decode time: nothing was sent
    await run.stop()


async def test_a_reply_key_of_the_wrong_type_is_neither_written_nor_expired(engine, sink, redis):
    squatter = "gw:reply:taken"
    await redis.set(squatter, "someone else's")
    run = await engine()
    await redis.xadd("gateway:send", _fields("app1", email_request("w@example.com"), reply_to=squatter.encode()))
    (event,) = await run.outcomes(1)
    assert event["event_type"] == "_email.delivered"  # the outcome is written and the entry acknowledged
    assert await redis.get(squatter) == b"someone else's" and await redis.ttl(squatter) == -1
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


# ----------------------------------------------------------------------------------------------- SMS and voice


@pytest.fixture
async def provider(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SandboxHttpSms]:
    monkeypatch.setenv("TEST_TW_TOKEN", "tok")
    s = await SandboxHttpSms().start()
    yield s
    await s.aclose()


def _twilio(kind: str, sandbox: SandboxHttpSms) -> dict[str, Any]:
    return {"kind": kind, "preset": "twilio", "account_sid": "ACtest", "api_base": sandbox.base_url,
            "allow_http": True, "allow_networks": ["127.0.0.1/32"],
            "auth": {"kind": "basic", "secret_env": "TEST_TW_TOKEN"}}


async def test_sms_and_voice_addresses_that_are_not_phone_numbers_fail_alone(engine, sink, provider):
    run = await engine(channels=[_twilio("http_sms", provider), _twilio("voice", provider)])
    for channel, member, event in (("SMS", "SMSMessage", "_SMS.FAILURE"), ("VOICE", "VoiceMessage", "_VOICE.FAILED")):
        bad = ["garbage", "+99911000001", "12"]
        req = {"Addresses": {a: {"ChannelType": channel} for a in [NUMBER, *bad]},
               "MessageConfiguration": {member: {"Body": "hello", "OriginationNumber": "+14155550199"}}}
        resp = await run.producer.send_messages_and_wait("app1", req)
        assert resp.Result[NUMBER].DeliveryStatus == "SUCCESSFUL", channel
        for a in bad:
            r = resp.Result[a]
            assert (r.DeliveryStatus, r.StatusCode) == ("PERMANENT_FAILURE", 400), (channel, a)
            assert "not a valid phone number" in r.StatusMessage and "E.164" in r.StatusMessage
            assert provider.calls(a) == 0
        failed = await run.outcomes(len(bad), where=lambda e, c=channel: e["attributes"]["channel_type"] == c
                                    and e["attributes"]["delivery_status"] == "PERMANENT_FAILURE")
        assert {e["event_type"] for e in failed} == {event}
    assert provider.calls(NUMBER) == 2


async def test_a_phone_number_in_another_notation_is_sent_to_its_e164_form(engine, sink, provider):
    run = await engine(channels=[_twilio("http_sms", provider)])
    req = {"Addresses": {"+1 (415) 555-0100": {"ChannelType": "SMS"}},
           "MessageConfiguration": {"SMSMessage": {"Body": "hi", "OriginationNumber": "+14155550199"}}}
    resp = await run.producer.send_messages_and_wait("app1", req)
    assert resp.Result["+1 (415) 555-0100"].DeliveryStatus == "SUCCESSFUL"
    assert provider.calls(NUMBER) == 1
