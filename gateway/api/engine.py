"""SendMessages and SendUsersMessages through the same engine as the stream.

`StreamMessageService` is the MessageService the API uses: it writes the validated request to the ingest stream
(`<prefix>:send`, exactly as any upstream producer does) with a private `reply_to` list, and waits for the
worker to push the MessageResponse there after the first attempt (the worker expires the list after 300 s).
So the API and the stream share one walk (resolve, screen, render, send, events, retries), and API processes
scale apart from workers. If no worker answers in time the request stays queued and will be delivered; the
caller gets a 500 naming the stream entry, rather than a guess at the outcome.
"""

from __future__ import annotations

from gateway import models
from gateway.api.errors import InternalServerError
from gateway.producer import Producer, ReplyTimeout


class StreamMessageService:
    """MessageService over the ingest stream (see the module docstring)."""

    def __init__(self, producer: Producer, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.timeout_s = timeout_s

    async def send_messages(self, app_id: str, request: models.MessageRequest) -> models.MessageResponse:
        try:
            return await self.producer.send_messages_and_wait(app_id, request, timeout=self.timeout_s)
        except ReplyTimeout as exc:
            raise _queued(exc) from None

    async def send_users_messages(
        self, app_id: str, request: models.SendUsersMessageRequest
    ) -> models.SendUsersMessageResponse:
        try:
            return await self.producer.send_users_messages_and_wait(app_id, request, timeout=self.timeout_s)
        except ReplyTimeout as exc:
            raise _queued(exc) from None


def _queued(exc: ReplyTimeout) -> InternalServerError:
    return InternalServerError(
        f"Request {exc.entry_id} is queued but no worker answered within {exc.timeout:g}s; "
        "it will still be delivered (do not resend it)"
    )
