"""`gateway serve` as users run it, in real processes against a real Redis: with no Redis configured it starts the
embedded one (AOF, everysec) in its data directory and stops it on exit, other commands find it, a restart finds
the pending entries again on the same port; a configured Redis that is unreachable gets one line and is retried
until it answers; `--processes 2` runs two consuming children, restarts a killed one, and drains on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway import localredis
from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.producer import Producer
from tests.integration.serve_support import ROOT, Serve, alive, clean_env, exited
from tests.integration.test_email_engine import email_request

# conftest's sink, with one of its two transports: the SMTP transport is not what these tests are about
pytestmark = pytest.mark.parametrize("sink", ["bdat"], indirect=True)


def _config(tmp: Path, smtp_port: int, name: str = "gateway.toml", **extra: str) -> str:
    path = tmp / name
    lines = ['log_level = "INFO"', f"shutdown_grace_s = {extra.pop('grace', '10')}",
             "[stream]", "block_ms = 50", "batch_size = 8",
             "[retry]", "base_s = 0.05", "cap_s = 0.2", "poll_ms = 20",
             "[[channels]]", 'kind = "smtp"', f"port = {smtp_port}", "connections = 4",
             'default_from = "sender@gateway.test"', f"command_timeout_s = {extra.pop('command_timeout', '10')}"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
async def serves() -> AsyncIterator[Callable[..., Any]]:
    """Factory of `gateway serve` processes; each (and all it started) is killed at teardown."""
    started: list[Serve] = []

    async def start(*args: str, env: dict[str, str]) -> Serve:
        s = await Serve.start(*args, env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        await s.kill()


async def _outcomes(client: aioredis.Redis, addresses: set[str], timeout: float = 60.0) -> dict[str, str]:
    """Wait (XREAD BLOCK on the events stream) until every address in `addresses` has an outcome event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: dict[str, str] = {}
    last = "0"
    while not addresses <= seen.keys():
        left = deadline - loop.time()
        assert left > 0, f"no outcome for {sorted(addresses - seen.keys())[:5]}…"
        reply = await client.xread({"gateway:events": last}, count=1000, block=int(min(left, 2) * 1000) + 1)
        for _, items in reply or []:
            for entry_id, fields in items:
                last = entry_id.decode()
                if fields[b"event_type"].endswith(b".send"):
                    continue
                record = msgspec.json.decode(fields[b"record"])
                (address,) = record["facets"]["email_channel"]["mail_event"]["mail"]["destination"]
                seen[address] = record["event_type"]
    return seen


def _running_redis(data: Path) -> localredis.RedisState:
    state = localredis.read_state(data)
    assert state is not None and state.pid and alive(state.pid), state
    return state


@pytest.mark.parametrize(("sig", "processes"), [(signal.SIGTERM, 1), (signal.SIGINT, 2)])
async def test_no_redis_configured_starts_the_embedded_one_and_stops_it_on_exit(tmp_path, sink, serves, sig,
                                                                               processes):
    env = clean_env(tmp_path)
    data = tmp_path / "xdg" / "gateway"  # the default data directory under $XDG_DATA_HOME
    serve = await serves("--config", _config(tmp_path, sink.port), "--consumer", "solo", "--processes",
                         str(processes), env=env)
    notice = await serve.line("started the embedded Redis")
    await serve.line("worker solo reading" if processes == 1 else "worker solo-1 reading")
    state = _running_redis(data)
    assert f"redis://127.0.0.1:{state.port}/0" in notice and "everysec" in notice and str(data / "redis") in notice
    assert serve.count("embedded Redis") == 1  # one line
    assert state.pid in serve.tree()  # started by serve, not by someone else
    client = aioredis.Redis.from_url(localredis.url(state.port))
    try:
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
        assert await client.config_get("appendfsync") == {"appendfsync": "everysec"}
        # `gateway send` with nothing configured finds this server through the default data directory
        sent = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "gateway.cli", "send", "app1", "--to", "found@example.com", "--subject", "s",
            "--text", "t", "--from", "a@gateway.test"], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert (await _outcomes(client, {"found@example.com"}))["found@example.com"] == "_email.delivered"
        if processes == 1:  # a second `gateway serve` on the same data directory joins it and leaves it running
            joined = await serves("--config", _config(tmp_path, sink.port), "--consumer", "second", "--processes",
                                  "1", env=env)
            assert f"using the embedded Redis at {localredis.url(state.port)}" in await joined.line("embedded Redis")
            await joined.line("worker second reading")
            joined.signal(signal.SIGTERM)
            assert await joined.exit() == 0
            assert alive(state.pid) and await client.ping()
    finally:
        await client.aclose()
    serve.signal(sig)
    assert await serve.exit() == 0
    assert not alive(state.pid)  # no orphan redis-server
    assert [p for p in serve.seen if alive(p)] == []
    assert localredis.read_state(data) == localredis.RedisState(port=state.port)  # port kept, marked stopped
    assert not [ln for ln in serve.lines if "Traceback" in ln]


async def test_a_worker_that_crashes_leaves_no_redis_server_behind(tmp_path, sink, serves):
    config = tmp_path / "gateway.toml"  # an APNs key file that is not there: the worker fails building its routes
    config.write_text('[[channels]]\nkind = "apns"\nteam_id = "T"\nkey_id = "K"\nbundle_id = "b"\n'
                      f'token_key_file = "{tmp_path / "missing.p8"}"\n')
    serve = await serves("--config", str(config), "--data-dir", str(tmp_path / "data"), "--processes", "1",
                         env=clean_env(tmp_path))
    await serve.line("started the embedded Redis")
    pid = _running_redis(tmp_path / "data").pid
    assert await serve.exit() != 0
    assert not alive(pid)
    stopped = localredis.read_state(tmp_path / "data")
    assert stopped is not None and stopped.pid == 0


async def test_a_restart_on_the_same_data_dir_finds_the_pending_entry_and_delivers_it(tmp_path, sink, serves):
    """Start, enqueue, stop while the send is in flight (the SMTP server never answers), start again on the same
    data directory: the stream, the group and the pending entry came back from the AOF, on the same port."""
    accepted = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()  # a session opens only for a send: the entry is read and in flight
        await reader.read()  # never greets; ends when the worker gives up the connection
        writer.close()

    stalling = await asyncio.start_server(stall, "127.0.0.1", 0)
    stall_port = stalling.sockets[0].getsockname()[1]
    data = tmp_path / "data"
    env = clean_env(tmp_path)
    try:
        first = await serves("--config", _config(tmp_path, stall_port, "stall.toml", grace="1", command_timeout="60"),
                             "--data-dir", str(data), "--consumer", "aof", "--processes", "1", env=env)
        await first.line("worker aof reading")
        port = _running_redis(data).port
        client = aioredis.Redis.from_url(localredis.url(port))
        try:
            await Producer(client).send_messages("app1", email_request("kept@example.com"))
            await asyncio.wait_for(accepted.wait(), 30)
            assert (await client.xpending("gateway:send", "gateway"))["pending"] == 1
        finally:
            await client.aclose()
        first.signal(signal.SIGTERM)
        assert await first.exit() == 0
        assert not sink.messages

        second = await serves("--config", _config(tmp_path, sink.port), "--data-dir", str(data), "--consumer", "aof",
                              "--processes", "1", env=env)
        assert f"redis://127.0.0.1:{port}/0" in await second.line("started the embedded Redis")  # the same port
        client = aioredis.Redis.from_url(localredis.url(port))
        try:
            assert (await _outcomes(client, {"kept@example.com"}))["kept@example.com"] == "_email.delivered"
            assert (await client.xpending("gateway:send", "gateway"))["pending"] == 0
        finally:
            await client.aclose()
        assert [m[1] for m in sink.messages] == ["kept@example.com"]
        second.signal(signal.SIGTERM)
        assert await second.exit() == 0
    finally:
        stalling.close()


async def test_a_configured_redis_that_is_unreachable_gets_one_line_and_is_retried_until_it_answers(
        tmp_path, sink, serves):
    port = free_port()  # nothing listens here yet
    url = f"redis://127.0.0.1:{port}/0"
    serve = await serves("--config", _config(tmp_path, sink.port), "--redis", url, "--consumer", "late",
                         env=clean_env(tmp_path))
    down = await serve.line("is unavailable")
    assert f"127.0.0.1:{port}" in down and "retrying" in down
    server = EmbeddedRedis(port=port)
    try:
        await asyncio.to_thread(server.start)
        await serve.line("is back after")
        await serve.line("worker late reading")
        client = aioredis.Redis.from_url(url)
        try:
            resp = await Producer(client).send_messages_and_wait("app1", email_request("late@example.com"), timeout=30)
        finally:
            await client.aclose()
        assert resp.Result["late@example.com"].DeliveryStatus == "SUCCESSFUL"
        serve.signal(signal.SIGTERM)
        assert await serve.exit() == 0
    finally:
        await asyncio.to_thread(server.cleanup)
    assert serve.count("is unavailable") == 1 and serve.count("is back after") == 1  # one line per change
    assert not [ln for ln in serve.lines if "Traceback" in ln]
    assert not serve.count("embedded Redis")  # a configured Redis is never replaced by the embedded one


async def test_two_processes_consume_restart_a_killed_child_and_drain_on_sigterm(tmp_path, sink, serves):
    data = tmp_path / "data"
    serve = await serves("--config", _config(tmp_path, sink.port), "--data-dir", str(data), "--processes", "2",
                         "--consumer", "pp", env=clean_env(tmp_path))
    await serve.line("started the embedded Redis")
    await serve.line("worker pp-0 reading")
    await serve.line("worker pp-1 reading")
    state = _running_redis(data)
    assert serve.count("started the embedded Redis") == 1  # once, by the supervisor; the children connect to it
    client = aioredis.Redis.from_url(localredis.url(state.port))
    producer = Producer(client)
    try:
        first = {f"a{i}@example.com" for i in range(200)}
        await producer.send_many("app1", [email_request(a) for a in sorted(first)])
        assert set((await _outcomes(client, first)).values()) == {"_email.delivered"}
        consumers = {c["name"] for c in await client.xinfo_consumers("gateway:send", "gateway")}
        assert {b"pp-0", b"pp-1"} <= consumers

        killed = serve.child_pid(1)
        os.kill(killed, signal.SIGKILL)
        mark = len(serve.lines)
        restart = await serve.line("worker process 1", after=mark)
        assert f"(pid {killed}) exited with status -9; restarting it in" in restart
        await serve.line("worker pp-1 reading", after=mark)
        assert serve.child_pid(1) != killed

        second = {f"b{i}@example.com" for i in range(200)}
        await producer.send_many("app1", [email_request(a) for a in sorted(second)])
        assert set((await _outcomes(client, first | second)).values()) == {"_email.delivered"}

        third = [f"c{i}@example.com" for i in range(300)]
        await producer.send_many("app1", [email_request(a) for a in third])
    finally:
        await client.aclose()
    serve.signal(signal.SIGTERM)  # while the third batch is being delivered
    assert await serve.exit() == 0
    assert [p for p in serve.seen if alive(p)] == []  # children and redis-server gone
    assert not alive(state.pid)
    # A read answered after the stop is left pending for its consumer (the worker's contract): the same consumer
    # names started again on the same data directory deliver it, once; nothing is lost, nothing sent twice.
    again = await serves("--config", _config(tmp_path, sink.port), "--data-dir", str(data), "--processes", "2",
                         "--consumer", "pp", env=clean_env(tmp_path))
    await again.line("worker pp-1 reading")
    client = aioredis.Redis.from_url(localredis.url(_running_redis(data).port))
    try:
        outcomes = await _outcomes(client, first | second | set(third))
        assert set(outcomes.values()) == {"_email.delivered"}
        assert (await client.xpending("gateway:send", "gateway"))["pending"] == 0
    finally:
        await client.aclose()
    again.signal(signal.SIGTERM)
    assert await again.exit() == 0
    delivered = [m[1] for m in sink.messages]
    assert sorted(set(delivered)) == sorted(first | second | set(third))
    assert len(delivered) == len(set(delivered))  # a SIGTERM (unlike the SIGKILL above) sends nothing twice


async def test_children_of_a_killed_supervisor_drain_and_exit(tmp_path, sink, serves, redis_server):
    serve = await serves("--config", _config(tmp_path, sink.port), "--redis", redis_server.url, "--processes", "2",
                         "--consumer", "orphan", env=clean_env(tmp_path))
    await serve.line("worker orphan-0 reading")
    await serve.line("worker orphan-1 reading")
    children = [serve.child_pid(0), serve.child_pid(1)]
    serve.proc.kill()  # the supervisor only: its children are in sessions of their own
    await serve.line("worker orphan-0 stopped after")
    await serve.line("worker orphan-1 stopped after")
    assert serve.count("the supervisor is gone") == 2
    for pid in children:
        assert await exited(pid), f"child {pid} still running"
