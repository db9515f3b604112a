"""Campaign time logic, pure (no I/O, no clock of its own): Pinpoint's time zones and ISO times.

Schedule.Timezone is not a tz database name but "the starting UTC offset for the campaign schedule" from a fixed
list (Pinpoint's API reference, Schedule); `TIMEZONES` is that list. Endpoints carry tz database names in
Demographic.Timezone, read with zoneinfo so DST transitions are those of the zone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

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
