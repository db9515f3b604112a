"""Connection pool use as /metrics reports it, from real channels after real sends: HTTP SMS (aiohttp connectors,
one per MessageType lane) and APNs (HTTP/2 pools)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.metrics.core import PoolUse
from gateway.metrics.exposition import channel_pools
from tests.integration.test_http_sms import make_channel as make_sms_channel
from tests.integration.test_http_sms import sandbox as sms_sandbox  # noqa: F401 - fixture
from tests.integration.test_http_sms import sms, sms_cfg
from tests.integration.test_push_apns import content, impl, key_file, make_channel  # noqa: F401 - fixtures
from tests.integration.test_push_apns import sandbox as apns_sandbox  # noqa: F401 - fixture
from tests.push_support import outbound

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TW_TOKEN", "tok")


async def test_http_sms_connectors_report_kept_alive_connections(sms_sandbox: Any, redis: Any) -> None:  # noqa: F811
    ch = await make_sms_channel(sms_cfg(sms_sandbox, transactional_connections=3, promotional_connections=2), redis)
    try:
        assert {u.pool: u for u in ch.pool_use()}["transactional"] == PoolUse("transactional", 0, 0, 3)
        await ch.send(sms("+14255550100"))
        uses = {u.pool: u for u in ch.pool_use()}
        assert channel_pools([ch]) == [("sms", ch.pool_use())]
    finally:
        await ch.aclose()
    assert uses["transactional"] == PoolUse("transactional", open=1, busy=0, limit=3)  # kept alive, idle
    assert uses["promotional"] == PoolUse("promotional", open=0, busy=0, limit=2)


@pytest.fixture
def sandbox(apns_sandbox: Any) -> Any:  # noqa: F811 - make_channel asks for `sandbox`
    return apns_sandbox


async def test_apns_reports_each_http2_pool(make_channel: Any) -> None:  # noqa: F811
    ch = make_channel()
    assert ch.pool_use() == []  # pools open on first use
    await ch.send(outbound(content(), "aa11"))
    (use,) = ch.pool_use()
    assert (use.open, use.busy, use.limit, use.waiting) == (1, 0, ch.cfg.connections, 0)


async def test_smpp_reports_binds_and_window_slots(redis: Any) -> None:
    from gateway.channels.base import Runtime
    from gateway.channels.smpp import create
    from gateway.sandbox.smsc import SandboxSmsc
    from tests.integration.smpp_support import cfg, out

    server = SandboxSmsc()
    await server.start()
    ch = create(cfg(server.port, binds=2, window=5), Runtime(redis, None))
    try:
        await ch.start()  # returns once a bind is up
        await ch.send(out("+14155550100"))
        binds, window = ch.pool_use()
    finally:
        await ch.aclose()
        await server.close()
    assert (binds.pool, binds.busy, binds.limit) == ("binds", 0, 2) and 1 <= binds.open <= 2
    assert (window.pool, window.busy, window.limit, window.open) == ("window", 0, 10, 5 * binds.open)
