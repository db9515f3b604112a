"""Campaign time logic, pure (no I/O, no clock of its own: callers pass `now`): Pinpoint's time zones and ISO
times, a schedule's run times, each endpoint's local delivery time and quiet time.

Schedule.Timezone is not a tz database name but "the starting UTC offset for the campaign schedule" from a fixed
list (Pinpoint's API reference, Schedule); `TIMEZONES` is that list. Endpoints carry tz database names in
Demographic.Timezone, read with zoneinfo so DST transitions are those of the zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator
from typing import Final, NamedTuple

from gateway.models import QuietTime, Schedule

IMMEDIATE: Final = "IMMEDIATE"


def _offsets() -> dict[str, dt.timezone]:
    east = ["01", "02", "03", "03:30", "04", "04:30", "05", "05:30", "05:45", "06", "06:30", "07", "08", "09",
            "09:30", "10", "10:30", "11", "12", "13"]
    west = [f"{h:02d}" for h in range(2, 12)]
    out = {"UTC": dt.UTC}
    for sign, names in (("+", east), ("-", west)):
        for name in names:
            hours, _, minutes = name.partition(":")
            delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
            out[f"UTC{sign}{name}"] = dt.timezone(delta if sign == "+" else -delta)
    return out


#: Schedule.Timezone's valid values (Pinpoint's API reference lists exactly these) and their offsets.
TIMEZONES: Final[dict[str, dt.timezone]] = _offsets()

_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\Z")


def campaign_zone(timezone: str | None) -> dt.timezone:
    """The offset of Schedule.Timezone (UTC when absent); ValueError for a value outside Pinpoint's list."""
    if timezone is None:
        return dt.UTC
    zone = TIMEZONES.get(timezone)
    if zone is None:
        raise ValueError(f"{timezone[:40]!r} is not one of Pinpoint's values (UTC, UTC+01 ... UTC+13, UTC-02 ... UTC-11)")
    return zone


def parse_instant(text: str, default_zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """An ISO 8601 date-time as an aware datetime; one without an offset is read in `default_zone`.
    ValueError when it is not ISO 8601."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=default_zone)


def parse_hhmm(text: str) -> dt.time:
    """A QuietTime bound, "HH:MM" in 24-hour form; ValueError otherwise."""
    m = _HHMM.match(text)
    if m is None:
        raise ValueError(f"{text[:20]!r} is not HH:MM (00:00 to 23:59)")
    return dt.time(int(m.group(1)), int(m.group(2)))


# -- run times ----------------------------------------------------------------------------------------------------
#
# A campaign's runs are wall-clock times in the campaign's zone (Schedule.Timezone, a fixed offset): the start, then
# one per step of the frequency, before EndTime. Without IsLocalTime a run is that instant for everyone. With
# IsLocalTime each endpoint gets the run at the same wall-clock time in its own Demographic.Timezone (tz database,
# DST included); the campaign's zone is "the starting UTC offset", so a run starts at its wall time there and no
# endpoint gets it earlier (an endpoint whose wall time is already past then gets it at the run's start, `late`).
# An endpoint without a valid Demographic.Timezone has no local time: Pinpoint counts it as the run metric
# ENDPOINT_MISSING_TIMEZONE (a reason an endpoint is not messaged, pinpoint.md §5), so it gets no delivery.
# EVENT campaigns have no scheduled runs: events trigger them. An IN_APP_EVENT campaign has one run, at its start,
# that stores its message for the segment's in-app endpoints (inapp.py): the event filter fires on the device.

_STEPS: Final = {"HOURLY": dt.timedelta(hours=1), "DAILY": dt.timedelta(days=1), "WEEKLY": dt.timedelta(days=7)}
#: The widest offsets a tz database zone has (UTC-12 to UTC+14): a local-time run's deliveries lie between them.
WESTMOST: Final = dt.timedelta(hours=-12)
EASTMOST: Final = dt.timedelta(hours=14)


class Run(NamedTuple):
    """One scheduled run: `number` from 0, `wall` its naive wall-clock time, `start` the instant it starts (UTC) and
    `last` the instant of its last possible delivery (`start` unless local time spreads it over the zones)."""

    number: int
    wall: dt.datetime
    start: dt.datetime
    last: dt.datetime


class Delivery(NamedTuple):
    """When one endpoint gets a run: `at` (UTC), or None with `zone_missing` for a local-time run and an endpoint
    whose Demographic.Timezone is absent or not a tz database name; `late` when its wall time was before the
    run's start (it gets the run at the start)."""

    at: dt.datetime | None
    zone_missing: bool
    late: bool


def first_start(schedule: Schedule, created: dt.datetime) -> dt.datetime:
    """The instant the campaign starts: StartTime read in the campaign's zone, or `created` for IMMEDIATE."""
    if schedule.StartTime == IMMEDIATE:
        return created.astimezone(dt.UTC)
    return parse_instant(schedule.StartTime, campaign_zone(schedule.Timezone)).astimezone(dt.UTC)


def _add_months(wall: dt.datetime, months: int) -> dt.datetime:
    # Pinpoint repeats a monthly run on the start's day of month; a shorter month gets its last day (the 31st
    # runs on Feb 28, then on Mar 31 again: always counted from the start, never from the clamped day).
    total = wall.month - 1 + months
    year, month = wall.year + total // 12, total % 12 + 1
    return wall.replace(year=year, month=month, day=min(wall.day, calendar.monthrange(year, month)[1]))


def _wall(schedule: Schedule, created: dt.datetime, index: int) -> dt.datetime | None:
    frequency = schedule.Frequency or "ONCE"
    zone = campaign_zone(schedule.Timezone)
    start = first_start(schedule, created).astimezone(zone).replace(tzinfo=None)
    if frequency == "EVENT" or (frequency in ("ONCE", "IN_APP_EVENT") and index > 0):
        return None
    if frequency == "MONTHLY":
        wall = _add_months(start, index)
    else:
        wall = start + _STEPS.get(frequency, dt.timedelta(0)) * index
    if schedule.EndTime is not None:
        end = parse_instant(schedule.EndTime, zone).astimezone(zone).replace(tzinfo=None)
        if wall >= end:
            return None
    return wall


def run_at(schedule: Schedule, created: dt.datetime, index: int) -> Run | None:
    """Run number `index` of a campaign created at `created`, or None when there is none (past EndTime, after
    the one run of ONCE or IN_APP_EVENT, or an EVENT campaign)."""
    wall = _wall(schedule, created, index)
    if wall is None:
        return None
    start = wall.replace(tzinfo=campaign_zone(schedule.Timezone)).astimezone(dt.UTC)
    last = (wall - WESTMOST).replace(tzinfo=dt.UTC) if schedule.IsLocalTime else start
    return Run(index, wall, start, max(start, last))


def next_run(schedule: Schedule, created: dt.datetime, now: dt.datetime) -> Run | None:
    """The first run that starts at or after `now` (None when no run is left), found by arithmetic, not by
    walking every hour of a long campaign."""
    frequency = schedule.Frequency or "ONCE"
    begin = first_start(schedule, created)
    index = 0
    if now > begin:
        if frequency in _STEPS:
            index = -(-(now - begin) // _STEPS[frequency])  # ceiling division of timedeltas
        elif frequency == "MONTHLY":
            zone = campaign_zone(schedule.Timezone)
            a, b = begin.astimezone(zone), now.astimezone(zone)
            index = max(0, (b.year - a.year) * 12 + b.month - a.month - 1)
        else:
            index = 1  # ONCE, IN_APP_EVENT: its one run has started
    while (run := run_at(schedule, created, index)) is not None:
        if run.start >= now:
            return run
        index += 1
    return None


def runs(schedule: Schedule, created: dt.datetime, since: dt.datetime, until: dt.datetime) -> Iterator[Run]:
    """Every run that starts in [since, until)."""
    run = next_run(schedule, created, since)
    while run is not None and run.start < until:
        yield run
        run = run_at(schedule, created, run.number + 1)


# -- endpoints' zones ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def endpoint_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The tz database zone of an endpoint's Demographic.Timezone, or None when absent or not a valid name."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_delivery(schedule: Schedule, run: Run, endpoint_timezone: str | None) -> Delivery:
    """When an endpoint with Demographic.Timezone `endpoint_timezone` gets `run` (see the notes above `Run`).
    A wall time a DST change skips is delivered as if the clock had not moved (02:30 on a spring-forward night is
    03:30 there); one it repeats, at its first occurrence."""
    if not schedule.IsLocalTime:
        return Delivery(run.start, False, False)
    zone = endpoint_zone(endpoint_timezone)
    if zone is None:
        return Delivery(None, True, False)
    local = run.wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    return Delivery(max(local, run.start), False, local < run.start)


def effective_quiet_time(campaign: QuietTime | None, application: QuietTime | None) -> QuietTime | None:
    """The quiet time a campaign observes: its own when it sets one, else the application's settings."""
    if campaign is not None and campaign.Start is not None:
        return campaign
    if application is not None and application.Start is not None:
        return application
    return None


def in_quiet_time(quiet: QuietTime | None, endpoint_timezone: str | None, at: dt.datetime) -> bool:
    """Pinpoint's rule: quiet only if the endpoint's Demographic.Timezone is valid and its local time at `at` is
    at or after Start and at or before End (to the minute; a window past midnight, 22:00 to 07:00, wraps).
    Otherwise the endpoint gets the message "even if quiet time is enabled"."""
    if quiet is None or quiet.Start is None or quiet.End is None:
        return False
    zone = endpoint_zone(endpoint_timezone)
    if zone is None:
        return False
    local = at.astimezone(zone)
    minute = dt.time(local.hour, local.minute)
    start, end = parse_hhmm(quiet.Start), parse_hhmm(quiet.End)
    if start <= end:
        return start <= minute <= end
    return minute >= start or minute <= end
