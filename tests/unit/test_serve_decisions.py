"""The pure decisions behind `gateway serve`'s embedded Redis and `--processes`: where the data lives, which port,
which Redis a client command uses, how many processes, how long before a restart, what each child is given."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from gateway import localredis, supervisor
from gateway.cli import default_processes
from gateway.embedded_redis import free_port


def test_the_data_dir_follows_xdg_then_home() -> None:
    assert localredis.default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/gateway")
    assert localredis.default_data_dir({"HOME": "/h"}) == Path("/h/.local/share/gateway")


def test_the_previous_port_is_kept_while_free() -> None:
    assert localredis.choose_port(6400, lambda p: True, lambda: 7000) == 6400
    assert localredis.choose_port(6400, lambda p: False, lambda: 7000) == 7000
    assert localredis.choose_port(None, lambda p: True, lambda: 7000) == 7000


def test_client_commands_name_the_redis_they_chose(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path)}
    assert localredis.resolve_url("redis://h:1/0", env) == ("redis://h:1/0", "--redis")
    assert localredis.resolve_url(None, {**env, "REDIS_URL": "redis://r:2/0"}) == ("redis://r:2/0", "REDIS_URL")
    url, how = localredis.resolve_url(None, env)  # nothing configured, no embedded server running there
    assert url == "redis://127.0.0.1:6379/0" and str(tmp_path / "gateway") in how
    # a state file whose server is gone does not count
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "redis.json").write_text(f'{{"port": {free_port()}, "pid": {2**22 + 1}}}')
    assert localredis.resolve_url(None, env)[0] == "redis://127.0.0.1:6379/0"


def test_an_unreachable_redis_ends_a_client_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens

    async def main(args: argparse.Namespace) -> int:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(args.redis)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return 0

    args = argparse.Namespace(redis=f"redis://127.0.0.1:{port}/0")
    assert localredis.run_client("gateway send", args, main, environ={}) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"gateway send: cannot reach Redis at redis://127.0.0.1:{port}/0 (--redis): ")


def test_the_default_process_count() -> None:
    assert default_processes(embedded=True, cores=4) == 4
    assert default_processes(embedded=True, cores=None) == 1
    assert default_processes(embedded=False, cores=4) == 1  # a configured Redis: as before --processes


def test_restarts_back_off_and_reset_after_a_stable_run() -> None:
    delays = []
    d = 0.0
    for _ in range(8):
        d = supervisor.restart_delay(d, ran_s=1.0)
        delays.append(d)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert supervisor.restart_delay(30.0, ran_s=supervisor.STABLE_S) == supervisor.RESTART_BASE_S


def test_only_the_first_child_serves_the_listeners() -> None:
    passthrough, listeners = ["--config", "g.toml"], ["--api", "127.0.0.1:8080"]
    first = supervisor.child_argv(0, "host-1", passthrough, listeners)
    second = supervisor.child_argv(1, "host-1", passthrough, listeners)
    assert first[-2:] == listeners and "--api" not in second
    assert first[first.index("--consumer") + 1] == "host-1-0" and second[second.index("--consumer") + 1] == "host-1-1"
    assert "--config" in first and "--config" in second


def test_the_notice_says_where_and_who_stops_it() -> None:
    line = localredis.announce("redis://127.0.0.1:7000/0", Path("/d"), owner=True)
    assert "redis://127.0.0.1:7000/0" in line and "everysec" in line and "/d/redis" in line and "\n" not in line
    assert "another gateway process" in localredis.announce("redis://127.0.0.1:7000/0", Path("/d"), owner=False)
    assert os.sep in line
