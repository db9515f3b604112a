"""How many APNs pushes per second does one gateway process deliver, against the Python libraries a user would
pick (aioapns; httpx with http2=True), on the same sandbox APNs server, in one run?

Setup: the sandbox APNs server (gateway.sandbox.apns: raw asyncio HTTP/2 over TLS with ALPN h2, JWT checked) runs
in its own process. Every client runs in its own process too, one after the other, on the same sandbox:

* sandbox alone: a minimal HTTP/2 client writing pre-encoded frames (no HPACK, no h2): the sandbox's ceiling;
* aioapns 4.0 (h2 underneath), `APNs.send_notification`, its default pool of 10 connections;
* httpx 0.28 `AsyncClient(http2=True)` posting JSON, JWT minted once;
* ours, the channel alone: `ApnsChannel.send` (compose + send) on h2, on jh2 and on our native framing;
* ours end to end: `gateway serve` (one process) fed from the Redis stream (XREADGROUP → decode → render
  `{{order}}` → compose → APNs → events and XACK), counted when acknowledged: one push per entry, then
  SendMessages-shaped entries of 100 addresses each (Pinpoint's per-request maximum).

Each client sends `--pushes` pushes (distinct device tokens and bodies) with `--concurrency` in flight. The
rate is pushes the sandbox answered 200 per second of wall time; CPU µs/push is the client process's CPU.
Prints a table and appends rows to benchmarks/RESULTS.md.

    python benchmarks/bench_push.py [--pushes 100000] [--concurrency 1000] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import append_rows, cpu_seconds, machine  # noqa: E402
from gateway.embedded_redis import free_port  # noqa: E402

TOPIC = "com.example.bench"
CLIENTS = ("raw", "aioapns", "httpx", "ours-h2", "ours-jh2", "ours-native")


def token(i: int) -> str:
    return f"{i:064x}"


def payload(i: int) -> dict[str, Any]:
    return {"aps": {"alert": {"title": "Order update", "body": f"Your order #{100000 + i} has shipped"}}}


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- the clients (each runs in its own process: `bench_push.py --client NAME ...`) ---------------------------------

def client_ssl(ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    return ctx


def _lit(name: bytes, value: bytes) -> bytes:
    def s(b: bytes) -> bytes:
        n = len(b)
        if n < 127:
            return bytes((n,)) + b
        out = bytearray((127,))
        n -= 127
        while n >= 128:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out) + b
    return b"\x00" + s(name) + s(value)


async def run_raw(port: int, ca: str, n: int, conc: int, jwt_value: str) -> int:
    """Pre-encoded frames, literal headers without indexing: costs a few µs per push, so it measures the server."""
    from gateway.channels.http2.frames import DATA, END_HEADERS, END_STREAM, HEADERS, PING, PREFACE, SETTINGS, WINDOW_UPDATE, frame

    conns = 2
    per_conn = n // conns
    done = 0

    class Blaster(asyncio.Protocol):
        def __init__(self, base: int, count: int, fin: asyncio.Future[None]) -> None:
            self.base, self.count, self.fin = base, count, fin
            self.sent = self.answered = 0
            self.limit = 1
            self.sid = 1
            self.buf = bytearray()
            self.fixed = (b"\x83\x87" + _lit(b":authority", f"127.0.0.1:{port}".encode())
                          + _lit(b"authorization", b"bearer " + jwt_value.encode()) + _lit(b"apns-topic", TOPIC.encode())
                          + _lit(b"apns-push-type", b"alert") + _lit(b"apns-priority", b"10"))

        def connection_made(self, transport: Any) -> None:
            self.t = transport
            transport.write(PREFACE + frame(SETTINGS, 0, 0) + frame(WINDOW_UPDATE, 0, 0, (1 << 30).to_bytes(4, "big")))
            self.pump()

        def pump(self) -> None:
            out = []
            cap = min(self.limit, conc // conns)
            while self.sent < self.count and self.sent - self.answered < cap:
                i = self.base + self.sent
                block = _lit(b":path", b"/3/device/" + token(i).encode()) + self.fixed
                body = json.dumps(payload(i)).encode()
                out.append(frame(HEADERS, END_HEADERS, self.sid, block) + frame(DATA, END_STREAM, self.sid, body))
                self.sid += 2
                self.sent += 1
            if out:
                self.t.write(b"".join(out))

        def data_received(self, data: bytes) -> None:
            nonlocal done
            buf = self.buf
            buf += data
            pos = 0
            while len(buf) - pos >= 9:
                length = int.from_bytes(buf[pos:pos + 3], "big")
                if len(buf) - pos - 9 < length:
                    break
                ftype, flags = buf[pos + 3], buf[pos + 4]
                payload_ = bytes(buf[pos + 9:pos + 9 + length])
                pos += 9 + length
                if ftype == HEADERS and flags & END_STREAM:
                    self.answered += 1
                    if payload_[:1] == b"\x88":
                        done += 1
                elif ftype == DATA and flags & END_STREAM:
                    self.answered += 1
                elif ftype == SETTINGS and not flags & 1:
                    for k in range(0, length, 6):
                        if int.from_bytes(payload_[k:k + 2], "big") == 3:
                            self.limit = int.from_bytes(payload_[k + 2:k + 6], "big")
                    self.t.write(frame(SETTINGS, 1, 0))
                elif ftype == PING and not flags & 1:
                    self.t.write(frame(PING, 1, 0, payload_))
            del buf[:pos]
            if self.answered >= self.count and not self.fin.done():
                self.fin.set_result(None)
            self.pump()

    loop = asyncio.get_running_loop()
    fins = []
    for c in range(conns):
        fin: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda c=c, fin=fin: Blaster(c * per_conn, per_conn, fin), "127.0.0.1", port,
                                     ssl=client_ssl(ca), server_hostname="127.0.0.1")
        fins.append(fin)
    await asyncio.gather(*fins)
    return done


async def run_aioapns(port: int, ca: str, n: int, conc: int, key: str, kid: str, team: str) -> int:
    from aioapns import APNs, NotificationRequest
    from aioapns.connection import APNsProductionClientProtocol

    APNsProductionClientProtocol.APNS_SERVER = "127.0.0.1"  # point the library at the sandbox
    APNsProductionClientProtocol.APNS_PORT = port
    client = APNs(key=key, key_id=kid, team_id=team, topic=TOPIC, use_sandbox=False, ssl_context=client_ssl(ca))
    ok = 0
    next_i = 0

    async def worker() -> None:
        nonlocal ok, next_i
        while next_i < n:
            i = next_i
            next_i += 1
            res = await client.send_notification(NotificationRequest(device_token=token(i), message=payload(i),
                                                                     notification_id=str(uuid.uuid4())))
            ok += res.is_successful
    await asyncio.gather(*(worker() for _ in range(conc)))
    return ok


async def run_httpx(port: int, ca: str, n: int, conc: int, jwt_value: str) -> int:
    import httpx

    ok = 0
    next_i = 0
    headers = {"authorization": "bearer " + jwt_value, "apns-topic": TOPIC, "apns-push-type": "alert",
               "apns-priority": "10"}
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    async with httpx.AsyncClient(http2=True, verify=client_ssl(ca), limits=limits, timeout=60) as client:
        async def worker() -> None:
            nonlocal ok, next_i
            while next_i < n:
                i = next_i
                next_i += 1
                r = await client.post(f"https://127.0.0.1:{port}/3/device/{token(i)}", json=payload(i),
                                      headers={**headers, "apns-id": str(uuid.uuid4())})
                ok += r.status_code == 200
        await asyncio.gather(*(worker() for _ in range(conc)))
    return ok


async def run_ours(port: int, ca: str, n: int, conc: int, keyfile: str, kid: str, team: str, impl: str) -> int:
    from gateway import models
    from gateway.channels import apns
    from gateway.channels.base import Outbound, Recipient, Runtime
    from gateway.config import ApnsChannelConfig

    url = f"https://127.0.0.1:{port}"
    ch = apns.create(ApnsChannelConfig(production_url=url, sandbox_url=url, team_id=team, key_id=kid,
                                       token_key_file=keyfile, bundle_id=TOPIC, ca_file=ca, http2=impl,  # type: ignore[arg-type]
                                       connections=4), Runtime(None, None))
    ok = 0
    next_i = 0

    def identity(s: str | None) -> str | None:
        return s

    async def worker() -> None:
        nonlocal ok, next_i
        while next_i < n:
            i = next_i
            next_i += 1
            alert = payload(i)["aps"]["alert"]
            cfg = models.DirectMessageConfiguration(APNSMessage=models.APNSMessage(Title=alert["title"],
                                                                                   Body=alert["body"]))
            r = Recipient(key=token(i), address=token(i), channel_type="APNS")
            content = apns.compose_apns(cfg, None, r, identity)
            await ch.send(Outbound(message_id=str(uuid.uuid4()), app="bench", recipient=r, content=content))
            ok += 1
    await asyncio.gather(*(worker() for _ in range(conc)))
    await ch.aclose()
    return ok


def client_main(args: argparse.Namespace) -> None:
    import jwt
    import uvloop

    keydir = Path(args.keydir)
    name = args.client
    kid, team = f"KID{CLIENTS.index(name):07d}", f"TEAM{CLIENTS.index(name):06d}"
    key = (keydir / "key.p8").read_text()
    jwt_value = jwt.encode({"iss": team, "iat": int(time.time())}, key, algorithm="ES256", headers={"kid": kid})
    ca = str(keydir / "ca.pem")

    async def go() -> int:
        if name == "raw":
            return await run_raw(args.port, ca, args.n, args.concurrency, jwt_value)
        if name == "aioapns":
            return await run_aioapns(args.port, ca, args.n, args.concurrency, key, kid, team)
        if name == "httpx":
            return await run_httpx(args.port, ca, args.n, args.concurrency, jwt_value)
        return await run_ours(args.port, ca, args.n, args.concurrency, str(keydir / "key.p8"), kid, team,
                              name.split("-")[1])

    c0, t0 = cpu_self(), time.perf_counter()
    ok = uvloop.run(go())
    t1, c1 = time.perf_counter(), cpu_self()
    print(json.dumps({"ok": ok, "seconds": t1 - t0, "cpu": c1 - c0}), flush=True)


# -- the driver ------------------------------------------------------------------------------------------------

def make_keys(tmp: Path) -> None:
    import trustme
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    k = ec.generate_private_key(ec.SECP256R1())
    (tmp / "key.p8").write_text(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode())
    (tmp / "pub.pem").write_text(k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))


def start_sandbox(tmp: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    keys = []
    for i, _ in enumerate((*CLIENTS, "e2e", "e2e-100")):
        keys += ["--key", f"KID{i:07d}:TEAM{i:06d}:{tmp / 'pub.pem'}"]
    proc = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.apns", "--port", str(port), "--tls-cert",
                             str(tmp / "server.pem"), *keys], cwd=ROOT, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(b"READY"):
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc


def run_client(name: str, tmp: Path, port: int, n: int, conc: int, sandbox: subprocess.Popen[bytes],
               env: dict[str, str]) -> dict[str, float]:
    s0 = cpu_seconds(sandbox.pid)
    out = subprocess.run([sys.executable, __file__, "--client", name, "--port", str(port), "--keydir", str(tmp),
                          "--n", str(n), "--concurrency", str(conc)], cwd=ROOT, env=env, capture_output=True,
                         check=False)
    s1 = cpu_seconds(sandbox.pid)
    if out.returncode != 0:
        raise SystemExit(f"client {name} failed:\n{out.stderr.decode()[-3000:]}")
    res = json.loads(out.stdout.decode().strip().splitlines()[-1])
    rate = res["ok"] / res["seconds"]
    row = {"rate": rate, "ok": res["ok"], "cpu_us": res["cpu"] / max(res["ok"], 1) * 1e6,
           "sandbox_us": (s1 - s0) / max(res["ok"], 1) * 1e6}
    print(f"{name:>10}: {res['ok']:>7,} ok in {res['seconds']:6.2f}s = {rate:>8,.0f} pushes/s; client "
          f"{row['cpu_us']:.0f} CPU µs/push; sandbox {row['sandbox_us']:.0f} CPU µs/push", flush=True)
    return row


def run_e2e(tmp: Path, port: int, n: int, sandbox: subprocess.Popen[bytes], env: dict[str, str],
            per_entry: int = 1, batch: int = 256, inflight: int = 2048) -> dict[str, float]:
    """`gateway serve` fed from a prefilled stream of `per_entry` addresses per entry; rate over the backlog."""
    import msgspec
    import redis as redis_sync

    from gateway.embedded_redis import EmbeddedRedis

    i_e2e = len(CLIENTS) + (per_entry > 1)  # its own team: a second minter within 20 min is refused, as at Apple
    with EmbeddedRedis() as server:
        r = redis_sync.Redis.from_url(server.url)
        r.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
        pipe = r.pipeline(transaction=False)
        ids: list[tuple[int, int]] = []
        entries = n // per_entry
        for e in range(entries):
            first = e * per_entry
            alert = payload(first)["aps"]["alert"]
            req = {"Addresses": {token(i): {"ChannelType": "APNS", "Substitutions": {"order": [str(100000 + i)]}}
                                 for i in range(first, first + per_entry)},
                   "MessageConfiguration": {"APNSMessage": {"Title": alert["title"],
                                                            "Body": "Your order #{{order}} has shipped"}}}
            pipe.xadd("gateway:send", {"app": b"bench", "request": msgspec.json.encode(req)})
            if e % 5000 == 4999:
                ids += [_id_key(x) for x in pipe.execute()]
        ids += [_id_key(x) for x in pipe.execute()]
        cfg = tmp / "gateway.toml"
        cfg.write_text(f'redis_url = "{server.url}"\nlog_level = "WARNING"\n'
                       f"[stream]\nbatch_size = {max(4, batch // per_entry)}\nmax_inflight = {inflight}\n"
                       f'[[channels]]\nkind = "apns"\nproduction_url = "https://127.0.0.1:{port}"\n'
                       f'sandbox_url = "https://127.0.0.1:{port}"\nteam_id = "TEAM{i_e2e:06d}"\n'
                       f'key_id = "KID{i_e2e:07d}"\ntoken_key_file = "{tmp / "key.p8"}"\nbundle_id = "{TOPIC}"\n'
                       f'ca_file = "{tmp / "ca.pem"}"\n')
        s0 = cpu_seconds(sandbox.pid)
        assert server.proc is not None
        r0 = cpu_seconds(server.proc.pid)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg), "--consumer", "bench"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        if os.environ.get("BENCH_PUSH_PYSPY"):  # profile the gateway: py-spy raw (collapsed) stacks to that file
            subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "-r", "250",
                              "-d", "4", "-o", os.environ["BENCH_PUSH_PYSPY"], "--pid", str(proc.pid)])
        marks: list[tuple[float, int, float]] = []
        try:
            while True:
                time.sleep(0.25)
                g = r.xinfo_groups("gateway:send")[0]
                # acknowledged = entries up to the group's last-delivered id, minus those still pending
                done_n = (bisect.bisect_right(ids, _id_key(g["last-delivered-id"])) - g["pending"]) * per_entry
                marks.append((time.perf_counter(), done_n, cpu_seconds(proc.pid)))
                if done_n >= n or time.perf_counter() - t0 > 600:
                    break
        finally:
            proc.terminate()
            proc.wait(30)
        s1 = cpu_seconds(sandbox.pid)
        redis_us = (cpu_seconds(server.proc.pid) - r0) / max(hi_n := marks[-1][1], 1) * 1e6
        events = r.xlen("gateway:events")
        sample = r.xrevrange("gateway:events", count=1)
        kinds: dict[str, int] = {}
        for _, fields in r.xrange("gateway:events", count=200000):
            rec = json.loads(fields[b"record"])
            et = rec.get("event_type", "?")
            kinds[et] = kinds.get(et, 0) + 1
        print("        event types:", kinds, flush=True)
        if kinds.get("_push.success", 0) != n:
            raise SystemExit(f"e2e x{per_entry}: only {kinds.get('_push.success', 0):,} of {n:,} pushes succeeded")
    # steady window: from 10% to 100% of the backlog (excludes start-up and the first connection's one stream)
    lo = next(m for m in marks if m[1] >= n * 0.1)
    hi = marks[-1]
    rate = (hi[1] - lo[1]) / (hi[0] - lo[0])
    cpu_us = (hi[2] - lo[2]) / max(hi[1] - lo[1], 1) * 1e6
    share = (hi[2] - lo[2]) / (hi[0] - lo[0])
    first_event = sample[0][1] if sample else {}
    print(f"   e2e x{per_entry:<3}: {hi[1]:,} acked, {events:,} events, steady {rate:,.0f} pushes/s, gateway {cpu_us:.0f} CPU "
          f"µs/push ({share:.0%} of a core), redis {redis_us:.0f} CPU µs/push, sandbox "
          f"{(s1 - s0) / max(hi_n, 1) * 1e6:.0f} CPU µs/push; last event keys "
          f"{sorted(k.decode() for k in first_event)[:4]}", flush=True)
    return {"rate": rate, "ok": hi[1], "cpu_us": cpu_us, "cpu_share": share, "redis_us": redis_us}


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    a, b = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")
    return int(a), int(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--pushes", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=1000)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--only", help="comma-separated clients to run (default: all)")
    ap.add_argument("--batch", type=int, default=1024, help="e2e: stream batch_size (entries x addresses)")
    ap.add_argument("--inflight", type=int, default=8192, help="e2e: stream max_inflight (entries)")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--keydir", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client_main(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    make_keys(tmp)
    load = os.getloadavg()  # the machine is shared: the notes record how busy it was
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    port = free_port()
    sandbox = start_sandbox(tmp, port, env)
    results: dict[str, dict[str, float]] = {}
    wanted = args.only.split(",") if args.only else list(CLIENTS)
    try:
        for name in CLIENTS:
            if name in wanted:
                n = args.pushes if name not in ("aioapns", "httpx") else min(args.pushes, 30_000)
                results[name] = run_client(name, tmp, port, n, args.concurrency, sandbox, env)
        if not args.skip_e2e:
            if "e2e" in wanted or not args.only:
                results["e2e"] = run_e2e(tmp, port, args.pushes, sandbox, env, batch=args.batch,
                                         inflight=args.inflight)
            results["e2e-100"] = run_e2e(tmp, port, args.pushes, sandbox, env, per_entry=100, batch=args.batch,
                                         inflight=max(1, args.inflight // 100))
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    base = results.get("aioapns", {}).get("rate")
    desc = {
        "raw": "sandbox alone (pre-encoded frames, 2 TLS conns)",
        "aioapns": "aioapns 4.0 send_notification (baseline)",
        "httpx": "httpx 0.28 AsyncClient(http2=True)",
        "ours-h2": "ours: ApnsChannel.send, h2 4.4",
        "ours-jh2": "ours: ApnsChannel.send, jh2 5.0",
        "ours-native": "ours: ApnsChannel.send, native framing (default)",
        "e2e": "ours end to end: gateway serve fed from the stream, 1 push per entry (1 process)",
        "e2e-100": "ours end to end: gateway serve fed from the stream, 100 addresses per entry (1 process)",
    }
    print(f"\n{machine()}\n{'case':<72} {'pushes/s':>10} {'vs aioapns':>10} {'CPU µs/push':>12}")
    rows = []
    for name, res in results.items():
        ratio = f"{res['rate'] / base:.2f}x" if base else ""
        print(f"{desc[name]:<72} {res['rate']:>10,.0f} {ratio:>10} {res['cpu_us']:>12.0f}")
        note = (f"{int(res['ok']):,} pushes, {args.concurrency} in flight, TLS, sandbox in its own process"
                + (f"; sandbox {res['sandbox_us']:.0f} CPU µs/push" if "sandbox_us" in res else "")
                + (f"; gateway used {res['cpu_share']:.0%} of a core, Redis {res['redis_us']:.0f} CPU µs/push"
                   if "cpu_share" in res else "")
                + f"; load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
        rows.append(("bench_push", desc[name], "pushes/s", f"{res['rate']:,.0f}", ratio, note))
        rows.append(("bench_push", desc[name], "client CPU µs/push", f"{res['cpu_us']:.0f}", "", ""))
    append_rows(rows)


if __name__ == "__main__":
    main()
