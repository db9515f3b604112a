"""The Redis `gateway serve` runs itself when none is configured, and how other commands find it.

With no `redis_url` in the config file, no REDIS_URL / GATEWAY_REDIS_URL and no `--redis`, `gateway serve` starts
the embedded server (gateway/embedded_redis.py: the pip-installed binary) on 127.0.0.1 with AOF (`appendfsync
everysec`) in `<data dir>/redis/`, and writes its port and pid to `<data dir>/redis.json`. That file is how the
rest finds it: a second `gateway serve` (say `--api` in another terminal) with the same data directory joins the
running server instead of starting another on the same files, and `gateway send`, `campaign`, `segment`,
`suppression` and `tracking` use the one of the default data directory when it runs. The port is kept across
restarts (the file keeps it after a stop) unless something else took it meanwhile. The process that started the
server stops it when it exits; one that joined leaves it running.

Layout: pure functions decide (the data directory, the port, the URL a command uses, the log line); `start_or_join`
and `LocalRedis` are the I/O shell.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path

import msgspec
import msgspec.structs

from gateway.config import GatewayConfig
from gateway.embedded_redis import EmbeddedRedis, answers_ping, free_port
from gateway.redisconn import DEFAULT_URL, REDIS_DOWN, redact

STATE_FILE = "redis.json"
LOCK_FILE = "redis.lock"
REDIS_HELP = ("Redis URL (default: GATEWAY_REDIS_URL or REDIS_URL, else the embedded Redis a `gateway serve` runs in "
              "the default data directory, else redis://127.0.0.1:6379/0)")


class RedisState(msgspec.Struct, kw_only=True):
    """`<data dir>/redis.json`: the embedded server's port (kept after it stops, to reuse it) and the pid of the
    running server (0 once stopped)."""

    port: int
    pid: int = 0


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_DATA_HOME/gateway, else ~/.local/share/gateway (the XDG base directory default)."""
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "gateway"


def url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def choose_port(previous: int | None, is_free: Callable[[int], bool], fresh: Callable[[], int]) -> int:
    """The port to start on: the previous run's when it is still free (clients configured with it keep working),
    else a fresh free one."""
    if previous and is_free(previous):
        return previous
    return fresh()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def read_state(data_dir: Path) -> RedisState | None:
    try:
        return msgspec.json.decode((data_dir / STATE_FILE).read_bytes(), type=RedisState)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _write_state(data_dir: Path, state: RedisState) -> None:
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    tmp.replace(data_dir / STATE_FILE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(data_dir: Path) -> RedisState | None:
    """The embedded server of `data_dir` when it runs (its pid is alive and its port answers PING), else None."""
    state = read_state(data_dir)
    if state is None or not state.pid or not _alive(state.pid) or not answers_ping(state.port):
        return None
    return state


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Held while finding or starting the server: two `gateway serve` started at once start one server."""
    with open(data_dir / LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class LocalRedis:
    """The embedded server of one data directory, started (`owner`) or joined by this process."""

    def __init__(self, data_dir: Path, port: int, server: EmbeddedRedis | None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.server = server  # None: another process started it and stops it

    @property
    def url(self) -> str:
        return url(self.port)

    @property
    def owner(self) -> bool:
        return self.server is not None

    def notice(self) -> str:
        """The one log line saying where Redis runs."""
        return announce(self.url, self.data_dir, self.owner)

    def stop(self) -> None:
        """Stop the server if this process started it (redis-server writes its AOF and exits on SIGTERM); keep the
        port in the state file for the next start."""
        if self.server is None:
            return
        self.server.stop()
        self.server = None
        with _locked(self.data_dir):
            state = read_state(self.data_dir)
            if state is not None and state.port == self.port:
                _write_state(self.data_dir, RedisState(port=self.port))


def announce(where: str, data_dir: Path, owner: bool) -> str:
    """The log line of `start_or_join` (pure)."""
    if owner:
        return (f"no Redis configured: started the embedded Redis at {where} (AOF, appendfsync everysec, in "
                f"{data_dir / 'redis'}); it stops when this process exits")
    return (f"no Redis configured: using the embedded Redis at {where} that another gateway process started "
            f"with data directory {data_dir}")


def start_or_join(data_dir: Path, timeout: float = 10.0) -> LocalRedis:
    """Join the embedded server of `data_dir` when it runs, else start it (AOF everysec, the previous port when
    free). RuntimeError or TimeoutError when it cannot start."""
    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        live = running(data_dir)
        if live is not None:
            return LocalRedis(data_dir, live.port, None)
        previous = read_state(data_dir)
        port = choose_port(previous.port if previous else None, port_is_free, free_port)
        server = EmbeddedRedis(port=port, appendonly=True, appendfsync="everysec",
                               dir=str((data_dir / "redis").resolve()), new_session=True)
        server.start(timeout)
        assert server.proc is not None
        _write_state(data_dir, RedisState(port=port, pid=server.proc.pid))
    return LocalRedis(data_dir, port, server)


def resolve_url(explicit: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """The Redis a command other than `gateway serve` uses, and how it was chosen (for its error message):
    `--redis`, else REDIS_URL / GATEWAY_REDIS_URL, else the embedded server of the default data directory when it
    runs, else DEFAULT_URL."""
    if explicit:
        return explicit, "--redis"
    for name in ("GATEWAY_REDIS_URL", "REDIS_URL"):
        if environ.get(name):
            return environ[name], name
    data_dir = default_data_dir(environ)
    live = running(data_dir)
    if live is not None:
        return url(live.port), f"the embedded Redis of {data_dir}"
    return DEFAULT_URL, f"the default: no --redis, REDIS_URL or embedded Redis running in {data_dir}"


def with_found_url(cfg: GatewayConfig, environ: Mapping[str, str]) -> GatewayConfig:
    """`cfg` as a command other than `gateway serve` uses it: when it names no Redis, the one `resolve_url` finds
    (the running embedded server of the default data directory, else DEFAULT_URL)."""
    if cfg.redis_url is not None:
        return cfg
    return msgspec.structs.replace(cfg, redis_url=resolve_url(None, environ)[0])


def run_client(prog: str, args: argparse.Namespace, main: Callable[[argparse.Namespace], Coroutine[object, object, int]],
               environ: Mapping[str, str] | None = None) -> int:
    """Run a Redis client command (`gateway send`, `suppression`, `segment`, `campaign`): `args.redis` is set to
    the URL `resolve_url` picks; a Redis that cannot be reached ends the command with one line saying which Redis
    it tried and why that one (exit 1), not a traceback."""
    where, how = resolve_url(args.redis, os.environ if environ is None else environ)
    args.redis = where
    try:
        return asyncio.run(main(args))
    except REDIS_DOWN as exc:
        print(f"{prog}: cannot reach Redis at {redact(where)} ({how}): {exc}", file=sys.stderr)
        return 1
