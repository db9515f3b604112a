"""`gateway demo`: an embedded Redis, the sandbox SMTP sink, SMSC and APNs, and a gateway worker, all local and
unprivileged.

Three runs, each with live progress and a summary (delivered, failed by status, messages/s, p50/p99 latency
from enqueue to final outcome), one stream entry per recipient as a transactional sender would enqueue:

* email: `count` personalized HTML emails to as many distinct addresses. One address in a thousand hard-bounces
  and one in a thousand fails twice before it is accepted, so the retry path and the suppression list show up.
* SMS over SMPP (`sms` messages, 0 to skip) with delivery receipts: one number in a thousand is refused by the
  SMSC, one in a thousand is answered "queue full" once then accepted, one in a thousand is accepted but its
  receipt says undeliverable (UNREACHABLE). After the outcomes the run waits for every receipt and counts them
  by status.
* APNs push over HTTP/2 and TLS (`push` notifications, 0 to skip): one device token in a hundred is dead (410
  Unregistered).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway.embedded_redis import EmbeddedRedis, free_port

HTML = """<!doctype html><html><body style="font-family:sans-serif">
<h1>Hello {{User.UserAttributes.FirstName}},</h1>
<p>Thank you for order <b>#{{Attributes.OrderId}}</b>. It ships to {{Location.City}} on {{Attributes.ShipDate}}.</p>
<table>""" + "".join(
    f"<tr><td>Item {i}</td><td>{{{{Attributes.Item{i}}}}}</td><td>qty 1</td></tr>" for i in range(1, 6)
) + """</table>
<p>Your loyalty tier is {{User.UserAttributes.Tier}}; you have {{Metrics.Points}} points.</p>
<p style="color:#888">You receive this email because you bought something from Demo Shop. Manage preferences
at https://shop.example/preferences?u={{User.UserId}}. Demo Shop, 1 Example Street, Exampletown.</p>
""" + "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12 + "</p></body></html>"

_encode = msgspec.json.Encoder().encode


def _email_request(i: int) -> bytes:
    if i % 1000 == 7:
        addr = f"bounce{i}@demo.example"
    elif i % 1000 == 8:
        addr = f"flaky{i}@demo.example"
    else:
        addr = f"user{i}@demo.example"
    subs = {
        "User.UserAttributes.FirstName": [f"Customer{i}"], "Attributes.OrderId": [str(100000 + i)],
        "Location.City": ["Lisbon"], "Attributes.ShipDate": ["2026-12-01"], "User.UserAttributes.Tier": ["gold"],
        "Metrics.Points": [str(i % 997)], "User.UserId": [f"u{i}"],
        **{f"Attributes.Item{k}": [f"Widget {k}-{i % 13}"] for k in range(1, 6)},
    }
    return _encode({
        "Addresses": {addr: {"ChannelType": "EMAIL", "Substitutions": subs}},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "Demo Shop <orders@shop.example>",
            "SimpleEmail": {"Subject": {"Data": "Your order #{{Attributes.OrderId}}, {{User.UserAttributes.FirstName}}"},
                            "HtmlPart": {"Data": HTML}}}},
    })


def sms_number(i: int) -> str:
    """The i-th SMS recipient. The sandbox SMSC scripts numbers starting +1555999 (see gateway/sandbox/smsc.py):
    …11… refused (ESME_RINVDSTADR), …141… answered "queue full" once then accepted, …02… accepted with an
    UNDELIV receipt."""
    if i % 1000 == 7:
        return f"+1555999110{i % 10}"
    if i % 1000 == 8:
        return f"+1555999141{i % 10}"
    if i % 1000 == 9:
        return f"+1555999020{i % 10}"
    return f"+1425{5550000 + i % 10000:07d}"


def _sms_request(i: int) -> bytes:
    return _encode({
        "Addresses": {sms_number(i): {"ChannelType": "SMS", "Substitutions": {"code": [f"{(i * 7919) % 1000000:06d}"]}}},
        "MessageConfiguration": {"SMSMessage": {
            "Body": "Demo Shop: your code is {{code}}. It expires in 10 minutes.", "MessageType": "TRANSACTIONAL",
            "SenderId": "DemoShop"}},
    })


def push_token(i: int) -> str:
    """The i-th device token: 64 hex digits, as APNs wants; one in a hundred starts "gone", which the sandbox
    answers 410 Unregistered (a dead token: the app was uninstalled)."""
    token = f"{i:016x}" + f"{(i * 2654435761) % (1 << 64):016x}" * 3
    return "gone" + token[4:] if i % 100 == 42 else token


def _push_request(i: int) -> bytes:
    return _encode({
        "Addresses": {push_token(i): {"ChannelType": "APNS", "Substitutions": {"order": [str(100000 + i)]}}},
        "MessageConfiguration": {"APNSMessage": {"Title": "Order shipped", "Body": "Order #{{order}} is on its way",
                                                 "Sound": "default"}},
    })


def _bar(done: int, total: int, rate: float, what: str = "msg/s") -> str:
    width = 40
    filled = int(width * done / max(total, 1))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done:>7}/{total} {rate:8.0f} {what}"


class Outcomes(msgspec.Struct):
    """What one run saw on the event stream."""

    final: Counter[str]  # final delivery_status of each message
    receipts: Counter[str]  # SMS delivery receipts by record_status
    elapsed: float  # seconds from the first enqueue to the last final outcome
    p50: int
    p99: int


#: Events announcing that a message was handed to its channel (first attempt only), ahead of its outcome. SMPP's
#: is `_SMS.BUFFERED`, the same name as its accepted outcome: it is the first event of its message.
SEND_NOTICES = frozenset({"_email.send", "_push.send", "_SMS.BUFFERED"})


def classify(etype: str, attrs: dict[str, Any], seen: set[str]) -> tuple[str, str] | None:
    """What one event means for the demo's counts: ("final", delivery_status), ("receipt", record_status), or
    None: a send notice (the first event of its message, `seen` remembers message ids) or a temporary failure
    that will be retried."""
    if "delivery_status" not in attrs:  # an SMS delivery receipt: record_status, no delivery_status
        return ("receipt", str(attrs["record_status"])) if "record_status" in attrs else None
    message_id = str(attrs.get("message_id"))
    first = message_id not in seen
    seen.add(message_id)
    if first and etype in SEND_NOTICES:
        return None
    status = str(attrs["delivery_status"])
    if status in ("TEMPORARY_FAILURE", "THROTTLED") and "will retry" in str(attrs.get("status_message", "")):
        return None
    return "final", status


async def _run(count: int, redis_url: str, app: str, make: Callable[[int], bytes], receipts: bool = False
               ) -> Outcomes:
    client = aioredis.Redis.from_url(redis_url)
    final = Counter[str]()
    got = Counter[str]()
    latencies: list[int] = []
    seen: set[str] = set()
    newest: Any = await client.xrevrange("gateway:events", count=1)
    last_id: Any = newest[0][0] if newest else "0"
    started = time.time()

    async def enqueue() -> None:
        for start in range(0, count, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(count, start + 1000)):
                pipe.xadd("gateway:send", {"app": app.encode(), "request": make(i)})
            await pipe.execute()

    producer = asyncio.create_task(enqueue())
    first_ms = int(started * 1000)
    last_outcome_ms = first_ms
    shown = 0.0

    def want_more() -> bool:
        done = sum(final.values())
        # every SMS the SMSC accepted gets one final receipt (ENROUTE/BUFFERED notices are not final)
        return done < count or (receipts and sum(got.values()) < final["SUCCESSFUL"])

    while want_more():
        reply: Any = await client.xread({"gateway:events": last_id}, count=10_000, block=500)
        for _, items in reply or []:
            for entry_id, fields in items:
                last_id = entry_id
                if fields.get(b"app", app.encode()) != app.encode():
                    continue
                rec = msgspec.json.decode(fields[b"record"])
                attrs = rec["attributes"]
                kind = classify(fields[b"event_type"].decode(), attrs, seen)
                if kind is None:
                    continue
                if kind[0] == "receipt":
                    if kind[1] != "PENDING":
                        got[kind[1]] += 1
                    continue
                final[kind[1]] += 1
                enq_ms = int(attrs["request_id"].split("-")[0])
                latencies.append(rec["event_timestamp"] - enq_ms)
                last_outcome_ms = max(last_outcome_ms, rec["event_timestamp"])
        now = time.time()
        if now - shown > 0.2:
            done = sum(final.values())
            if done < count:
                print(_bar(done, count, done / max(now - started, 1e-9)), end="", flush=True)
            else:
                print(f"\r  receipts {sum(got.values()):>7}/{final['SUCCESSFUL']} (waiting for the SMSC's delivery "
                      "receipts)", end="", flush=True)
            shown = now
    await producer
    elapsed = (last_outcome_ms - first_ms) / 1000
    print(_bar(count, count, count / max(elapsed, 1e-9)), flush=True)
    latencies.sort()
    await client.aclose()
    return Outcomes(final=final, receipts=got, elapsed=elapsed, p50=latencies[len(latencies) // 2],
                    p99=latencies[max(int(len(latencies) * 0.99) - 1, 0)])


def _summary(result: Outcomes, count: int, workers: int, what: str) -> None:
    final = Counter(result.final)
    print(f"  delivered (SUCCESSFUL) {final.pop('SUCCESSFUL', 0):>9,}")
    for status, n in sorted(final.items()):
        print(f"  failed {status:<17}{n:>9,}")
    for status, n in sorted(result.receipts.items()):
        print(f"  receipt {status:<16}{n:>9,}")
    print(f"  throughput             {count / max(result.elapsed, 1e-9):>9,.0f} {what}/s ({workers} worker process"
          f"{'es' if workers > 1 else ''})")
    print(f"  latency enqueue→outcome p50 {result.p50} ms, p99 {result.p99} ms")


def _start_sandbox(args: list[str], what: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a sandbox that prints its port on its first line (`READY <port>` or `<port>`)."""
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or not line[-1].isdigit():
        proc.kill()
        raise RuntimeError(f"the sandbox {what} did not start")
    return proc, int(line[-1])


def main(count: int = 100_000, workers: int = 1, sms: int = 10_000, push: int = 10_000) -> int:
    from gateway.devstack import APNS_TOPIC, apns_team, make_files

    parts = [f"{count:,} personalized emails"] + ([f"{sms:,} SMS"] if sms else []) + ([f"{push:,} pushes"] if push else [])
    print(f"gateway demo: {', '.join(parts)} through an embedded Redis and the sandbox providers")
    tmp = Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    redis_server = EmbeddedRedis().start()
    procs: list[subprocess.Popen[bytes]] = []
    workers_started = 0
    try:
        smtp_port = free_port()
        ready = tmp / "smtp.port"
        procs.append(subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(smtp_port),
                                       "--ready-file", str(ready)], stdout=subprocess.DEVNULL))
        deadline = time.time() + 20
        while not ready.exists():
            if time.time() > deadline or procs[0].poll() is not None:
                print("gateway demo: the sandbox SMTP sink did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        channels = f'[[channels]]\nkind = "smtp"\nport = {smtp_port}\nconnections = 64\n'
        if sms:
            smsc, smsc_port = _start_sandbox(["gateway.sandbox.smsc", "--port", "0"], "SMSC")
            procs.append(smsc)
            channels += (f'[[channels]]\nkind = "smpp"\nport = {smsc_port}\nsystem_id = "demo"\nbinds = 2\n'
                         "window = 64\nregistered_delivery = true\n")
        if push:
            files = make_files(tmp / "keys")
            keys = itertools.chain.from_iterable(
                ("--key", f"{apns_team(w)[1]}:{apns_team(w)[0]}:{files.apns_public}") for w in range(workers))
            apns, apns_port = _start_sandbox(["gateway.sandbox.apns", "--port", "0", "--tls-cert", files.server_cert,
                                              *keys], "APNs")
            procs.append(apns)
        config_for: list[Path] = []
        for w in range(workers):
            extra = ""
            if push:
                team, kid = apns_team(w)
                extra = (f'[[channels]]\nkind = "apns"\nproduction_url = "https://127.0.0.1:{apns_port}"\n'
                         f'sandbox_url = "https://127.0.0.1:{apns_port}"\nteam_id = "{team}"\nkey_id = "{kid}"\n'
                         f'token_key_file = {json.dumps(files.apns_key)}\nbundle_id = "{APNS_TOPIC}"\n'
                         f"ca_file = {json.dumps(files.ca)}\n")
            config = tmp / f"gateway-{w}.toml"
            config.write_text(
                f'redis_url = "{redis_server.url}"\nlog_level = "WARNING"\n'
                '[api]\nauth = "none"\n'
                "[stream]\nbatch_size = 256\nmax_inflight = 1024\n"
                "[retry]\nbase_s = 0.5\ncap_s = 2.0\nmax_attempts = 4\npoll_ms = 100\n"
                + channels + extra
            )
            config_for.append(config)
        env = dict(os.environ)
        api_port = free_port()
        for n in range(workers):
            api = ["--api", f"127.0.0.1:{api_port}"] if n == 0 else []
            procs.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config",
                                           str(config_for[n]), "--consumer", f"demo-{n}", *api], env=env))
            workers_started += 1
        print(f"  Pinpoint REST API (auth disabled for the demo): http://127.0.0.1:{api_port}")
        import uvloop

        print(f"\nEmail: {count:,} personalized HTML emails over SMTP")
        result = uvloop.run(_run(count, redis_server.url, "demo", _email_request))
        print()
        _summary(result, count, workers, "messages")
        if sms:
            print(f"\nSMS: {sms:,} messages over SMPP to the sandbox SMSC, then their delivery receipts")
            result = uvloop.run(_run(sms, redis_server.url, "demo-sms", _sms_request, receipts=True))
            _summary(result, sms, workers, "SMS")
        if push:
            print(f"\nPush: {push:,} notifications over HTTP/2 to the sandbox APNs (1 token in 100 is dead)")
            result = uvloop.run(_run(push, redis_server.url, "demo-push", _push_request))
            _summary(result, push, workers, "pushes")
        return 0
    finally:
        # the workers first (they finish what is in flight), then the sandboxes they were talking to
        for group in (procs[len(procs) - workers_started:], procs[:len(procs) - workers_started]):
            for p in group:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in group:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        redis_server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)  # configs and throwaway keys
