"""Load test of both front doors: signed SendMessages calls to the REST API and XADDs to the ingest stream.

Start Redis, a worker (`gateway serve`), the sandbox SMTP sink and the API (`python -m gateway.api`), then:

    GATEWAY_REDIS_URL=redis://127.0.0.1:6379/0 GATEWAY_APP=<application id> \\
    BENCH_API_KEY=AKIDBENCH BENCH_API_SECRET=bench-secret \\
    locust -f benchmarks/locustfile.py --headless -u 32 -r 8 -t 60s --host http://127.0.0.1:8080 \\
        ApiSendUser StreamSendUser

Each task sends one request of RECIPIENTS (default 100) email addresses at the sandbox domain. ApiSendUser
reports the API's latency (which includes the worker's delivery: SendMessages answers per-recipient results);
StreamSendUser reports the XADD latency (the stream path answers nothing; the sink's count shows delivery).
Both classes share one stream and one worker: when StreamSendUsers enqueue faster than the worker delivers,
SendMessages waits behind that backlog (the stream is first in, first out), so run one class alone
(name it on the command line) to see each front door's own numbers. Without GATEWAY_APP, each API user
creates an application first. Traffic goes to the --host given and to the
Redis URL only: point both at this machine.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import redis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from locust import HttpUser, User, between, task

RECIPIENTS = int(os.environ.get("RECIPIENTS", "100"))
REDIS_URL = os.environ.get("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = os.environ.get("GATEWAY_STREAM", "gateway:send")
_counter = itertools.count()


def message_request() -> dict[str, Any]:
    n = next(_counter)
    return {
        "Addresses": {f"load{n}-{i}@example.com": {"ChannelType": "EMAIL"} for i in range(RECIPIENTS)},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "load@shop.test",
            "SimpleEmail": {"Subject": {"Data": "Hello {{name}}"}, "TextPart": {"Data": "Hi {{name}}"}},
            "Substitutions": {"name": ["friend"]},
        }},
    }


class ApiSendUser(HttpUser):
    """SendMessages through the REST API, signed with SigV4 as boto3 signs it."""

    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        key = os.environ.get("BENCH_API_KEY", "AKIDBENCH")
        secret = os.environ.get("BENCH_API_SECRET", "bench-secret")
        self.signer = SigV4Auth(Credentials(key, secret), "mobiletargeting", os.environ.get("AWS_REGION", "us-east-1"))
        self.app = os.environ.get("GATEWAY_APP") or self._post("/v1/apps", {"Name": "locust"}, "CreateApp").json()["Id"]

    def _post(self, path: str, body: dict[str, Any], name: str) -> Any:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        req = AWSRequest(method="POST", url=f"{self.host}{path}", data=data, headers=headers)
        self.signer.add_auth(req)
        return self.client.post(path, data=data, headers=dict(req.headers.items()), name=name)

    @task
    def send_messages(self) -> None:
        self._post(f"/v1/apps/{self.app}/messages", message_request(), "SendMessages")


class StreamSendUser(User):
    """XADD to the ingest stream, as an upstream producer does."""

    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.app = os.environ.get("GATEWAY_APP", "locust")

    @task
    def xadd(self) -> None:
        body = json.dumps(message_request())
        start = time.perf_counter()
        exc: Exception | None = None
        try:
            self.redis.xadd(STREAM, {"app": self.app, "request": body})
        except Exception as e:  # reported to locust as a failure, not swallowed
            exc = e
        self.environment.events.request.fire(
            request_type="XADD", name=STREAM, response_time=(time.perf_counter() - start) * 1000,
            response_length=len(body), exception=exc, context={},
        )
