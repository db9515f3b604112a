"""The in-app channel of campaigns, pure (no I/O, no clock): what an in-app message may contain, and which stored
messages GetInAppMessages answers for an endpoint, in which order. The I/O shell is inappstore.py.

Pinpoint's model (developer guide, "Sending and retrieving in-app messages"; the Amplify SDK's in-app provider):
an in-app campaign (Frequency IN_APP_EVENT) is not delivered over a wire. Its run stores the message for every
endpoint of its segment whose ChannelType is IN_APP; the app calls GetInAppMessages and gets every message the
endpoint is entitled to, each with its Priority, its Schedule (EndDate, the EventFilter and QuietTime) and its
SessionCap, DailyCap and TotalCap (the campaign's Limits.Session, Daily and Total). The SDK shows a message when
an event matching its EventFilter fires on the device, picks the highest priority (1) among the matching ones,
and counts displays itself: per campaign per session, all in-app displays per day, per campaign in total (0 or
absent: no cap). It records `_inapp.message_displayed`, `_inapp.message_clicked` and `_inapp.message_dismissed`
through PutEvents.

Gateway answers as Pinpoint does and, as a backstop for a client that lost its counts (reinstalled, cleared
storage), also leaves out what the `_inapp.message_displayed` events it received put over a cap: TotalCap per
campaign, DailyCap over all in-app displays of the endpoint in the current UTC day (the SDK counts the device's
local day). SessionCap is the SDK's alone: GetInAppMessages names no session.

Validation follows Pinpoint's API reference (CampaignInAppMessage, InAppMessageContent, InAppMessageButton,
DefaultButtonConfiguration, OverrideButtonConfiguration) and the user guide: a CAROUSEL has one to five content
items ("a carousel that contains up to five unique messages"), every other layout exactly one; a LINK or
DEEP_LINK button needs its Link, a LINK an http(s) URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from gateway import keys, models

MAX_CAROUSEL: Final = 5
#: The most in-app messages kept per endpoint: storing one more drops the oldest stored.
MAX_PER_ENDPOINT: Final = 100
DISPLAYED: Final = "_inapp.message_displayed"
#: A display count per day is kept this long (the day it counts, and one more for clocks around midnight).
DAY_TTL_S: Final = 2 * 86_400
_LINKED: Final = frozenset({"LINK", "DEEP_LINK"})


def messages_key(app: str, endpoint_id: str) -> str:
    """zset `<campaign id>:<treatment id>` -> when it was stored (ms): the endpoint's in-app messages."""
    return keys.app_key(app, "inapp", endpoint_id)


def shown_key(app: str, endpoint_id: str) -> str:
    """hash campaign id -> `_inapp.message_displayed` events received for the endpoint (its total count)."""
    return keys.app_key(app, "inapp", endpoint_id, "shown")


def day_key(app: str, endpoint_id: str, day: dt.date) -> str:
    """counter: `_inapp.message_displayed` events of the endpoint in UTC day `day`, all campaigns."""
    return keys.app_key(app, "inapp", endpoint_id, "day", day.isoformat())


def seen_key(app: str, endpoint_id: str, event_id: str) -> str:
    """marker: the endpoint's display event `event_id` is counted (a resent event is not counted again)."""
    return keys.app_key(app, "inapp", endpoint_id, "seen", event_id)


def member(campaign_id: str, treatment_id: int) -> str:
    return f"{campaign_id}:{treatment_id}"


def parse_member(value: str) -> tuple[str, int] | None:
    """(campaign id, treatment id) of a stored member; None when it is not one."""
    cid, _, tid = value.rpartition(":")
    return (cid, int(tid)) if cid and tid.isdigit() else None


# -- validation ---------------------------------------------------------------------------------------------------


def _url(value: str, schemes: frozenset[str] | None) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if any(c.isspace() for c in value) or not parts.scheme:
        return False
    return schemes is None or (parts.scheme in schemes and bool(parts.hostname))


_WEB: Final = frozenset({"http", "https"})


def _button_problem(button: models.InAppMessageButton) -> tuple[str, str] | None:
    if button.DefaultConfig is None:
        return "DefaultConfig", "is required"
    if not button.DefaultConfig.Text:
        return "DefaultConfig.Text", "is required"
    configs: list[tuple[str, models.DefaultButtonConfiguration | models.OverrideButtonConfiguration | None]] = [
        ("DefaultConfig", button.DefaultConfig), ("Android", button.Android), ("IOS", button.IOS), ("Web", button.Web)
    ]
    for name, config in configs:
        if config is None:
            continue
        if config.ButtonAction in _LINKED and not config.Link:
            return f"{name}.Link", f"is required when ButtonAction is {config.ButtonAction}"
        if config.ButtonAction == "LINK" and config.Link and not _url(config.Link, _WEB):
            return f"{name}.Link", "must be an http or https URL for ButtonAction LINK"
        if config.ButtonAction == "DEEP_LINK" and config.Link and not _url(config.Link, None):
            return f"{name}.Link", "must be a URI (scheme:...) for ButtonAction DEEP_LINK"
    return None


def content_problem(
    layout: str | None, content: Sequence[models.InAppMessageContent] | None, *, complete: bool = True
) -> tuple[str, str] | None:
    """The first member (relative to the message) of an in-app message's Layout and Content that Pinpoint would
    refuse, with why; None when it is valid. `complete`: a Layout and content are required (a campaign's message;
    an InAppTemplateRequest may leave them out, what it gives is checked alike)."""
    if layout is None and complete:
        return "Layout", "is required"
    if not content:
        return ("Content", "needs at least one content item") if complete else None
    most = MAX_CAROUSEL if layout in (None, "CAROUSEL") else 1
    if len(content) > most:
        layout = layout or "CAROUSEL"
        what = f"at most {MAX_CAROUSEL} content items" if layout == "CAROUSEL" else "exactly one content item"
        return "Content", f"a {layout} message has {what}, got {len(content)}"
    for i, item in enumerate(content):
        where = f"Content[{i}]."
        if item.HeaderConfig is None and item.BodyConfig is None and item.ImageUrl is None:
            return where.rstrip("."), "needs a HeaderConfig, a BodyConfig or an ImageUrl"
        if item.HeaderConfig is not None and not item.HeaderConfig.Header:
            return where + "HeaderConfig.Header", "is required"
        if item.BodyConfig is not None and not item.BodyConfig.Body:
            return where + "BodyConfig.Body", "is required"
        if item.ImageUrl is not None and not _url(item.ImageUrl, _WEB):
            return where + "ImageUrl", "must be an http or https URL"
        for name in ("PrimaryBtn", "SecondaryBtn"):
            button: models.InAppMessageButton | None = getattr(item, name)
            if button is not None and (problem := _button_problem(button)) is not None:
                return f"{where}{name}.{problem[0]}", problem[1]
    return None


# -- eligibility --------------------------------------------------------------------------------------------------


class Stored(NamedTuple):
    """One message stored for an endpoint: its campaign and treatment, and when it was stored (ms)."""

    campaign_id: str
    treatment_id: int
    stored_ms: int


class Candidate(NamedTuple):
    """A stored message with what its campaign says now: `doc` its latest version (None: deleted), `paused`,
    `message` the treatment's InAppMessage (None: the treatment or its template is gone)."""

    stored: Stored
    doc: models.CampaignResponse | None
    paused: bool
    message: models.InAppMessage | None


def latest_per_campaign(stored: Sequence[Stored]) -> list[Stored]:
    """One stored message per campaign: the one stored last (a treatment stored again replaces the older)."""
    best: dict[str, Stored] = {}
    for s in stored:
        if s.campaign_id not in best or s.stored_ms > best[s.campaign_id].stored_ms:
            best[s.campaign_id] = s
    return list(best.values())


def end_instant(schedule: models.Schedule) -> dt.datetime | None:
    """When an in-app campaign's messages expire: its Schedule.EndTime (None: never)."""
    from gateway.campaigns.schedule import campaign_zone, parse_instant

    if schedule.EndTime is None:
        return None
    return parse_instant(schedule.EndTime, campaign_zone(schedule.Timezone)).astimezone(dt.UTC)


def is_dead(c: Candidate, now: dt.datetime) -> bool:
    """A stored message that can never be eligible again (its campaign deleted, no longer in-app, expired, or its
    treatment removed): GetInAppMessages drops it from the endpoint's store."""
    if c.doc is None or c.doc.Schedule is None or c.doc.Schedule.Frequency != "IN_APP_EVENT":
        return True
    end = end_instant(c.doc.Schedule)
    return end is not None and now >= end


def _cap(value: int | None) -> int | None:
    return value if value else None  # 0 or absent: no cap, as the SDK reads it


def answer(
    candidates: Sequence[Candidate], *, now: dt.datetime, shown: Mapping[str, int], shown_today: int
) -> list[models.InAppMessageCampaign]:
    """GetInAppMessages' InAppMessageCampaigns: the candidates eligible now (not dead, not paused, with a message,
    under TotalCap by `shown` per campaign and under DailyCap by `shown_today`), highest Priority first (1; a
    campaign without one after those with), then the oldest stored, then by campaign id."""
    out: list[tuple[tuple[int, int, str], models.InAppMessageCampaign]] = []
    for c in candidates:
        if is_dead(c, now) or c.paused or c.message is None:
            continue
        doc = c.doc
        assert doc is not None and doc.Schedule is not None
        limits = doc.Limits or models.CampaignLimits()
        total, daily = _cap(limits.Total), _cap(limits.Daily)
        if total is not None and shown.get(c.stored.campaign_id, 0) >= total:
            continue
        if daily is not None and shown_today >= daily:
            continue
        end = end_instant(doc.Schedule)
        schedule = models.InAppCampaignSchedule(
            EndDate=None if end is None else end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            EventFilter=doc.Schedule.EventFilter,
            QuietTime=doc.Schedule.QuietTime,
        )
        item = models.InAppMessageCampaign(
            CampaignId=c.stored.campaign_id,
            TreatmentId=str(c.stored.treatment_id),
            Priority=doc.Priority,
            InAppMessage=c.message,
            Schedule=schedule,
            SessionCap=_cap(limits.Session),
            DailyCap=daily,
            TotalCap=total,
        )
        rank = doc.Priority if doc.Priority is not None else 6
        out.append(((rank, c.stored.stored_ms, c.stored.campaign_id), item))
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out]


def in_app_message(
    messages: models.MessageConfiguration | None, template: models.InAppTemplateResponse | None
) -> models.InAppMessage | None:
    """The InAppMessage a treatment shows: its InAppTemplate's when it names one (as for other channels, the
    template is the content), else its MessageConfiguration.InAppMessage; None when it has neither."""
    if template is not None:
        return models.InAppMessage(Content=template.Content, CustomConfig=template.CustomConfig, Layout=template.Layout)
    m = messages.InAppMessage if messages is not None else None
    if m is None:
        return None
    return models.InAppMessage(Content=m.Content, CustomConfig=m.CustomConfig, Layout=m.Layout)
