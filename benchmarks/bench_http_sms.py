"""How many SMS per second does the HTTP SMS channel push through a Twilio-shaped provider, against a user's
naive aiohttp code, in the same run?

The sandbox provider runs in its own process (uvloop, raw asyncio HTTP/1.1). It is measured alone first with a
minimal pipelined raw-socket client, so we know it is not the bound. Then, on the same sandbox:

* baseline A, "naive loop": a user's plain `session.post` loop (one message after another, one session);
* baseline B, "naive gather": the same `session.post` for every message at once with asyncio.gather (default
  connector, limit 100);
* ours: HttpSmsChannel.send (Twilio preset, basic auth, form body, response mapped), 128 workers, both lanes.

Counts only messages the sandbox acknowledged (HTTP 201 with a sid). Prints a table and appends rows to
benchmarks/RESULTS.md. Usage: python benchmarks/bench_http_sms.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import config as gwconfig  # noqa: E402
from gateway.channels import http_sms  # noqa: E402
from gateway.channels.base import Outbound, Recipient, Runtime  # noqa: E402
from gateway.channels.sms_content import SmsContent  # noqa: E402

BODY_160 = ("Your Acme verification code is 482913. It expires in 10 minutes. Never share it with anyone, "
            "including Acme staff. Questions? Visit acme.example/help now")[:160]
SID = "ACbench"
TOKEN = "bench-token"
AUTH = {"Authorization": "Basic " + __import__("base64").b64encode(f"{SID}:{TOKEN}".encode()).decode()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.http_sms", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if b"listening" not in line:
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc


def child_cpu(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds used so far by the sandbox process (utime + stime from /proc)."""
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


def number(i: int) -> str:
    """Destination numbers never ending in 0xxx: the sandbox scripts faults on those suffixes."""
    return f"+1425555{1000 + i % 9000}"


def form(i: int) -> bytes:
    return urllib.parse.urlencode({"To": number(i), "From": "+12065550199",
                                   "Body": BODY_160}).encode()


PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


async def sandbox_alone(port: int, n: int, conns: int = 8, window: int = 64) -> float:
    """Raw pipelined client: the sandbox's ceiling (requests/s)."""
    import base64

    auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    per = n // conns

    async def one(c: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        done = 0
        sent = 0
        buf = b""
        while done < per:
            batch = []
            while sent < per and sent - done < window:
                body = form(c * per + sent)
                batch.append(
                    f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body)
                sent += 1
            if batch:
                writer.write(b"".join(batch))
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("sandbox closed the connection")
            buf += chunk
            done += buf.count(b"HTTP/1.1 201")
            buf = buf[buf.rfind(b"HTTP/1.1 201") + 12:] if b"HTTP/1.1 201" in buf else buf
        writer.close()
        return done

    t0 = time.perf_counter()
    total = sum(await asyncio.gather(*(one(c) for c in range(conns))))
    return total / (time.perf_counter() - t0)


async def naive_loop(url: str, n: int) -> int:
    ok = 0
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            async with session.post(url, data={"To": number(i), "From": "+12065550199",
                                               "Body": BODY_160}, headers=AUTH) as resp:
                data = await resp.json()
                ok += resp.status == 201 and "sid" in data
    return ok


async def naive_gather(url: str, n: int) -> int:
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> bool:
            async with session.post(url, data={"To": number(i), "From": "+12065550199",
                                               "Body": BODY_160}, headers=AUTH) as resp:
                data = await resp.json()
                return resp.status == 201 and "sid" in data

        return sum(await asyncio.gather(*(one(i) for i in range(n))))


async def ours(port: int, n: int, workers: int = 128) -> int:
    os.environ["BENCH_TW_TOKEN"] = TOKEN
    cfg = gwconfig.HttpSmsChannelConfig(
        preset="twilio", account_sid=SID, api_base=f"http://127.0.0.1:{port}", allow_http=True,
        allow_networks=["127.0.0.1/32"], auth=gwconfig.HttpAuthConfig(kind="basic", secret_env="BENCH_TW_TOKEN"),
        transactional_connections=64, promotional_connections=64,
    )
    ch = http_sms.create(cfg, Runtime(None, None))
    await ch.start()
    msgs = [
        Outbound(message_id=f"m{i}", app="bench",
                 recipient=Recipient(key="", address=number(i), channel_type="SMS"),
                 content=SmsContent(body=BODY_160, origination_number="+12065550199",
                                    message_type="TRANSACTIONAL" if i % 2 else "PROMOTIONAL"))
        for i in range(n)
    ]
    it = iter(msgs)
    ok = 0

    async def worker() -> None:
        nonlocal ok
        for m in it:
            d = await ch.send(m)
            ok += d.provider_message_id is not None

    await asyncio.gather(*(worker() for _ in range(workers)))
    await ch.aclose()
    return ok


async def timed(coro_fn, n: int, proc: subprocess.Popen[bytes]) -> tuple[float, float, float, int]:  # type: ignore[no-untyped-def]
    s0 = child_cpu(proc)
    c0 = time.process_time()
    t0 = time.perf_counter()
    ok = await coro_fn(n)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return ok / wall, cpu / max(ok, 1) * 1e6, (child_cpu(proc) - s0) / max(ok, 1) * 1e6, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    n = args.messages
    uvloop.install()
    port = free_port()
    proc = start_sandbox(port)
    url = f"http://127.0.0.1:{port}{PATH}"
    rows: list[tuple[str, float, float, float, int]] = []
    try:
        async def run() -> None:
            await naive_gather(url, 500)  # warm-up: imports, first connections
            s0 = child_cpu(proc)
            t0 = time.perf_counter()
            rate = await sandbox_alone(port, n * 2)
            wall = time.perf_counter() - t0
            rows.append(("sandbox alone (raw pipelined client)", rate, float("nan"),
                         (child_cpu(proc) - s0) / (rate * wall) * 1e6, n * 2))
            cases = [
                ("baseline: naive session.post loop", lambda k: naive_loop(url, k), max(n // 4, 1000)),
                ("baseline: naive session.post + gather", lambda k: naive_gather(url, k), n),
                ("ours: HttpSmsChannel.send, 128 workers", lambda k: ours(port, k), n),
            ]
            for name, fn, k in cases:
                rate, cpu_us, sb_us, ok = await timed(fn, k, proc)
                if ok != k:
                    raise SystemExit(f"{name}: only {ok}/{k} acknowledged")
                rows.append((name, rate, cpu_us, sb_us, ok))

        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait()
    base = rows[1][1]
    print(f"{'case':45} {'msg/s':>9} {'client µs/msg':>14} {'sandbox µs/msg':>15} {'vs loop':>8}")
    for name, rate, cpu_us, sb_us, _ in rows:
        print(f"{name:45} {rate:9.0f} {cpu_us:14.1f} {sb_us:15.1f} {rate / base:7.2f}x")
    if args.no_results:
        return
    machine = f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
    today = datetime.date.today().isoformat()
    lines = []
    for name, rate, cpu_us, sb_us, ok in rows:
        note = f"{ok} msgs, 160-char body, Twilio form, client {cpu_us:.0f} µs/msg, sandbox {sb_us:.0f} µs/msg"
        if name.startswith("sandbox"):
            note = f"{ok} requests, 8 conns x 64 pipelined; sandbox {sb_us:.0f} µs/req"
        lines.append(f"| {today} | {machine} | bench_http_sms | {name} | msg/s | {rate:.0f} | "
                     f"{rate / base:.2f}x | {note} |")
    results = ROOT / "benchmarks" / "RESULTS.md"
    if not results.exists():
        results.write_text("| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n"
                           "|---|---|---|---|---|---|---|---|\n")
    with results.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
