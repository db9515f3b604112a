"""Push through the delivery engine: Redis stream in, sandbox APNs/FCM out, Pinpoint results and events back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.channels import apns
from gateway.config import GatewayConfig, from_dict
from gateway.endpoints.store import EndpointStore
from gateway.models import EndpointResponse
from gateway.sandbox.apns import ApnsSandbox
from gateway.sandbox.fcm import FcmSandbox
from gateway.worker import Worker
from tests.integration.conftest import Running
from tests.push_support import BUNDLE, EMAIL, KID, TEAM, ec_keys, rsa_keys, service_json


def push_config(redis_url: str, tmp_path: Path, apns_url: str, fcm_url: str, *, apns: dict[str, Any] | None = None,
                retry: dict[str, Any] | None = None) -> GatewayConfig:
    """A worker config with one APNs (token auth) and one FCM channel; `apns` and `retry` override settings."""
    key = tmp_path / "key.p8"
    key.write_text(ec_keys()[0])
    sa = tmp_path / "sa.json"
    sa.write_text(service_json())
    return from_dict({
        "redis_url": redis_url,
        "stream": {"block_ms": 20, "claim_interval_ms": 50, "trim_interval_ms": 60_000},
        "retry": {"base_s": 0.02, "cap_s": 0.1, "poll_ms": 10, "max_attempts": 2, **(retry or {})},
        "credentials": {"key_env": "GW_TEST_NO_SUCH_KEY"},
        "channels": [
            {"kind": "apns", "production_url": apns_url, "sandbox_url": apns_url, "team_id": TEAM, "key_id": KID,
             "token_key_file": str(key), "bundle_id": BUNDLE, **(apns or {})},
            {"kind": "fcm", "send_url": fcm_url, "token_url": fcm_url + "/token", "service_account_file": str(sa)},
        ],
        "shutdown_grace_s": 5,
    })


@contextlib.asynccontextmanager
async def running(cfg: GatewayConfig, redis: Any, worker_redis: Any = None) -> AsyncIterator[Running]:
    """A worker on `cfg` (its Redis client `worker_redis`, else the test's), stopped and its channels closed after."""
    worker = Worker(cfg, redis=worker_redis or redis, consumer="push-test")
    run = Running(worker, redis)
    run.task = asyncio.create_task(worker.run())
    try:
        yield run
    finally:
        await run.stop()
        for ch in worker.channels:
            await ch.aclose()


@pytest.fixture
async def push_engine(redis: Any, redis_server: Any, tmp_path: Path) -> AsyncIterator[tuple[Running, ApnsSandbox,
                                                                                             FcmSandbox]]:
    asb = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start()
    fsb = await FcmSandbox({EMAIL: rsa_keys()[1]}).start()
    try:
        async with running(push_config(redis_server.url, tmp_path, asb.url, fsb.url), redis) as run:
            yield run, asb, fsb
    finally:
        await asb.aclose()
        await fsb.aclose()


async def test_apns_and_fcm_through_the_stream(push_engine: tuple[Running, ApnsSandbox, FcmSandbox]) -> None:
    run, asb, fsb = push_engine
    req = {
        "Addresses": {"aa01": {"ChannelType": "APNS"}, "fcm01": {"ChannelType": "GCM"},
                      "gone01": {"ChannelType": "APNS"}},
        "MessageConfiguration": {
            "DefaultPushNotificationMessage": {"Title": "Hi {{name}}", "Body": "Order shipped",
                                               "Substitutions": {"name": ["Ann"]}},
            "APNSMessage": {"Sound": "default", "TimeToLive": 0},
        },
        "Context": {"campaign": "c1"},
    }
    resp = await run.producer.send_messages_and_wait("app1", req, timeout=10)
    ok, droid, gone = resp.Result["aa01"], resp.Result["fcm01"], resp.Result["gone01"]
    assert (ok.DeliveryStatus, ok.StatusCode) == ("SUCCESSFUL", 200)
    assert (droid.DeliveryStatus, droid.StatusCode) == ("SUCCESSFUL", 200)
    assert (gone.DeliveryStatus, gone.StatusCode) == ("PERMANENT_FAILURE", 410)
    (d,) = asb.deliveries
    assert d.apns_id == apns.apns_id(ok.MessageId or "")
    assert d.headers["apns-expiration"] == "0"
    assert b'"title":"Hi Ann"' in d.payload and b'"campaign":"c1"' in d.payload
    (m,) = fsb.messages
    assert m["notification"]["title"] == "Hi Ann" and m["data"]["pinpoint.campaign"] == "c1"
    outcomes = await run.outcomes(3)
    assert sorted(e["event_type"] for e in outcomes) == ["_push.success", "_push.success", "_push.unregistered"]
    assert len([e for e in run.events if e["event_type"] == "_push.send"]) == 3


async def test_unregistered_endpoint(push_engine: tuple[Running, ApnsSandbox, FcmSandbox], redis: Any) -> None:
    run, asb, _ = push_engine
    store = EndpointStore(redis)
    await store.put("app1", EndpointResponse(Id="ep-gone", Address="gone77", ChannelType="APNS"))
    resp = await run.producer.send_messages_and_wait("app1", {
        "Endpoints": {"ep-gone": {}},
        "MessageConfiguration": {"APNSMessage": {"Body": "b"}},
    }, timeout=10)
    r = resp.EndpointResult["ep-gone"]
    assert (r.DeliveryStatus, r.StatusCode) == ("PERMANENT_FAILURE", 410)
    assert asb.answers["Unregistered"] == 1
    ep = await store.get("app1", "ep-gone")
    assert ep is not None and ep.EndpointStatus == "INACTIVE"  # not sent to again
    why = await store.deactivation("app1", "ep-gone")
    assert why is not None and why.reason == "Unregistered" and why.at  # when, and APNs' reason
    assert why.since_ms is not None and why.since_ms > 0  # APNs' timestamp: when the token stopped being valid
    again = await run.producer.send_messages_and_wait("app1", {
        "Endpoints": {"ep-gone": {}}, "MessageConfiguration": {"APNSMessage": {"Body": "b"}}}, timeout=10)
    assert again.EndpointResult["ep-gone"].DeliveryStatus == "PERMANENT_FAILURE"
    assert asb.answers["Unregistered"] == 1  # the second request never reached APNs


async def test_a_push_that_finds_no_free_stream_is_retried(redis: Any, redis_server: Any, tmp_path: Path) -> None:
    """PoolTimeout (every stream busy past acquire_timeout_s) sent nothing: TEMPORARY_FAILURE and retried, never
    UNKNOWN_FAILURE."""
    asb = await ApnsSandbox({KID: (TEAM, ec_keys()[1])}).start()
    server = asb.server
    server.delay_s = 0.5  # the first push holds the connection's only stream for half a second
    answer = server.handler

    def only_the_first_is_slow(req: Any) -> Any:
        if server.requests > 1:
            server.delay_s = 0.0
        return answer(req)

    server.handler = only_the_first_is_slow
    cfg = push_config(redis_server.url, tmp_path, asb.url, "http://127.0.0.1:9",
                      apns={"connections": 1, "acquire_timeout_s": 0.05}, retry={"max_attempts": 50})
    try:
        async with running(cfg, redis) as run:
            resp = await run.producer.send_messages_and_wait("app1", {
                "Addresses": {"aa01": {"ChannelType": "APNS"}, "aa02": {"ChannelType": "APNS"}},
                "MessageConfiguration": {"APNSMessage": {"Body": "b"}}}, timeout=10)
            first = sorted((r.DeliveryStatus, r.StatusCode) for r in (resp.Result or {}).values())
            assert first == [("SUCCESSFUL", 200), ("TEMPORARY_FAILURE", 503)]
            done = await run.outcomes(2, where=lambda e: e["event_type"] == "_push.success")
            assert sorted(e["attributes"]["address"] for e in done) == ["aa01", "aa02"]
    finally:
        await asb.aclose()
    assert asb.accepted == 2
