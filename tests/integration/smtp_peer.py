"""An independent, strict SMTP peer for the tests: aiosmtpd (not our sandbox, not our client's author).

It runs in its own thread and event loop on a free loopback port and is configured the way a careful relay is:
HELO/EHLO required before MAIL (aiosmtpd answers 503 otherwise), no PIPELINING and no CHUNKING (aiosmtpd offers
neither), 8BITMIME advertised (or not, with ``eightbit=False``), and 8-bit data refused unless MAIL FROM
declared ``BODY=8BITMIME`` (RFC 6152 §3: a client must not send 8-bit data it did not declare). ``ehlo=False``
makes an old-style server that answers EHLO with 502, for the HELO fallback. ``tls`` offers STARTTLS with that
server context. Every accepted message is recorded with its envelope and its exact bytes.

A peer that cannot start raises: the fixture (`strict_smtp` in conftest.py) fails, it never skips.
"""

from __future__ import annotations

import asyncio
import ssl
import threading

import msgspec
from aiosmtpd.smtp import SMTP, Envelope, Session


class Received(msgspec.Struct, frozen=True):
    """One accepted message as the peer saw it."""

    helo: str  # the name given in HELO/EHLO
    extended: bool  # EHLO (True) or HELO (False)
    mail_from: str
    mail_options: tuple[str, ...]  # MAIL FROM parameters, e.g. ("BODY=8BITMIME",)
    rcpt_tos: tuple[str, ...]
    data: bytes  # the message, dot-stuffing removed, as the server stores it


class _Handler:
    def __init__(self, peer: StrictSmtpPeer) -> None:
        self.peer = peer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if not data.isascii() and "BODY=8BITMIME" not in envelope.mail_options:
            return "554 5.6.1 8-bit data without BODY=8BITMIME"
        self.peer.received.append(Received(
            helo=session.host_name or "", extended=bool(session.extended_smtp), mail_from=envelope.mail_from or "",
            mail_options=tuple(envelope.mail_options), rcpt_tos=tuple(envelope.rcpt_tos), data=data))
        return "250 2.0.0 OK: queued"


class _NoEhlo(SMTP):
    """A server from before ESMTP: EHLO is an unknown command."""

    async def smtp_EHLO(self, hostname: str) -> None:
        await self.push('502 5.5.2 Error: command "EHLO" not recognized')


class StrictSmtpPeer:
    """aiosmtpd on 127.0.0.1:<free port> in a thread; ``received`` lists the accepted messages."""

    def __init__(self, *, eightbit: bool = True, ehlo: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.eightbit = eightbit
        self.ehlo = ehlo
        self.tls = tls
        self.received: list[Received] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name="strict-smtp-peer", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _factory(self) -> SMTP:
        cls = SMTP if self.ehlo else _NoEhlo
        # decode_data=False is what makes aiosmtpd offer 8BITMIME and keep the bytes; True (str content) does not
        return cls(_Handler(self), decode_data=not self.eightbit, enable_SMTPUTF8=False, hostname="strict.peer",
                   tls_context=self.tls, require_starttls=False, loop=self._loop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._loop.create_server(self._factory, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported to start(), which raises it in the test
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)  # sessions a client left open
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, self._server.wait_closed(), return_exceptions=True))
        self._loop.close()

    def start(self) -> StrictSmtpPeer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the strict SMTP peer (aiosmtpd) did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the strict SMTP peer (aiosmtpd) cannot start: {self._error!r}") from self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

