"""Redacted JSON logs from the engine's own log calls: a channel that breaks with the recipient's address in its
error makes the dispatcher log it with a traceback; the JSON line parses and carries no address."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from gateway import logs
from gateway.config import from_dict
from tests.integration.test_email_engine import email_request

pytestmark = pytest.mark.asyncio


async def test_dispatcher_traceback_with_an_address_is_logged_redacted(engine) -> None:
    run = await engine()
    channel: Any = run.worker.routes["EMAIL"].channel

    async def broken(msg: Any) -> Any:
        raise RuntimeError(f"no route to {msg.recipient.address} for +14155550123")

    channel.send = broken
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logs.install([handler], from_dict({"logging": {"format": "json"}}), {})
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        await run.producer.send_messages("app1", email_request("ada@example.com"))
        (outcome,) = await run.outcomes(1)  # the dispatcher logged before it wrote this outcome
    finally:
        root.removeHandler(handler)
    assert outcome["attributes"]["delivery_status"] == "UNKNOWN_FAILURE"
    records = [json.loads(line) for line in buf.getvalue().splitlines()]
    (broke,) = [r for r in records if r["logger"] == "gateway.dispatch"]
    assert broke["msg"].startswith("channel ") and broke["level"] == "ERROR"
    assert "RuntimeError: no route to <email> for <phone>" in broke["exc"]
    assert "ada@example.com" not in buf.getvalue() and "4155550123" not in buf.getvalue()
