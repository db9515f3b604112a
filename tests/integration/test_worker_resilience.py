"""The worker when Redis is busy or gone: a small blocking pool absorbs a burst, a worker started before Redis
waits for it, a Redis error while re-reading the backlog is waited out, and `gateway serve` with no Redis says
so in one line. Outages are logged once, never as a traceback per attempt."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.config import from_dict
from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.endpoints.store import EndpointStore
from gateway.models import EndpointResponse
from gateway.producer import Producer
from gateway.sandbox.apns import ApnsSandbox
from gateway.sandbox.smtp import SmtpSink
from gateway.worker import Worker
from tests.integration.conftest import Running, make_config
from tests.integration.test_email_engine import email_request
from tests.push_support import BUNDLE, KID, TEAM, ec_keys

ROOT = Path(__file__).resolve().parents[2]


class _Log(logging.Handler):
    """Records of the gateway.worker logger; `outage` is set by the first "unavailable" line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.outage = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if "is unavailable" in record.getMessage():
            self.outage.set()

    def lines(self, text: str) -> list[logging.LogRecord]:
        return [r for r in self.records if text in r.getMessage()]


@pytest.fixture
def worker_log() -> Iterator[_Log]:
    handler = _Log()
    logger = logging.getLogger("gateway.worker")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    s = await SmtpSink(record=True).start()
    yield s
    await s.aclose()


def _start(worker: Worker, redis: Any) -> Running:
    running = Running(worker, redis)
    running.task = asyncio.create_task(worker.run())
    return running


async def test_a_two_connection_pool_absorbs_a_burst_without_errors(redis, redis_server, sink, worker_log):
    cfg = make_config(sink.port, redis_server.url, redis_max_connections=2, stream={"batch_size": 1})
    worker = Worker(cfg, consumer="test-worker")  # its own pool, sized from the config
    pool = worker.redis.connection_pool
    assert isinstance(pool, aioredis.BlockingConnectionPool) and pool.max_connections == 2
    run = _start(worker, redis)
    try:
        await Producer(redis).send_many("app1", [email_request(f"burst{i}@example.com") for i in range(300)])
        outcomes = await run.outcomes(300, timeout=30)
    finally:
        await run.stop()
    assert {o["event_type"] for o in outcomes} == {"_email.delivered"}
    assert sink.accepted == 300
    assert await redis.xlen("gateway:dead") == 0
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0
    assert [r.getMessage() for r in worker_log.records if r.levelno >= logging.WARNING] == []


async def test_dead_apns_tokens_are_all_made_inactive_through_a_small_busy_pool(redis, redis_server, tmp_path,
                                                                             caplog):
    """APNs 410s mark their endpoints INACTIVE through the worker's pool while every connection is in use: the
    writes wait for a connection instead of failing, so no dead token is pushed again."""
    key = tmp_path / "key.p8"
    key.write_text(ec_keys()[0])
    apns = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start()
    cfg = from_dict({
        "redis_url": redis_server.url, "redis_max_connections": 2,
        "stream": {"block_ms": 20, "batch_size": 5, "trim_interval_ms": 60_000},
        "credentials": {"key_env": "GW_TEST_NO_SUCH_KEY"},
        "channels": [{"kind": "apns", "production_url": apns.url, "sandbox_url": apns.url, "team_id": TEAM,
                      "key_id": KID, "token_key_file": str(key), "bundle_id": BUNDLE}],
        "shutdown_grace_s": 5,
    })
    store = EndpointStore(redis)
    ids = [f"ep{i}" for i in range(200)]
    dead = {f"ep{i}" for i in range(0, 200, 10)}  # every tenth token is unregistered
    for eid in ids:
        await store.put("app1", EndpointResponse(Id=eid, ChannelType="APNS",
                                                 Address=("gone" if eid in dead else "") + f"{int(eid[2:]):064x}"))
    worker = Worker(cfg, consumer="push-burst")
    run = _start(worker, redis)
    try:
        with caplog.at_level(logging.WARNING):
            await Producer(redis).send_many("app1", [
                {"Endpoints": {eid: {}}, "MessageConfiguration": {"APNSMessage": {"Body": "b"}}} for eid in ids])
            outcomes = await run.outcomes(200, timeout=30)
    finally:
        await run.stop()
        await apns.aclose()
    assert sum(e["event_type"] == "_push.unregistered" for e in outcomes) == len(dead)
    statuses = {eid: (await store.get("app1", eid)).EndpointStatus for eid in ids}  # type: ignore[union-attr]
    assert {eid for eid, st in statuses.items() if st == "INACTIVE"} == dead
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_worker_started_while_redis_is_down_waits_for_it_then_works(sink, worker_log):
    server = EmbeddedRedis()  # a port, no server yet
    worker = Worker(make_config(sink.port, server.url), consumer="early")
    task = asyncio.create_task(worker.run())
    client = aioredis.Redis.from_url(server.url)
    try:
        await asyncio.wait_for(worker_log.outage.wait(), 10)
        assert not task.done()
        await asyncio.to_thread(server.start)
        resp = await Producer(client).send_messages_and_wait("app1", email_request("late@example.com"), timeout=20)
        assert resp.Result["late@example.com"].DeliveryStatus == "SUCCESSFUL"
    finally:
        worker.stop()
        await asyncio.wait_for(task, 20)
        await client.aclose()
        server.cleanup()
    (line,) = worker_log.lines("is unavailable")  # one line for the outage, however many attempts
    assert line.levelno == logging.ERROR and server.url.split("/0")[0].split("//")[1] in line.getMessage()
    assert len(worker_log.lines("is back after")) == 1
    assert [r for r in worker_log.records if r.exc_info] == []  # no traceback


async def test_a_redis_error_while_rereading_the_backlog_is_waited_out(redis, redis_server, sink, worker_log):
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    producer = Producer(redis)
    for i in range(3):
        await producer.send_messages("app1", email_request(f"own{i}@example.com"))
    await redis.xreadgroup("gateway", "test-worker", {"gateway:send": ">"}, count=3)  # read, then a crash
    worker = Worker(make_config(sink.port, redis_server.url), redis=redis, consumer="test-worker")
    consumer = worker.lanes[-1].consumer
    real = consumer.delivery_counts
    failures = [RedisConnectionError("Connection reset by peer")]

    async def flaky(ids: list[str]) -> dict[str, int]:  # Redis drops the connection once, mid-backlog
        if failures:
            raise failures.pop()
        return await real(ids)

    consumer.delivery_counts = flaky  # type: ignore[method-assign]
    run = _start(worker, redis)
    try:
        await run.outcomes(3)  # claim_idle_ms is a minute: only re-reading the backlog can deliver these
    finally:
        await run.stop()
    assert sorted(m[1] for m in sink.messages) == [f"own{i}@example.com" for i in range(3)]
    assert (await redis.xpending("gateway:send", "gateway"))["pending"] == 0
    assert len(worker_log.lines("is unavailable")) == 1


async def test_a_worker_leaves_process_wide_settings_to_the_entry_point(redis, redis_server, sink):
    before = (gc.get_threshold(), gc.get_freeze_count())
    run = _start(Worker(make_config(sink.port, redis_server.url), redis=redis, consumer="test-worker"), redis)
    try:
        resp = await run.producer.send_messages_and_wait("app1", email_request("gc@example.com"))
        assert resp.Result["gc@example.com"].DeliveryStatus == "SUCCESSFUL"
    finally:
        await run.stop()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_serve_with_a_startup_timeout_and_redis_unreachable_says_so_and_exits(tmp_path: Path) -> None:
    """With `redis_startup_timeout_s` set (by default it retries until Redis answers: tests/integration/
    test_serve.py), one line when the first attempt fails and one when it gives up; never the password."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text('[[channels]]\nkind = "smtp"\nport = 2525\n')
    env = {**os.environ, "GATEWAY_REDIS_STARTUP_TIMEOUT_S": "0.3"}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
         "--redis", f"redis://gw:s3cret@127.0.0.1:{port}/0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    down, line = proc.stderr.strip().splitlines()
    assert f"Redis at redis://gw@127.0.0.1:{port}/0 is unavailable" in down
    assert line.startswith(f"gateway: cannot reach Redis at redis://gw@127.0.0.1:{port}/0 ")
    assert "s3cret" not in proc.stderr and "--redis" in line and "REDIS_URL" in line


async def test_waiting_for_a_reply_longer_than_the_socket_timeout_ends_in_reply_timeout(redis_server):
    """redis-py's clients time a read out after socket_timeout (5 s by default): a reply wait longer than that
    must still end as ReplyTimeout at its own deadline, not as a Redis TimeoutError."""
    from gateway.producer import ReplyTimeout

    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(ReplyTimeout) as info:  # no worker: nobody answers
            await Producer(client).send_messages_and_wait("app1", email_request("w@example.com"), timeout=1.0)
    finally:
        await client.aclose()
    assert loop.time() - started >= 1.0 and info.value.entry_id


@pytest.mark.parametrize("make", ["from_url", "redisconn"])
def test_reply_waits_are_sliced_below_the_default_socket_timeout(make):
    """redis-py 6+ keeps its default 5 s socket timeout out of `connection_kwargs`: a client made without an
    explicit timeout (as `gateway serve --api` makes its pool) must still wait for a reply in BLPOP slices shorter
    than the read timeout its connections really have, else a reply slower than 5 s (a backlog under load) ends
    as a Redis TimeoutError (HTTP 500) instead of arriving."""
    from gateway import redisconn
    from gateway.config import GatewayConfig
    from gateway.producer import _blocking_slice

    url = "redis://127.0.0.1:1/0"  # never connected: only the client's settings are read
    client = aioredis.Redis.from_url(url) if make == "from_url" else redisconn.connect(GatewayConfig(redis_url=url))
    read_timeout = client.connection_pool.make_connection().socket_timeout
    assert read_timeout is not None and _blocking_slice(client) < read_timeout
