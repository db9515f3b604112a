"""The SMTP channel against the sandbox sink's fault matrix, on both the BDAT and the DATA paths."""

from __future__ import annotations

import asyncio

import pytest

from gateway import errors
from gateway.channels.base import Outbound, Recipient
from gateway.channels.smtp.channel import SmtpChannel
from gateway.channels.smtp.mime import EmailContent
from gateway.config import SmtpChannelConfig

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
    assert channel.failure_event(info.value) == event
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
