"""`gateway serve` as a real process for tests: its log read line by line (waits bounded, on the lines, not on
sleeps), its process tree (supervised children, the embedded redis-server) found through /proc, and everything it
started killed at teardown even when the test failed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a `gateway serve` that names no Redis, with its data home in `tmp`."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GATEWAY_REDIS_URL", "GATEWAY_CONFIG")}
    return {**env, "XDG_DATA_HOME": str(tmp / "xdg"), "PYTHONUNBUFFERED": "1", **extra}


def alive(pid: int) -> bool:
    """`pid` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def exited(pid: int, timeout: float = 20.0) -> bool:
    """Wait until `pid` (any process, not only a child) has exited: its pidfd becomes readable then. False after
    `timeout`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(fd, done.set)
    try:
        await asyncio.wait_for(done.wait(), timeout)
        return True
    except TimeoutError:
        return not alive(pid)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children in sessions of their own included)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


class Serve:
    """One `gateway serve` process. `line(text)` waits for a log line containing `text`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._new = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())
        self.seen: set[int] = set()  # every process found below it, killed at teardown

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Serve:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway.cli", "serve", *args, cwd=ROOT,
                                                    env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            async with self._new:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._new.notify_all()
        async with self._new:
            self.lines.append("<eof>")
            self._new.notify_all()

    async def line(self, text: str, timeout: float = 60.0, after: int = 0) -> str:
        """The first log line from index `after` on that contains `text` (AssertionError after `timeout`)."""
        def found() -> str | None:
            return next((ln for ln in self.lines[after:] if text in ln), None)

        async with self._new:
            try:
                await asyncio.wait_for(self._new.wait_for(lambda: found() is not None or "<eof>" in self.lines),
                                       timeout)
            except TimeoutError:
                pass
            hit = found()
        assert hit is not None, f"no line with {text!r} within {timeout}s; log:\n" + "\n".join(self.lines)
        return hit

    def count(self, text: str) -> int:
        return sum(text in ln for ln in self.lines)

    def tree(self) -> list[int]:
        pids = descendants(self.proc.pid)
        self.seen.update(pids)
        return pids

    def child_pid(self, index: int) -> int:
        """The pid of supervised child `index` (the one now running)."""
        for pid in self.tree():
            argv = cmdline(pid)
            if "--child" in argv and argv[argv.index("--child") + 1] == str(index):
                return pid
        raise AssertionError(f"no child {index} below {self.proc.pid}")

    def signal(self, sig: int) -> None:
        self.tree()
        self.proc.send_signal(sig)

    async def exit(self, timeout: float = 60.0) -> int:
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._reader, 10)
        return rc

    async def kill(self) -> None:
        """Teardown: SIGKILL it and everything it started, whatever state the test left them in."""
        self.tree() if self.proc.returncode is None else None
        for pid in [self.proc.pid, *self.seen]:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc.returncode is None:
            await asyncio.wait_for(self.proc.wait(), 10)
        self._reader.cancel()
