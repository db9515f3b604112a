"""A fast SMTP sink (raw asyncio protocol) with PIPELINING and faults scripted by the recipient's local part.

It accepts everything except these recipients (the local part starts with the word; case-insensitive):

=================  ===================================================================
``tempfail``       451 4.3.0 at RCPT (temporary failure)
``full``           452 4.2.2 at RCPT (mailbox full: soft bounce)
``throttle``       450 4.2.1 at RCPT (rate limited)
``bounce``         550 5.1.1 at RCPT (no such user: hard bounce)
``permfail``       554 5.7.1 at RCPT (policy rejection)
``reject``         554 5.6.0 after the final dot (content rejected)
``drop421``        421 4.7.0 at RCPT, then the connection closes
``disconnect``     the connection closes while the body is being received
``slow``           the final reply is delayed (``slow250`` → 250 ms; default 200 ms)
``blackhole``      the final dot is never answered
``flaky``          451 4.3.0 for the first two attempts of that address, then accepted
=================  ===================================================================

Like a careful relay (postfix with ``smtpd_helo_required``), it answers MAIL with 503 until the client greeted
with HELO or EHLO (``helo_required=False`` turns that off), and RCPT with 503 outside a transaction; HELO gets a
plain reply, only EHLO lists the extensions.
CHUNKING (BDAT) is offered unless ``chunking=False``. Accepted messages are counted; with ``record=True`` their
(sender, recipient, data) are kept, and with ``log_path`` each accepted recipient is appended to a file (for
crash tests across processes). The command
``XSTATS`` answers ``250 accepted=N``, so a benchmark can read the count of a sink in another process.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections import Counter
from typing import IO, cast

_SLOW = re.compile(rb"^slow(\d*)")


class SinkState:
    """What the sink has seen, shared by all its connections."""

    def __init__(self, record: bool = False, log_path: str | None = None, chunking: bool = True,
                 helo_required: bool = True) -> None:
        self.chunking = chunking
        self.helo_required = helo_required
        self.accepted = 0
        self.record = record
        self.messages: list[tuple[str, str, bytes]] = []
        self.attempts: Counter[str] = Counter()
        self.connections = 0
        self.transports: set[asyncio.Transport] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.log: IO[str] | None = open(log_path, "a", buffering=1) if log_path else None

    def accept(self, sender: bytes, rcpt: bytes, data: bytes) -> None:
        self.accepted += 1
        if self.record:
            self.messages.append((sender.decode(errors="replace"), rcpt.decode(errors="replace"), data))
        if self.log is not None:
            self.log.write(rcpt.decode(errors="replace") + "\n")
        if self._waiters:
            for n, fut in self._waiters:
                if n <= self.accepted and not fut.done():
                    fut.set_result(None)
            self._waiters = [w for w in self._waiters if not w[1].done()]

    async def wait_accepted(self, n: int) -> None:
        """Wait until at least n messages were accepted (for tests: an event, not a poll)."""
        if self.accepted >= n:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, fut))
        await fut


class SinkProtocol(asyncio.Protocol):
    def __init__(self, state: SinkState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.in_data = False
        self.bdat_left = 0  # bytes of a BDAT chunk still to read
        self.bdat_last = False
        self.bdat_parts: list[bytes] = []
        self.greeted = not state.helo_required
        self.in_mail = False  # between an accepted MAIL and the end of the transaction
        self.sender = b""
        self.rcpts: list[bytes] = []
        self.fault = b""
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's transport is a Transport; uvloop's implement it without subclassing it, so this is a
        # cast, not an isinstance check.
        self.transport = t = cast(asyncio.Transport, transport)
        self.state.connections += 1
        self.state.transports.add(t)
        t.write(b"220 sandbox.gateway ESMTP ready\r\n")

    @property
    def _transport(self) -> asyncio.Transport:
        """The connection's transport, set before any data can arrive (connection_made)."""
        assert self.transport is not None
        return self.transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.state.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        out = self.out
        while True:
            if self.bdat_left:
                if self.fault.startswith(b"disconnect") and self.rcpts:
                    self._transport.abort()
                    return
                take = buf[pos:pos + self.bdat_left]
                pos += len(take)
                self.bdat_left -= len(take)
                self.bdat_parts.append(take)
                if self.bdat_left:
                    break
                if self.bdat_last:
                    body, self.bdat_parts = b"".join(self.bdat_parts), []
                    if self.rcpts:
                        if self._end_of_data(body):
                            return
                    else:
                        self.in_mail = False
                        self.out.append(b"554 5.5.1 No valid recipients\r\n")
                else:
                    self.out.append(b"250 2.0.0 Chunk accepted\r\n")
                continue
            if self.in_data:
                if self.fault.startswith(b"disconnect"):
                    if pos >= len(buf):  # let the client see 354 and start the body first
                        break
                    self._transport.abort()
                    return
                if buf[pos:pos + 3] == b".\r\n":
                    end, body_end = pos, pos
                else:
                    end = buf.find(b"\r\n.\r\n", pos)
                    if end < 0:
                        break
                    body_end = end + 2
                body = buf[pos:body_end]
                if self.state.record:  # store the message, not its dot-stuffed transfer form
                    body = (body[1:] if body.startswith(b"..") else body).replace(b"\r\n..", b"\r\n.")
                pos = (end + 5) if body_end != pos else pos + 3
                self.in_data = False
                if self._end_of_data(body):
                    return
                continue
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            line = buf[pos:nl]
            pos = nl + 2
            if self._command(line):
                return
        self.buf = buf[pos:]
        if out:
            self._transport.write(b"".join(out))
            out.clear()

    def _flush(self) -> None:
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out))
            self.out.clear()

    def _command(self, line: bytes) -> bool:
        """Handle one command line; True when the connection was closed."""
        verb = line[:4].upper()
        out = self.out
        if verb == b"MAIL":
            if not self.greeted:
                out.append(b"503 5.5.1 Error: send HELO/EHLO first\r\n")
                return False
            self.sender = _angle(line)
            self.rcpts = []
            self.fault = b""
            self.in_mail = True
            out.append(b"250 2.1.0 Ok\r\n")
        elif verb == b"RCPT":
            if not self.in_mail:
                out.append(b"503 5.5.1 Error: need MAIL command\r\n")
                return False
            rcpt = _angle(line)
            local = rcpt.split(b"@", 1)[0].lower()
            reply = self._rcpt_fault(local, rcpt)
            if reply is None:
                self.rcpts.append(rcpt)
                out.append(b"250 2.1.5 Ok\r\n")
            else:
                out.append(reply)
                if reply.startswith(b"421"):
                    self._flush()
                    self._transport.close()
                    return True
        elif verb == b"DATA":
            if self.rcpts:
                self.in_data = True
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            else:
                out.append(b"554 5.5.1 No valid recipients\r\n")
        elif verb == b"BDAT":
            parts = line.split()
            try:
                size = int(parts[1])
            except (IndexError, ValueError):
                out.append(b"501 5.5.4 Syntax: BDAT <size> [LAST]\r\n")
                return False
            self.bdat_last = len(parts) > 2 and parts[2].upper() == b"LAST"
            if size == 0:
                self.bdat_left = 0
                if self.bdat_last:
                    body, self.bdat_parts = b"".join(self.bdat_parts), []
                    if self.rcpts:
                        return self._end_of_data(body)
                    self.in_mail = False
                    out.append(b"554 5.5.1 No valid recipients\r\n")
                    return False
                out.append(b"250 2.0.0 Chunk accepted\r\n")
            else:
                self.bdat_left = size
        elif verb == b"HELO":
            self._greet()
            out.append(b"250 sandbox.gateway\r\n")
        elif verb == b"EHLO":
            self._greet()
            out.append(b"250-sandbox.gateway\r\n250-PIPELINING\r\n" + (b"250-CHUNKING\r\n" if self.state.chunking else b"")
                       + b"250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES\r\n")
        elif verb == b"RSET":
            self.rcpts = []
            self.in_mail = False
            self.fault = b""
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == b"NOOP":
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == b"QUIT":
            out.append(b"221 2.0.0 Bye\r\n")
            self._flush()
            self._transport.close()
            return True
        elif line.upper().startswith(b"XSTATS"):
            out.append(b"250 accepted=%d\r\n" % self.state.accepted)
        else:
            out.append(b"502 5.5.2 Command not recognized\r\n")
        return False

    def _greet(self) -> None:
        """HELO/EHLO: the session is greeted, and any transaction in progress is reset (RFC 5321 §4.1.4)."""
        self.greeted = True
        self.rcpts = []
        self.in_mail = False
        self.fault = b""

    def _rcpt_fault(self, local: bytes, rcpt: bytes) -> bytes | None:
        if local[:1] not in b"tfbprdsf" or not local:
            return None
        if local.startswith(b"tempfail"):
            return b"451 4.3.0 Temporary local problem\r\n"
        if local.startswith(b"full"):
            return b"452 4.2.2 Mailbox full\r\n"
        if local.startswith(b"throttle"):
            return b"450 4.2.1 Receiving mail at a rate that prevents additional messages\r\n"
        if local.startswith(b"bounce"):
            return b"550 5.1.1 No such user\r\n"
        if local.startswith(b"permfail"):
            return b"554 5.7.1 Rejected by policy\r\n"
        if local.startswith(b"drop421"):
            return b"421 4.7.0 Too many connections, closing\r\n"
        if local.startswith(b"flaky"):
            key = rcpt.decode(errors="replace")
            self.state.attempts[key] += 1
            if self.state.attempts[key] <= 2:
                return b"451 4.3.0 Try again later\r\n"
        if local.startswith((b"reject", b"slow", b"blackhole", b"disconnect")):
            self.fault = local
        return None

    def _end_of_data(self, body: bytes) -> bool:
        """The transaction ends here, whatever the reply: the next one starts with MAIL."""
        fault, rcpts = self.fault, self.rcpts
        self.rcpts, self.in_mail, self.fault = [], False, b""
        if fault.startswith(b"reject"):
            self.out.append(b"554 5.6.0 Message content rejected\r\n")
            return False
        if fault.startswith(b"blackhole"):
            return False
        for rcpt in rcpts:
            self.state.accept(self.sender, rcpt, body)
        reply = b"250 2.0.0 Ok: queued\r\n"
        if fault.startswith(b"slow"):
            m = _SLOW.match(fault)
            ms = int(m.group(1)) if m and m.group(1) else 200
            self._flush()
            self.loop.call_later(ms / 1000, self._late, reply)
            return False
        self.out.append(reply)
        return False

    def _late(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)


def _angle(line: bytes) -> bytes:
    a, b = line.find(b"<"), line.find(b">")
    return line[a + 1:b] if 0 <= a < b else line.split(b":", 1)[-1].strip()


class SmtpSink:
    """The sandbox SMTP server. `await sink.start()` listens on 127.0.0.1 (port 0 = a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record: bool = False,
                 log_path: str | None = None, chunking: bool = True, helo_required: bool = True) -> None:
        self.host = host
        self.port = port
        self.state = SinkState(record=record, log_path=log_path, chunking=chunking, helo_required=helo_required)
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SinkProtocol(self.state, loop), self.host, self.port,
                                               reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            for t in list(self.state.transports):
                t.abort()
            await self.server.wait_closed()
        if self.state.log is not None:
            self.state.log.close()

    @property
    def messages(self) -> list[tuple[str, str, bytes]]:
        return self.state.messages

    @property
    def accepted(self) -> int:
        return self.state.accepted


async def serve_forever(host: str, port: int, log_path: str | None, ready_file: str | None,
                        helo_required: bool = True) -> None:
    sink = await SmtpSink(host, port, log_path=log_path, helo_required=helo_required).start()
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(sink.port))
    print(f"sandbox SMTP sink listening on {host}:{sink.port}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="gateway-sandbox-smtp", description="Run the sandbox SMTP sink.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--log", help="append each accepted recipient to this file")
    ap.add_argument("--ready-file", help="write the bound port here once listening")
    ap.add_argument("--no-helo-required", dest="helo_required", action="store_false",
                    help="accept MAIL without a HELO/EHLO first (by default it is refused with 503)")
    args = ap.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(serve_forever(args.host, args.port, args.log, args.ready_file, args.helo_required))


if __name__ == "__main__":
    main()
