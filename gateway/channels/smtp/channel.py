"""The EMAIL channel: a pool of reused SMTP sessions to one relay.

Sessions open lazily up to `connections`, are reused for up to `max_messages_per_connection` transactions, and are
dropped after a 421, a timeout or a lost connection (aiosmtplib's rule: a desynchronized session is closed, never
reused). The pool hands a released session straight to the longest-waiting sender.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import ClassVar

from gateway import errors, ratelimit
from gateway.bounces import sent, verp
from gateway.channels.base import Delivered, Outbound, Runtime
from gateway.channels.smtp.connection import SmtpSession, open_session
from gateway.channels.smtp.mime import EmailContent, assemble
from gateway.config import SmtpChannelConfig
from gateway.errors import ConfigError
from gateway.kpi import attribution
from gateway.metrics.core import PoolUse
from gateway.ratelimit import RateLimiter

log = logging.getLogger("gateway.channels.smtp")


class SmtpChannel:
    """Pinpoint's EMAIL channel over an SMTP relay."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"EMAIL"})

    def __init__(self, cfg: SmtpChannelConfig, runtime: Runtime | None = None) -> None:
        self.cfg = cfg
        self.domain = cfg.helo_name
        self._password = os.environ.get(cfg.password_env, "") if cfg.password_env else None
        self._idle: deque[SmtpSession] = deque()
        self._waiters: deque[asyncio.Future[SmtpSession | None]] = deque()
        self._open = 0  # sessions open or opening
        self._closing: set[asyncio.Task[None]] = set()
        self.limiter: RateLimiter | None = ratelimit.from_config(
            cfg.rate_limit, f"smtp:{cfg.name}", runtime.redis if runtime is not None else None)
        self.delivered = 0
        self.failed = 0
        self.verp_key: bytes | None = None
        if cfg.return_path_domain and cfg.verp_key_env:
            key = os.environ.get(cfg.verp_key_env, "")
            if len(key) < 16:
                raise ConfigError(f"channel {cfg.name}: verp_key_env names {cfg.verp_key_env}, which must hold a key "
                                  "of at least 16 characters")
            self.verp_key = key.encode()

    async def start(self) -> None:
        """Sessions open on demand; nothing to warm."""

    async def send(self, msg: Outbound[EmailContent]) -> Delivered:
        content: EmailContent = msg.content
        sender = content.sender or self.cfg.default_from
        if not sender:
            raise errors.ContentRejected("no FromAddress in the request and no default_from for this channel", code=400)
        if self.limiter is not None:
            await self.limiter.acquire()
        session = await self._acquire()
        try:
            data = assemble(content, sender, msg.message_id, self.domain, session.eightbit, not session.chunking)
            reply = await session.send(self._envelope_from(msg, sender), content.recipient, data)
        except errors.Throttled as exc:
            self.failed += 1
            if self.limiter is not None:
                self.limiter.pause(exc.retry_after or 1.0)
            raise
        except errors.DeliveryError:
            self.failed += 1
            raise
        finally:
            self._release(session)
        self.delivered += 1
        return Delivered(event_type="_email.delivered", status_code=reply.code, status_message=str(reply)[:500],
                         remember=self._remember(msg, sender))

    def _envelope_from(self, msg: Outbound[EmailContent], sender: str) -> str:
        """MAIL FROM: the message's own VERP return path when a return-path domain is configured, else the
        sender."""
        domain = self.cfg.return_path_domain
        if not domain:
            return sender
        return verp.return_path(self.cfg.verp_prefix, domain, self.verp_key, msg.app, msg.message_id,
                                msg.content.recipient)

    def _remember(self, msg: Outbound[EmailContent], sender: str) -> tuple[str, bytes, int] | None:
        """The record a late report is matched with (only when reports come back to us)."""
        if not self.cfg.return_path_domain:
            return None
        rec = sent.SentMail(msg.app, msg.message_id, msg.content.recipient, msg.recipient.endpoint_id, sender,
                            attribution.of(msg.recipient.context))
        return sent.key(msg.message_id), sent.value(rec), self.cfg.sent_ttl_s

    async def _acquire(self) -> SmtpSession:
        while self._idle:
            session = self._idle.pop()  # most recently used first: keeps the rest idle enough to expire
            if session.usable and session.sent < self.cfg.max_messages_per_connection:
                return session
            self._retire(session)
        if self._open >= self.cfg.connections:
            fut: asyncio.Future[SmtpSession | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                handed = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    given = fut.result()
                    if given is not None:
                        self._release(given)
                    else:
                        self._open -= 1  # we were given a slot to open: give it back
                        self._wake_opener()
                raise
            if handed is not None:
                return handed
            # handed None: a slot was freed for us to open a new session (the count already includes it)
        else:
            self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake_opener()
            raise

    async def _connect(self) -> SmtpSession:
        cfg = self.cfg
        return await open_session(
            host=cfg.host,
            port=cfg.port,
            helo_name=cfg.helo_name,
            starttls=cfg.starttls,
            tls_verify=cfg.tls_verify,
            username=cfg.username,
            password=self._password,
            connect_timeout=cfg.connect_timeout_s,
            command_timeout=cfg.command_timeout_s,
            data_timeout=cfg.data_timeout_s,
        )

    def _release(self, session: SmtpSession) -> None:
        if not session.usable or session.sent >= self.cfg.max_messages_per_connection:
            self._retire(session)
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(session)
                return
        self._idle.append(session)

    def _retire(self, session: SmtpSession) -> None:
        self._open -= 1
        task = asyncio.get_running_loop().create_task(session.quit())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._wake_opener()

    def _wake_opener(self) -> None:
        """Give a free slot to the first waiter, which will open a new session."""
        while self._waiters and self._open < self.cfg.connections:
            fut = self._waiters.popleft()
            if not fut.done():
                self._open += 1
                fut.set_result(None)
                return

    def pool_use(self) -> list[PoolUse]:
        """The session pool's use: open sessions, those sending, senders queued for one (for /metrics)."""
        return [PoolUse(pool=f"{self.cfg.host}:{self.cfg.port}", open=self._open, busy=self._open - len(self._idle),
                        limit=self.cfg.connections, waiting=len(self._waiters))]

    async def aclose(self) -> None:
        sessions = list(self._idle)
        self._idle.clear()
        self._open -= len(sessions)
        await asyncio.gather(*(s.quit() for s in sessions), *self._closing, return_exceptions=True)

    def __repr__(self) -> str:
        return (f"<SmtpChannel {self.cfg.name} {self.cfg.host}:{self.cfg.port} open={self._open} idle={len(self._idle)} "
                f"waiting={len(self._waiters)} delivered={self.delivered} failed={self.failed}>")


def create(cfg: SmtpChannelConfig, runtime: Runtime) -> SmtpChannel:
    return SmtpChannel(cfg, runtime)
