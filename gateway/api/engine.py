"""SendMessages and SendUsersMessages through the same engine as the stream.

`StreamMessageService` is the MessageService the API uses: it writes the validated request to the ingest stream
(`<prefix>:send`, exactly as any upstream producer does) with a private `reply_to` list, and waits for the
worker to push the MessageResponse there after the first attempt (the worker expires the list after 300 s).
So the API and the stream share one walk (resolve, screen, render, send, events, retries), and API processes
scale apart from workers. If no worker answers in time the request stays queued and will be delivered; the
caller gets a 500 naming the stream entry, rather than a guess at the outcome.
"""

from __future__ import annotations

import os

import msgspec

from gateway import models
from gateway.api.errors import InternalServerError
from gateway.producer import Producer

_dec_message = msgspec.json.Decoder(models.MessageResponse).decode
_dec_users = msgspec.json.Decoder(models.SendUsersMessageResponse).decode


class StreamMessageService:
    """MessageService over the ingest stream (see the module docstring)."""

    def __init__(self, producer: Producer, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.timeout_s = timeout_s

    async def _wait(self, reply_to: str, entry_id: str) -> bytes:
        raw = await self.producer.redis.blpop([reply_to], timeout=self.timeout_s)
        if raw is None:
            raise InternalServerError(
                f"Request {entry_id} is queued but no worker answered within {self.timeout_s:g}s; "
                "it will still be delivered (do not resend it)"
            )
        return bytes(raw[1])

    async def send_messages(self, app_id: str, request: models.MessageRequest) -> models.MessageResponse:
        reply_to = f"gw:reply:{os.urandom(12).hex()}"
        entry_id = await self.producer.send_messages(app_id, request, reply_to=reply_to)
        return _dec_message(await self._wait(reply_to, entry_id))

    async def send_users_messages(
        self, app_id: str, request: models.SendUsersMessageRequest
    ) -> models.SendUsersMessageResponse:
        reply_to = f"gw:reply:{os.urandom(12).hex()}"
        entry_id = await self.producer.send_users_messages(app_id, request, reply_to=reply_to)
        return _dec_users(await self._wait(reply_to, entry_id))
