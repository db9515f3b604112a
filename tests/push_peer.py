"""The independent APNs peer: node's `http2` module (tests/peers/apns_h2.js) over TLS on a free loopback port.

A peer that cannot start FAILS the test (no node, a crash, no READY line in time): it never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trustme

from tests.push_support import BUNDLE, KID, TEAM, ec_keys

NODE = shutil.which("node") or "/usr/bin/node"
SCRIPT = Path(__file__).parent / "peers" / "apns_h2.js"
START_TIMEOUT_S = 20.0


class NodeApns:
    """A running node APNs peer: `url`, `cafile` (trust it), and `stats()` read from the peer itself."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, cafile: str) -> None:
        self.proc = proc
        self.port = port
        self.cafile = cafile
        self.url = f"https://127.0.0.1:{port}"

    async def stats(self) -> dict[str, Any]:
        """The peer's counters: requests, accepted, duplicates (an apns-id accepted twice), answers per reason,
        sessions, peakStreams, resets."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
            if not line:
                raise AssertionError("the node APNs peer exited")
            if line.startswith(b"STATS "):
                stats: dict[str, Any] = json.loads(line[6:])
                return stats


@contextlib.asynccontextmanager
async def node_apns(tmp_path: Path, ca: trustme.CA, *, dead: list[str] | None = None, bad: list[str] | None = None,
                    large: dict[str, int] | None = None, **options: Any) -> AsyncIterator[NodeApns]:
    """Start the peer (TLS with a certificate from `ca`, our ES256 key as the provider key) and stop it after."""
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "peer-cert.pem", tmp_path / "peer-key.pem", tmp_path / "peer-ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    config = {
        "cert": str(certfile), "key": str(keyfile), "keys": {KID: {"team": TEAM, "pem": ec_keys()[1]}},
        "topics": [BUNDLE, BUNDLE + ".voip"], "dead": dead or [], "bad": bad or [], "large": large or {},
        **options,
    }
    cfgfile = tmp_path / "peer.json"
    cfgfile.write_text(json.dumps(config))
    try:
        proc = await asyncio.create_subprocess_exec(
            NODE, str(SCRIPT), str(cfgfile), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise AssertionError(f"cannot run node ({NODE}) for the APNs peer: {exc}") from exc
    try:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            proc.kill()
            err = await proc.stderr.read()
            raise AssertionError(f"the node APNs peer did not start: {line!r} {err.decode(errors='replace')}")
        yield NodeApns(proc, int(line.split()[1]), str(cafile))
    finally:
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()  # EOF: the peer exits
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
