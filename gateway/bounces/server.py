"""The inbound SMTP listener for late bounces and complaints (aiosmtpd: a maintained, RFC 5321-careful server
with SIZE, line and command limits; a runtime dependency since this listener, no longer only a test peer).

It is the MX of the return-path domains and nothing else: RCPT for any other domain is refused (550 5.7.1, no
relaying), as is a local part of ours that is neither postmaster, abuse, nor a VERP address of the configured
shape (550 5.1.1), more than
`max_recipients` recipients (452) or a message over `max_message_bytes` (552, by aiosmtpd). Each accepted message
is handed to :class:`~gateway.bounces.handler.ReportHandler`: reports that are not usable are counted and logged
but still accepted (250: sending them again would not make them usable, and a 5xx would only make the reporting
MTA bounce its bounce). Redis being down answers 451, so the report comes again. Nothing one session sends can
stop the listener or touch another session.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import redis.asyncio as aioredis
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.bounces import verp
from gateway.bounces.correlate import Domain
from gateway.bounces.handler import ReportHandler, domains_of
from gateway.config import BouncesSection, GatewayConfig, host_port
from gateway.errors import ConfigError
from gateway.redisconn import REDIS_DOWN

log = logging.getLogger("gateway.bounces")


class _Hooks:
    """aiosmtpd's handler hooks: the RCPT policy and the DATA hand-off."""

    def __init__(self, handler: ReportHandler, domains: dict[str, Domain], max_recipients: int) -> None:
        self.handler = handler
        self.domains = domains
        self.max_recipients = max_recipients

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        reply = rcpt_reply(address, self.domains)
        if reply is not None:
            self.handler.counts["rcpt-refused"] += 1
            return reply
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content if envelope.original_content is not None else envelope.content
        raw = data if isinstance(data, bytes) else str(data or "").encode("utf-8", "surrogateescape")
        mail_from = str(envelope.mail_from or "")
        try:
            await self.handler.handle(mail_from, list(envelope.rcpt_tos), raw)
        except REDIS_DOWN as exc:
            self.handler.counts["redis-down"] += 1
            log.warning("report not recorded, Redis unavailable (%s): asking the sender to try again", exc)
            return "451 4.3.0 Temporarily unable to record the report; try again later"
        except Exception:  # a bug of ours: logged with the report's envelope, counted, never the listener's end
            self.handler.counts["internal-error"] += 1
            log.exception("processing a report from %r to %s failed", mail_from, envelope.rcpt_tos[:3])
        return "250 OK"


#: postmaster must exist (RFC 5321 §4.5.1); feedback loops are often registered with abuse@. What arrives there
#: is read like any report (an ARF names our VERP address in Original-Mail-From).
_ROLE_ACCOUNTS = frozenset({"postmaster", "abuse"})


def rcpt_reply(address: str, domains: dict[str, Domain]) -> str | None:
    """The refusal of an RCPT address (None: accepted): other domains are relaying, and on ours only postmaster,
    abuse, the plain return path and well-formed VERP addresses exist."""
    local, at, domain_name = address.rpartition("@")
    dom = domains.get(domain_name.lower()) if at else None
    if dom is None:
        return "550 5.7.1 Relaying denied"
    if local.lower() in _ROLE_ACCOUNTS:
        return None
    token = verp.split_local(local, dom.prefix)
    if token is None:
        return "550 5.1.1 No such user here"
    if token:
        try:
            verp.decode_token(token)
        except verp.VerpError:
            return "550 5.1.1 No such user here"
    return None


class BounceListener:
    """A running listener: `port` is where it listens; `cleanup()` stops it (the name aiohttp runners use)."""

    def __init__(self, server: asyncio.Server, handler: ReportHandler) -> None:
        self.server = server
        self.handler = handler
        self.port: int = server.sockets[0].getsockname()[1]

    async def cleanup(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.handler.close()


async def start_listener(cfg: GatewayConfig, redis: aioredis.Redis, listen: str | None = None,
                         environ: dict[str, str] | None = None) -> BounceListener:
    """Start the listener at `listen` (default: `[bounces] listen`) for the SMTP channels' return-path domains."""
    section = cfg.bounces or BouncesSection()
    where = listen or section.listen
    if not where:
        raise ConfigError("the bounce listener needs an address: [bounces] listen or --bounces HOST:PORT")
    host, port = host_port(where)
    domains = domains_of(cfg, dict(os.environ) if environ is None else environ)
    if not domains:
        raise ConfigError("the bounce listener needs an SMTP channel with a return_path_domain")
    handler = ReportHandler(redis, domains, section, cfg.stream.events_key, rollups=cfg.events.rollups,
                            retention_days=cfg.events.retention_days)
    hooks = _Hooks(handler, domains, section.max_recipients)
    hostname = section.hostname or next(iter(domains))

    def factory() -> Any:
        return SMTP(hooks, data_size_limit=section.max_message_bytes, enable_SMTPUTF8=True, decode_data=False,
                    hostname=hostname, ident="gateway bounces", timeout=section.timeout_s)

    server = await asyncio.get_running_loop().create_server(factory, host, port)
    return BounceListener(server, handler)


__all__ = ["BounceListener", "rcpt_reply", "start_listener"]
