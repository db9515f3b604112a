"""An SMSC built on node's `smpp` package (tests/peers/smsc.js), for tests that must not trust our own sandbox.

The package is installed by :func:`ensure_smpp_package` into a cache directory (`~/.cache/gateway-peers`, or
`$GATEWAY_PEERS_CACHE`) with npm, once; node_modules is never committed. Anything that keeps the peer from
starting (no node, no npm, no registry) raises: a test that needs this peer fails, it does not skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

SMPP_PACKAGE = "smpp@0.6.0-rc.4"
SCRIPT = Path(__file__).with_name("smsc.js")


def cache_dir() -> Path:
    return Path(os.environ.get("GATEWAY_PEERS_CACHE", Path.home() / ".cache" / "gateway-peers"))


def ensure_smpp_package() -> Path:
    """The node_modules directory holding `smpp` (installed with npm on first use, under a file lock)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    modules = root / "node_modules"
    name, version = SMPP_PACKAGE.rsplit("@", 1)
    manifest = modules / name / "package.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and json.loads(manifest.read_text()).get("version") == version:
            return modules
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: it is needed to install the node SMSC peer (node's smpp)")
        proc = subprocess.run([npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--no-save",
                               SMPP_PACKAGE], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not manifest.exists():
            raise RuntimeError(f"npm install {SMPP_PACKAGE} into {root} failed:\n{proc.stdout}\n{proc.stderr}")
    return modules


class NodeSmsc:
    """A running tests/peers/smsc.js: its port, and its counters and received messages on request."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self._lock = asyncio.Lock()

    async def _ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write(command.encode() + b"\n")
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        if not line:
            raise RuntimeError("the node SMSC peer exited")
        return json.loads(line)

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._ask("stats")
        return result

    async def messages(self) -> list[tuple[str, str, int, int]]:
        """(destination, text as node-smpp decoded and we reassembled it, parts, data_coding) per message."""
        return [tuple(m) for m in await self._ask("messages")]  # type: ignore[misc]


@contextlib.asynccontextmanager
async def node_smsc(*args: str) -> AsyncIterator[NodeSmsc]:
    """Start the peer on a free 127.0.0.1 port; stopped on exit. Raises when it cannot start."""
    modules = ensure_smpp_package()
    node = shutil.which("node") or "/usr/bin/node"
    if not os.path.exists(node):
        raise RuntimeError("node is not installed: it runs the node SMSC peer")
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), "--host", "127.0.0.1", "--port", "0", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(modules)}, limit=64 * 1024 * 1024,
    )
    try:
        assert proc.stdout is not None
        try:
            first = await asyncio.wait_for(proc.stdout.readline(), 20)
        except TimeoutError:
            first = b""
        if not first:
            err = await proc.stderr.read() if proc.stderr is not None and proc.returncode is not None else b""
            raise RuntimeError(f"the node SMSC peer did not start: {err.decode(errors='replace')}")
        yield NodeSmsc(proc, int(json.loads(first)["port"]))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
