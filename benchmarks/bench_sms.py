"""How many submit_sm per second does the SMPP channel sustain, against peers, on the same sandbox SMSC?

One run: the sandbox SMSC (gateway/sandbox/smsc.py) runs in its own process; each case submits the same N
messages (160 GSM-7 characters, to distinct numbers) and counts only submit_sm_resp with ESME_ROK.

  sandbox alone       a minimal raw asyncio client (pre-encoded PDUs, pipelined): the sandbox's ceiling
  ours (channel)      SmppChannel.send() from concurrent tasks, 2 binds, window 10 and 64; with and without receipts
  smpplib (thread)    smpplib.Client: one thread sending, one thread reading responses (its documented pattern)
  aiosmpplib          aiosmpplib.ESME with its SimpleBroker (if installed: pip install aiosmpplib)

Prints a table and appends rows to benchmarks/RESULTS.md. CPU is process time per message for the client process
and, separately, the sandbox process (/proc/<pid>/stat), so a run whose sandbox is near one core is visible.
Usage: python benchmarks/bench_sms.py [-n 100000] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgspec

from gateway.channels.base import Outbound, Recipient, Runtime
from gateway.channels.smpp import create, pdu
from gateway.channels.sms_content import SmsContent
from gateway.config import SmppChannelConfig

BODY = ("Your verification code is 123456. It expires in 10 minutes. Do not share this code with anyone. "
        "Reply STOP to opt out, HELP for help. Msg&data rates may apply. Thanks")[:160]
assert len(BODY) == 160
CLK = os.sysconf("SC_CLK_TCK")


def dest(i: int) -> str:
    return f"1415{i:07d}"


class Sandbox:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smsc", "--port", "0"],
                                     stdout=subprocess.PIPE, text=True,
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# ------------------------------------------------------------------------------------------- the raw baseline


async def raw_client(port: int, n: int, conns: int = 2, window: int = 64) -> None:
    """A minimal client: pre-encoded submit_sm, `window` outstanding per connection."""
    loop = asyncio.get_running_loop()
    body = pdu.sm_body(pdu.Sm(command_id=pdu.SUBMIT_SM, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                              dest_addr_npi=1, destination_addr=dest(0), short_message=BODY.encode()))
    per = n // conns

    class P(asyncio.Protocol):
        def __init__(self) -> None:
            self.framer = pdu.Framer()
            self.done = loop.create_future()
            self.sent = self.acked = 0
            self.t: asyncio.Transport

        def connection_made(self, t: asyncio.BaseTransport) -> None:
            self.t = t  # type: ignore[assignment]
            self.t.write(pdu.encode(pdu.Bind(command_id=pdu.BIND_TRANSMITTER, sequence_number=1, system_id="b")))

        def pump(self, k: int) -> None:
            k = min(k, per - self.sent)
            if k > 0:
                self.t.write(b"".join(pdu.frame(pdu.SUBMIT_SM, 0, self.sent + j + 2, body) for j in range(k)))
                self.sent += k

        def data_received(self, data: bytes) -> None:
            got = 0
            for cid, status, _, _ in self.framer.feed(data):
                if cid == pdu.BIND_TRANSMITTER_RESP:
                    self.pump(window)
                elif cid == pdu.SUBMIT_SM_RESP and status == 0:
                    got += 1
            self.acked += got
            if self.acked >= per:
                self.done.set_result(None)
            else:
                self.pump(got)

    protos = []
    for _ in range(conns):
        _, p = await loop.create_connection(P, "127.0.0.1", port)
        protos.append(p)
    await asyncio.gather(*(p.done for p in protos))
    for p in protos:
        p.t.close()


# ------------------------------------------------------------------------------------------------------- ours


async def ours(port: int, n: int, redis_url: str, binds: int, window: int, receipts: bool) -> dict[str, Any]:
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(redis_url)
    cfg = msgspec.convert(dict(port=port, system_id="gw", binds=binds, window=window, transactional_reserve=0,
                               registered_delivery=receipts), SmppChannelConfig)
    ch = create(cfg, Runtime(redis, None))
    got_receipts = 0
    all_receipts = asyncio.get_running_loop().create_future()

    async def on_receipt(ev: Any) -> None:
        nonlocal got_receipts
        got_receipts += 1
        if got_receipts == n and not all_receipts.done():
            all_receipts.set_result(None)

    ch.on_receipt = on_receipt
    await ch.start()
    msgs = [Outbound(message_id=f"m{i}", app="bench", recipient=Recipient(key=dest(i), address="+" + dest(i),
                     channel_type="SMS"), content=SmsContent(body=BODY, sender_id="ACME")) for i in range(n)]
    it = iter(msgs)

    async def worker() -> None:
        for m in it:
            await ch.send(m)

    await asyncio.gather(*(worker() for _ in range(binds * window)))
    if receipts:
        await asyncio.wait_for(all_receipts, 120)
    await ch.aclose()
    await redis.aclose()
    return {"accepted": ch.stats["accepted"], "receipts": got_receipts}


# ---------------------------------------------------------------------------------------------------- peers


def smpplib_thread(port: int, n: int) -> None:
    import smpplib.client
    import smpplib.consts

    client = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
    done = threading.Event()
    acked = 0

    def on_sent(pdu: Any) -> None:
        nonlocal acked
        if pdu.status == 0:
            acked += 1
        if acked >= n:
            done.set()

    client.set_message_sent_handler(on_sent)
    client.connect()
    client.bind_transmitter(system_id="peer", password="")

    def listen() -> None:
        while not done.is_set():
            client.read_once()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    msg = BODY.encode()
    for i in range(n):
        client.send_message(source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="ACME",
                            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                            destination_addr=dest(i), short_message=msg, data_coding=0, registered_delivery=0)
    done.wait(300)
    client.disconnect()


async def aiosmpplib_esme(port: int, n: int) -> None:
    import logging

    from aiosmpplib import ESME, NPI, TON, AbstractHook, PhoneNumber, SubmitSm, SubmitSmResp
    from aiosmpplib.broker import SimpleBroker

    done = asyncio.get_running_loop().create_future()
    acked = 0
    window = asyncio.Semaphore(128)  # the same in-flight bound as ours (2 x 64): without one it slows to a crawl

    class Hook(AbstractHook):
        async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
            pass

        async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
            nonlocal acked
            if isinstance(smpp_message, SubmitSmResp):
                window.release()
            if isinstance(smpp_message, SubmitSmResp) and int(smpp_message.command_status.value) == 0:
                acked += 1
                if acked >= n and not done.done():
                    done.set_result(None)

        async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
            pass

    broker = SimpleBroker(maxsize=1000)
    esme = ESME(smsc_host="127.0.0.1", smsc_port=port, system_id="peer", password="", broker=broker, hook=Hook(),
                log_level=logging.ERROR)
    src = PhoneNumber("ACME", TON.ALPHANUMERIC)
    runner = asyncio.create_task(esme.start())
    for i in range(n):
        await window.acquire()
        await broker.enqueue(SubmitSm(short_message=BODY, source=src,
                                      destination=PhoneNumber(dest(i), TON.INTERNATIONAL, NPI.ISDN),
                                      log_id=str(i), registered_delivery=0))
    await asyncio.wait_for(done, 300)
    await esme.stop()
    runner.cancel()


# ------------------------------------------------------------------------------------- end to end (the stream)


# The peer as a user would feed it from the same stream: one entry per XREADGROUP, json, smpplib's
# send_message (its reader on a thread for the submit_sm_resp), XACK per entry.
SMPPLIB_FROM_STREAM = r'''
import json, sys, threading
import redis, smpplib.client, smpplib.consts
r = redis.Redis.from_url(sys.argv[1])
client = smpplib.client.Client("127.0.0.1", int(sys.argv[2]), allow_unknown_opt_params=True)
client.set_message_sent_handler(lambda pdu: None)  # its default handler prints every response
client.connect()
client.bind_transmitter(system_id="peer", password="")
def listen():
    while True:
        client.read_once()
threading.Thread(target=listen, daemon=True).start()
while True:
    reply = r.xreadgroup("gateway", "peer", {"gateway:send": ">"}, count=1, block=1000)
    if not reply:
        continue
    entry_id, fields = reply[0][1][0]
    req = json.loads(fields[b"request"])
    (addr, cfg), = req["Addresses"].items()
    sms = req["MessageConfiguration"]["SMSMessage"]
    client.send_message(source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr=sms["SenderId"],
                        dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                        destination_addr=addr.lstrip("+"), short_message=sms["Body"].encode(), data_coding=0,
                        registered_delivery=0)
    r.xack("gateway:send", "gateway", entry_id)
'''


def e2e(port: int, n: int, redis_url: str, receipts: bool, tmp: str, peer: bool = False) -> dict[str, Any]:
    """`gateway serve` (one process) reading N prefilled stream entries (one SMS each) and delivering them over
    SMPP to the sandbox (`peer=True`: smpplib fed from the same stream, as a user would write it). Rate = entries
    XACKed between 10 % and 90 % of N over that time; CPU of that process over the same span."""
    import redis as redis_sync

    from benchmarks._common import cpu_seconds

    r = redis_sync.Redis.from_url(redis_url)
    r.flushall()
    r.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    pipe = r.pipeline(transaction=False)
    ids: list[tuple[int, ...]] = []
    for i in range(n):
        req = {"Addresses": {"+" + dest(i): {"ChannelType": "SMS"}},
               "MessageConfiguration": {"SMSMessage": {"Body": BODY, "MessageType": "TRANSACTIONAL",
                                                       "SenderId": "ACME"}}}
        pipe.xadd("gateway:send", {"app": b"bench", "request": msgspec.json.encode(req)})
        if i % 5000 == 4999:
            ids += [tuple(map(int, x.split(b"-"))) for x in pipe.execute()]
    ids += [tuple(map(int, x.split(b"-"))) for x in pipe.execute()]
    config = os.path.join(tmp, f"gateway-{int(receipts)}.toml")
    with open(config, "w") as f:
        f.write(f'redis_url = "{redis_url}"\nlog_level = "WARNING"\n[stream]\nbatch_size = 256\nmax_inflight = 2048\n'
                f'[[channels]]\nkind = "smpp"\nport = {port}\nsystem_id = "gw"\nbinds = 2\nwindow = 64\n'
                f'transactional_reserve = 0\nregistered_delivery = {"true" if receipts else "false"}\n')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if peer:
        script = os.path.join(tmp, "smpplib_from_stream.py")
        with open(script, "w") as f:
            f.write(SMPPLIB_FROM_STREAM)
        cmd = [sys.executable, script, redis_url, str(port)]
    else:
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--config", config, "--consumer", "bench"]
    proc = subprocess.Popen(cmd, env=env)

    def acked() -> int:
        import bisect

        groups = r.xinfo_groups("gateway:send")  # Redis 6.2 has no entries-read: find last-delivered-id
        if not groups:
            return 0
        last = tuple(map(int, groups[0]["last-delivered-id"].split(b"-")))
        return bisect.bisect_right(ids, last) - int(groups[0]["pending"])

    marks: dict[str, tuple[float, float]] = {}
    try:
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            a = acked()
            now = time.perf_counter()
            if "lo" not in marks and a >= n * 0.1:
                marks["lo"] = (now, cpu_seconds(proc.pid), a)  # type: ignore[assignment]
            if a >= n * 0.9:
                marks["hi"] = (now, cpu_seconds(proc.pid), a)  # type: ignore[assignment]
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(15)
        proc.wait(30)
    (t0, c0, a0), (t1, c1, a1) = marks["lo"], marks["hi"]  # type: ignore[misc]
    return {"rate": (a1 - a0) / (t1 - t0), "cpu_us": (c1 - c0) / (a1 - a0) * 1e6}


# ------------------------------------------------------------------------------------------------------- main


def measure(name: str, sandbox: Sandbox, n: int, fn: Callable[[], Any]) -> dict[str, Any]:
    s0, c0, t0 = sandbox.cpu(), time.process_time(), time.perf_counter()
    fn()
    t1, c1, s1 = time.perf_counter(), time.process_time(), sandbox.cpu()
    row = {"case": name, "rate": n / (t1 - t0), "secs": t1 - t0, "cpu_us": (c1 - c0) / n * 1e6,
           "smsc_cpu_us": (s1 - s0) / n * 1e6}
    print(f"{name:<42} {row['rate']:>10,.0f}/s  client {row['cpu_us']:6.1f} µs/msg  "
          f"sandbox {row['smsc_cpu_us']:5.1f} µs/msg", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    n = args.n
    import uvloop

    from gateway.embedded_redis import EmbeddedRedis

    redis = EmbeddedRedis().start()
    sandbox = Sandbox()
    run = uvloop.run
    rows = []
    try:
        rows.append(measure("sandbox alone (raw client, 2 conns x 64)", sandbox, n,
                            lambda: run(raw_client(sandbox.port, n))))
        for binds, window in ((2, 10), (2, 64)):
            rows.append(measure(f"ours: channel.send, {binds} binds x window {window}", sandbox, n,
                                lambda b=binds, w=window: run(ours(sandbox.port, n, redis.url, b, w, False))))
        rows.append(measure("ours: 2 x 64, receipts matched via Redis", sandbox, n,
                            lambda: run(ours(sandbox.port, n, redis.url, 2, 64, True))))
        import tempfile

        tmp = tempfile.mkdtemp(prefix="bench-sms-")
        for receipts in (False, True):
            name = f"ours end to end: stream -> gateway serve -> SMPP{', receipts' if receipts else ''}"
            s0 = sandbox.cpu()
            res = e2e(sandbox.port, n, redis.url, receipts, tmp)
            row = {"case": name, "rate": res["rate"], "cpu_us": res["cpu_us"], "smsc_cpu_us": (sandbox.cpu() - s0) / n * 1e6,
                   "who": "gateway process (stream read, render, events, XACK included)"}
            print(f"{name:<42} {row['rate']:>10,.0f}/s  gateway {row['cpu_us']:6.1f} µs/msg", flush=True)
            rows.append(row)
        m = min(n, 30_000)
        s0 = sandbox.cpu()
        res = e2e(sandbox.port, m, redis.url, False, tmp, peer=True)
        peer_e2e = {"case": "smpplib end to end: fed from the stream (XREADGROUP count 1, XACK each)", "rate": res["rate"],
                    "cpu_us": res["cpu_us"], "smsc_cpu_us": (sandbox.cpu() - s0) / m * 1e6, "n": m,
                    "who": "peer process (stream read, json, smpplib, XACK)"}
        print(f"{peer_e2e['case']:<42} {peer_e2e['rate']:>10,.0f}/s  peer {peer_e2e['cpu_us']:6.1f} µs/msg", flush=True)
        rows.append(peer_e2e)
        rows.append(measure("smpplib (send thread + read thread)", sandbox, n, lambda: smpplib_thread(sandbox.port, n)))
        try:
            import aiosmpplib  # noqa: F401
        except ImportError:
            print("aiosmpplib is not installed; skipped")
        else:
            # aiosmpplib's SimpleCorrelator scans every stored message id on each submit_sm_resp (put_delivery ->
            # _remove_expired), so its cost per message grows with the count: it gets at most 5,000 messages.
            m = min(n, 5000)
            rows.append(measure(f"aiosmpplib (ESME + SimpleBroker, 128 in flight, n={m})", sandbox, m,
                                lambda: run(aiosmpplib_esme(sandbox.port, m))))
            rows[-1]["n"] = m
    finally:
        sandbox.close()
        redis.cleanup()
    peer = next(r for r in rows if r["case"].startswith("smpplib"))
    best_peer = max((r for r in rows if r["case"].startswith(("smpplib", "aiosmpplib"))), key=lambda r: r["rate"])
    print(f"\nours 2x64 / best peer ({best_peer['case']}): {rows[2]['rate'] / best_peer['rate']:.2f}x")
    print(f"ours end to end / best peer: {rows[4]['rate'] / best_peer['rate']:.2f}x")
    print(f"ours end to end / smpplib end to end from the same stream: {rows[4]['rate'] / peer_e2e['rate']:.2f}x")
    if args.no_results:
        return
    machine = f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
    today = datetime.date.today().isoformat()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n"
                    "|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            if r["case"].startswith("ours end to end"):  # like for like: both read the same stream
                vs = f"{r['rate'] / peer_e2e['rate']:.2f}x vs smpplib fed from the stream"
            else:
                vs = f"{r['rate'] / peer['rate']:.2f}x vs smpplib"
            f.write(f"| {today} | {machine} | bench_sms (SMPP) | {r['case']} | submit_sm/s | {r['rate']:,.0f} | "
                    f"{vs} | n={r.get('n', n)}, 160-char GSM-7, {r.get('who', 'client')} {r['cpu_us']:.1f} µs/msg, "
                    f"sandbox {r['smsc_cpu_us']:.1f} µs/msg |\n")


if __name__ == "__main__":
    main()
