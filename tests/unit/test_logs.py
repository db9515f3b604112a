"""JSON logs and redaction (gateway/logs.py): what is replaced, what is kept, and that every logger's records pass
through the root handlers' filter."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway import logs
from gateway.config import from_dict

FCM_TOKEN = "dGhpcyBpcyBub3Q6" + ":" + "APA91b" + "x" * 140
APNS_TOKEN = "a1" * 32


@pytest.mark.parametrize(("text", "expected"), [
    ("sending to ada@example.com failed", "sending to <email> failed"),
    ("rcpt <First.Last+tag@mail.example.co.uk>", "rcpt <<email>>"),
    ("to=ada@example.com,", "to=<email>,"),
    ("SMS to +14155550123 failed", "SMS to <phone> failed"),
    ("number +44 20 7946 0958 refused", "number <phone> refused"),
    ("number +1 (415) 555-0123 refused", "number <phone> refused"),
    (f"token {APNS_TOKEN} is dead", "token <token> is dead"),
    (f"token {FCM_TOKEN} unregistered", "token <token> unregistered"),
])
def test_redact_replaces_addresses_numbers_and_tokens(text: str, expected: str) -> None:
    assert logs.redact(text) == expected


@pytest.mark.parametrize("text", [
    "entry 1733612345678-0 of gateway:send dead-lettered after 3 attempts",
    "message 0a1b2c3d4e5f-00000000002a: 550 5.1.1 no such user",
    "app 3f2a9c1b7e: 12 receipts waiting; port 2525",
    "sha 0123456789abcdef0123456789abcdef01234567",  # 40 hex digits: not a device token
])
def test_redact_keeps_what_an_operator_follows_messages_by(text: str) -> None:
    assert logs.redact(text) == text


def test_configured_secrets_are_redacted_longest_first() -> None:
    cfg = from_dict({"api": {"access_keys": [{"access_key_id": "AKIDLOCAL", "secret_env": "GW_TEST_SECRET"}]},
                     "otp": {"key_env": "GW_TEST_OTP"}})
    environ = {"GW_TEST_SECRET": "s3cr3t-value", "GW_TEST_OTP": "s3cr3t-value-longer", "UNRELATED": "xyz123"}
    secrets = logs.configured_secrets(cfg, environ)
    assert secrets == ["s3cr3t-value-longer", "s3cr3t-value"]
    assert logs.redact("auth with s3cr3t-value-longer and s3cr3t-value and xyz123", secrets) == \
        "auth with <secret> and <secret> and xyz123"


def _capture(fmt: str, redact: bool = True, environ: dict[str, str] | None = None) -> tuple[io.StringIO, logging.Handler]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(logs.TEXT_FORMAT))
    logs.install([handler], from_dict({"logging": {"format": fmt, "redact": redact}}), environ or {})
    return buf, handler


def test_json_lines_from_engine_loggers_parse_and_carry_no_address() -> None:
    buf, handler = _capture("json")
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        # the engine's own loggers, as its modules log: arguments and a traceback carrying addresses
        logging.getLogger("gateway.channels.smpp").error(
            "%s: an incoming SMS to %s matches no application", "sms", "+14155550123")
        try:
            raise RuntimeError("cannot deliver to ada@example.com")
        except RuntimeError:
            logging.getLogger("gateway.dispatch").exception("channel %r raised an unexpected error", "email")
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    lines = buf.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["logger"]) for r in records] == [("ERROR", "gateway.channels.smpp"),
                                                            ("ERROR", "gateway.dispatch")]
    assert records[0]["msg"] == "sms: an incoming SMS to <phone> matches no application"
    assert "RuntimeError: cannot deliver to <email>" in records[1]["exc"]
    assert records[1]["ts"].endswith("Z")
    assert "@" not in buf.getvalue() and "+1415" not in buf.getvalue()


def test_text_format_redacts_too_and_redact_false_keeps_everything() -> None:
    log = logging.getLogger("gateway.test_logs")
    for redact, expect in ((True, "bounce from <email>"), (False, "bounce from bo@example.com")):
        buf, handler = _capture("text", redact)
        log.addHandler(handler)
        try:
            log.warning("bounce from %s", "bo@example.com")
        finally:
            log.removeHandler(handler)
        assert buf.getvalue().rstrip().endswith(expect)
