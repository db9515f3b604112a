"""The delivery engine end to end on email: Redis stream in, sandbox SMTP out, Pinpoint statuses and events back."""

from __future__ import annotations

import asyncio
import email
from email import policy
from email.message import EmailMessage

import msgspec
import pytest

from gateway import keys
from gateway.endpoints.store import EndpointStore
from gateway.models import EndpointResponse, EndpointUser
from gateway.worker import Worker
from tests.integration.conftest import Running, make_config

pytestmark = pytest.mark.asyncio


def email_request(*addresses: str, **extra: object) -> dict[str, object]:
    return {
        "Addresses": {a: {"ChannelType": "EMAIL"} for a in addresses},
        "MessageConfiguration": {
            "EmailMessage": {
                "FromAddress": "Shop <news@shop.test>",
                "SimpleEmail": {
                    "Subject": {"Data": "Hello {{name}}"},
                    "HtmlPart": {"Data": "<p>Hi {{name}}, your code is {{code}}</p>"},
                    "TextPart": {"Data": "Hi {{name}}"},
                },
                "Substitutions": {"name": ["friend"], "code": ["000"]},
            }
        },
        **extra,
    }


async def test_send_to_address_delivers_personalized_mail_with_events_and_response(engine, sink, redis):
    run = await engine()
    req = email_request("ada@example.com")
    req["Addresses"]["ada@example.com"]["Substitutions"] = {"name": ["Ada"]}  # type: ignore[index]
    resp = await run.producer.send_messages_and_wait("app1", req, timeout=10)
    result = resp.Result["ada@example.com"]
    assert (result.DeliveryStatus, result.StatusCode) == ("SUCCESSFUL", 200)
    assert result.MessageId
    assert resp.ApplicationId == "app1" and resp.RequestId
    (sender, rcpt, data), = sink.messages
    assert (sender, rcpt) == ("news@shop.test", "ada@example.com")
    assert b"Subject: Hello Ada" in data
    assert b"<p>Hi Ada, your code is 000</p>" in data
    assert f"Message-ID: <{result.MessageId}@".encode() in data
    outcomes = await run.outcomes(1)
    assert outcomes[0]["event_type"] == "_email.delivered"
    assert outcomes[0]["attributes"]["message_id"] == result.MessageId
    assert outcomes[0]["facets"]["email_channel"]["mail_event"]["mail"]["destination"] == ["ada@example.com"]
    sends = [e for e in run.events if e["event_type"] == "_email.send"]
    assert len(sends) == 1
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


async def test_endpoint_sends_respect_optout_inactive_and_missing(engine, sink, redis):
    store = EndpointStore(redis)
    await store.put("app1", EndpointResponse(Id="e-ok", Address="ok@example.com", ChannelType="EMAIL",
                                             Attributes={"name": ["Olga"]},
                                             User=EndpointUser(UserId="u1", UserAttributes={"tier": ["gold"]})))
    await store.put("app1", EndpointResponse(Id="e-out", Address="out@example.com", ChannelType="EMAIL", OptOut="ALL"))
    await store.put("app1", EndpointResponse(Id="e-off", Address="off@example.com", ChannelType="EMAIL",
                                             EndpointStatus="INACTIVE"))
    run = await engine()
    req = {
        "Endpoints": {"e-ok": {}, "e-out": {}, "e-off": {}, "e-none": {}},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {
            "Subject": {"Data": "For {{Attributes.name}} ({{User.UserAttributes.tier}})"},
            "TextPart": {"Data": "x"}}}},
    }
    resp = await run.producer.send_messages_and_wait("app1", req)
    r = resp.EndpointResult
    assert r["e-ok"].DeliveryStatus == "SUCCESSFUL" and r["e-ok"].Address == "ok@example.com"
    assert r["e-out"].DeliveryStatus == "OPT_OUT"
    assert r["e-off"].DeliveryStatus == "PERMANENT_FAILURE" and "INACTIVE" in r["e-off"].StatusMessage
    assert (r["e-none"].DeliveryStatus, r["e-none"].StatusCode) == ("PERMANENT_FAILURE", 404)
    assert [m[1] for m in sink.messages] == ["ok@example.com"]
    assert b"Subject: For Olga (gold)" in sink.messages[0][2]
    assert len(await run.outcomes(4)) == 4


async def test_hard_bounce_suppresses_address_and_later_send_makes_no_provider_call(engine, sink, redis):
    run = await engine()
    first = await run.producer.send_messages_and_wait("app1", email_request("bounce@example.com"))
    res = first.Result["bounce@example.com"]
    assert res.DeliveryStatus == "PERMANENT_FAILURE" and res.StatusCode == 550
    assert (await run.outcomes(1))[0]["event_type"] == "_email.hardbounce"
    assert await redis.hexists(keys.suppressed("app1"), "bounce@example.com")
    connections_before = sink.state.connections
    second = await run.producer.send_messages_and_wait("app1", email_request("Bounce@Example.com"))
    res2 = second.Result["Bounce@Example.com"]
    assert res2.DeliveryStatus == "PERMANENT_FAILURE" and "suppression list" in res2.StatusMessage
    assert sink.accepted == 0 and sink.state.connections == connections_before
    events = await run.outcomes(2)
    assert events[1]["event_type"] == "_email.rejected"


async def test_repeated_idempotency_key_is_duplicate_with_no_second_send(engine, sink):
    run = await engine()
    a = await run.producer.send_messages_and_wait("app1", email_request("x@example.com"), idempotency_key="order-1")
    b = await run.producer.send_messages_and_wait("app1", email_request("x@example.com"), idempotency_key="order-1")
    c = await run.producer.send_messages_and_wait("app2", email_request("x@example.com"), idempotency_key="order-1")
    assert a.Result["x@example.com"].DeliveryStatus == "SUCCESSFUL"
    assert b.Result["x@example.com"].DeliveryStatus == "DUPLICATE"
    assert c.Result["x@example.com"].DeliveryStatus == "SUCCESSFUL"  # keys are per application
    assert sink.accepted == 2


async def test_undecodable_and_wrongly_shaped_entries_go_to_dead_letters_at_once(engine, sink, redis):
    run = await engine()
    bad = [
        {"request": b"{}"},  # no app
        {"app": b"a1", "request": b"not json"},
        {"app": b"a1", "request": b'{"MessageConfiguration": {}}'},  # no recipients
        {"app": b"a1", "request": b'{"Addresses": {"x@y.z": {"ChannelType": "MAIL"}}, "MessageConfiguration": {}}'},
        {"app": b"a1", "request": b"\xff\xfe"},
        {"app": b"a1", "kind": b"bulk", "request": b"{}"},
    ]
    for fields in bad:
        await redis.xadd("gateway:send", fields)
    good = await run.producer.send_messages_and_wait("a1", email_request("ok@example.com"))
    assert good.Result["ok@example.com"].DeliveryStatus == "SUCCESSFUL"
    dead = await redis.xrange("gateway:dead")
    assert len(dead) == len(bad)
    reasons = [f[b"reason"].decode() for _, f in dead]
    assert "missing field 'app'" in reasons[0]
    assert "not a valid MessageRequest" in reasons[1]
    assert "no recipients" in reasons[2]
    assert "Invalid enum value 'MAIL'" in reasons[3]
    assert "kind" in reasons[5]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0


async def test_temporary_failure_is_retried_then_succeeds(engine, sink):
    run = await engine(retry={"max_attempts": 4})
    first = await run.producer.send_messages_and_wait("app1", email_request("flaky@example.com"))
    r = first.Result["flaky@example.com"]
    assert r.DeliveryStatus == "TEMPORARY_FAILURE" and "will retry" in r.StatusMessage
    events = await run.outcomes(1, where=lambda e: e["event_type"] == "_email.delivered")
    assert events[0]["attributes"]["attempt"] == "3"
    assert events[0]["attributes"]["message_id"] == r.MessageId  # a retry keeps its message id
    soft = [e for e in run.events if e["event_type"] == "_email.softbounce"]
    assert [e["attributes"]["attempt"] for e in soft] == ["1", "2"]
    assert sink.accepted == 1


async def test_retry_exhaustion_goes_to_dead_letters_with_reason(engine, sink, redis):
    run = await engine(retry={"max_attempts": 3})
    await run.producer.send_messages("app1", email_request("tempfail@example.com", "ok@example.com"))
    await run.outcomes(4)  # ok delivered + 3 soft bounces
    await run.outcomes(1, where=lambda e: "gave up" in e["attributes"]["status_message"])
    dead = await redis.xrange("gateway:dead")
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"attempts"] == b"3"
    assert b"451" in fields[b"reason"]
    assert msgspec.json.decode(fields[b"only"]) == ["tempfail@example.com"]
    assert sink.accepted == 1


async def test_timeout_after_final_dot_is_unknown_failure_never_resent(engine, sink):
    run = await engine()
    resp = await run.producer.send_messages_and_wait("app1", email_request("blackhole@example.com"))
    r = resp.Result["blackhole@example.com"]
    assert r.DeliveryStatus == "UNKNOWN_FAILURE" and "may have been accepted" in r.StatusMessage
    assert (await run.outcomes(1))[0]["event_type"] == "_email.unknown"


async def test_send_users_messages_reaches_every_endpoint_of_each_user(engine, sink, redis):
    store = EndpointStore(redis)
    for eid, addr in [("e1", "u1a@example.com"), ("e2", "u1b@example.com")]:
        await store.put("app1", EndpointResponse(Id=eid, Address=addr, ChannelType="EMAIL", User=EndpointUser(UserId="u1")))
    run = await engine()
    req = {"Users": {"u1": {}, "nobody": {}}, "MessageConfiguration": {"DefaultMessage": {"Body": "hello"},
                                                                       "EmailMessage": {"FromAddress": "a@shop.test"}}}
    resp = await run.producer.send_users_messages_and_wait("app1", req)
    assert set(resp.Result["u1"]) == {"e1", "e2"}
    assert resp.Result["nobody"] == {}  # a user without endpoints: nothing sent, and the caller can see it
    assert all(r.DeliveryStatus == "SUCCESSFUL" for r in resp.Result["u1"].values())
    assert sorted(m[1] for m in sink.messages) == ["u1a@example.com", "u1b@example.com"]


async def test_raw_email_reply_to_trace_id_and_context_travel_through(engine, sink):
    import base64

    raw = b"From: a@shop.test\nTo: r@example.com\nSubject: raw\n\n.leading dot\nbody\n"
    run = await engine()
    req = {
        "Addresses": {"r@example.com": {"ChannelType": "EMAIL", "Context": {"order": "42"}}},
        "Context": {"campaign": "c1"},
        "TraceId": "trace-9",
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@shop.test",
                                                  "RawEmail": {"Data": base64.b64encode(raw).decode()}}},
    }
    resp = await run.producer.send_messages_and_wait("app1", req)
    assert resp.Result["r@example.com"].DeliveryStatus == "SUCCESSFUL"
    assert sink.messages[0][2] == raw.replace(b"\n", b"\r\n")
    event = (await run.outcomes(1))[0]
    attrs = event["attributes"]
    assert (attrs["trace_id"], attrs["campaign"], attrs["order"]) == ("trace-9", "c1", "42")

    req2 = email_request("s@example.com")
    req2["MessageConfiguration"]["EmailMessage"]["ReplyToAddresses"] = ["help@shop.test"]  # type: ignore[index]
    req2["Addresses"]["s@example.com"]["TitleOverride"] = "Override {{name}}"  # type: ignore[index]
    await run.producer.send_messages_and_wait("app1", req2)
    data = sink.messages[1][2]
    assert b"Reply-To: help@shop.test" in data and b"Subject: Override friend" in data


async def test_content_errors_are_permanent_failures_without_provider_calls(engine, sink):
    run = await engine()
    req = email_request("x@example.com")
    req["MessageConfiguration"]["EmailMessage"]["SimpleEmail"]["Headers"] = [  # type: ignore[index]
        {"Name": "X-Bad", "Value": "a\r\nBcc: victim@example.com"}]
    resp = await run.producer.send_messages_and_wait("app1", req)
    r = resp.Result["x@example.com"]
    assert r.DeliveryStatus == "PERMANENT_FAILURE" and "line break" in r.StatusMessage
    bad_addr = await run.producer.send_messages_and_wait("app1", email_request("not-an-address"))
    assert bad_addr.Result["not-an-address"].DeliveryStatus == "PERMANENT_FAILURE"
    no_channel = await run.producer.send_messages_and_wait(
        "app1", {"Addresses": {"+15550001": {"ChannelType": "SMS"}}, "MessageConfiguration": {}})
    assert "No channel is configured for ChannelType SMS" in no_channel.Result["+15550001"].StatusMessage
    assert sink.accepted == 0 and sink.state.connections == 0


async def test_stored_template_with_helpers_defaults_and_versions(engine, sink, redis):
    from gateway.models import EmailTemplateRequest
    from gateway.templates.store import TemplateStore

    store = TemplateStore(redis)
    await store.create("welcome", "EMAIL", EmailTemplateRequest(
        Subject="Welcome, {{capitalize User.UserAttributes.FirstName.[0]}}",
        HtmlPart="<ul>{{#each Attributes.Items}}<li>{{@index}}:{{this}}</li>{{/each}}</ul><p>{{Attributes.Tier}}</p>",
        DefaultSubstitutions='{"Attributes.Tier": "bronze"}'))
    await store.update("welcome", "EMAIL", EmailTemplateRequest(Subject="v2 {{x}}", HtmlPart="v2"),
                       create_new_version=True)
    run = await engine()
    req = {
        "Addresses": {"t@example.com": {"ChannelType": "EMAIL", "Substitutions": {
            "User.UserAttributes.FirstName": ["ada"], "Attributes.Items": ["a", "b"]}}},
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "s@shop.test"}},
        "TemplateConfiguration": {"EmailTemplate": {"Name": "welcome", "Version": "1"}},
    }
    resp = await run.producer.send_messages_and_wait("app1", req)
    assert resp.Result["t@example.com"].DeliveryStatus == "SUCCESSFUL"
    data = sink.messages[0][2]
    assert b"Subject: Welcome, Ada" in data
    assert b"<ul><li>0:a</li><li>1:b</li></ul><p>bronze</p>" in data
    req["TemplateConfiguration"] = {"EmailTemplate": {"Name": "welcome"}}  # the active version: still 1
    await run.producer.send_messages_and_wait("app1", req)
    assert b"Subject: Welcome, Ada" in sink.messages[1][2]
    await store.set_active_version("welcome", "EMAIL", "2")
    await run.producer.send_messages_and_wait("app1", req)
    assert b"Subject: v2 \r\n" in sink.messages[2][2]
    req["TemplateConfiguration"] = {"EmailTemplate": {"Name": "nope"}}
    missing = await run.producer.send_messages_and_wait("app1", req)
    assert (missing.Result["t@example.com"].DeliveryStatus, missing.Result["t@example.com"].StatusCode) == ("PERMANENT_FAILURE", 404)


async def test_a_body_that_does_not_compile_is_a_rendering_failure(engine, sink):
    run = await engine()
    req = email_request("x@example.com")
    req["MessageConfiguration"]["EmailMessage"]["SimpleEmail"]["HtmlPart"] = {"Data": "{{#if a}}open"}  # type: ignore[index]
    resp = await run.producer.send_messages_and_wait("app1", req)
    r = resp.Result["x@example.com"]
    assert r.DeliveryStatus == "PERMANENT_FAILURE" and "Rendering failed" in r.StatusMessage
    assert (await run.outcomes(1))[0]["event_type"] == "_email.rendering_failure"
    assert sink.accepted == 0


async def test_request_reaches_a_strict_independent_relay_exactly(redis, redis_server, strict_smtp):
    """Stream → worker → aiosmtpd (HELO required, 8BITMIME, no PIPELINING/CHUNKING) with STARTTLS off: greeted
    with EHLO, 8-bit body declared, display name encoded on its own, parts byte-exact to the last line break."""
    channel = {"kind": "smtp", "port": strict_smtp.port, "connections": 2, "starttls": "never",
               "default_from": "sender@gateway.test", "data_timeout_s": 5, "command_timeout_s": 5}
    run = Running(Worker(make_config(strict_smtp.port, redis_server.url, channels=[channel]), redis=redis,
                         consumer="test-worker"), redis)
    run.task = asyncio.create_task(run.worker.run())
    req = email_request("ada@example.com")
    message = req["MessageConfiguration"]["EmailMessage"]  # type: ignore[index]
    message["FromAddress"] = "Zoë Café <news@shop.test>"
    message["SimpleEmail"]["TextPart"]["Data"] = "Grüße, {{name}}\n\n"
    try:
        resp = await run.producer.send_messages_and_wait("app1", req, timeout=10)
    finally:
        await run.stop()
    assert resp.Result["ada@example.com"].DeliveryStatus == "SUCCESSFUL"
    (got,) = strict_smtp.received
    assert got.extended and got.mail_options == ("BODY=8BITMIME",) and got.rcpt_tos == ("ada@example.com",)
    msg = email.message_from_bytes(got.data, policy=policy.default)
    assert isinstance(msg, EmailMessage) and not msg.defects
    assert [(a.display_name, a.addr_spec) for a in msg["From"].addresses] == [("Zoë Café", "news@shop.test")]
    plain = msg.get_body(("plain",))
    assert plain is not None and plain.get_payload(decode=True) == "Grüße, friend\r\n\r\n".encode()
