"""The custom channel: a campaign's CustomDeliveryConfiguration, delivered by POSTing to its https DeliveryUri.

A campaign run enqueues the endpoints its custom delivery takes (EndpointTypes) as MessageRequests like any
other, marked with Context `gateway.channel = CUSTOM` (`CHANNEL_CONTEXT_KEY`): the dispatcher routes every
recipient of such a request here, whatever its own ChannelType, after the usual screening (missing, INACTIVE,
opted-out endpoints are refused with an event). What to send (DeliveryUri, CustomMessage.Data, ScheduledTime)
is the run's delivery record, written by the runner before it enqueues (`delivery_key`, in the campaign's slot),
so it is neither repeated in every stream entry nor copied into every event.

The channel takes a batch (`send_batch`): the dispatcher hands it every custom recipient of a stream batch at
once, and it POSTs them in Pinpoint's payload, at most `MAX_ENDPOINTS` (50) endpoints per call:

    {"Message": {}, "Data": "<CustomMessage.Data>", "ApplicationId": ..., "CampaignId": ..., "TreatmentId": "0",
     "ActivityId": ..., "ScheduledTime": "2026-12-07T21:00:00.000Z", "Endpoints": {"<id>": {<endpoint>}}}

signed and guarded by gateway/channels/webhook.py. Every endpoint of a call gets the call's outcome: a 2xx is
`_custom.delivered` (SUCCESSFUL); a failure is the error webhook.classify raised, so `gateway.outcome.decide`
retries transient ones (429, 5xx, connection failures) with the engine's backoff and records `_custom.failure`
when they run out, a permanent one (4xx, SSRF refusal, no signing secret) at once, and a timeout after the request
went out as UNKNOWN_FAILURE (`_custom.failure`, never resent).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, ClassVar, Final

import msgspec
import redis.asyncio as aioredis

from gateway import keys
from gateway.channels import families
from gateway.channels.base import Delivered, Family, Outbound, Recipient, Render
from gateway.channels.webhook import WebhookClient
from gateway.errors import DeliveryError, PermanentError
from gateway.models import DirectMessageConfiguration, EndpointResponse

#: Context key of a MessageRequest whose recipients all go through the custom channel.
CHANNEL_CONTEXT_KEY: Final = "gateway.channel"
CUSTOM: Final = "CUSTOM"
#: Endpoints per POST (Pinpoint's limit for custom channel calls).
MAX_ENDPOINTS: Final = 50
DELIVERED_EVENT: Final = "_custom.delivered"
#: How long a run's delivery record lives (retries of its messages must still find it).
DELIVERY_TTL_S: Final = 30 * 86400


def delivery_key(app: str, campaign_id: str, activity_id: str) -> str:
    """The delivery record of one treatment's run (see the module doc), in the campaign's slot."""
    return keys.app_key(app, "camp", campaign_id, "custom", activity_id)


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What a run's custom delivery sends: the webhook, the message data and the run's scheduled time."""

    uri: str
    data: str | None = None
    scheduled_time: str


class CustomContent(msgspec.Struct, frozen=True, kw_only=True):
    """One endpoint's share of a custom delivery: the run it belongs to and the endpoint as Pinpoint posts it."""

    campaign_id: str
    activity_id: str
    treatment_id: str
    endpoint_id: str
    endpoint: dict[str, Any]


class _NoTemplate(msgspec.Struct):
    """Custom delivery takes no template (its content is CustomMessage.Data)."""


def endpoint_payload(endpoint: EndpointResponse | None) -> dict[str, Any]:
    """An endpoint as the webhook receives it: its document without the Id (the Endpoints map is keyed by it)."""
    if endpoint is None:
        return {}
    doc: dict[str, Any] = msgspec.to_builtins(endpoint)
    doc.pop("Id", None)
    return doc


def compose_custom(config: DirectMessageConfiguration, template: _NoTemplate | None, recipient: Recipient,
                   render: Render, /) -> CustomContent:
    """The custom content of one recipient: the campaign attributes from the request's Context."""
    ctx = recipient.context
    campaign_id, activity_id = ctx.get("campaign_id"), ctx.get("campaign_activity_id")
    if not campaign_id or not activity_id:
        raise PermanentError("custom delivery outside a campaign run: the request names no campaign_id and "
                             "campaign_activity_id in Context")
    eid = recipient.endpoint_id or recipient.key
    return CustomContent(campaign_id=campaign_id, activity_id=activity_id, treatment_id=ctx.get("treatment_id", "0"),
                         endpoint_id=eid, endpoint=endpoint_payload(recipient.endpoint))


FAMILY: Family[_NoTemplate, CustomContent] = Family(
    events=families.CUSTOM, compose=compose_custom, message_member="DefaultMessage", default_member="DefaultMessage",
    template_member="CustomTemplate", template_type="CUSTOM", template_class=_NoTemplate)


def payload(app: str, content: CustomContent, delivery: Delivery, endpoints: dict[str, dict[str, Any]]) -> bytes:
    """Pinpoint's custom channel payload for one call (module doc)."""
    return json.dumps({
        "Message": {},
        "Data": delivery.data,
        "ApplicationId": app,
        "CampaignId": content.campaign_id,
        "TreatmentId": content.treatment_id,
        "ActivityId": content.activity_id,
        "ScheduledTime": delivery.scheduled_time,
        "Endpoints": endpoints,
    }, separators=(",", ":")).encode()


_decode_delivery = msgspec.json.Decoder(Delivery).decode
Result = Delivered | DeliveryError


class CustomChannel:
    """The custom channel (module doc): batches of recipients, POSTed 50 endpoints at a time."""

    channel_types: ClassVar[frozenset[str]] = frozenset({CUSTOM})

    def __init__(self, redis: aioredis.Redis, client: WebhookClient) -> None:
        self.redis = redis
        self.client = client

    async def start(self) -> None:
        """Nothing to open: the webhook session opens on first use."""

    async def send(self, msg: Outbound[CustomContent], /) -> Delivered:
        """One recipient alone (the dispatcher normally calls send_batch)."""
        result = (await self.send_batch([msg]))[0]
        if isinstance(result, DeliveryError):
            raise result
        return result

    async def send_batch(self, msgs: Sequence[Outbound[CustomContent]], /) -> list[Result]:
        """Deliver `msgs`, one POST per run and 50 endpoints; each message's result, in order."""
        results: list[Result | None] = [None] * len(msgs)
        groups: dict[tuple[str, str, str, str], list[int]] = {}
        for i, m in enumerate(msgs):
            c = m.content
            groups.setdefault((m.app, c.campaign_id, c.activity_id, c.treatment_id), []).append(i)
        calls = []
        for (app, cid, activity, _), idx in groups.items():
            try:
                delivery = await self._delivery(app, cid, activity)
            except DeliveryError as exc:
                for i in idx:
                    results[i] = exc
                continue
            for k in range(0, len(idx), MAX_ENDPOINTS):
                calls.append(self._call(app, delivery, msgs, idx[k : k + MAX_ENDPOINTS], results))
        await asyncio.gather(*calls)
        out: list[Result] = []
        for r in results:
            assert r is not None
            out.append(r)
        return out

    async def _delivery(self, app: str, campaign_id: str, activity_id: str) -> Delivery:
        raw = await self.redis.get(delivery_key(app, campaign_id, activity_id))
        if raw is None:
            raise PermanentError(f"campaign {campaign_id}: its run's custom delivery record is gone "
                                 "(expired or never written); nothing was posted")
        try:
            return _decode_delivery(raw)
        except msgspec.DecodeError as exc:
            raise PermanentError(f"campaign {campaign_id}: custom delivery record is corrupt: {exc}") from None

    async def _call(self, app: str, delivery: Delivery, msgs: Sequence[Outbound[CustomContent]], idx: list[int],
                    results: list[Result | None]) -> None:
        first = msgs[idx[0]].content
        endpoints = {msgs[i].content.endpoint_id: msgs[i].content.endpoint for i in idx}
        result: Result
        try:
            await self.client.post(delivery.uri, payload(app, first, delivery, endpoints))
            result = Delivered(event_type=DELIVERED_EVENT, status_message="Accepted by the custom channel webhook")
        except DeliveryError as exc:
            result = exc
        for i in idx:
            results[i] = result

    async def aclose(self) -> None:
        await self.client.aclose()
