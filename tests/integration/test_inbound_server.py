"""The inbound webhook as `gateway serve` starts it from the config: an incoming STOP opts the number out,
enqueues the confirmation and records the event."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest

from gateway.config import from_dict
from gateway.sms.optouts import OptOutStore
from gateway.sms.server import start_inbound
from gateway.sms.webhook_auth import basic_header

pytestmark = pytest.mark.asyncio


async def test_stop_through_the_configured_webhook(redis, redis_server, monkeypatch):
    monkeypatch.setenv("INBOUND_PW", "s3cret")
    cfg = from_dict({"redis_url": redis_server.url,
                     "inbound": {"listen": "127.0.0.1:0", "auth": "basic", "username": "carrier",
                                 "password_env": "INBOUND_PW", "stop_text": "Bye."}})
    runner, port = await start_inbound(cfg, redis)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/sms/inbound/app1"
            form = {"From": "+14155550123", "To": "+14155550199", "Body": "stop ", "MessageSid": "SM1"}
            async with http.post(url, data=form) as r:
                assert r.status == 401
            headers = {"Authorization": basic_header("carrier", "s3cret")}
            async with http.post(url, data=form, headers=headers) as r:
                assert r.status < 300, await r.text()
    finally:
        await runner.cleanup()
    assert await OptOutStore(redis).is_opted_out("app1", "+14155550123")
    (_, fields), = await redis.xrange("gateway:send:transactional")  # the reply goes in the transactional lane
    reply = msgspec.json.decode(fields[b"request"])
    assert list(reply["Addresses"]) == ["+14155550123"]
    assert reply["MessageConfiguration"]["SMSMessage"]["Body"] == "Bye."
    events = [f[b"event_type"] for _, f in await redis.xrange("gateway:events")]
    assert b"_SMS.INBOUND" in events
