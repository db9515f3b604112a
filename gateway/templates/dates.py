"""Java `SimpleDateFormat` patterns for Pinpoint's `dateFormat` and `now` helpers (English, as Pinpoint renders).

Supported pattern letters: G y M L d E u a H k K h m s S z Z X D, quoted text ('...' and ''). Styles `full`,
`long`, `medium` (the default) and `short` are the date styles of Java's en_US locale (CLDR). Time zones are IANA
names (zoneinfo); an unknown name means UTC, as `java.util.TimeZone.getTimeZone` does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import RenderError

STYLES = {
    "full": "EEEE, MMMM d, y",
    "long": "MMMM d, y",
    "medium": "MMM d, y",
    "short": "M/d/yy",
}
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)


@lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


@lru_cache(maxsize=256)
def _tokens(pattern: str) -> tuple[tuple[str, int, str], ...]:
    """Split a pattern into (letter, count, literal) tokens; raises RenderError on an unsupported letter."""
    out: list[tuple[str, int, str]] = []
    for m in _TOKEN.finditer(pattern):
        text = m.group()
        if text.startswith("'"):
            out.append(("", 0, "'" if text == "''" else text[1:-1].replace("''", "'")))
        elif m.group(1):
            letter = m.group(1)
            if letter not in "GyMLdEuaHkKhmsSzZXD":
                raise RenderError(f"date pattern letter {letter!r} is not supported (in {pattern!r})")
            out.append((letter, len(text), ""))
        else:
            out.append(("", 0, text))
    return tuple(out)


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds()) // 60 if off is not None else 0


def format_date(dt: datetime, pattern: str) -> str:
    """Format an aware datetime with a Java pattern or style name."""
    pattern = STYLES.get(pattern, pattern)
    parts: list[str] = []
    for letter, n, literal in _tokens(pattern):
        if not letter:
            parts.append(literal)
        elif letter == "G":
            parts.append("AD" if dt.year > 0 else "BC")
        elif letter == "y":
            parts.append(f"{dt.year % 100:02d}" if n == 2 else str(dt.year).zfill(n))
        elif letter in "ML":
            if n >= 4:
                parts.append(MONTHS[dt.month - 1])
            elif n == 3:
                parts.append(MONTHS[dt.month - 1][:3])
            else:
                parts.append(str(dt.month).zfill(n))
        elif letter == "d":
            parts.append(str(dt.day).zfill(n))
        elif letter == "E":
            name = DAYS[dt.weekday()]
            parts.append(name if n >= 4 else name[:3])
        elif letter == "u":
            parts.append(str(dt.isoweekday()).zfill(n))
        elif letter == "a":
            parts.append("AM" if dt.hour < 12 else "PM")
        elif letter == "H":
            parts.append(str(dt.hour).zfill(n))
        elif letter == "k":
            parts.append(str(dt.hour or 24).zfill(n))
        elif letter == "K":
            parts.append(str(dt.hour % 12).zfill(n))
        elif letter == "h":
            parts.append(str(dt.hour % 12 or 12).zfill(n))
        elif letter == "m":
            parts.append(str(dt.minute).zfill(n))
        elif letter == "s":
            parts.append(str(dt.second).zfill(n))
        elif letter == "S":
            parts.append(str(dt.microsecond // 1000).zfill(n))
        elif letter == "D":
            parts.append(str(dt.timetuple().tm_yday).zfill(n))
        elif letter == "z":
            parts.append(dt.tzname() or "UTC")
        elif letter == "Z":
            off = _offset(dt)
            sign = "-" if off < 0 else "+"
            parts.append(f"{sign}{abs(off) // 60:02d}{abs(off) % 60:02d}")
        elif letter == "X":
            off = _offset(dt)
            if off == 0:
                parts.append("Z")
            else:
                sign = "-" if off < 0 else "+"
                hh, mm = abs(off) // 60, abs(off) % 60
                parts.append(f"{sign}{hh:02d}" if n == 1 else f"{sign}{hh:02d}{mm:02d}" if n == 2 else
                             f"{sign}{hh:02d}:{mm:02d}")
    return "".join(parts)


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\Z"
)


def _tz_from_offset(text: str | None) -> tzinfo | None:
    if text is None:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hh = int(digits[:2])
    mm = int(digits[2:4]) if len(digits) >= 4 else 0
    return timezone(sign * timedelta(hours=hh, minutes=mm))


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 date or date-time; no zone means UTC (the zone Pinpoint's JVM runs in)."""
    m = _ISO.match(text.strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        return datetime(
            int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro, _tz_from_offset(tz) or UTC
        )
    except ValueError:
        return None


@lru_cache(maxsize=256)
def _parser(pattern: str) -> tuple[re.Pattern[str], tuple[tuple[str, int], ...]]:
    rx = []
    fields: list[tuple[str, int]] = []
    for letter, n, literal in _tokens(STYLES.get(pattern, pattern)):
        if not letter:
            rx.append(re.escape(literal))
            continue
        if letter in "ML" and n >= 3:
            rx.append("(" + "|".join(MONTHS if n >= 4 else [m[:3] for m in MONTHS]) + ")")
        elif letter == "E":
            rx.append("(" + "|".join(DAYS if n >= 4 else [d[:3] for d in DAYS]) + ")")
        elif letter == "a":
            rx.append("(AM|PM|am|pm)")
        elif letter == "G":
            rx.append("(AD|BC)")
        elif letter in "zZX":
            rx.append(r"(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)")
        elif letter == "y":
            rx.append(r"(\d{2})" if n == 2 else r"(\d{1,4})")
        elif letter == "S":
            rx.append(r"(\d{1,9})")
        else:
            rx.append(rf"(\d{{1,{max(n, 2)}}})" if n <= 2 else rf"(\d{{{n}}})")
        fields.append((letter, n))
    return re.compile("".join(rx), re.IGNORECASE), tuple(fields)


def parse_pattern(text: str, pattern: str, now_year: int) -> datetime | None:
    """Parse `text` with a Java pattern (leading match, as SimpleDateFormat.parse); None when it does not match."""
    rx, fields = _parser(pattern)
    m = rx.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, milli = 1970, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    tz: tzinfo | None = None
    for (letter, n), value in zip(fields, m.groups(), strict=True):
        if letter == "y":
            year = int(value)
            if n == 2:  # SimpleDateFormat: within 80 years before and 20 years after now
                century = now_year - 80
                year = century - century % 100 + year
                if year < now_year - 80:
                    year += 100
        elif letter in "ML":
            if n >= 3:
                names = [m.lower() if n >= 4 else m[:3].lower() for m in MONTHS]
                month = names.index(value.lower()) + 1
            else:
                month = int(value)
        elif letter == "d":
            day = int(value)
        elif letter in "Hk":
            hour = int(value) % 24
        elif letter in "Kh":
            hour = int(value) % 12
        elif letter == "m":
            minute = int(value)
        elif letter == "s":
            second = int(value)
        elif letter == "S":
            milli = int(value)
        elif letter == "a":
            pm = value.upper() == "PM"
        elif letter in "zZX":
            tz = UTC if value.upper() in ("Z", "UTC", "GMT") else _tz_from_offset(value)
    if pm is True and hour < 12:
        hour += 12
    try:
        base = datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)
    except ValueError:
        return None
    return base + timedelta(milliseconds=milli)
