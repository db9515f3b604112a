"""One SMTP session used for many transactions.

aiosmtplib opens the session (connect, STARTTLS, AUTH) and we greet with EHLO on every path (HELO when the server
refuses EHLO with 5yz), also after STARTTLS, which forgets the first greeting (RFC 3207 §4.2); then the transport
is handed to
:class:`SmtpProtocol`, which runs transactions with ESMTP PIPELINING when the server offers it: MAIL, RCPT and
DATA go out in one write, the body and final dot in a second, so a message costs two writes and two reads.
When the server also offers CHUNKING (RFC 3030), MAIL, RCPT and `BDAT <size> LAST` with the message go out in a
single write: one write and one read per message, and no dot-stuffing.
Every wait has its own timer (per-command timeouts, RFC 5321 §4.5.3.2); a timeout after the final dot is
"maybe sent" (the server may have accepted), never retried blindly.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

import aiosmtplib

from gateway import errors
from gateway.channels.smtp.replies import ProtocolViolation, Reply, ReplyParser, classify


class SmtpProtocol(asyncio.Protocol):
    """Reads replies for the command group in flight; one group at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = ReplyParser()
        self.replies: list[Reply] = []
        self.expected = 0
        self.waiter: asyncio.Future[list[Reply]] | None = None
        self.closed = False
        self.close_reason: str = ""

    def data_received(self, data: bytes) -> None:
        try:
            self.replies += self.parser.feed(data)
        except ProtocolViolation as exc:
            self._fail(exc)
            if self.transport:
                self.transport.abort()
            return
        waiter = self.waiter
        if waiter is not None and len(self.replies) >= self.expected and not waiter.done():
            got, self.replies = self.replies[: self.expected], self.replies[self.expected :]
            self.waiter = None
            waiter.set_result(got)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.close_reason = str(exc) if exc else "server closed the connection"
        closing = next((r for r in self.replies if r.code == 421), None)
        if closing is not None:  # "421 … closing transmission channel": the server said why it left
            self._fail(classify("SESSION", closing))
        else:
            self._fail(errors.ConnectError(f"SMTP connection lost: {self.close_reason}"))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def roundtrip(self, data: bytes, n_replies: int, timeout: float) -> list[Reply]:
        """Write `data` and wait for `n_replies` replies, at most `timeout` seconds (raises TimeoutError)."""
        if self.closed or self.transport is None:
            raise errors.ConnectError(f"SMTP connection closed: {self.close_reason}")
        waiter: asyncio.Future[list[Reply]] = self.loop.create_future()
        self.waiter = waiter
        self.expected = n_replies
        self.transport.write(data)
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()


def mail_params(sender: str, recipient: str, data: bytes, *, eightbit: bool, smtputf8: bool) -> bytes:
    """The MAIL FROM parameters for this transaction (with their leading space), from what the server offered.

    8-bit data is declared with BODY=8BITMIME (RFC 6152 §3), and never sent to a server that did not offer
    8BITMIME: the composer encodes the body for such a server, so 8-bit data here is a message that cannot be
    sent as it is (raises ContentRejected, a permanent failure).
    """
    params = b""
    if not data.isascii():
        if not eightbit:
            raise errors.ContentRejected(
                "the SMTP relay does not offer 8BITMIME and the message has 8-bit data that cannot be encoded "
                "(a non-ASCII address in a header?)", code=400)
        params = b" BODY=8BITMIME"
    if not (sender.isascii() and recipient.isascii()):
        if not smtputf8:
            raise errors.ContentRejected(
                "the SMTP relay does not offer SMTPUTF8, needed for a non-ASCII envelope address", code=400)
        params += b" SMTPUTF8"
    return params


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class SmtpSession:
    """An open, authenticated SMTP session that sends one transaction at a time."""

    def __init__(
        self,
        protocol: SmtpProtocol,
        *,
        pipelining: bool,
        chunking: bool = False,
        eightbit: bool,
        smtputf8: bool,
        command_timeout: float,
        data_timeout: float,
    ) -> None:
        self.protocol = protocol
        self.pipelining = pipelining
        self.chunking = chunking and pipelining
        self.eightbit = eightbit
        self.smtputf8 = smtputf8
        self.command_timeout = command_timeout
        self.data_timeout = data_timeout
        self.sent = 0
        self.broken = False  # a 421, a timeout or a lost connection: never reuse

    @property
    def usable(self) -> bool:
        return not self.broken and not self.protocol.closed

    async def send(self, sender: str, recipient: str, data: bytes) -> Reply:
        """One transaction. Returns the reply to the final dot, or raises a gateway DeliveryError."""
        params = mail_params(sender, recipient, data, eightbit=self.eightbit, smtputf8=self.smtputf8)
        mail = b"MAIL FROM:<" + sender.encode() + b">" + params + b"\r\n"
        rcpt = b"RCPT TO:<" + recipient.encode() + b">\r\n"
        if self.chunking:
            return await self._send_chunked(mail + rcpt, data)
        try:
            if self.pipelining:
                r_mail, r_rcpt, r_data = await self.protocol.roundtrip(
                    mail + rcpt + b"DATA\r\n", 3, self.command_timeout
                )
            else:
                (r_mail,) = await self.protocol.roundtrip(mail, 1, self.command_timeout)
                if r_mail.code // 100 != 2:
                    await self._abort_transaction()
                    raise self._fail_with("MAIL", r_mail)
                (r_rcpt,) = await self.protocol.roundtrip(rcpt, 1, self.command_timeout)
                if r_rcpt.code // 100 != 2:
                    await self._abort_transaction()
                    raise self._fail_with("RCPT", r_rcpt)
                (r_data,) = await self.protocol.roundtrip(b"DATA\r\n", 1, self.command_timeout)
        except TimeoutError:
            self.broken = True
            raise errors.ProviderTimeout("SMTP server did not answer MAIL/RCPT/DATA in time") from None
        except errors.ConnectError:
            self.broken = True
            raise
        if r_mail.code // 100 != 2 or r_rcpt.code // 100 != 2 or r_data.code != 354:
            # RFC 2920: if DATA was accepted although no recipient was, send a lone dot and no body.
            if r_data.code == 354:
                await self._roundtrip_or_break(b".\r\n")
            else:
                await self._abort_transaction()
            if r_mail.code // 100 != 2:
                raise self._fail_with("MAIL", r_mail)
            if r_rcpt.code // 100 != 2:
                raise self._fail_with("RCPT", r_rcpt)
            raise self._fail_with("DATA", r_data)
        (final,) = await self._finish(data + b"\r\n.\r\n", 1, "DATA")
        return self._accepted(r_mail, r_rcpt, final)

    async def _send_chunked(self, envelope: bytes, data: bytes) -> Reply:
        """MAIL, RCPT and BDAT LAST with the whole message in one write (the server reads the chunk even when it
        rejects the recipient, so the session stays in step)."""
        # the message ends with CRLF, as it does before DATA's final dot
        r_mail, r_rcpt, final = await self._finish(
            envelope + b"BDAT %d LAST\r\n" % (len(data) + 2) + data + b"\r\n", 3, "BDAT")
        return self._accepted(r_mail, r_rcpt, final)

    async def _finish(self, payload: bytes, n_replies: int, stage: str) -> list[Reply]:
        """Send the part of the transaction that ends with the message and read its replies. A timeout here is
        "maybe sent": the server may have accepted the message."""
        try:
            return await self.protocol.roundtrip(payload, n_replies, self.data_timeout)
        except TimeoutError:
            self.broken = True
            raise errors.MaybeSent(
                f"SMTP server did not answer the end of {stage} in time; the message may have been accepted"
            ) from None
        except errors.ConnectError as exc:
            # RFC 5321 §3.8: a connection dropped before the final reply counts as 451 (not accepted).
            self.broken = True
            raise errors.ConnectError(f"SMTP connection lost during {stage}: {self.protocol.close_reason}") from exc

    def _accepted(self, r_mail: Reply, r_rcpt: Reply, final: Reply) -> Reply:
        """The final reply when the whole transaction succeeded; otherwise the error of the first refusal."""
        if r_mail.code // 100 != 2:
            raise self._fail_with("MAIL", r_mail)
        if r_rcpt.code // 100 != 2:
            raise self._fail_with("RCPT", r_rcpt)
        self.sent += 1
        if final.code // 100 != 2:
            raise self._fail_with("BODY", final)
        return final

    def _fail_with(self, command: str, reply: Reply) -> errors.DeliveryError:
        if reply.code == 421:
            self.broken = True
        return classify(command, reply)

    async def _roundtrip_or_break(self, data: bytes) -> None:
        try:
            await self.protocol.roundtrip(data, 1, self.command_timeout)
        except (TimeoutError, errors.ConnectError):
            self.broken = True

    async def _abort_transaction(self) -> None:
        await self._roundtrip_or_break(b"RSET\r\n")

    async def quit(self) -> None:
        if self.usable:
            try:
                await self.protocol.roundtrip(b"QUIT\r\n", 1, 5.0)
            except (TimeoutError, errors.DeliveryError):
                pass
        self.close()

    def close(self) -> None:
        self.broken = True
        if self.protocol.transport is not None and not self.protocol.closed:
            self.protocol.transport.close()


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO when the server refuses EHLO with 5yz (RFC 5321 §3.2), unless this session already greeted
    (aiosmtplib does on the opportunistic STARTTLS path, and forgets it after STARTTLS). Without a greeting a
    strict server answers MAIL with 503, and with HELO instead of EHLO no extension is offered."""
    if not client.is_ehlo_or_helo_needed:
        return
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError as exc:
        if exc.code // 100 != 5:
            raise  # 421 and friends: the server is not taking sessions now (classified by the caller)
        await client.helo()


async def open_session(
    *,
    host: str,
    port: int,
    helo_name: str,
    starttls: str,
    tls_verify: bool,
    username: str | None,
    password: str | None,
    connect_timeout: float,
    command_timeout: float,
    data_timeout: float,
    tls_context: ssl.SSLContext | None = None,
) -> SmtpSession:
    """Connect, STARTTLS, EHLO (or HELO) and AUTH through aiosmtplib, then take over the transport for sending."""
    start_tls: bool | None = {"never": False, "opportunistic": None, "required": True}[starttls]
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        local_hostname=helo_name,
        timeout=connect_timeout,
        start_tls=start_tls,
        validate_certs=tls_verify,
        tls_context=tls_context,
    )
    try:
        await client.connect()
        await _greet(client)
        if username:
            await client.login(username, password or "")
    except aiosmtplib.SMTPAuthenticationError as exc:
        client.close()
        raise errors.AuthFailed(f"SMTP authentication failed: {exc.code} {exc.message}", code=exc.code) from exc
    except aiosmtplib.SMTPResponseException as exc:
        client.close()
        reply = Reply(exc.code, None, exc.message)
        raise classify("CONNECT", reply) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise errors.ConnectError(f"cannot open SMTP session to {host}:{port}: {exc}") from exc
    if client.transport is None:  # pragma: no cover - aiosmtplib guarantees a transport after connect
        raise errors.ConnectError("SMTP connect returned no transport")
    # aiosmtplib types it a BaseTransport; it is a stream's Transport (uvloop's implement it without subclassing
    # it, so this is a cast, not an isinstance check).
    transport = cast(asyncio.Transport, client.transport)
    ext = client.esmtp_extensions
    protocol = SmtpProtocol(asyncio.get_running_loop())
    protocol.transport = transport
    transport.set_protocol(protocol)
    return SmtpSession(
        protocol,
        pipelining="pipelining" in ext,
        chunking="chunking" in ext,
        eightbit="8bitmime" in ext,
        smtputf8="smtputf8" in ext,
        command_timeout=command_timeout,
        data_timeout=data_timeout,
    )
