"""Worker processes under one parent: `gateway serve --processes N` (and the process helpers `gateway dev` uses).

The supervisor starts N children, each `gateway serve --child I` with its own consumer name (`<base>-<I>`, kept
across restarts so a restarted child re-reads its own pending entries first). Child 0 also serves the listeners
(`--api`, `--tracking`, `--bounces`, inbound, metrics); the others only work the streams. SIGTERM or SIGINT to the
supervisor is forwarded as SIGTERM: each child stops reading, finishes and acknowledges its in-flight work within
`shutdown_grace_s`, and exits; the supervisor exits once all have (any still running `shutdown_grace_s` + 15 s
later is killed). A child that exits on its own is restarted after a backoff doubling from 0.5 s to 30 s (back to
0.5 s once a child has run a minute), with one log line; one that exits 2 (a configuration error) is not, and the
supervisor stops the others and exits 2. Each child holds a pipe from the supervisor on its stdin: if the
supervisor itself dies (SIGKILL), the pipe closes and the children drain and exit instead of running on orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.redisconn import next_delay

log = logging.getLogger("gateway.supervisor")

RESTART_BASE_S = 0.5
RESTART_CAP_S = 30.0
STABLE_S = 60.0  # a child that ran this long before exiting restarts after RESTART_BASE_S again
KILL_MARGIN_S = 15.0  # past shutdown_grace_s, what a child still running at stop gets before SIGKILL
CONFIG_ERROR = 2  # `gateway serve`'s exit status for a bad configuration: restarting cannot help


def spawn(args: list[str], log_path: Path | None = None, *, quiet: bool = False,
          stdin_pipe: bool = False) -> subprocess.Popen[bytes]:
    """`python <args>` in a session of its own: a terminal's Ctrl-C reaches only the parent, which then stops
    its children in order instead of every process at once. Output goes to `log_path` (appended) when given, else
    to the parent's (its stdout dropped when `quiet`). `stdin_pipe`: the child's stdin is a pipe the parent holds
    (see the module docstring)."""
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL if quiet else None
    return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT if log_path else None,
                            stdin=subprocess.PIPE if stdin_pipe else None, start_new_session=True)


def stop_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """SIGTERM every process still running, then wait up to `timeout` for each, SIGKILLing what is left."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def restart_delay(previous: float, ran_s: float) -> float:
    """The wait before restarting a child that exited after running `ran_s` seconds, its previous wait being
    `previous` (0 before the first restart): doubling, reset once the child had been stable."""
    return RESTART_BASE_S if ran_s >= STABLE_S else next_delay(previous, RESTART_BASE_S, RESTART_CAP_S)


def child_argv(index: int, consumer: str, passthrough: Sequence[str], listeners: Sequence[str]) -> list[str]:
    """The arguments (after the interpreter) of child `index`: every child gets `passthrough` (--config, --redis);
    only child 0 gets `listeners` (--api, --tracking, --bounces)."""
    return ["-m", "gateway.cli", "serve", "--child", str(index), "--consumer", f"{consumer}-{index}",
            *passthrough, *(listeners if index == 0 else [])]


class Child:
    """One supervised worker process."""

    def __init__(self, index: int, argv: list[str]) -> None:
        self.index = index
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.delay = 0.0
        self.exited = asyncio.Event()

    def start(self) -> None:
        self.exited.clear()
        self.proc = proc = spawn(self.argv, stdin_pipe=True)
        self.started = time.monotonic()
        loop = asyncio.get_running_loop()

        def wait() -> None:  # a Popen has no event to await: a thread blocks in wait() and reports the exit
            proc.wait()
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for this child any more
                loop.call_soon_threadsafe(self.exited.set)

        threading.Thread(target=wait, name=f"child-{self.index}", daemon=True).start()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)


async def supervise(argvs: list[list[str]], grace_s: float, stop: asyncio.Event | None = None) -> int:
    """Run one child per entry of `argvs` until SIGTERM/SIGINT (or `stop`), restarting those that exit; 0 after a
    stop, CONFIG_ERROR when a child exited with it."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    children = [Child(i, argv) for i, argv in enumerate(argvs)]
    fatal: list[int] = []

    async def keep(child: Child) -> None:
        while True:
            child.start()
            await child.exited.wait()
            assert child.proc is not None
            status = child.proc.returncode
            if stop.is_set():
                return
            if status == CONFIG_ERROR:
                log.error("worker process %d exited with status %d (configuration); stopping the others",
                          child.index, status)
                fatal.append(status)
                stop.set()
                return
            child.delay = restart_delay(child.delay, time.monotonic() - child.started)
            log.warning("worker process %d (pid %d) exited with status %s; restarting it in %.1fs", child.index,
                        child.proc.pid, status, child.delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), child.delay)
            if stop.is_set():
                return

    keepers = asyncio.gather(*(keep(c) for c in children))
    log.warning("supervisor (pid %d) started %d worker processes; the first also serves the listeners",
                os.getpid(), len(children))
    await stop.wait()
    for c in children:
        c.signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(keepers), grace_s + KILL_MARGIN_S)
    except TimeoutError:
        log.error("worker processes still running %.0fs after SIGTERM: killing them", grace_s + KILL_MARGIN_S)
        for c in children:
            c.signal(signal.SIGKILL)
        await keepers
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    return fatal[0] if fatal else 0
