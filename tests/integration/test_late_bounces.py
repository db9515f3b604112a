"""Late bounces and complaints end to end: an email goes out through the engine to the sandbox SMTP with a VERP
return path, then a report for it (fixtures modelled on real ones) is delivered to the bounce listener by an
independent SMTP client (the standard library's smtplib), and the event and the suppression are checked."""

from __future__ import annotations

import asyncio
import os
import smtplib
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.bounces import sent, verp
from gateway.bounces.server import BounceListener, start_listener
from gateway.channels.base import Outbound, Recipient
from gateway.channels.smtp.channel import SmtpChannel
from gateway.channels.smtp.mime import EmailContent
from gateway.config import SmtpChannelConfig
from gateway.embedded_redis import free_port
from gateway.kpi import rollup as kpi_rollup
from gateway.suppression import SuppressionList
from tests.integration.conftest import make_config

pytestmark = pytest.mark.asyncio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bounces"
ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "bounces.shop.test"
KEY = "verp-key-for-tests-0123456789"
APP = "0123456789abcdef0123456789abcdef"


def channel(**extra: Any) -> list[dict[str, Any]]:
    return [{"kind": "smtp", "connections": 2, "default_from": "sender@gateway.test", "data_timeout_s": 2,
             "command_timeout_s": 5, "helo_name": "gateway.test", "return_path_domain": DOMAIN, **extra}]


def report(name: str, *, return_path: str, rcpt: str, message_id: str) -> bytes:
    text = (FIXTURES / name).read_text().replace("{{VERP}}", return_path).replace("{{RCPT}}", rcpt)
    return text.replace("{{MESSAGE_ID}}", f"<{message_id}@gateway.test>").replace("\n", "\r\n").encode()


class Reply(msgspec.Struct):
    mail: int
    rcpt: list[int]
    data: int | None


def _deliver(port: int, mail_from: str, rcpts: list[str], data: bytes) -> Reply:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("mx.reporter.test")
        code, _ = s.mail(mail_from)
        rcpt_codes = [s.rcpt(r)[0] for r in rcpts]
        data_code = s.data(data)[0] if any(c == 250 for c in rcpt_codes) else None
        return Reply(code, rcpt_codes, data_code)


async def deliver(listener: BounceListener, mail_from: str, rcpts: list[str], data: bytes) -> Reply:
    return await asyncio.to_thread(_deliver, listener.port, mail_from, rcpts, data)


async def send_one(engine: Any, sink: Any, monkeypatch: pytest.MonkeyPatch, address: str,
                   context: dict[str, str] | None = None, **chan: Any) -> tuple[Any, str, str]:
    """Send one email through the engine; returns the running engine, the message id and the MAIL FROM used."""
    monkeypatch.setenv("GW_TEST_VERP_KEY", KEY)
    run = await engine(channels=channel(port=sink.port, **chan))
    req = {"Addresses": {address: {"ChannelType": "EMAIL"}},
           "MessageConfiguration": {"EmailMessage": {"FromAddress": "Shop <news@shop.test>",
                                                     "SimpleEmail": {"Subject": {"Data": "Hello"},
                                                                     "TextPart": {"Data": "Hi"}}}}}
    if context:
        req["Context"] = context
    resp = await run.producer.send_messages_and_wait(APP, req, timeout=10)
    result = resp.Result[address]
    assert result.DeliveryStatus == "SUCCESSFUL"
    (mail_from, rcpt, _data), = sink.messages
    assert rcpt == address
    return run, result.MessageId, mail_from


@pytest.fixture
async def listener(redis: aioredis.Redis, redis_server: Any) -> Any:
    started: list[BounceListener] = []

    async def start(cfg_redis: aioredis.Redis | None = None, **chan: Any) -> BounceListener:
        cfg = make_config(1, redis_server.url, channels=channel(**chan),
                          bounces={"max_message_bytes": 200_000, "max_recipients": 3})
        lst = await start_listener(cfg, cfg_redis or redis, listen="127.0.0.1:0",
                                   environ={"GW_TEST_VERP_KEY": KEY})
        started.append(lst)
        return lst

    yield start
    for lst in started:
        await lst.cleanup()


async def events_of(redis: aioredis.Redis, event_type: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(f[b"record"]) for _, f in await redis.xrange("gateway:events")
            if f[b"event_type"] == event_type.encode()]


async def test_late_hard_bounce_by_verp_emits_the_event_and_suppresses(engine, sink, redis, listener, monkeypatch):
    run, mid, mail_from = await send_one(engine, sink, monkeypatch, "ada@example.com", verp_key_env="GW_TEST_VERP_KEY")
    local, _, domain = mail_from.rpartition("@")
    assert domain == DOMAIN and local.startswith("b+") and len(local) <= 64  # byte-correct VERP on the wire
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    data = report("gmail_hard.eml", return_path=mail_from, rcpt="ada@example.com", message_id=mid)
    reply = await deliver(lst, "", [mail_from], data)
    assert reply == Reply(250, [250], 250)
    (ev,) = await events_of(redis, "_email.hardbounce")
    attrs = ev["attributes"]
    assert (ev["application"]["app_id"], attrs["message_id"]) == (APP, mid)
    assert attrs["delivery_status"] == "PERMANENT_FAILURE" and attrs["bounce_status"] == "5.1.1"
    assert attrs["correlated_by"] == "verp" and attrs["feedback"] == "hardbounce"
    assert ev["facets"]["email_channel"]["mail_event"]["mail"]["destination"] == ["ada@example.com"]
    assert "does not exist" in ev["facets"]["email_channel"]["mail_event"]["hardbounce"]["smtp_response"]
    (sup,) = await SuppressionList(redis).lookup(APP, ["ada@example.com"])
    assert sup is not None and sup.reason == "BOUNCE"
    assert lst.handler.counts["hardbounce"] == 1
    # the engine now refuses the address without sending, as after a synchronous bounce
    resp = await run.producer.send_messages_and_wait(APP, {
        "Addresses": {"ada@example.com": {"ChannelType": "EMAIL"}},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "again"},
                                                                  "TextPart": {"Data": "x"}}}}}, timeout=10)
    assert resp.Result["ada@example.com"].DeliveryStatus == "PERMANENT_FAILURE"
    assert len(sink.messages) == 1


async def test_a_late_bounce_of_campaign_email_carries_the_campaign_and_counts_in_its_kpis(
        engine, sink, redis, listener, monkeypatch):
    camp = {"campaign_id": "c7", "campaign_activity_id": "a7", "treatment_id": "1", "journey_run_id": ""}
    _, mid, mail_from = await send_one(engine, sink, monkeypatch, "dee@example.com", camp,
                                       verp_key_env="GW_TEST_VERP_KEY")
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    data = report("gmail_hard.eml", return_path=mail_from, rcpt="dee@example.com", message_id=mid)
    assert (await deliver(lst, "", [mail_from], data)).data == 250
    (ev,) = await events_of(redis, "_email.hardbounce")
    attrs = ev["attributes"]
    assert (attrs["campaign_id"], attrs["campaign_activity_id"], attrs["treatment_id"]) == ("c7", "a7", "1")
    assert "journey_run_id" not in attrs  # empty attributes are not carried
    day = kpi_rollup.day_of(ev["event_timestamp"])
    counted = await redis.hget(kpi_rollup.hash_key(APP, day, "c:c7"), "a7|EMAIL|hardbounced")
    assert counted == b"1"  # written with the event, before the listener answered


async def test_soft_bounce_and_complaint(engine, sink, redis, listener, monkeypatch):
    _, mid, mail_from = await send_one(engine, sink, monkeypatch, "bob@example.com", verp_key_env="GW_TEST_VERP_KEY")
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    delayed = report("yahoo_delayed.eml", return_path=mail_from, rcpt="bob@example.com", message_id=mid)
    assert (await deliver(lst, "", [mail_from], delayed)).data == 250
    (soft,) = await events_of(redis, "_email.softbounce")
    assert soft["attributes"]["delivery_status"] == "TEMPORARY_FAILURE"
    assert soft["attributes"]["bounce_status"] == "4.4.1"
    assert await SuppressionList(redis).lookup(APP, ["bob@example.com"]) == [None]  # a soft bounce suppresses nothing
    # a feedback loop report, sent from the reporter's own address to the VERP address
    arf = report("yahoo_cfl_arf.eml", return_path=mail_from, rcpt="bob@example.com", message_id=mid)
    assert (await deliver(lst, "feedbackloop@yahoo.test", [mail_from], arf)).data == 250
    (complaint,) = await events_of(redis, "_email.complaint")
    assert complaint["attributes"]["feedback_type"] == "abuse"
    assert complaint["attributes"]["message_id"] == mid
    (sup,) = await SuppressionList(redis).lookup(APP, ["bob@example.com"])
    assert sup is not None and sup.reason == "COMPLAINT"


async def test_message_id_fallback_without_verp(engine, sink, redis, listener, monkeypatch):
    _, mid, mail_from = await send_one(engine, sink, monkeypatch, "cy@example.com")  # no key: plain return path
    assert mail_from == "b@" + DOMAIN
    assert await redis.ttl(sent.key(mid)) > 6 * 86400  # the record, with its TTL
    lst = await listener()
    ndr = report("microsoft_ndr.eml", return_path=mail_from, rcpt="cy@example.com", message_id=mid)
    assert (await deliver(lst, "", [mail_from], ndr)).data == 250
    (ev,) = await events_of(redis, "_email.hardbounce")
    assert ev["attributes"]["correlated_by"] == "message-id" and ev["attributes"]["bounce_status"] == "5.1.10"
    # the same Message-ID in a report that names somebody else suppresses nobody
    other = report("microsoft_ndr.eml", return_path=mail_from, rcpt="victim@example.com", message_id=mid)
    assert (await deliver(lst, "", [mail_from], other)).data == 250
    assert lst.handler.counts["recipient-mismatch"] == 1
    assert await SuppressionList(redis).lookup(APP, ["victim@example.com"]) == [None]


async def test_listener_refuses_relaying_bad_tokens_and_big_messages(redis, listener):
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    good = verp.return_path("b", DOMAIN, KEY.encode(), APP, "a1b2c3d4e5f6-000000000001", "ada@example.com")
    reply = await deliver(lst, "", ["someone@elsewhere.test", "b+notatoken!@" + DOMAIN, "info@" + DOMAIN, good],
                          b"Subject: x\r\n\r\nbody\r\n")
    assert reply.rcpt == [550, 550, 550, 250]
    assert (await deliver(lst, "", ["postmaster@" + DOMAIN, "Abuse@" + DOMAIN], b"Subject: x\r\n\r\nx\r\n")).rcpt \
        == [250, 250]  # RFC 5321 §4.5.1, and where feedback loops are registered
    big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" * 1 + (b"y" * 900 + b"\r\n") * 300
    assert (await deliver(lst, "", [good], big)).data == 552
    assert (await deliver(lst, "", [good] * 4, b"Subject: x\r\n\r\nbody\r\n")).rcpt == [250, 250, 250, 452]
    assert lst.handler.counts["rcpt-refused"] == 3


async def test_bad_reports_are_counted_and_never_stop_the_listener(redis, listener):
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    mid = "a1b2c3d4e5f6-000000000002"
    good = verp.return_path("b", DOMAIN, KEY.encode(), APP, mid, "dee@example.com")
    forged = verp.return_path("b", DOMAIN, b"not-our-key-0123456789", APP, mid, "dee@example.com")
    deep = b"From: x@y\r\n" + b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode() for i in range(3000))
    bad = [
        ([forged], report("gmail_hard.eml", return_path=forged, rcpt="dee@example.com", message_id=mid)),
        ([good], report("gmail_hard.eml", return_path=good, rcpt="victim@example.com", message_id=mid)),
        ([good], report("dsn_no_recipients.eml", return_path=good, rcpt="dee@example.com", message_id=mid)),
        ([good], deep),
        ([good], b"\x00\xff garbage that is no mail at all"),
        ([good], report("out_of_office.eml", return_path=good, rcpt="dee@example.com", message_id=mid)),
    ]
    results = await asyncio.gather(*(deliver(lst, "", rcpts, data) for rcpts, data in bad))
    assert all(r.data == 250 for r in results)  # accepted, counted, not used
    assert lst.handler.counts["forged"] == 2  # a wrong key, and a valid token replayed for another address
    assert lst.handler.counts["malformed"] == 1 and lst.handler.counts["unparsed"] == 2
    assert lst.handler.counts["too-deep"] == 1
    assert await redis.xrange("gateway:events") == []
    assert await SuppressionList(redis).list(APP) == {}
    # and the listener still works: a good report right after
    ok = report("rfc3464_hard.eml", return_path=good, rcpt="dee@example.com", message_id=mid)
    assert (await deliver(lst, "", [good], ok)).data == 250
    (ev,) = await events_of(redis, "_email.hardbounce")
    assert ev["attributes"]["message_id"] == mid
    (sup,) = await SuppressionList(redis).lookup(APP, ["dee@example.com"])
    assert sup is not None and sup.reason == "BOUNCE"


async def test_a_complaint_sent_to_abuse_matches_by_its_original_mail_from(redis, listener):
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    mid = "a1b2c3d4e5f6-000000000006"
    good = verp.return_path("b", DOMAIN, KEY.encode(), APP, mid, "ivy@example.com")
    arf = report("rfc5965_arf.eml", return_path=good, rcpt="ivy@example.com", message_id=mid)
    assert (await deliver(lst, "abusedesk@example.com", ["abuse@" + DOMAIN], arf)).data == 250
    (ev,) = await events_of(redis, "_email.complaint")
    assert (ev["attributes"]["message_id"], ev["attributes"]["correlated_by"]) == (mid, "verp")
    (sup,) = await SuppressionList(redis).lookup(APP, ["ivy@example.com"])
    assert sup is not None and sup.reason == "COMPLAINT"


async def test_plain_bounce_only_through_verp(redis, listener):
    lst = await listener(verp_key_env="GW_TEST_VERP_KEY")
    mid = "a1b2c3d4e5f6-000000000003"
    good = verp.return_path("b", DOMAIN, KEY.encode(), APP, mid, "eve@example.com")
    await redis.set(sent.key(mid), msgspec.json.encode([APP, mid, "eve@example.com", "ep-9", "news@shop.test"]))
    qmail = report("qmail_plain.eml", return_path=good, rcpt="eve@example.com", message_id=mid)
    assert (await deliver(lst, "", [good], qmail)).data == 250
    (ev,) = await events_of(redis, "_email.hardbounce")
    assert ev["attributes"]["report_type"] == "plain" and ev["client"]["client_id"] == "ep-9"
    # the same text to the plain return path cannot say which message it is: unparsed, nothing suppressed
    plain = report("qmail_plain.eml", return_path="b@" + DOMAIN, rcpt="fay@example.com", message_id=mid)
    assert (await deliver(lst, "", ["b@" + DOMAIN], plain)).data == 250
    assert lst.handler.counts["unparsed"] + lst.handler.counts["no-reference"] == 1
    assert await SuppressionList(redis).lookup(APP, ["fay@example.com"]) == [None]


async def test_redis_down_asks_the_reporter_to_retry(listener):
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    lst = await listener(cfg_redis=dead, verp_key_env="GW_TEST_VERP_KEY")
    mid = "a1b2c3d4e5f6-000000000004"
    good = verp.return_path("b", DOMAIN, KEY.encode(), APP, mid, "gil@example.com")
    data = report("gmail_hard.eml", return_path=good, rcpt="gil@example.com", message_id=mid)
    assert (await deliver(lst, "", [good], data)).data == 451
    assert lst.handler.counts["redis-down"] == 1
    await dead.aclose()


async def test_gateway_serve_starts_the_listener_with_the_flag(redis_server, sink, tmp_path):
    port = free_port()
    conf = tmp_path / "gw.toml"
    conf.write_text(f'redis_url = "{redis_server.url}"\n[[channels]]\nkind = "smtp"\nport = {sink.port}\n'
                    f'return_path_domain = "{DOMAIN}"\nverp_key_env = "GW_TEST_VERP_KEY"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--config", str(conf), "--bounces", f"127.0.0.1:{port}",
        cwd=ROOT, env={**os.environ, "GW_TEST_VERP_KEY": KEY}, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        seen = []
        while not any("bounce and complaint listener" in line for line in seen):
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, f"gateway serve exited: {''.join(seen)}"
            seen.append(line)
        good = verp.return_path("b", DOMAIN, KEY.encode(), APP, "a1b2c3d4e5f6-000000000005", "hal@example.com")
        reply = await asyncio.to_thread(_deliver, port, "", ["x@elsewhere.test", good], b"Subject: x\r\n\r\nx\r\n")
        assert reply.rcpt == [550, 250] and reply.data == 250
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_strict_peer_accepts_the_verp_mail_from_and_the_from_header_is_unchanged(strict_smtp, monkeypatch):
    """The independent peer (aiosmtpd, strict) checks the reverse-path syntax; the From header stays the sender's."""
    monkeypatch.setenv("GW_TEST_VERP_KEY", KEY)
    ch = SmtpChannel(SmtpChannelConfig(port=strict_smtp.port, default_from="news@shop.test", return_path_domain=DOMAIN,
                                       verp_key_env="GW_TEST_VERP_KEY", starttls="never"))
    mid = "a1b2c3d4e5f6-00000000000a"
    msg = Outbound(message_id=mid, app=APP, recipient=Recipient(key="ida@example.com", address="ida@example.com",
                                                                 channel_type="EMAIL", endpoint_id="ep-7"),
                   content=EmailContent(sender="news@shop.test", from_header="Shop <news@shop.test>",
                                        recipient="ida@example.com", subject="s", text="t"))
    try:
        delivered = await ch.send(msg)
    finally:
        await ch.aclose()
    (got,) = strict_smtp.received
    expected = verp.return_path("b", DOMAIN, KEY.encode(), APP, mid, "ida@example.com")
    assert got.mail_from == expected and len(expected.split("@")[0]) <= 64
    assert b"\r\nFrom: Shop <news@shop.test>\r\n" in b"\r\n" + got.data
    key, value, ttl = delivered.remember or ("", b"", 0)
    assert (key, ttl) == (sent.key(mid), 604_800)
    assert sent.decode(value) == sent.SentMail(APP, mid, "ida@example.com", "ep-7", "news@shop.test")

