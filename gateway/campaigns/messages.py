"""A treatment's run as MessageRequests for the ingest stream, pure: a campaign is a producer like any other, so
every channel, status, event, retry and rate limit of the engine applies unchanged.

Each request addresses up to `BATCH` endpoints by id (the engine looks them up and picks each one's channel from
the DirectMessageConfiguration) and carries Pinpoint's campaign attributes in `Context`, which the engine copies
into every event it records: `campaign_id`, `campaign_activity_id`, `treatment_id`. The campaign's message shapes
are mapped to SendMessages' own (CampaignEmailMessage → EmailMessage with a SimpleEmail, a push Message → the
platform's message, JsonBody → its Data); TemplateConfiguration passes through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway import models
from gateway.campaigns.plan import Content
from gateway.channels.custom import CHANNEL_CONTEXT_KEY, CUSTOM

#: Endpoints per MessageRequest (Pinpoint's SendMessages takes at most 100).
BATCH: Final = 100


def json_body_data(json_body: str | None) -> dict[str, str] | None:
    """A push Message's JsonBody as the platform message's Data (string values; others as their JSON text).
    ValueError when it is not a JSON object (validate.py refuses that before a campaign is stored)."""
    if json_body is None:
        return None
    value = json.loads(json_body)
    if not isinstance(value, dict):
        raise ValueError("JsonBody must be a JSON object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _push(m: models.Message, shape: type[Any], fields: Sequence[str]) -> Any:
    values: dict[str, Any] = {"Data": json_body_data(m.JsonBody)}
    for f in fields:
        values[f] = getattr(m, f)
    if "SmallImageIconUrl" in shape.__struct_fields__:
        values["SmallImageIconUrl"] = m.ImageSmallIconUrl
    return shape(**{k: v for k, v in values.items() if v is not None})


_COMMON: Final = ("Action", "Body", "RawContent", "SilentPush", "Title", "Url")


def direct_configuration(messages: models.MessageConfiguration | None) -> models.DirectMessageConfiguration:
    """SendMessages' DirectMessageConfiguration for a campaign's MessageConfiguration."""
    if messages is None:
        return models.DirectMessageConfiguration()
    out: dict[str, Any] = {}
    if (e := messages.EmailMessage) is not None:
        simple = None
        if e.Title is not None or e.HtmlBody is not None or e.Body is not None:
            simple = models.SimpleEmail(
                Subject=None if e.Title is None else models.SimpleEmailPart(Data=e.Title),
                HtmlPart=None if e.HtmlBody is None else models.SimpleEmailPart(Data=e.HtmlBody),
                TextPart=None if e.Body is None else models.SimpleEmailPart(Data=e.Body),
                Headers=e.Headers,
            )
        out["EmailMessage"] = models.EmailMessage(FromAddress=e.FromAddress, SimpleEmail=simple)
    if (s := messages.SMSMessage) is not None:
        out["SMSMessage"] = models.SMSMessage(
            Body=s.Body, MessageType=s.MessageType, OriginationNumber=s.OriginationNumber, SenderId=s.SenderId,
            EntityId=s.EntityId, TemplateId=s.TemplateId,
        )
    if (g := messages.GCMMessage) is not None:
        out["GCMMessage"] = _push(g, models.GCMMessage, (*_COMMON, "ImageIconUrl", "ImageUrl", "TimeToLive"))
    if (a := messages.APNSMessage) is not None:
        out["APNSMessage"] = _push(a, models.APNSMessage, (*_COMMON, "MediaUrl", "TimeToLive"))
    if (d := messages.ADMMessage) is not None:
        out["ADMMessage"] = _push(d, models.ADMMessage, (*_COMMON, "ImageIconUrl", "ImageUrl"))
    if (b := messages.BaiduMessage) is not None:
        out["BaiduMessage"] = _push(b, models.BaiduMessage, (*_COMMON, "ImageIconUrl", "ImageUrl", "TimeToLive"))
    if (p := messages.DefaultMessage) is not None:
        out["DefaultPushNotificationMessage"] = _push(
            p, models.DefaultPushNotificationMessage, ("Action", "Body", "SilentPush", "Title", "Url")
        )
    return models.DirectMessageConfiguration(**out)


def campaign_context(campaign_id: str, activity_id: str, treatment_id: int) -> dict[str, str]:
    """The attributes every event of a campaign send carries, as in Pinpoint's event records."""
    return {"campaign_id": campaign_id, "campaign_activity_id": activity_id, "treatment_id": str(treatment_id)}


def run_requests(
    content: Content, endpoint_ids: Sequence[str], *, campaign_id: str, activity_id: str, treatment_id: int,
    batch: int = BATCH, custom: bool = False, configs: Mapping[str, models.EndpointSendConfiguration] | None = None,
) -> list[models.MessageRequest]:
    """The MessageRequests that send one treatment's run to `endpoint_ids` (its recipients on stream channels).
    `custom`: the recipients its CustomDeliveryConfiguration takes, routed to the custom channel whatever their
    ChannelType (Context `gateway.channel`; the channel reads what to post from the run's delivery record).
    `configs`: an endpoint's own settings (the Substitutions a FILTER hook's changes make, hooks.changes)."""
    config = direct_configuration(content.messages)
    context = campaign_context(campaign_id, activity_id, treatment_id)
    if custom:
        config = models.DirectMessageConfiguration()
        context[CHANNEL_CONTEXT_KEY] = CUSTOM
    empty = models.EndpointSendConfiguration()
    return [
        models.MessageRequest(
            Endpoints=({eid: configs.get(eid, empty) for eid in endpoint_ids[i : i + batch]} if configs
                       else dict.fromkeys(endpoint_ids[i : i + batch], empty)),
            MessageConfiguration=config,
            TemplateConfiguration=None if custom else content.templates,
            Context=context,
            TraceId=f"{campaign_id}:{activity_id}",
        )
        for i in range(0, len(endpoint_ids), batch)
    ]
