"""The producer API: how upstream Python code enqueues send requests (the stream contract, in code).

    producer = Producer(redis.asyncio.Redis.from_url(url))
    entry_id = await producer.send_messages("my-app", {"Addresses": {...}, "MessageConfiguration": {...}})
    response = await producer.send_messages_and_wait("my-app", request, timeout=10)   # OTP-style callers

Requests are validated (as Pinpoint's MessageRequest / SendUsersMessageRequest) before they are written, so a
malformed request fails here, in the caller, instead of in the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from gateway import keys
from gateway.config import StreamConfig
from gateway.errors import DecodeError
from gateway.models import MessageRequest, MessageResponse, SendUsersMessageRequest, SendUsersMessageResponse
from gateway.stream import codec


def _as(shape: type[Any], request: Any) -> Any:
    if isinstance(request, shape):
        return request
    try:
        if isinstance(request, (bytes, str)):
            return msgspec.json.decode(request, type=shape)
        return msgspec.convert(request, type=shape)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"not a valid {shape.__name__}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None


def is_transactional(request: MessageRequest | SendUsersMessageRequest) -> bool:
    """Whether a request belongs in the transactional lane: an SMS with MessageType TRANSACTIONAL (OTPs, alerts)."""
    sms = request.MessageConfiguration.SMSMessage
    return sms is not None and sms.MessageType == "TRANSACTIONAL"


class Producer:
    """Writes requests to the ingest lanes: `<prefix>:send:transactional` for transactional requests (by default,
    SMS with MessageType TRANSACTIONAL; or `transactional=True`), `<prefix>:send` for everything else."""

    def __init__(self, redis: Any, prefix: str = "gateway") -> None:
        self.redis = redis
        # The lanes' keys exactly as the workers read them: built in one place (StreamConfig.lanes, most urgent
        # first), so a producer and a worker of the same prefix cannot disagree on where a request goes.
        lanes = StreamConfig(prefix=prefix).lanes
        self.key = lanes[-1].send_key
        self.transactional_key = lanes[0].send_key

    def _key(self, request: MessageRequest | SendUsersMessageRequest, transactional: bool | None) -> str:
        if transactional is None:
            transactional = is_transactional(request)
        return self.transactional_key if transactional else self.key

    async def send_messages(self, app: str, request: MessageRequest | Mapping[str, Any] | bytes | str, *,
                            idempotency_key: str | None = None, reply_to: str | None = None,
                            transactional: bool | None = None, deadline_ms: int | None = None) -> str:
        """Enqueue a SendMessages request; returns the stream entry id (the RequestId of the response).
        `deadline_ms`: Unix time in milliseconds after which it is not sent (its recipients end PERMANENT_FAILURE)."""
        req = _as(MessageRequest, request)
        fields = codec.encode_request(app, req, idempotency_key=idempotency_key, reply_to=reply_to,
                                      deadline_ms=deadline_ms)
        return _text(await self.redis.xadd(self._key(req, transactional), fields))

    async def send_users_messages(self, app: str, request: SendUsersMessageRequest | Mapping[str, Any] | bytes | str,
                                  *, idempotency_key: str | None = None, reply_to: str | None = None,
                                  transactional: bool | None = None, deadline_ms: int | None = None) -> str:
        req = _as(SendUsersMessageRequest, request)
        fields = codec.encode_request(app, req, idempotency_key=idempotency_key, reply_to=reply_to,
                                      deadline_ms=deadline_ms)
        return _text(await self.redis.xadd(self._key(req, transactional), fields))

    async def send_many(self, app: str, requests: Iterable[MessageRequest | Mapping[str, Any]], *,
                        deadlines: Sequence[int | None] | None = None) -> list[str]:
        """Enqueue many requests in one pipelined round trip; `deadlines`, when given, is each request's
        `deadline_ms` (send_messages), in order."""
        reqs = list(requests)
        if deadlines is not None and len(deadlines) != len(reqs):
            raise ValueError(f"{len(deadlines)} deadlines for {len(reqs)} requests")
        pipe = self.redis.pipeline(transaction=False)
        for i, r in enumerate(reqs):
            req = _as(MessageRequest, r)
            pipe.xadd(self._key(req, None),
                      codec.encode_request(app, req, deadline_ms=deadlines[i] if deadlines is not None else None))
        return [_text(i) for i in await pipe.execute()]

    async def send_messages_and_wait(self, app: str, request: MessageRequest | Mapping[str, Any] | bytes | str, *,
                                     timeout: float = 30.0, idempotency_key: str | None = None,
                                     transactional: bool | None = None) -> MessageResponse:
        """Enqueue and wait for the MessageResponse of the first attempt (pushed to a private reply list).
        Raises ReplyTimeout (naming the queued entry, which will still be delivered) when no worker answers."""
        reply_to = _reply_key()
        entry_id = await self.send_messages(app, request, idempotency_key=idempotency_key, reply_to=reply_to,
                                            transactional=transactional)
        return _dec_message(await self._wait(reply_to, entry_id, timeout))

    async def send_users_messages_and_wait(self, app: str, request: Any, *, timeout: float = 30.0,
                                           idempotency_key: str | None = None) -> SendUsersMessageResponse:
        reply_to = _reply_key()
        entry_id = await self.send_users_messages(app, request, idempotency_key=idempotency_key, reply_to=reply_to)
        return _dec_users(await self._wait(reply_to, entry_id, timeout))

    async def _wait(self, reply_to: str, entry_id: str, timeout: float) -> bytes:
        # BLPOP in slices shorter than the client's socket timeout: redis-py's default is 5 s, and one BLPOP of
        # 30 s on such a client fails as a TimeoutError after 5 instead of waiting for the reply.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        step = _blocking_slice(self.redis)
        while True:
            left = deadline - loop.time()
            if left < 0.01:  # BLPOP rounds below a millisecond to 0, which would mean "forever": wait the rest
                if left > 0:  # out here, then look once more, so the wait is never shorter than asked
                    await asyncio.sleep(left)
                last = await self.redis.lpop(reply_to)
                if last is not None:
                    return bytes(last)
                raise ReplyTimeout(entry_id, timeout)
            raw = await self.redis.blpop([reply_to], timeout=min(left, step))
            if raw is not None:
                return bytes(raw[1])


class ReplyTimeout(TimeoutError):
    """No worker answered in time. The request is queued (entry `entry_id`) and will still be delivered."""

    def __init__(self, entry_id: str, timeout: float) -> None:
        super().__init__(f"request {entry_id} is queued but no worker answered within {timeout:g}s "
                         "(is a worker running?); it will still be delivered")
        self.entry_id = entry_id
        self.timeout = timeout


_dec_message = msgspec.json.Decoder(MessageResponse).decode
_dec_users = msgspec.json.Decoder(SendUsersMessageResponse).decode


def _blocking_slice(redis: Any) -> float:
    """The longest single blocking wait `redis` allows: half its socket timeout. When the client does not say
    (redis-py 6+ keeps its 5 s default out of `connection_kwargs`, or there is no pool to ask), 2 s: a slice costs
    one round trip, a wait longer than the read timeout costs the request."""
    kwargs = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", None) or {}
    limit = kwargs.get("socket_timeout", kwargs.get("orig_socket_timeout"))
    return limit / 2 if isinstance(limit, (int, float)) and limit > 0 else _UNKNOWN_SLICE_S


_UNKNOWN_SLICE_S = 2.0


def _reply_key() -> str:
    return keys.reply(os.urandom(12).hex())


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
