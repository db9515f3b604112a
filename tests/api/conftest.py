"""A Gateway API server on a free port, in its own thread and event loop, driven only through boto3."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self

import boto3
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from botocore.config import Config

from gateway.api.server import create_app, services_from_config
from gateway.api.services import Services
from gateway.api.sigv4 import SigV4Verifier
from gateway.config import from_dict
from gateway.embedded_redis import EmbeddedRedis
from gateway.sandbox.smtp import SmtpSink
from gateway.worker import Worker
from tests.api import fakes

ACCESS_KEY = "AKIDGATEWAYTEST"
SECRET = "test-secret-key"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
#: the [credentials] key (base64 of 32 bytes) the test servers encrypt push channel credentials with
CREDENTIALS_KEY = base64.b64encode(b"gateway-test-credentials-key-32b").decode()


class ApiServer:
    """Runs `create_app(services, verifier)` on 127.0.0.1:<free port> in a background event loop. `environ` is
    what `services_from_config` reads keys from (default: the test credentials key, so push channels work)."""

    def __init__(self, redis_url: str, verifier: SigV4Verifier | None, with_fakes: bool = True,
                 environ: dict[str, str] | None = None, config: dict[str, Any] | None = None) -> None:
        self.redis_url = redis_url
        self.config_overrides = config or {}
        self.verifier = verifier
        self.with_fakes = with_fakes
        self.environ = {"GW_CREDENTIALS_KEY": CREDENTIALS_KEY} if environ is None else environ
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.services: Services
        self.runner: web.AppRunner
        self.url = ""

    async def _start(self) -> None:
        config = from_dict({"api": {"region": REGION, "account_id": ACCOUNT}, **self.config_overrides})
        self.redis = aioredis.Redis.from_url(self.redis_url)
        self.services = services_from_config(config, self.redis, environ=self.environ)
        if self.with_fakes:
            s = self.services
            s.endpoints = fakes.FakeEndpoints()
            s.templates = fakes.FakeTemplates()
            s.segments = fakes.FakeSegments()
            s.jobs = fakes.FakeJobs()
            s.messages = fakes.FakeMessages()
            s.otp = fakes.FakeOtp()
            s.phone = fakes.FakePhone()
        await self._serve()

    async def _serve(self) -> None:
        """Serve `create_app(self.services, self.verifier)` on 127.0.0.1:<free port>."""
        self.runner = web.AppRunner(create_app(self.services, self.verifier))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    def call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(10)

    def start(self) -> Self:
        self.thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        async def _stop() -> None:
            await self.runner.cleanup()
            await self.redis.aclose()

        self.call(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def client(self, *, key: str = ACCESS_KEY, secret: str = SECRET, validate: bool = True, **cfg: Any) -> Any:
        return boto3.client(
            "pinpoint",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate, **cfg),
        )


class EngineServer(ApiServer):
    """The API from `services_from_config` plus a worker, in one event loop, signing with the test key.
    A subclass starts its sandboxes in `_sandboxes()`, which returns the config sections naming them (channels,
    api, otp...), and closes them in `_close_sandboxes()`. `services_environ` is what `services_from_config`
    reads keys from (None: os.environ)."""

    consumer = "api-e2e"

    def __init__(self, redis_url: str, services_environ: dict[str, str] | None = None) -> None:
        super().__init__(redis_url, SigV4Verifier({ACCESS_KEY: SECRET}), with_fakes=False)
        self.services_environ = services_environ

    async def _sandboxes(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _close_sandboxes(self) -> None:
        raise NotImplementedError

    async def _start(self) -> None:
        sections = await self._sandboxes()
        self.redis = aioredis.Redis.from_url(self.redis_url)
        self.config = from_dict({
            "redis_url": self.redis_url,
            "stream": {"block_ms": 20, "claim_interval_ms": 50, "trim_interval_ms": 60_000},
            "shutdown_grace_s": 5,
            **sections,
        })
        self.worker = Worker(self.config, redis=self.redis, consumer=self.consumer)
        self.worker_task = asyncio.get_running_loop().create_task(self.worker.run())
        self.services = services_from_config(self.config, self.redis, environ=self.services_environ)
        await self._serve()

    def stop(self) -> None:
        async def _stop() -> None:
            self.worker.stop()
            await self.worker_task
            await self._close_sandboxes()

        self.call(_stop())
        super().stop()


class SmtpEngineServer(EngineServer):
    """An EngineServer whose worker has one SMTP channel to a recording sandbox sink (`self.sink`)."""

    async def _sandboxes(self) -> dict[str, Any]:
        self.sink = await SmtpSink(record=True).start()
        return {
            "channels": [{"kind": "smtp", "port": self.sink.port, "connections": 2, "default_from": "sender@gateway.test"}],
            "api": {"region": REGION, "account_id": ACCOUNT, "send_timeout_s": 10},
        }

    async def _close_sandboxes(self) -> None:
        await self.sink.aclose()


@pytest.fixture
def smtp_engine(redis_server: EmbeddedRedis, sync_redis: redis.Redis) -> Iterator[SmtpEngineServer]:
    """An SmtpEngineServer over a flushed Redis, for one test."""
    server = SmtpEngineServer(redis_server.url).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_server(redis_server: EmbeddedRedis) -> Iterator[ApiServer]:
    server = ApiServer(redis_server.url, SigV4Verifier({ACCESS_KEY: SECRET})).start()
    yield server
    server.stop()


@pytest.fixture
def sync_redis(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def pp(api_server: ApiServer, sync_redis: redis.Redis) -> Any:
    """boto3's pinpoint client, signing with the test key, against a flushed Redis."""
    return api_server.client()


@pytest.fixture
def raw_pp(api_server: ApiServer, sync_redis: redis.Redis) -> Any:
    """The same client with boto3's own parameter validation off, to reach the server's validation."""
    return api_server.client(validate=False)


@pytest.fixture
def app_id(pp: Any) -> str:
    return str(pp.create_app(CreateApplicationRequest={"Name": "test"})["ApplicationResponse"]["Id"])


def error_of(call: Callable[[], Any]) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of the ClientError a boto3 call raises."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        err = exc.response["Error"]
        return err["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Message", "")
    raise AssertionError("the call succeeded")


def send_signed_raw(server: ApiServer, method: str, signed_path: str, sent_path: str | None = None,
                    body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """Sign `method signed_path` and `body` with botocore's SigV4Auth (which signs the path with dot segments
    resolved), then send `sent_path` (default: the signed one) byte for byte with http.client, which normalises
    nothing, to the server on 127.0.0.1. Returns (status, lower-cased headers, decoded JSON body or None)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=server.url + signed_path, data=body,
                     headers={"Content-Type": "application/json"} if body else {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "mobiletargeting", REGION).add_auth(req)
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=10)
    try:
        conn.request(method, sent_path or signed_path, body=body or None, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw) if raw else None
    finally:
        conn.close()


@pytest.fixture(scope="session")
def live_jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one directory `live_api`'s import and export jobs may use (`jobs.import_dirs` and `export_dirs`)."""
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="session")
def live_api(redis_server: EmbeddedRedis, live_jobs_dir: Path) -> Iterator[ApiServer]:
    """The API with the real services `services_from_config` wires (endpoint, segment and job stores, phone
    validation; no OTP section, no worker), signing with the test key; jobs confined to `live_jobs_dir`."""
    jobs = {"import_dirs": [str(live_jobs_dir)], "export_dirs": [str(live_jobs_dir)]}
    server = ApiServer(redis_server.url, SigV4Verifier({ACCESS_KEY: SECRET}), with_fakes=False,
                       config={"jobs": jobs}).start()
    yield server
    from gateway.segments.jobs import Jobs

    assert isinstance(server.services.jobs, Jobs)
    server.call(server.services.jobs.drain())
    server.stop()


@pytest.fixture
def live_pp(live_api: ApiServer, sync_redis: redis.Redis) -> Any:
    """boto3's pinpoint client against `live_api`, over a flushed Redis."""
    return live_api.client()


@pytest.fixture
def live_app(live_pp: Any) -> str:
    return str(live_pp.create_app(CreateApplicationRequest={"Name": "live"})["ApplicationResponse"]["Id"])
