"""A campaign's per-endpoint limits: which are in force, and which recipients a run may still reach. Pure (no I/O,
no clock: callers pass `now`); capstore.py keeps the counters in Redis.

Pinpoint's CampaignLimits (API reference, CampaignLimits; ../shared/reference/pinpoint.md §4):
- **Daily**: messages a campaign may send one endpoint in 24 hours. Counted over a rolling window (the last 24 h
  before the send), not per calendar day.
- **Total**: messages a campaign may send one endpoint over its whole life, across its recurrences.
- **MaximumDuration**: seconds after the scheduled start that delivery may still be attempted. The scheduled
  start of a recipient is its own delivery time (the run's start, or its wall time in its zone for a local-time
  run), so a local-time run is not cut short for the zones that come last.
- The application's settings (ApplicationSettings.Limits) are the defaults: "If you configure settings for an
  individual campaign ... those settings override the settings that you choose on the General settings page"
  (Pinpoint user guide, Editing a project's default settings). The application's Daily is "the maximum number of
  messages that can be sent to a single endpoint during a 24-hour period by all the campaigns in the project": so
  it is counted over every campaign of the application, while a campaign's own Daily counts that campaign's
  messages. A campaign without its own Total or MaximumDuration takes the application's.
- Daily or Total 0 is no limit (as Pinpoint's journey caps say of 0, "this limit will not apply"): a campaign
  that may send nothing is not what anyone sets a limit of 0 for.

MaximumDuration is applied twice: a recipient already past it is not enqueued (below), and every request
enqueued carries the deadline (`request_deadline_ms`) so the engine does not send it later either, however long
it waits in the stream or for a retry (the engine's `deadline_ms` stream field: PERMANENT_FAILURE and an event).

An endpoint a limit stops is counted in the run metrics under the reason Pinpoint's campaign events give for it
(`campaign_send_status`): DAILY_CAP, CAMPAIGN_CAP (Total), EXPIRED (MaximumDuration). Pinpoint's run-metrics
table has no name for these; the event names are the closest official ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final, NamedTuple

from gateway import models

DAILY_CAP: Final = "DAILY_CAP"
CAMPAIGN_CAP: Final = "CAMPAIGN_CAP"
EXPIRED: Final = "EXPIRED"
#: The Daily window.
DAY: Final = dt.timedelta(hours=24)


class Caps(NamedTuple):
    """The limits a campaign's run observes. `daily` and `total` count the campaign's own messages, `app_daily` all
    campaigns' messages (in force only when the campaign sets no Daily); `track_app` says the application has a
    Daily, so this campaign's messages count towards it. None: no such limit."""

    daily: int | None
    total: int | None
    app_daily: int | None
    track_app: bool
    max_duration: dt.timedelta | None

    @property
    def counted(self) -> bool:
        """Whether a send must go through the per-endpoint counters at all."""
        return self.daily is not None or self.total is not None or self.app_daily is not None or self.track_app


def effective_caps(campaign: models.CampaignLimits | None, application: models.CampaignLimits | None) -> Caps:
    """The limits in force for a campaign with Limits `campaign` in an application with settings Limits
    `application` (the module doc: the campaign's members override the application's defaults)."""
    c = campaign or models.CampaignLimits()
    a = application or models.CampaignLimits()
    total = _cap(c.Total) if c.Total is not None else _cap(a.Total)
    duration = c.MaximumDuration if c.MaximumDuration is not None else a.MaximumDuration
    return Caps(
        daily=_cap(c.Daily),
        total=total,
        app_daily=_cap(a.Daily) if c.Daily is None else None,
        track_app=_cap(a.Daily) is not None,
        max_duration=None if duration is None else dt.timedelta(seconds=duration),
    )


def _cap(value: int | None) -> int | None:
    return value if value else None  # 0 is no limit (module doc)


def deadline(at: dt.datetime, caps: Caps) -> dt.datetime | None:
    """The last instant a recipient due at `at` may still be enqueued or sent (None: no MaximumDuration)."""
    return None if caps.max_duration is None else at + caps.max_duration


def request_deadline_ms(ats: Iterable[dt.datetime], caps: Caps) -> int | None:
    """The `deadline_ms` of a request to recipients due at `ats`: the engine sends none of them after the
    earliest one's deadline, so no recipient is sent past its own (None: no MaximumDuration)."""
    if caps.max_duration is None:
        return None
    end = deadline(min(ats), caps)
    assert end is not None
    return int(end.timestamp() * 1000)


def expired(at: dt.datetime, caps: Caps, now: dt.datetime) -> bool:
    """A recipient due at `at` is past MaximumDuration at `now`: it is not enqueued (EXPIRED)."""
    end = deadline(at, caps)
    return end is not None and now > end
