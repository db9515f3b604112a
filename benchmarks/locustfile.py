"""Load test of Gateway's front doors (the REST API, signed as boto3 signs, and the ingest stream), with the
messages the sandboxes received per second reported beside locust's request rates.

Two commands (in two terminals, from the repository root):

    gateway dev
    locust -f benchmarks/locustfile.py --headless -u 20 -r 5 -t 60s [UserClass ...]

`gateway dev` writes what it started (API URL, access key and secret, application id, Redis URL, the sandboxes'
counts endpoint) to .gateway-dev/state.json, and this file reads it: no environment variables needed. Another
state directory: `--gateway-dev-dir DIR` (or GATEWAY_DEV_DIR). Without a state file, give everything as flags
(`--host`, `--api-key`, `--api-secret`, `--app-id`, `--redis-url`, optionally `--stats-url`) or the variables
BENCH_API_KEY, BENCH_API_SECRET, GATEWAY_APP and GATEWAY_REDIS_URL.

User classes (all run when none is named; name one to see that front door's own numbers):

* ApiSendUser: SendMessages, `--recipients` (default 100) email addresses per request. The API answers once the
  worker delivered (per-recipient results), so its latency includes delivery.
* ApiEndpointsUser: UpdateEndpointsBatch (10 new users with an email endpoint each), GetEndpoint of one of them,
  SendUsersMessages to 10 of them.
* StreamSendUser: XADD of `--recipients` email addresses to the ingest stream, as an upstream producer does (the
  stream answers nothing; the sink's count shows delivery).
* SmsUser: SendMessages to 10 numbers over SMPP (the sandbox SMSC sends a delivery receipt for each, counted as
  sms_receipts once Gateway acknowledged it).
* PushUser: SendMessages to 10 APNs device tokens and 10 FCM tokens (HTTP/2 over TLS to the sandboxes).

All classes share one stream and one worker: when StreamSendUsers enqueue faster than the worker delivers, the
API's sends wait behind that backlog (the stream is first in, first out).

At the end (after up to `--drain-timeout` seconds for the worker to deliver what was queued), the report gives for
each sandbox the messages it received during the test, how many the requests asked for, and the rate per second;
the run fails (exit code 1) when a sandbox received fewer than the requests that succeeded asked for.
Traffic goes only to the addresses in the state file or the flags: point them at this machine.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import gevent
import redis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from locust import HttpUser, User, between, constant_throughput, events, task
from locust.env import Environment

_counter = itertools.count()


class Target:
    """Where and how to send: from the state file `gateway dev` wrote, overridden by flags and variables."""

    api_key = os.environ.get("BENCH_API_KEY", "")
    api_secret = os.environ.get("BENCH_API_SECRET", "")
    region = os.environ.get("AWS_REGION", "us-east-1")
    app_id = os.environ.get("GATEWAY_APP", "")
    redis_url = os.environ.get("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/0")
    stream = os.environ.get("GATEWAY_STREAM", "gateway:send")
    stats_url = ""
    recipients = 100
    stream_rate = 10.0
    drain_timeout = 30.0


# Recipients per sandbox: `asked` counts a request's recipients before it is sent, `confirmed` once it succeeded.
# A request cut off when the test stops may still be delivered: a sandbox must get between the two.
asked: Counter[str] = Counter()
confirmed: Counter[str] = Counter()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser.add_argument_group("Gateway")
    g.add_argument("--gateway-dev-dir", default=os.environ.get("GATEWAY_DEV_DIR", ".gateway-dev"),
                   help="where `gateway dev` wrote state.json (default: .gateway-dev)")
    g.add_argument("--api-key", default="", help="SigV4 access key id (default: the state file's)")
    g.add_argument("--api-secret", default="", help="its secret (default: the state file's)")
    g.add_argument("--app-id", default="", help="application id (default: the state file's)")
    g.add_argument("--redis-url", default="", help="Redis of the ingest stream (default: the state file's)")
    g.add_argument("--stats-url", default="", help="the sandboxes' counts (default: the state file's)")
    g.add_argument("--recipients", type=int, default=int(os.environ.get("RECIPIENTS", "100")),
                   help="email recipients per SendMessages / XADD (default 100)")
    g.add_argument("--stream-rate", type=float, default=10.0,
                   help="StreamSendUser: XADDs per second per user (default 10; 0: unpaced)")
    g.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds to wait at the end for the sandboxes to receive what was queued")


@events.init.add_listener
def _configure(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    state_file = Path(getattr(opts, "gateway_dev_dir", ".gateway-dev")) / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        Target.api_key, Target.api_secret = state["access_key_id"], state["secret_access_key"]
        Target.region, Target.app_id = state["region"], state["app_id"]
        Target.redis_url, Target.stream, Target.stats_url = state["redis_url"], state["stream_key"], state["stats_url"]
        if not environment.host:
            environment.host = state["api_url"]
    if opts is None:
        return
    for name in ("api_key", "api_secret", "app_id", "redis_url", "stats_url"):
        if getattr(opts, name, ""):
            setattr(Target, name, getattr(opts, name))
    Target.recipients, Target.drain_timeout, Target.stream_rate = opts.recipients, opts.drain_timeout, opts.stream_rate
    if not state_file.exists() and not (Target.api_key and Target.app_id):
        print(f"locustfile: {state_file} not found: start the stack with `gateway dev` (or give --gateway-dev-dir, "
              "or --host, --api-key, --api-secret, --app-id, --redis-url)")


def email_request(n: int, count: int) -> dict[str, Any]:
    return {
        "Addresses": {f"load{n}-{i}@example.com": {"ChannelType": "EMAIL"} for i in range(count)},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "load@shop.test",
            "SimpleEmail": {"Subject": {"Data": "Hello {{name}}"}, "TextPart": {"Data": "Hi {{name}}"}},
            "Substitutions": {"name": ["friend"]},
        }},
    }


class _Signed(HttpUser):
    """A user calling the REST API with SigV4 signatures (botocore's signer, as boto3 signs)."""

    abstract = True
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.signer = SigV4Auth(Credentials(Target.api_key, Target.api_secret), "mobiletargeting", Target.region)
        self.app = Target.app_id or self.call("POST", "/v1/apps", {"Name": "locust"}, "CreateApp").json()["Id"]

    def call(self, method: str, path: str, body: dict[str, Any] | None, name: str) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        req = AWSRequest(method=method, url=f"{self.host}{path}", data=data,
                         headers={"Content-Type": "application/json"} if body is not None else {})
        self.signer.add_auth(req)
        return self.client.request(method, path, data=data or None, headers=dict(req.headers.items()), name=name)

    def send(self, request: dict[str, Any], name: str, sinks: Counter[str]) -> None:
        asked.update(sinks)
        path = f"/v1/apps/{self.app}/messages"
        if self.checked("POST", path, request, name, lambda body: body["Result"].values()):
            confirmed.update(sinks)

    def checked(self, method: str, path: str, body: dict[str, Any], name: str, results: Any) -> bool:
        """Call, and count the request failed unless every recipient's DeliveryStatus is SUCCESSFUL."""
        data = json.dumps(body).encode()
        req = AWSRequest(method=method, url=f"{self.host}{path}", data=data, headers={"Content-Type": "application/json"})
        self.signer.add_auth(req)
        with self.client.request(method, path, data=data, headers=dict(req.headers.items()), name=name,
                                 catch_response=True) as resp:
            if not resp.ok:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
                return False
            bad = [r for r in results(resp.json()) if r.get("DeliveryStatus") != "SUCCESSFUL"]
            if bad:
                resp.failure(f"{len(bad)} recipients not delivered, e.g. {bad[0]}")
                return False
            resp.success()
            return True


class ApiSendUser(_Signed):
    """SendMessages through the REST API: `--recipients` email addresses per request."""

    @task
    def send_messages(self) -> None:
        n = Target.recipients
        self.send(email_request(next(_counter), n), "SendMessages", Counter(email=n))


class ApiEndpointsUser(_Signed):
    """Endpoints and users: UpdateEndpointsBatch, GetEndpoint, SendUsersMessages."""

    def on_start(self) -> None:
        super().on_start()
        self.endpoints: list[str] = []
        self.users: list[str] = []
        self.update_endpoints()

    @task(1)
    def update_endpoints(self) -> None:
        n = next(_counter)
        items = [{"Id": f"ep-{n}-{i}", "Address": f"user{n}-{i}@example.com", "ChannelType": "EMAIL",
                  "User": {"UserId": f"u-{n}-{i}"}} for i in range(10)]
        resp = self.call("PUT", f"/v1/apps/{self.app}/endpoints", {"Item": items}, "UpdateEndpointsBatch")
        if resp.status_code == 202:
            self.endpoints += [i["Id"] for i in items]
            self.users += [i["User"]["UserId"] for i in items]

    @task(3)
    def get_endpoint(self) -> None:
        ep = random.choice(self.endpoints)
        self.call("GET", f"/v1/apps/{self.app}/endpoints/{ep}", None, "GetEndpoint")

    @task(1)
    def send_users_messages(self) -> None:
        users = random.sample(self.users, min(10, len(self.users)))
        asked.update(email=len(users))
        request = {"Users": {u: {} for u in users}, "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {
            "Subject": {"Data": "Hello"}, "TextPart": {"Data": "Hi from the load test"}}}}}
        if self.checked("POST", f"/v1/apps/{self.app}/users-messages", request, "SendUsersMessages",
                        lambda body: [r for per_user in body["Result"].values() for r in per_user.values()]):
            confirmed.update(email=len(users))


class SmsUser(_Signed):
    """SendMessages to 10 numbers: SMS over SMPP to the sandbox SMSC, which sends a delivery receipt for each."""

    @task
    def send_sms(self) -> None:
        n = next(_counter)
        numbers = {f"+14255550{100 + (n * 10 + i) % 100}": {"ChannelType": "SMS"} for i in range(10)}
        self.send({"Addresses": numbers, "MessageConfiguration": {
            "SMSMessage": {"Body": f"Your code is {n % 1000000:06d}", "MessageType": "TRANSACTIONAL"}}},
            "SendMessages SMS", Counter(sms=10, sms_receipts=10))


class PushUser(_Signed):
    """SendMessages to 10 APNs device tokens and 10 FCM tokens: HTTP/2 over TLS to the sandboxes."""

    @task
    def send_push(self) -> None:
        n = next(_counter)
        addresses = {f"{n:016x}{i:048x}": {"ChannelType": "APNS"} for i in range(10)}
        addresses.update({f"fcm-{n}-{i}": {"ChannelType": "GCM"} for i in range(10)})
        self.send({"Addresses": addresses, "MessageConfiguration": {
            "DefaultPushNotificationMessage": {"Title": "Order shipped", "Body": f"Order #{n} is on its way"}}},
            "SendMessages push", Counter(apns=10, fcm=10))


class StreamSendUser(User):
    """XADD to the ingest stream, as an upstream producer does: `--recipients` email addresses per entry, at most
    `--stream-rate` entries per second per user (0: as fast as Redis takes them, which outruns any worker)."""

    def wait_time(self) -> float:
        return float(self._pace(self)) if Target.stream_rate > 0 else 0.0

    def on_start(self) -> None:
        self._pace = constant_throughput(Target.stream_rate or 1)
        self.redis = redis.Redis.from_url(Target.redis_url)
        self.app = Target.app_id or "locust"

    @task
    def xadd(self) -> None:
        n = Target.recipients
        body = json.dumps(email_request(next(_counter), n))
        start = time.perf_counter()
        exc: Exception | None = None
        asked.update(email=n)
        try:
            self.redis.xadd(Target.stream, {"app": self.app, "request": body})
        except Exception as e:  # reported to locust as a failure, not swallowed
            exc = e
        else:
            confirmed.update(email=n)
        self.environment.events.request.fire(
            request_type="XADD", name=Target.stream, response_time=(time.perf_counter() - start) * 1000,
            response_length=len(body), exception=exc, context={},
        )


# ------------------------------------------------------------------ delivered per second, from the sinks' counts


def sink_counts() -> dict[str, int]:
    with urllib.request.urlopen(Target.stats_url, timeout=10) as resp:
        counts: dict[str, int] = json.loads(resp.read())
    return counts


class _Report:
    """The sandboxes' counts when the test started, and the ticker printing rates while it runs."""

    start: ClassVar[dict[str, int]] = {}
    started = 0.0
    ticker: Any = None


def _tick(environment: Environment) -> None:
    last, at = _Report.start, _Report.started
    while True:
        gevent.sleep(10)
        now, counts = time.time(), sink_counts()
        rates = ", ".join(f"{k} {(counts[k] - last.get(k, 0)) / (now - at):,.0f}/s" for k in counts if counts[k] > last.get(k, 0))
        print(f"sandboxes received: {rates or 'nothing'} (API {environment.stats.total.current_rps:,.0f} req/s)",
              flush=True)
        last, at = counts, now


@events.test_start.add_listener
def _on_start(environment: Environment, **_: Any) -> None:
    if not Target.stats_url:
        return
    _Report.start, _Report.started = sink_counts(), time.time()
    _Report.ticker = gevent.spawn(_tick, environment)


@events.test_stop.add_listener
def _on_stop(environment: Environment, **_: Any) -> None:
    if not Target.stats_url or not _Report.started:
        return
    if _Report.ticker is not None:
        _Report.ticker.kill()
    stopped = time.time()
    deadline = stopped + Target.drain_timeout
    counts = sink_counts()
    while any(counts[k] - _Report.start.get(k, 0) < confirmed[k] for k in confirmed) and time.time() < deadline:
        gevent.sleep(0.2)  # the worker is still delivering what the stream holds
        counts = sink_counts()
    elapsed = max(time.time() - _Report.started, 1e-9)
    short = False
    lines = [f"{'sandbox':<14}{'received':>10}{'asked (ok..sent)':>22}{'per second':>12}"]
    for k in sorted(set(counts) | set(asked)):
        got = counts.get(k, 0) - _Report.start.get(k, 0)
        if not got and not asked[k]:
            continue  # a sandbox this test did not use
        want = f"{confirmed[k]}..{asked[k]}" if k in asked else "-"
        lines.append(f"{k:<14}{got:>10,}{want:>22}{got / elapsed:>12,.0f}")
        short |= got < confirmed[k]
    total = environment.stats.total
    lines.append(f"over {elapsed:.1f}s (test {stopped - _Report.started:.1f}s + drain); locust: "
                 f"{total.num_requests:,} requests, {total.num_failures:,} failures, {total.total_rps:,.1f} req/s")
    for entry in sorted(environment.stats.entries.values(), key=lambda e: e.name):
        lines.append(f"  {entry.method or '':<6} {entry.name:<28} {entry.total_rps:>8,.1f} req/s  "
                     f"median {entry.median_response_time:,.0f} ms")
    print("\nDelivered to the sandboxes during the test\n" + "\n".join(lines), flush=True)
    if short:
        print("locustfile: a sandbox received fewer messages than the successful requests asked for", flush=True)
        environment.process_exit_code = 1
    result = os.environ.get("GATEWAY_LOCUST_RESULT")
    if result:  # for tests: the numbers as JSON
        Path(result).write_text(json.dumps({
            "received": {k: counts.get(k, 0) - _Report.start.get(k, 0) for k in counts},
            "asked": dict(asked), "confirmed": dict(confirmed),
            "requests": total.num_requests, "failures": total.num_failures,
            "by_name": {e.name: e.num_requests for e in environment.stats.entries.values()},
        }))
