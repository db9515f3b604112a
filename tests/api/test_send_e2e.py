"""SendMessages end to end: boto3 → API → ingest stream → worker → sandbox SMTP server, and the MessageResponse
the worker pushes back comes out of boto3."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from gateway.api.server import create_app, services_from_config
from gateway.api.sigv4 import SigV4Verifier
from gateway.config import from_dict
from gateway.sandbox.smtp import SmtpSink
from gateway.worker import Worker
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer, error_of


class EngineApiServer(ApiServer):
    """The API with its real services (StreamMessageService) plus a worker and an SMTP sink, in one loop."""

    async def _start(self) -> None:
        self.sink = await SmtpSink(record=True).start()
        self.redis = aioredis.Redis.from_url(self.redis_url)
        cfg = from_dict({
            "redis_url": self.redis_url,
            "stream": {"block_ms": 20, "claim_interval_ms": 50, "trim_interval_ms": 60_000},
            "channels": [{"kind": "smtp", "port": self.sink.port, "connections": 2, "default_from": "sender@gateway.test"}],
            "api": {"send_timeout_s": 10},
            "shutdown_grace_s": 5,
        })
        self.worker = Worker(cfg, redis=self.redis, consumer="api-e2e")
        self.worker_task = asyncio.get_running_loop().create_task(self.worker.run())
        self.services = services_from_config(cfg, self.redis)
        self.runner = web.AppRunner(create_app(self.services, self.verifier))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    def stop(self) -> None:
        async def _stop() -> None:
            self.worker.stop()
            await self.worker_task
            await self.sink.aclose()

        self.call(_stop())
        super().stop()


@pytest.fixture
def engine_api(redis_server: Any, sync_redis: Any) -> Iterator[EngineApiServer]:
    server = EngineApiServer(redis_server.url, SigV4Verifier({ACCESS_KEY: SECRET}), with_fakes=False)
    server.start()
    yield server
    server.stop()


def test_send_messages_email_reaches_the_sandbox(engine_api: EngineApiServer) -> None:
    pp = engine_api.client()
    app_id = pp.create_app(CreateApplicationRequest={"Name": "e2e"})["ApplicationResponse"]["Id"]
    resp = pp.send_messages(ApplicationId=app_id, MessageRequest={
        "Addresses": {"ada@example.com": {"ChannelType": "EMAIL", "Substitutions": {"name": ["Ada"]}},
                      "bounce@example.com": {"ChannelType": "EMAIL"}},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "Shop <news@shop.test>",
            "SimpleEmail": {"Subject": {"Data": "Hello {{name}}"}, "TextPart": {"Data": "Hi {{name}}"}},
            "Substitutions": {"name": ["friend"]}}},
    })["MessageResponse"]
    assert resp["ApplicationId"] == app_id and resp["RequestId"]
    ok, bounced = resp["Result"]["ada@example.com"], resp["Result"]["bounce@example.com"]
    assert (ok["DeliveryStatus"], ok["StatusCode"]) == ("SUCCESSFUL", 200) and ok["MessageId"]
    assert bounced["DeliveryStatus"] == "PERMANENT_FAILURE"
    (sender, rcpt, data), = engine_api.sink.messages
    assert (sender, rcpt) == ("news@shop.test", "ada@example.com")
    assert b"Subject: Hello Ada" in data


def test_send_users_messages_through_the_engine(engine_api: EngineApiServer) -> None:
    pp = engine_api.client()
    app_id = pp.create_app(CreateApplicationRequest={"Name": "e2e"})["ApplicationResponse"]["Id"]
    from gateway.endpoints.store import EndpointStore
    from gateway.models import EndpointResponse, EndpointUser

    engine_api.call(EndpointStore(engine_api.redis).put(app_id, EndpointResponse(
        Id="ep-1", Address="grace@example.com", ChannelType="EMAIL", User=EndpointUser(UserId="u1"))))
    resp = pp.send_users_messages(ApplicationId=app_id, SendUsersMessageRequest={
        "Users": {"u1": {}},
        "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"}, "TextPart": {"Data": "t"}}}},
    })["SendUsersMessageResponse"]
    assert resp["ApplicationId"] == app_id
    assert resp["Result"]["u1"]["ep-1"]["DeliveryStatus"] == "SUCCESSFUL"
    assert [m[1] for m in engine_api.sink.messages] == ["grace@example.com"]


def test_no_worker_answer_is_a_500_naming_the_queued_request(redis_server: Any, sync_redis: Any) -> None:
    server = ApiServer(redis_server.url, None, with_fakes=False)
    server.start()
    try:
        from botocore import UNSIGNED

        server.services.messages.timeout_s = 0.2  # type: ignore[union-attr]
        pp = server.client(signature_version=UNSIGNED)
        app_id = pp.create_app(CreateApplicationRequest={"Name": "x"})["ApplicationResponse"]["Id"]
        code, status, message = error_of(lambda: pp.send_messages(ApplicationId=app_id, MessageRequest={
            "Addresses": {"a@example.com": {"ChannelType": "EMAIL"}},
            "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "s"}}}}}))
        assert (code, status) == ("InternalServerErrorException", 500) and "queued" in message
        assert sync_redis.xlen("gateway:send") == 1
    finally:
        server.stop()
