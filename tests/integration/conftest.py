"""Fixtures for engine tests: a sandbox SMTP sink and a running worker against the test Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec
import pytest

from gateway.config import GatewayConfig, from_dict
from gateway.producer import Producer
from gateway.sandbox.smtp import SmtpSink
from gateway.worker import Worker
from tests.integration.smtp_peer import StrictSmtpPeer


@pytest.fixture(params=["bdat", "data"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[SmtpSink]:
    """The sandbox sink, with CHUNKING (BDAT path) and without (PIPELINING + DATA path)."""
    s = await SmtpSink(record=True, chunking=request.param == "bdat").start()
    yield s
    await s.aclose()


@pytest.fixture
def strict_smtp(request: pytest.FixtureRequest) -> Iterator[StrictSmtpPeer]:
    """An independent strict SMTP peer (aiosmtpd) on a free port; it fails, never skips, if it cannot start.
    `@pytest.mark.parametrize("strict_smtp", [{...}], indirect=True)` passes StrictSmtpPeer options."""
    peer = StrictSmtpPeer(**getattr(request, "param", {})).start()
    yield peer
    peer.stop()


def make_config(sink_port: int, redis_url: str, **overrides: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "redis_url": redis_url,
        "stream": {"block_ms": 20, "claim_interval_ms": 50, "claim_idle_ms": 60_000, "trim_interval_ms": 60_000},
        "retry": {"base_s": 0.02, "cap_s": 0.1, "poll_ms": 10, "max_attempts": 3},
        "channels": [{"kind": "smtp", "port": sink_port, "connections": 4, "default_from": "sender@gateway.test",
                      "data_timeout_s": 2, "command_timeout_s": 5}],
        "shutdown_grace_s": 5,
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return from_dict(data)


class Running:
    """A worker running in the test's event loop, with helpers to wait for its outcomes."""

    def __init__(self, worker: Worker, redis: Any) -> None:
        self.worker = worker
        self.redis = redis
        self.producer = Producer(redis)
        self.task: asyncio.Task[None] | None = None
        self._events_from = "0"
        self.events: list[dict[str, Any]] = []

    async def outcomes(self, n: int, timeout: float = 10.0,
                       where: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Wait (on XREAD BLOCK, not sleeps) until n outcome events (not *.send) are on the events stream."""
        deadline = asyncio.get_running_loop().time() + timeout

        def matching() -> list[dict[str, Any]]:
            return [e for e in self.events if not e["event_type"].endswith(".send") and (where is None or where(e))]

        while len(matching()) < n:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"only {len(matching())} of {n} outcome events arrived: {matching()}")
            # in slices under the client's socket timeout (redis-py: 5 s), so a long wait is not a TimeoutError
            reply = await self.redis.xread({"gateway:events": self._events_from}, block=int(min(left, 2) * 1000) + 1,
                                           count=1000)
            for _, items in reply or []:
                for entry_id, fields in items:
                    self._events_from = entry_id.decode()
                    self.events.append(msgspec.json.decode(fields[b"record"]))
        return matching()

    async def stop(self) -> None:
        self.worker.stop()
        if self.task is not None:
            await self.task


@pytest.fixture
async def engine(redis: Any, redis_server: Any, sink: SmtpSink) -> AsyncIterator[Callable[..., Any]]:
    """Factory: `run = await engine(**config_overrides)` starts a worker; stopped at teardown."""
    started: list[Running] = []

    async def start(**overrides: Any) -> Running:
        cfg = make_config(sink.port, redis_server.url, **overrides)
        worker = Worker(cfg, redis=redis, consumer=overrides.pop("consumer", None) if "consumer" in overrides else "test-worker")
        running = Running(worker, redis)
        running.task = asyncio.create_task(worker.run())
        started.append(running)
        return running

    yield start
    for r in started:
        await r.stop()
