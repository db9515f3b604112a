"""Every member of a WriteCampaignRequest checked against Pinpoint's rules, without I/O.

`check_campaign` takes the campaign as it would be stored (an UpdateCampaign request already merged over the
latest version, see `merge`) and raises CampaignValidationError naming the first member that breaks a rule
(`WriteCampaignRequest.Schedule.StartTime: ...`). What needs a store (the segment exists, is dynamic for an
EVENT campaign; the templates exist) is returned as `Lookups` for the store to check.

Rules and their sources (Pinpoint's API reference for Campaigns and its shapes; ../shared/reference/pinpoint.md §4):
- SegmentId and Schedule are required when creating; Schedule.StartTime is IMMEDIATE or ISO 8601 and not in
  the past (an update may keep the StartTime it had), EndTime after the start and not in the past.
- Schedule.Timezone is one of Pinpoint's offsets; QuietTime has both Start and End as HH:MM.
- EVENT and IN_APP_EVENT campaigns need an EventFilter (with an EventType) and no other frequency takes one; an
  EVENT campaign's segment must be dynamic; in-app content goes with IN_APP_EVENT and only with it.
- HoldoutPercent and each treatment's SizePercent are 0..100 and together at most 100; at most 4 additional
  treatments (TreatmentId 0 to 4); every treatment has content (a message, a template or a custom delivery).
- Limits: Daily and Total 0..100, MessagesPerSecond 1..20,000, MaximumDuration at least 60, Session >= 0.
- Push Message.Body at most 200 characters, JsonBody a JSON object; at most 15 email headers; CustomMessage.Data at most 5 KB.
- Campaigns take no VoiceTemplate ("This object isn't supported for campaigns").
- Gateway is self-hosted, so AWS Lambda targets (CampaignHook.LambdaFunctionName, a DeliveryUri that is a
  function name or ARN) are refused, naming the member; web hooks and custom delivery must be https URLs.
- Priority (in-app ordering) is 1..5.
- In-app content (inapp.content_problem): a Layout; one content item, one to five for a CAROUSEL; each with a
  header, a body or an image; buttons with a DefaultConfig and Text, a Link for LINK (http/https) and DEEP_LINK; an
  in-app campaign carries no other channel's content.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final
from urllib.parse import urlsplit

import msgspec

from gateway import models
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.inapp import content_problem
from gateway.campaigns.messages import json_body_data
from gateway.campaigns.schedule import IMMEDIATE, campaign_zone, parse_hhmm, parse_instant
from gateway.campaigns.triggers import check_event_filter

ROOT: Final = "WriteCampaignRequest"
MAX_TREATMENTS: Final = 4  # additional ones: TreatmentId 0 (the default) to 4
MAX_PUSH_BODY: Final = 200
MAX_EMAIL_HEADERS: Final = 15
MAX_CUSTOM_DATA: Final = 5 * 1024
_PUSH: Final = ("ADMMessage", "APNSMessage", "BaiduMessage", "DefaultMessage", "GCMMessage")


class TemplateRef(msgspec.Struct, frozen=True):
    """A template a campaign names: the store checks it exists (`member` names it in the refusal)."""

    kind: str
    name: str
    version: str | None
    member: str


class Lookups(msgspec.Struct, frozen=True):
    """What `check_campaign` leaves to the store: the templates exist; the segment is dynamic if `dynamic_segment`."""

    templates: tuple[TemplateRef, ...]
    dynamic_segment: bool


def _bad(member: str, why: str) -> CampaignValidationError:
    return CampaignValidationError(f"{ROOT}.{member}: {why}")


def merge(previous: models.CampaignResponse, request: models.WriteCampaignRequest) -> models.WriteCampaignRequest:
    """The campaign an UpdateCampaign asks for: members the request sets replace the latest version's, the others
    are kept. `tags` are not taken (deprecated for updates: TagResource manages them). A new SegmentId without a
    SegmentVersion follows that segment's latest version."""
    fields = {f: getattr(previous, f) for f in models.WriteCampaignRequest.__struct_fields__ if f != "tags"}
    fields["AdditionalTreatments"] = None if previous.AdditionalTreatments is None else [
        models.WriteTreatmentResource(
            **{f: getattr(t, f) for f in models.WriteTreatmentResource.__struct_fields__}
        )
        for t in previous.AdditionalTreatments
    ]
    for f in models.WriteCampaignRequest.__struct_fields__:
        value = getattr(request, f)
        if f != "tags" and value is not None:
            fields[f] = value
    if request.SegmentId is not None and request.SegmentId != previous.SegmentId and request.SegmentVersion is None:
        fields["SegmentVersion"] = None
    return models.WriteCampaignRequest(**fields)


def check_campaign(
    req: models.WriteCampaignRequest, *, now: dt.datetime, previous: models.CampaignResponse | None = None
) -> Lookups:
    """Check every member of the campaign `req` would store (see the module doc); `previous` is the latest version
    when updating. Returns what the store must still look up."""
    if not req.SegmentId:
        raise _bad("SegmentId", "is required")
    if req.SegmentVersion is not None and req.SegmentVersion < 1:
        raise _bad("SegmentVersion", "must be a positive version number")
    if req.Schedule is None:
        raise _bad("Schedule", "is required")
    kept_start = previous.Schedule.StartTime if previous is not None and previous.Schedule is not None else None
    _check_schedule(req.Schedule, "Schedule", now, kept_start)
    frequency = req.Schedule.Frequency or "ONCE"
    if req.HoldoutPercent is not None and not 0 <= req.HoldoutPercent <= 100:
        raise _bad("HoldoutPercent", f"must be 0 to 100, got {req.HoldoutPercent}")
    if req.Priority is not None and not 1 <= req.Priority <= 5:
        raise _bad("Priority", f"must be 1 (highest) to 5, got {req.Priority}")
    if req.Limits is not None:
        _check_limits(req.Limits)
    if req.Hook is not None:
        _check_hook(req.Hook)
    templates: list[TemplateRef] = []
    _check_content("", req.MessageConfiguration, req.TemplateConfiguration, req.CustomDeliveryConfiguration,
                   frequency, templates)
    treatments = req.AdditionalTreatments or []
    if len(treatments) > MAX_TREATMENTS:
        raise _bad("AdditionalTreatments", f"at most {MAX_TREATMENTS} treatments besides the default, got {len(treatments)}")
    total = req.HoldoutPercent or 0
    for i, t in enumerate(treatments):
        where = f"AdditionalTreatments[{i}]."
        if not 0 <= t.SizePercent <= 100:
            raise _bad(where + "SizePercent", f"must be 0 to 100, got {t.SizePercent}")
        total += t.SizePercent
        if t.Schedule is not None:
            _check_schedule(t.Schedule, where + "Schedule", now, _treatment_start(previous, i))
        t_frequency = (t.Schedule.Frequency or "ONCE") if t.Schedule is not None else frequency
        _check_content(where, t.MessageConfiguration, t.TemplateConfiguration, t.CustomDeliveryConfiguration,
                       t_frequency, templates)
    if total > 100:
        raise _bad("AdditionalTreatments", f"HoldoutPercent and the treatments' SizePercent add up to {total}, over 100")
    return Lookups(templates=tuple(templates), dynamic_segment=frequency == "EVENT")


def _treatment_start(previous: models.CampaignResponse | None, index: int) -> str | None:
    if previous is None or not previous.AdditionalTreatments or index >= len(previous.AdditionalTreatments):
        return None
    schedule = previous.AdditionalTreatments[index].Schedule
    return schedule.StartTime if schedule is not None else None


def _check_schedule(s: models.Schedule, where: str, now: dt.datetime, kept_start: str | None) -> None:
    try:
        zone = campaign_zone(s.Timezone)
    except ValueError as exc:
        raise _bad(where + ".Timezone", str(exc)) from None
    start = now
    if s.StartTime != IMMEDIATE:
        try:
            start = parse_instant(s.StartTime, zone)
        except ValueError as exc:
            raise _bad(where + ".StartTime", f"must be IMMEDIATE or an ISO 8601 date-time: {exc}") from None
        if start < now and s.StartTime != kept_start:
            raise _bad(where + ".StartTime", f"{s.StartTime} is in the past")
    if s.EndTime is not None:
        try:
            end = parse_instant(s.EndTime, zone)
        except ValueError as exc:
            raise _bad(where + ".EndTime", str(exc)) from None
        if end <= start:
            raise _bad(where + ".EndTime", f"{s.EndTime} is not after the start time")
        if end < now:
            raise _bad(where + ".EndTime", f"{s.EndTime} is in the past")
    frequency = s.Frequency or "ONCE"
    if frequency in ("EVENT", "IN_APP_EVENT"):
        if s.EventFilter is None:
            raise _bad(where + ".EventFilter", f"is required when Frequency is {frequency}")
        _check_event_filter(s.EventFilter, where + ".EventFilter")
    elif s.EventFilter is not None:
        raise _bad(where + ".EventFilter", f"applies only to EVENT and IN_APP_EVENT campaigns, not {frequency}")
    if s.QuietTime is not None:
        q = s.QuietTime
        if (q.Start is None) != (q.End is None):
            raise _bad(where + ".QuietTime", "needs both Start and End")
        for name, value in (("Start", q.Start), ("End", q.End)):
            if value is not None:
                try:
                    parse_hhmm(value)
                except ValueError as exc:
                    raise _bad(f"{where}.QuietTime.{name}", str(exc)) from None


def _check_event_filter(f: models.CampaignEventFilter, where: str) -> None:
    problem = check_event_filter(f)
    if problem is not None:
        raise CampaignValidationError(f"{ROOT}.{where}.{problem}")


def _check_limits(limits: models.CampaignLimits) -> None:
    bounds = {"Daily": (0, 100), "Total": (0, 100), "MessagesPerSecond": (1, 20_000), "MaximumDuration": (60, None),
              "Session": (0, None)}
    for name, (low, high) in bounds.items():
        value = getattr(limits, name)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            span = f"{low} to {high}" if high is not None else f"at least {low}"
            raise _bad(f"Limits.{name}", f"must be {span}, got {value}")


#: The characters RFC 3986 allows in a URI (unreserved, reserved and percent-encoding).
_RFC3986: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _https(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and _RFC3986.fullmatch(url) is not None


def _check_hook(hook: models.CampaignHook) -> None:
    if hook.LambdaFunctionName is not None:
        raise _bad("Hook.LambdaFunctionName", "Gateway runs no AWS Lambda functions: give the hook as WebUrl (https)")
    if hook.WebUrl is None:
        raise _bad("Hook.WebUrl", "is required (an https URL)")
    if not _https(hook.WebUrl):
        raise _bad("Hook.WebUrl", "must be an https URL")


def _check_content(
    where: str,
    messages: models.MessageConfiguration | None,
    templates: models.TemplateConfiguration | None,
    custom: models.CustomDeliveryConfiguration | None,
    frequency: str,
    refs: list[TemplateRef],
) -> None:
    has_message = messages is not None and any(getattr(messages, f) is not None for f in messages.__struct_fields__)
    has_template = templates is not None and any(getattr(templates, f) is not None for f in templates.__struct_fields__)
    if not (has_message or has_template or custom is not None):
        raise _bad(where + "MessageConfiguration",
                   "a treatment needs content: a MessageConfiguration message, a TemplateConfiguration template or "
                   "a CustomDeliveryConfiguration")
    in_app = (messages is not None and messages.InAppMessage is not None) or (
        templates is not None and templates.InAppTemplate is not None
    )
    if in_app != (frequency == "IN_APP_EVENT"):
        raise _bad(where + "Schedule.Frequency",
                   "in-app content (InAppMessage, InAppTemplate) goes with Frequency IN_APP_EVENT and only with it")
    if in_app and (custom is not None or _other_channels(messages, templates)):
        raise _bad(where + "MessageConfiguration",
                   "an in-app campaign (Frequency IN_APP_EVENT) carries only InAppMessage or InAppTemplate")
    if messages is not None:
        _check_messages(where + "MessageConfiguration.", messages, templates)
    if templates is not None:
        if templates.VoiceTemplate is not None:
            raise _bad(where + "TemplateConfiguration.VoiceTemplate", "is not supported for campaigns")
        for member, kind in (("EmailTemplate", "EMAIL"), ("PushTemplate", "PUSH"), ("SMSTemplate", "SMS"),
                             ("InAppTemplate", "INAPP")):
            t: models.Template | None = getattr(templates, member)
            if t is None:
                continue
            path = f"{ROOT}.{where}TemplateConfiguration.{member}"
            if not t.Name:
                raise CampaignValidationError(f"{path}.Name: is required")
            refs.append(TemplateRef(kind=kind, name=t.Name, version=t.Version, member=path))
    if custom is not None:
        uri = custom.DeliveryUri
        member = where + "CustomDeliveryConfiguration.DeliveryUri"
        if uri.startswith("arn:") or "://" not in uri:
            raise _bad(member, "Gateway runs no AWS Lambda functions: give an https URL")
        if not _https(uri):
            raise _bad(member, "must be an https URL of RFC 3986 characters")
    has_custom_message = messages is not None and messages.CustomMessage is not None
    if custom is not None and not has_custom_message:
        raise _bad(where + "MessageConfiguration.CustomMessage",
                   "is required with a CustomDeliveryConfiguration (its Data is what the custom channel posts)")
    if custom is None and has_custom_message:
        raise _bad(where + "MessageConfiguration.CustomMessage",
                   "goes with a CustomDeliveryConfiguration (the custom channel's DeliveryUri), which is missing")


def _other_channels(messages: models.MessageConfiguration | None, templates: models.TemplateConfiguration | None) -> bool:
    """Content for a channel other than in-app."""
    others = [getattr(messages, f) for f in messages.__struct_fields__ if f != "InAppMessage"] if messages else []
    others += [getattr(templates, f) for f in templates.__struct_fields__ if f != "InAppTemplate"] if templates else []
    return any(v is not None for v in others)


def _check_messages(
    where: str, m: models.MessageConfiguration, templates: models.TemplateConfiguration | None
) -> None:
    """A message's own checks; its text may come from the channel's template instead (EmailMessage then carries only
    FromAddress, SMSMessage only OriginationNumber or SenderId)."""
    for name in _PUSH:
        push: models.Message | None = getattr(m, name)
        if push is not None and push.Body is not None and len(push.Body) > MAX_PUSH_BODY:
            raise _bad(f"{where}{name}.Body", f"at most {MAX_PUSH_BODY} characters, got {len(push.Body)}")
        if push is not None and push.JsonBody is not None:
            try:
                json_body_data(push.JsonBody)
            except (ValueError, RecursionError):
                raise _bad(f"{where}{name}.JsonBody", "must be a JSON object") from None
    if m.EmailMessage is not None:
        e = m.EmailMessage
        if e.Headers is not None and len(e.Headers) > MAX_EMAIL_HEADERS:
            raise _bad(where + "EmailMessage.Headers", f"at most {MAX_EMAIL_HEADERS} headers, got {len(e.Headers)}")
        if e.Body is None and e.HtmlBody is None and (templates is None or templates.EmailTemplate is None):
            raise _bad(where + "EmailMessage", "needs a Body or an HtmlBody (or an EmailTemplate)")
    if m.SMSMessage is not None and not m.SMSMessage.Body and (templates is None or templates.SMSTemplate is None):
        raise _bad(where + "SMSMessage.Body", "is required (or an SMSTemplate)")
    if m.CustomMessage is not None and m.CustomMessage.Data is not None:
        size = len(m.CustomMessage.Data.encode())
        if size > MAX_CUSTOM_DATA:
            raise _bad(where + "CustomMessage.Data", f"at most {MAX_CUSTOM_DATA} bytes, got {size}")
    if m.InAppMessage is not None and (templates is None or templates.InAppTemplate is None):
        problem = content_problem(m.InAppMessage.Layout, m.InAppMessage.Content)
        if problem is not None:
            raise _bad(f"{where}InAppMessage.{problem[0]}", problem[1])


#: The refusal's prefix for members Pinpoint accepts but this gateway's campaign runner does not honour yet.
UNSUPPORTED: Final = "not supported yet by this gateway: "
#: The Limits members the runner honours (limits.py: MessagesPerSecond paces the enqueueing of a run; Daily, Total
#: and MaximumDuration are checked per recipient).
SUPPORTED_LIMITS: Final = frozenset({"MessagesPerSecond", "Daily", "Total", "MaximumDuration"})
#: ... and for an in-app campaign, whose Session, Daily and Total are the SessionCap, DailyCap and TotalCap that
#: GetInAppMessages returns (inapp.py).
IN_APP_LIMITS: Final = frozenset({"MessagesPerSecond", "Session", "Daily", "Total"})


def check_supported(req: models.WriteCampaignRequest) -> None:
    """Refuse (CampaignValidationError naming the member) what Pinpoint accepts but the campaign runner would not
    honour, so nothing is stored and then silently ignored: MessagesPerSecond on EVENT campaigns, the Session
    limit outside in-app campaigns, and a treatment Schedule whose Frequency
    or EventFilter differs from the campaign's (a treatment's run n is run n of its own schedule within the
    campaign's run n, so they must recur alike; its start, end, local time, zone and quiet time may differ,
    plan.py). Priority orders in-app messages (GetInAppMessages) and is kept for any campaign, as Pinpoint keeps
    it."""
    assert req.Schedule is not None  # check_campaign requires it
    frequency = req.Schedule.Frequency or "ONCE"
    if frequency == "EVENT" and req.Limits is not None and req.Limits.MessagesPerSecond is not None:
        raise _bad("Limits.MessagesPerSecond", UNSUPPORTED + "MessagesPerSecond on an EVENT campaign (each event "
                   "sends one message at once)")
    if req.Limits is not None:
        honoured = IN_APP_LIMITS if frequency == "IN_APP_EVENT" else SUPPORTED_LIMITS
        for name in req.Limits.__struct_fields__:
            if name not in honoured and getattr(req.Limits, name) is not None:
                raise _bad(f"Limits.{name}", UNSUPPORTED + f"Limits.{name} (only {', '.join(sorted(honoured))} "
                           + ("are honoured for in-app campaigns)" if frequency == "IN_APP_EVENT" else "are honoured)"))
    for i, t in enumerate(req.AdditionalTreatments or []):
        where = f"AdditionalTreatments[{i}]."
        if t.Schedule is not None:
            if (t.Schedule.Frequency or "ONCE") != frequency:
                raise _bad(where + "Schedule.Frequency", UNSUPPORTED + f"a treatment Frequency ({t.Schedule.Frequency}) "
                           f"other than the campaign's ({frequency}): a treatment's runs are the campaign's runs")
            if t.Schedule.EventFilter != req.Schedule.EventFilter:
                raise _bad(where + "Schedule.EventFilter", UNSUPPORTED + "a treatment EventFilter other than the "
                           "campaign's")


def is_https_url(url: str) -> bool:
    """Whether `url` is an https URL of RFC 3986 characters with a host (journeys' CUSTOM DeliveryUri uses it too)."""
    return _https(url)
