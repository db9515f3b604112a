"""The SMTP channel against the sandbox sink's fault matrix, on both the BDAT and the DATA paths."""

from __future__ import annotations

import asyncio
import email
import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage

import msgspec
import pytest
import trustme

from gateway import errors
from gateway.channels.base import Outbound, Recipient
from gateway.channels.smtp.channel import SmtpChannel
from gateway.channels.smtp.compose import FAMILY
from gateway.channels.smtp.mime import EmailContent
from gateway.config import SmtpChannelConfig
from gateway.sandbox.smtp import SmtpSink
from tests.integration.smtp_peer import StrictSmtpPeer
from tests.outcomes import event as event_of

pytestmark = pytest.mark.asyncio


def out(addr: str, i: int = 0) -> Outbound:
    return Outbound(message_id=f"m{i}", app="a", recipient=Recipient(key=addr, address=addr, channel_type="EMAIL"),
                    content=EmailContent(sender=None, from_header=None, recipient=addr, subject="s", text=".dot\nbody"))


@pytest.fixture
async def channel(sink):
    ch = SmtpChannel(SmtpChannelConfig(port=sink.port, connections=4, default_from="me@gw.test", data_timeout_s=1.0,
                                       max_messages_per_connection=50))
    yield ch
    await ch.aclose()


@pytest.mark.parametrize("address,error,event", [
    ("bounce@x.test", errors.RecipientRejected, "_email.hardbounce"),
    ("tempfail@x.test", errors.TransientError, "_email.softbounce"),
    ("full@x.test", errors.TransientError, "_email.softbounce"),
    ("throttle@x.test", errors.Throttled, "_email.softbounce"),
    ("permfail@x.test", errors.PermanentError, "_email.rejected"),
    ("reject@x.test", errors.ContentRejected, "_email.rejected"),
    ("drop421@x.test", errors.ProviderUnavailable, "_email.softbounce"),
    ("disconnect@x.test", errors.ConnectError, "_email.softbounce"),
    ("blackhole@x.test", errors.MaybeSent, "_email.unknown"),
])
async def test_fault_matrix(channel, sink, address, error, event):
    with pytest.raises(error) as info:
        await channel.send(out(address))
    assert type(info.value) is error
    assert event_of(FAMILY, info.value) == event
    assert info.value.retryable == issubclass(error, errors.TransientError)
    # the channel recovers: the next message on a fresh or reused session is delivered
    d = await channel.send(out("fine@x.test"))
    assert d.status_code == 250 and d.event_type == "_email.delivered"
    assert [m[1] for m in sink.messages] == ["fine@x.test"]


async def test_sessions_are_reused_recycled_and_bounded(channel, sink):
    await asyncio.gather(*(channel.send(out(f"u{i}@x.test", i)) for i in range(400)))
    assert sink.accepted == 400
    # 4 connections at most at a time; recycled every 50 messages: at least 8, far fewer than 400
    assert 8 <= sink.state.connections <= 16


async def test_body_lines_starting_with_a_dot_arrive_intact(channel, sink):
    await channel.send(out("dots@x.test"))
    data = sink.messages[0][2]
    assert b"\r\n\r\n.dot\r\nbody" in data  # BDAT carries it as is; DATA stuffs it and the sink un-stuffs


async def test_missing_sender_is_a_permanent_content_error(sink):
    ch = SmtpChannel(SmtpChannelConfig(port=sink.port))
    with pytest.raises(errors.ContentRejected, match="FromAddress"):
        await ch.send(out("a@x.test"))


async def test_unreachable_relay_is_a_transient_connect_error():
    from gateway.embedded_redis import free_port

    ch = SmtpChannel(SmtpChannelConfig(port=free_port(), default_from="me@gw.test", connect_timeout_s=2))
    with pytest.raises(errors.ConnectError):
        await ch.send(out("a@x.test"))
    assert ch._open == 0


# --- against an independent strict peer (aiosmtpd: HELO/EHLO required, no PIPELINING/CHUNKING, 8BITMIME) ---

def strict_channel(peer: StrictSmtpPeer, **kw: object) -> SmtpChannel:
    return SmtpChannel(msgspec.convert({"port": peer.port, "connections": 2, "default_from": "me@gw.test",
                                        "data_timeout_s": 5.0, "command_timeout_s": 5.0, "starttls": "never", **kw},
                                       SmtpChannelConfig))


def mail(addr: str = "ada@example.com", **content: object) -> Outbound:
    fields: dict[str, object] = {"sender": "news@shop.test", "from_header": None, "recipient": addr,
                                 "subject": "s", **content}
    return Outbound(message_id="m1", app="a", recipient=Recipient(key=addr, address=addr, channel_type="EMAIL"),
                    content=EmailContent(**fields))  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage) and not msg.defects
    return msg


def crlf(text: str) -> bytes:
    """A text part's bytes in canonical form: every line break CRLF (RFC 2046 §4.1.1)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode()


async def test_strict_peer_gets_ehlo_and_a_declared_8bit_multipart(strict_smtp):
    ch = strict_channel(strict_smtp)
    text, html = "Grüße aus Köln\n\n.zweite Zeile\n", "<p>Olá</p>\r\n\r\n"
    try:
        d = await ch.send(mail(from_header="Zoë Café <news@shop.test>", subject="Olá", text=text, html=html))
    finally:
        await ch.aclose()
    assert d.status_code == 250
    (got,) = strict_smtp.received
    assert got.extended and got.helo == "gateway.localdomain"  # EHLO, not silence and not HELO
    assert (got.mail_from, got.rcpt_tos, got.mail_options) == ("news@shop.test", ("ada@example.com",), ("BODY=8BITMIME",))
    msg = parse(got.data)
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Zoë Café", "news@shop.test")
    assert b"<news@shop.test>" in got.data  # the address stays outside the encoded-word
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == rich["Content-Transfer-Encoding"] == "8bit"
    # byte-exact, trailing line breaks included (the last one used to be eaten by the boundary)
    assert plain.get_payload(decode=True) == crlf(text)
    assert rich.get_payload(decode=True) == crlf(html)


@pytest.mark.parametrize("strict_smtp", [{"ehlo": False}], indirect=True)
async def test_helo_fallback_when_ehlo_is_refused(strict_smtp):
    ch = strict_channel(strict_smtp)
    try:
        await ch.send(mail(text="naïve café\n"))
    finally:
        await ch.aclose()
    (got,) = strict_smtp.received
    assert not got.extended and got.helo == "gateway.localdomain" and got.mail_options == ()
    part = parse(got.data)
    assert part["Content-Transfer-Encoding"] == "base64"  # no 8BITMIME after HELO: encoded, never raw 8-bit
    assert part.get_payload(decode=True) == crlf("naïve café\n")


@pytest.mark.parametrize("strict_smtp", [{"eightbit": False}], indirect=True)
async def test_no_8bit_reaches_a_peer_without_8bitmime(strict_smtp):
    raw = ("From: Zoë <z@shop.test>\nTo: ada@example.com\nSubject: Grüße\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\nzwei\n").encode()
    ch = strict_channel(strict_smtp)
    try:
        await ch.send(mail(text="Grüße\n", from_header="Zoë <news@shop.test>"))
        await ch.send(mail(raw=raw))
    finally:
        await ch.aclose()
    simple, converted = strict_smtp.received
    for got in (simple, converted):
        assert got.extended and got.mail_options == () and got.data.isascii()
    assert parse(simple.data).get_payload(decode=True) == crlf("Grüße\n")
    msg = parse(converted.data)  # RawEmail converted to 7bit, same content
    assert msg["Subject"] == "Grüße" and msg["From"].addresses[0].display_name == "Zoë"
    assert msg["Content-Transfer-Encoding"] == "base64" and msg.get_payload(decode=True) == crlf("Grüße\nzwei\n")


@pytest.fixture
def tls_peer(request: pytest.FixtureRequest) -> Iterator[StrictSmtpPeer]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    peer = StrictSmtpPeer(tls=ctx).start()
    yield peer
    peer.stop()


@pytest.mark.parametrize("starttls", ["required", "opportunistic"])
async def test_ehlo_again_after_starttls(tls_peer, starttls):
    # RFC 3207 §4.2: after STARTTLS the client forgets the extensions and must EHLO again
    ch = strict_channel(tls_peer, starttls=starttls, tls_verify=False)
    try:
        await ch.send(mail(text="über TLS\n"))
    finally:
        await ch.aclose()
    (got,) = tls_peer.received
    assert got.extended and got.mail_options == ("BODY=8BITMIME",)
    assert parse(got.data).get_payload(decode=True) == crlf("über TLS\n")


# --- the sandbox sink is as strict as a careful relay about the greeting ---

async def dialogue(port: int, *commands: bytes) -> list[bytes]:
    """Each command's reply lines (the greeting first), one command at a time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async def reply() -> bytes:
            lines = [await reader.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(await reader.readline())
            return b"".join(lines)

        replies = [await reply()]
        for command in commands:
            writer.write(command + b"\r\n")
            replies.append(await asyncio.wait_for(reply(), 5))
        return replies
    finally:
        writer.close()


async def test_sandbox_requires_a_greeting_before_mail():
    sink = await SmtpSink(record=True).start()
    try:
        _, mail, rcpt, helo, mail2, rcpt2, data, end, rcpt3 = await dialogue(
            sink.port, b"MAIL FROM:<a@x.test>", b"RCPT TO:<b@y.test>", b"HELO me.test", b"MAIL FROM:<a@x.test>",
            b"RCPT TO:<b@y.test>", b"DATA", b"Subject: x\r\n\r\nhi\r\n.", b"RCPT TO:<b@y.test>")
        assert mail.startswith(b"503 ") and rcpt.startswith(b"503 ")  # no greeting, no transaction
        assert helo == b"250 sandbox.gateway\r\n"  # HELO: no extension list
        assert mail2.startswith(b"250 ") and rcpt2.startswith(b"250 ") and data.startswith(b"354 ")
        assert end.startswith(b"250 ") and rcpt3.startswith(b"503 ")  # the transaction ended with the dot
        assert sink.messages == [("a@x.test", "b@y.test", b"Subject: x\r\n\r\nhi\r\n")]
        _, ehlo, mail = await dialogue(sink.port, b"EHLO me.test", b"MAIL FROM:<a@x.test>")
        assert b"250-PIPELINING\r\n" in ehlo and b"250-8BITMIME\r\n" in ehlo and mail.startswith(b"250 ")
    finally:
        await sink.aclose()
    lenient = await SmtpSink(helo_required=False).start()
    try:
        _, mail = await dialogue(lenient.port, b"MAIL FROM:<a@x.test>")
        assert mail.startswith(b"250 ")
    finally:
        await lenient.aclose()
