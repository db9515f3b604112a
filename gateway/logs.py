"""How a gateway process logs: text or one JSON object per line, with personal data and secrets redacted.

`[logging] redact = true` (the default) installs :class:`RedactFilter` on the root logger's handlers, so every
record of every module is redacted once it is rendered: its message with its arguments, and its traceback. What
it replaces (the patterns below, one pure function: :func:`redact`):

- email addresses → `<email>`;
- phone numbers written with a leading `+` (E.164, which is how the engine holds every number; spaces, dots,
  dashes and parentheses between the digits allowed) → `<phone>`;
- push tokens: APNs device tokens (64+ hex digits), FCM registration tokens (`<id>:<100+ url-safe chars>`) and any
  other run of 100+ url-safe characters → `<token>`;
- the values of every secret the configuration reads from the environment (`*_env` keys, `secret_envs`, the OTP
  key: `config.secret_env_names`) → `<secret>`.

Stream entry ids, message ids, application ids and status codes are left as they are: they are what an operator
needs to follow a message, and they identify no person.
`[logging] format = "json"` writes `{"ts", "level", "logger", "msg", "exc"?}` per line (:class:`JsonFormatter`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Mapping

import msgspec
import orjson

from gateway import config as config_mod
from gateway.config import GatewayConfig

_PATTERNS = [
    (re.compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,}"),
     "<email>"),
    (re.compile(r"(?<![\w+])[\w-]{8,}:[\w-]{100,}"), "<token>"),  # FCM registration token
    (re.compile(r"(?<![\w-])[0-9A-Fa-f]{64,}(?![\w-])"), "<token>"),  # APNs device token
    (re.compile(r"(?<![\w-])[\w-]{100,}(?![\w-])"), "<token>"),
    (re.compile(r"\+\d(?:[ .()-]{0,2}\d){6,16}"), "<phone>"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the secrets, email addresses, push tokens and phone numbers in it replaced (module docstring)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<secret>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def configured_secrets(cfg: GatewayConfig, environ: Mapping[str, str]) -> list[str]:
    """The values of the secrets `cfg` reads from `environ`, longest first (so one never hides part of another);
    values shorter than 4 characters are left out: they would redact half of every line."""
    names = config_mod.secret_env_names(msgspec.to_builtins(cfg), environ)
    values = {environ[n] for n in names if len(environ.get(n, "")) >= 4}
    return sorted(values, key=len, reverse=True)


class RedactFilter(logging.Filter):
    """Redacts a record in place (message with its arguments, and its traceback); lets every record through."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)
        self._tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ts (UTC, ISO 8601 with ms), level, logger, msg, and exc when the
    record carries a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return orjson.dumps(out).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup(cfg: GatewayConfig, environ: Mapping[str, str] | None = None) -> None:
    """Configure the root logger for a gateway process from `cfg.log_level` and `cfg.logging`."""
    environ = os.environ if environ is None else environ
    logging.basicConfig(level=getattr(logging, cfg.log_level, logging.INFO), format=TEXT_FORMAT, datefmt="%H:%M:%S")
    install(logging.getLogger().handlers, cfg, environ)


def install(handlers: Iterable[logging.Handler], cfg: GatewayConfig, environ: Mapping[str, str]) -> None:
    """Put `cfg.logging`'s formatter and redaction on `handlers` (on the root logger's, records of every logger
    pass through them: a filter on a logger would see only that logger's own)."""
    secrets = configured_secrets(cfg, environ) if cfg.logging.redact else []
    for handler in handlers:
        if cfg.logging.format == "json":
            handler.setFormatter(JsonFormatter())
        if cfg.logging.redact and not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter(secrets))


__all__ = ["JsonFormatter", "RedactFilter", "configured_secrets", "install", "redact", "setup"]
