"""Bind management (T18): a silent link is declared dead after the missed enquire_links and rebound, several
binds share the load, transmitter+receiver binds split submits and receipts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.channels.base import Runtime
from gateway.channels.smpp import create, dlr
from gateway.sandbox.smsc import SandboxSmsc
from tests.integration.smpp_support import Hooks, cfg, out, until


@pytest.fixture
async def smsc() -> AsyncIterator[SandboxSmsc]:
    server = SandboxSmsc(record=True)
    await server.start()
    yield server
    await server.close()


async def test_lost_enquire_link_responses_reconnect_without_loss(smsc: SandboxSmsc, redis: Any) -> None:
    interval = 0.05
    ch = create(cfg(smsc.port, enquire_link_s=interval, dead_after_missed=3), Runtime(redis, None))
    await ch.start()
    try:
        link = ch.links[0]
        first = link.session
        assert first is not None
        loop = asyncio.get_running_loop()
        smsc.answer_enquire_link = False
        silent_at = loop.time()
        await asyncio.wait_for(first.closed, 2)  # declared dead by the keep-alive
        dead_after = loop.time() - silent_at
        assert dead_after <= 3.5 * interval + 0.05  # within three intervals (plus timer slack)
        smsc.answer_enquire_link = True
        # a send issued while the link is down waits for the rebind and is delivered once
        d = await ch.send(out("+14155550100"))
        assert d.provider_message_id and link.binds == 2 and link.session is not first
        assert [s.destination_addr for s in smsc.submitted] == ["14155550100"]
    finally:
        await ch.aclose()


async def test_healthy_link_stays_up(smsc: SandboxSmsc, redis: Any) -> None:
    ch = create(cfg(smsc.port, enquire_link_s=0.02), Runtime(redis, None))
    await ch.start()
    try:
        session = ch.links[0].session
        assert session is not None
        await asyncio.sleep(0.2)  # ten keep-alive intervals pass (this is the behaviour under test, not a sync)
        assert ch.links[0].session is session and not session.closed.done()
    finally:
        await ch.aclose()


async def test_several_binds_share_the_load(smsc: SandboxSmsc, redis: Any) -> None:
    ch = create(cfg(smsc.port, binds=3, window=2, transactional_reserve=0, registered_delivery=False),
                Runtime(redis, None))
    await ch.start()
    try:
        await until(lambda: sum(1 for lk in ch.links if lk.session is not None and lk.session.bound) == 3)
        results = await asyncio.gather(*(ch.send(out(f"+1415555{i:04d}", message_id=f"m{i}")) for i in range(60)))
        assert len({r.provider_message_id for r in results}) == 60
        assert smsc.bind_count == 3 and len(smsc.submitted) == 60
    finally:
        await ch.aclose()


async def test_transmitter_receiver_pair(smsc: SandboxSmsc, redis: Any) -> None:
    hooks = Hooks()
    ch = create(cfg(smsc.port, bind_mode="transmitter_receiver"), Runtime(redis, None))
    ch.on_receipt, ch.on_inbound = hooks.on_receipt, hooks.on_inbound
    await ch.start()
    try:
        await until(lambda: all(lk.session is not None and lk.session.bound for lk in ch.links))
        assert sorted(s.bound_as for s in smsc.sessions) == [1, 2]  # one receiver, one transmitter
        await ch.send(out("+14155550100"))
        ev = await hooks.receipt()
        assert ev.event_type == dlr.SUCCESS_EVENT
    finally:
        await ch.aclose()


async def test_smsc_down_at_start_then_up(redis: Any) -> None:
    server = SandboxSmsc()
    port = await server.start()
    await server.close()  # nothing listens on the port now
    ch = create(cfg(port, connect_timeout_s=0.2), Runtime(redis, None))
    await ch.start()  # logs, does not raise
    assert ch.links[0].session is None and ch.links[0].last_error is not None
    server2 = SandboxSmsc()
    await server2.start(port=port)
    try:
        await until(lambda: ch.links[0].session is not None)
        assert (await ch.send(out("+14155550100"))).provider_message_id
    finally:
        await ch.aclose()
        await server2.close()


def test_channel_and_sandbox_run_on_uvloop(redis_server: Any) -> None:
    """Production runs on uvloop, whose transports are not asyncio.Transport subclasses."""
    import redis.asyncio as aioredis
    import uvloop

    async def main() -> str | None:
        server = SandboxSmsc()
        await server.start()
        client = aioredis.Redis.from_url(redis_server.url)
        ch = create(cfg(server.port), Runtime(client, None))
        await ch.start()
        try:
            return (await ch.send(out("+14155550100"))).provider_message_id
        finally:
            await ch.aclose()
            await server.close()
            await client.aclose()

    assert uvloop.run(main())


async def test_a_bind_that_comes_up_after_the_close_began_is_dropped_and_its_supervisor_ends(
        smsc: SandboxSmsc, redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio.wait_for (Python 3.11) can lose a cancel that arrives as the connection it waits for completes;
    the close must not then wait forever on a bind that came up behind its back."""
    from gateway.channels.smpp.session import SmppSession

    began, release = asyncio.Event(), asyncio.Event()
    real_bind = SmppSession.bind

    async def slow_bind(self: SmppSession, *args: Any, **kw: Any) -> Any:
        began.set()
        await release.wait()
        return await real_bind(self, *args, **kw)

    monkeypatch.setattr(SmppSession, "bind", slow_bind)
    ch = create(cfg(smsc.port, connect_timeout_s=0.2), Runtime(redis, None))
    await ch.start()  # no bind within 0.2 s: start returns, the supervisor keeps trying
    await asyncio.wait_for(began.wait(), 5)
    ch.closing = True  # the close began, and (as when wait_for lost it) the supervisor was not cancelled
    release.set()
    link = ch.links[0]
    assert link.task is not None
    await asyncio.wait_for(link.task, 5)
    assert link.session is None and link.binds == 0
    await until(lambda: not smsc.sessions)
    await asyncio.wait_for(ch.aclose(), 5)
