"""Sandbox HTTP SMS and voice provider: a raw asyncio HTTP/1.1 keep-alive server with Twilio-shaped replies.

Raw `asyncio.Protocol` (no aiohttp.web, which caps a client at ~4.8k requests/s on this machine), pipelining
and keep-alive supported, so a benchmark measures the client, not the sandbox.

Routes: `POST /2010-04-01/Accounts/<sid>/Messages.json` and `.../Calls.json` (Twilio form bodies, Twilio JSON
replies with `sid`), `POST /sms` and `POST /voice` (JSON `{"to": ...}`, reply `{"id": ..., "status": "ok"}`).

Faults are scripted by destination number: :attr:`SandboxHttpSms.script` maps a number to a fault name, and
numbers ending in these four digits get the fault without scripting:

=========  ===========================================================================
suffix     behaviour
=========  ===========================================================================
0429       429 Too Many Requests, Retry-After: 3, Twilio code 20429
0503       503 Service Unavailable, Retry-After: 5
0500       500 Internal Server Error
0400       400, Twilio code 21211 (invalid 'To' number)
0610       400, Twilio code 21610 (recipient unsubscribed)
0401       401, Twilio code 20003
0999       no response: the request is read and never answered (connection stays open)
0998       connection closed after the request is read, no response
0701       accepted; a "delivered" receipt is posted to StatusCallback after `receipt_delay_s`
0702       accepted; an "undelivered" receipt with ErrorCode 30003 is posted
=========  ===========================================================================

With `receipts=True` every accepted message with a StatusCallback gets a "delivered" receipt. Incoming (MO)
messages are injected with :meth:`SandboxHttpSms.send_inbound` (or `POST /_sandbox/inbound` with JSON
`{"webhook": url, "from": ..., "to": ..., "body": ...}`), posted Twilio-style to our inbound webhook.
Run alone: `python -m gateway.sandbox.http_sms --port 8089`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import secrets
import time
import urllib.parse
from typing import Any, cast

import aiohttp
import msgspec
import yarl

from gateway.sms import webhook_auth

SUFFIX_FAULTS = {
    "0429": "throttle", "0503": "unavailable", "0500": "error", "0400": "invalid", "0610": "optout",
    "0401": "auth", "0999": "no_response", "0998": "drop", "0701": "receipt_delivered", "0702": "receipt_failed",
}

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}

_json = msgspec.json.Encoder()


def _response(status: int, body: bytes, extra: str = "", close: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n")
    return head.encode("ascii") + body


class _Conn(asyncio.Protocol):
    __slots__ = ("_buf", "_server", "_stuck", "_transport")

    def __init__(self, server: SandboxHttpSms) -> None:
        self._server = server
        self._stuck = False
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both have write/close.
        self._transport = cast(asyncio.Transport, transport)
        self._server._conns.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server._conns.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        if self._stuck:
            return
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            total = end + 4 + length
            if len(buf) < total:
                break
            body = bytes(buf[end + 4 : total])
            del buf[:total]
            parts = lines[0].split(" ")
            if len(parts) != 3:
                out.append(_response(400, b'{"message":"bad request line"}', close=True))
                self._flush(out)
                assert self._transport is not None
                self._transport.close()
                return
            reply = self._server._handle(parts[0], parts[1], headers, body)
            if reply is None:  # no_response: answer nothing on this connection, ever
                self._flush(out)
                self._buf.clear()
                self._stuck = True
                return
            if reply == b"":  # drop
                self._flush(out)
                assert self._transport is not None
                self._transport.close()
                return
            out.append(reply)
        self._flush(out)

    def _flush(self, out: list[bytes]) -> None:
        if out and self._transport is not None:
            self._transport.write(b"".join(out) if len(out) > 1 else out[0])
            out.clear()


class SandboxHttpSms:
    """The sandbox provider. `requests` counts every request by destination; `log` keeps (path, params) when
    `record=True` (off in benchmarks)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, receipts: bool = False,
                 receipt_delay_s: float = 0.0, record: bool = True, webhook_secret: str | None = None,
                 webhook_basic: tuple[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.receipts = receipts
        self.receipt_delay_s = receipt_delay_s
        self.record = record
        self.webhook_secret = webhook_secret
        self.webhook_basic = webhook_basic
        self.script: dict[str, str] = {}
        self.requests: collections.Counter[str] = collections.Counter()
        self.total = 0
        self.log: list[tuple[str, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Transport] = set()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.receipts_posted = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def twilio_api_base(self) -> str:
        return self.base_url

    async def start(self) -> SandboxHttpSms:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def calls(self, number: str) -> int:
        """Requests received for `number`."""
        return self.requests[number]

    def fault_for(self, number: str) -> str | None:
        return self.script.get(number) or SUFFIX_FAULTS.get(number[-4:])

    # -- request handling (synchronous: called from data_received) --

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        if method != "POST":
            return _response(404, b'{"message":"not found"}')
        ctype = headers.get("content-type", "")
        params: dict[str, Any]
        try:
            if ctype.startswith("application/x-www-form-urlencoded"):
                params = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            else:
                params = msgspec.json.decode(body) if body else {}
                if not isinstance(params, dict):
                    raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return _response(400, b'{"code":21602,"message":"unparseable body"}')
        if path == "/_sandbox/inbound":
            self._spawn(self.send_inbound(str(params["webhook"]), str(params["from"]), str(params["to"]),
                                          str(params["body"])))
            return _response(200, b'{"status":"ok"}')
        twilio = path.startswith("/2010-04-01/Accounts/")
        voice = path.endswith("/Calls.json") or path == "/voice"
        if not (twilio or path in ("/sms", "/voice")):
            return _response(404, b'{"message":"not found"}')
        to = str(params.get("To") or params.get("to") or "")
        self.total += 1
        self.requests[to] += 1
        if self.record:
            self.log.append((path, {k: str(v) for k, v in params.items()}))
        fault = self.fault_for(to)
        if fault == "no_response":
            return None
        if fault == "drop":
            return b""
        if fault == "throttle":
            return _response(429, b'{"code":20429,"message":"Too Many Requests","status":429}', "Retry-After: 3\r\n")
        if fault == "unavailable":
            return _response(503, b'{"code":20503,"message":"Service unavailable","status":503}',
                             "Retry-After: 5\r\n")
        if fault == "error":
            return _response(500, b'{"code":20500,"message":"Internal server error","status":500}')
        if fault == "invalid":
            return _response(400, b'{"code":21211,"message":"The \'To\' number is not a valid phone number.",'
                                  b'"status":400}')
        if fault == "optout":
            return _response(400, b'{"code":21610,"message":"Attempt to send to unsubscribed recipient",'
                                  b'"status":400}')
        if fault == "auth":
            return _response(401, b'{"code":20003,"message":"Authenticate","status":401}')
        sid = ("CA" if voice else "SM") + format(next(self._ids), "032x")
        callback = params.get("StatusCallback") or params.get("status_callback")
        if callback and (self.receipts or fault in ("receipt_delivered", "receipt_failed")):
            status, code = ("undelivered", "30003") if fault == "receipt_failed" else ("delivered", None)
            self._spawn(self._post_receipt(str(callback), sid, to, str(params.get("From", "")), status, code))
        if twilio:
            reply = {"sid": sid, "status": "queued", "to": to, "from": params.get("From"), "error_code": None}
            return _response(201, _json.encode(reply))
        return _response(200, _json.encode({"id": sid, "status": "ok"}))

    # -- outgoing webhooks (receipts and incoming messages) --

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _auth_headers(self, target: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.webhook_secret:
            msg_id = "msg_" + secrets.token_hex(8)
            ts = int(time.time())
            headers.update({"webhook-id": msg_id, "webhook-timestamp": str(ts),
                            "webhook-signature": webhook_auth.sign(self.webhook_secret, msg_id, ts, target, body)})
        if self.webhook_basic:
            headers["Authorization"] = webhook_auth.basic_header(*self.webhook_basic)
        return headers

    async def _post(self, url: str, form: dict[str, str]) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = urllib.parse.urlencode(form).encode()
        target = yarl.URL(url)  # the signature covers the path and query exactly as aiohttp will send them
        async with self._session.post(target, data=body, headers=self._auth_headers(target.raw_path_qs, body)) as resp:
            await resp.read()
            return resp.status

    async def _post_receipt(self, url: str, sid: str, to: str, from_: str, status: str, code: str | None) -> None:
        if self.receipt_delay_s:
            await asyncio.sleep(self.receipt_delay_s)  # the scripted carrier delay itself, not synchronization
        form = {"MessageSid": sid, "MessageStatus": status, "To": to, "From": from_, "AccountSid": "ACsandbox"}
        if code:
            form["ErrorCode"] = code
        await self._post(url, form)
        self.receipts_posted += 1

    async def send_inbound(self, webhook_url: str, from_: str, to: str, body: str) -> int:
        """Post an incoming (MO) message to our inbound webhook the way Twilio does; returns the HTTP status."""
        sid = "SM" + secrets.token_hex(16)
        return await self._post(webhook_url, {"MessageSid": sid, "From": from_, "To": to, "Body": body,
                                              "AccountSid": "ACsandbox", "NumMedia": "0"})

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            self._server.close()
        for tr in list(self._conns):
            tr.close()
        if self._server is not None:
            await self._server.wait_closed()
        if self._session is not None:
            await self._session.close()


async def _main(port: int, receipts: bool) -> None:
    server = await SandboxHttpSms(port=port, receipts=receipts, record=False).start()
    print(f"sandbox http sms listening on {server.base_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Sandbox HTTP SMS / voice provider (Twilio-shaped)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--receipts", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(args.port, args.receipts))


if __name__ == "__main__":
    main()
