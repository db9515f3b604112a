"""How many tracking hits per second does one tracking-server process answer, and at what p99?

Processes: an embedded Redis; the tracking server (`python -m gateway.cli tracking`, one process: answers, then
writes its events in batches); a naive server (one process, same token check and same record, but each hit
XADDs its event and waits for Redis before answering: what a straightforward handler does); load generators in
other processes (raw HTTP/1.1 keep-alive clients on asyncio, C connections each, one request in flight per
connection) hitting open-pixel and click URLs with valid tokens. Each server gets the same load for the same time,
in the same run. Reports hits/s (answered 200/302), p50/p99 latency, the ratio, the server process's CPU use
(hits per server CPU-second: what one fully busy core would answer; when the server was under 100% CPU the load
generators, not the server, set the rate), and checks every hit's event reached the stream (none lost; the
tracking server is stopped first, which flushes its buffer). The gateway server is the lean HTTP/1.1 server of
gateway/tracking/server.py; the naive one is a plain aiohttp handler.
Targets: >= 20,000 hits/s per process with p99 < 10 ms, >= 5x the naive handler. Appends rows to RESULTS.md.

    python benchmarks/bench_tracking_server.py [--seconds 10] [--clients 64] [--procs 2] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import append_rows  # noqa: E402
from gateway.embedded_redis import EmbeddedRedis  # noqa: E402

KEYS = "k1:bench-tracking-key-0123456789abcdef"
APP = "5f1c0e7a9b2d4c3e8a7b6c5d4e3f2a1b"
EVENTS = "gateway:events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def paths(n: int) -> list[bytes]:
    from gateway.tracking.tokens import Signer, parse_keys
    signer = Signer(parse_keys(KEYS))
    out = []
    for i in range(n):
        m = signer.message(APP, f"bench-{i:08d}", f"ep-{i % 1000}")
        out.append(b"/o/" + m.open().encode() if i % 2 else
                   b"/c/" + m.click(i % 5, f"https://shop.example/p/{i % 50}?utm=email").encode())
    return out


# ------------------------------------------------------------------ the naive server


def naive_server(port: int, redis_url: str) -> None:
    """One process: verify, build the record, XADD it and wait, then answer."""
    import redis.asyncio as aioredis
    import uvloop
    from aiohttp import web

    from gateway.config import TrackingConfig
    from gateway.events import record_args
    from gateway.tracking.records import engagement_record
    from gateway.tracking.server import GIF, NO_CACHE
    from gateway.tracking.tokens import TokenRejected, Verifier, parse_keys

    verifier = Verifier(parse_keys(KEYS))
    TrackingConfig(public_url="https://t.example")

    async def main() -> None:
        redis = aioredis.Redis.from_url(redis_url)

        async def hit(request: web.Request) -> web.Response:
            try:
                token = verifier.verify(request.match_info["token"])
            except TokenRejected:
                raise web.HTTPBadRequest() from None
            record = engagement_record(token, now_ms=int(time.time() * 1000), ip=request.remote or "",
                                       user_agent=request.headers.get("User-Agent", ""))
            app, etype, body = record_args(record)
            await redis.xadd(EVENTS, {"app": app, "event_type": etype, "record": body})
            if token.kind == "c":
                return web.Response(status=302, headers={"Location": token.url, **NO_CACHE})
            return web.Response(body=GIF, content_type="image/gif", headers=NO_CACHE)

        app = web.Application()
        app.router.add_get("/o/{token}", hit)
        app.router.add_get("/c/{token}", hit)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"listening {port}", flush=True)
        await asyncio.Event().wait()

    uvloop.install()
    asyncio.run(main())


# ------------------------------------------------------------------ the load generator


class _Conn(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None] | None = None) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buf[:head_end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buf) < head_end + 4 + length:
            return
        status = int(self.buf[9:12])
        self.buf = self.buf[head_end + 4 + length:]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)


def load(port: int, clients: int, seconds: float, offset: int, out: Any) -> None:
    """One load-generator process: `clients` connections, one request in flight each, for `seconds`."""
    import uvloop

    urls = paths(4000)

    async def main() -> tuple[int, int, list[float]]:
        loop = asyncio.get_running_loop()
        ok = bad = 0
        lat: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def client(k: int) -> None:
            nonlocal ok, bad
            _, proto = await loop.create_connection(_Conn, "127.0.0.1", port)
            i = offset + k * 7919
            while time.perf_counter() < stop_at:
                path = urls[i % len(urls)]
                i += 1
                proto.waiter = loop.create_future()
                t0 = time.perf_counter()
                assert proto.transport is not None
                proto.transport.write(b"GET " + path + b" HTTP/1.1\r\nHost: t.example\r\nUser-Agent: bench\r\n\r\n")
                status = await proto.waiter
                lat.append(time.perf_counter() - t0)
                if status in (200, 302):
                    ok += 1
                else:
                    bad += 1
            assert proto.transport is not None
            proto.transport.close()

        await asyncio.gather(*(client(k) for k in range(clients)))
        return ok, bad, lat

    uvloop.install()
    ok, bad, lat = asyncio.run(main())
    out.put((ok, bad, lat))


def run_load(port: int, clients: int, procs: int, seconds: float) -> tuple[float, float, float, int, int]:
    q: Any = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=load, args=(port, clients, seconds, p * 100_003, q)) for p in range(procs)]
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    p50 = lat[len(lat) // 2] * 1000 if lat else 0.0
    p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else 0.0
    return ok / seconds, p50, p99, ok, bad  # each load process ran `seconds` once connected


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child and wait (reading its output, not sleeping) until it says it is listening."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=ROOT)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline().decode()
        if "listening" in line:
            return proc
        if not line and proc.poll() is not None:
            raise RuntimeError(f"{args} exited: {log.read_text()[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32,
                    help="connections per load process (at 64 the naive aiohttp baseline stalled a run on 2 cores)")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()

    import redis as redis_sync

    with EmbeddedRedis() as redis_srv, tempfile.TemporaryDirectory() as tmp:
        r = redis_sync.Redis.from_url(redis_srv.url)
        env = {**os.environ, "GATEWAY_TRACKING_KEYS": KEYS, "GATEWAY_TRACKING__PUBLIC_URL": "https://t.example",
               "GATEWAY_LOG_LEVEL": "WARNING"}
        rows = []
        measured = {}
        for name in ("gateway tracking server", "naive (XADD per hit)"):
            r.delete(EVENTS)
            port = free_port()
            if name.startswith("gateway"):
                cmd = [sys.executable, "-m", "gateway.cli", "tracking", "--listen", f"127.0.0.1:{port}",
                       "--redis", redis_srv.url]
            else:
                cmd = [sys.executable, __file__, "--naive-server", str(port), redis_srv.url]
            proc = start(cmd, env, Path(tmp) / f"{port}.log")
            try:
                cpu0 = cpu_seconds(proc.pid)
                rate, p50, p99, ok, bad = run_load(port, args.clients, args.procs, args.seconds)
                cpu = cpu_seconds(proc.pid) - cpu0
            finally:
                proc.send_signal(signal.SIGTERM)  # the tracking server flushes its buffer on the way out
                proc.wait(timeout=60)
            written = r.xlen(EVENTS)
            measured[name] = rate
            per_cpu = ok / cpu if cpu > 0 else 0.0
            busy = cpu / args.seconds
            print(f"{name}: {rate:,.0f} hits/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, ok={ok} bad={bad}, "
                  f"events written {written}; server CPU {busy:.0%} of a core, {per_cpu:,.0f} hits per CPU-second")
            assert bad == 0, f"{bad} hits were not answered 200/302"
            assert written >= ok, f"events lost: {ok} hits answered, {written} events written"
            rows.append((name, rate, p50, p99, ok, busy, per_cpu))
        base = measured["naive (XADD per hit)"]
        out = []
        for name, rate, p50, p99, ok, busy, per_cpu in rows:
            ratio = f"{rate / base:.2f}x vs naive" if not name.startswith("naive") else "1.0x"
            out.append(("bench_tracking_server", f"{name}, 1 process, {args.procs}x{args.clients} keep-alive clients",
                        "hits/s", f"{rate:,.0f}", ratio,
                        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms; {ok} hits, every event in the stream; server CPU "
                        f"{busy:.0%}, {per_cpu:,.0f} hits/CPU-s; "
                        f"{args.seconds:g}s (targets: >= 20,000/s, p99 < 10 ms, >= 5x naive)"))
        if not args.no_results:
            append_rows(out)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--naive-server":
        naive_server(int(sys.argv[2]), sys.argv[3])
    else:
        main()
