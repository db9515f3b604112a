"""Java `SimpleDateFormat` patterns for Pinpoint's `dateFormat` and `now` helpers (English, as Pinpoint renders).

Supported pattern letters: G y M L d E u a H k K h m s S z Z X D, quoted text ('...' and ''). Styles `full`,
`long`, `medium` (the default) and `short` are the date styles of Java's en_US locale (CLDR). Time zones are IANA
names (zoneinfo); an unknown name means UTC, as `java.util.TimeZone.getTimeZone` does.

Patterns and zone names are tenant input: patterns have at most MAX_PATTERN characters, formatting stops at the
caller's size limit, parsing is linear in the text (no backtracking regular expression), and only short patterns
and names are cached, so long ones cannot pin memory in a cache.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import RenderError, clip

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

# Linear: `[^']|''` can match a character one way only, so a quote left open costs one scan to the end, once.
_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)

#: Patterns and zone names up to this length are cached (real ones are a few dozen characters).
CACHED_LENGTH = 256
#: Longest date pattern accepted.
MAX_PATTERN = 1000
#: Most fields (pattern letters) an `inputFormat` may have: parsing costs grow with fields x text length.
MAX_PARSE_FIELDS = 20


def zone(name: str | None) -> tzinfo:
    """The zone of an IANA name; UTC for an unknown (or absurdly long) name."""
    if not name or len(name) > CACHED_LENGTH:
        return UTC
    return _zone(name)


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def _tokens(pattern: str) -> tuple[tuple[str, int, str], ...]:
    """Split a pattern into (letter, count, literal) tokens; raises RenderError on an unsupported letter or a pattern
    longer than MAX_PATTERN (the regular expression keeps some state per character; real patterns are short)."""
    if len(pattern) <= CACHED_LENGTH:
        return _tokens_cached(pattern)
    if len(pattern) > MAX_PATTERN:
        raise RenderError(f"a date pattern has at most {MAX_PATTERN} characters, this one {len(pattern)}")
    return _tokenize(pattern)


def _tokenize(pattern: str) -> tuple[tuple[str, int, str], ...]:
    out: list[tuple[str, int, str]] = []
    for m in _TOKEN.finditer(pattern):
        text = m.group()
        if text.startswith("'"):
            out.append(("", 0, "'" if text == "''" else text[1:-1].replace("''", "'")))
        elif m.group(1):
            letter = m.group(1)
            if letter not in "GyMLdEuaHkKhmsSzZXD":
                raise RenderError(f"date pattern letter {letter!r} is not supported (in {clip(pattern)!r})")
            out.append((letter, len(text), ""))
        else:
            out.append(("", 0, text))
    return tuple(out)


_tokens_cached = lru_cache(maxsize=256)(_tokenize)


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds()) // 60 if off is not None else 0


def format_date(dt: datetime, pattern: str, limit: int = sys.maxsize) -> str:
    """Format an aware datetime with a Java pattern or style name; RenderError past `limit` characters (checked
    token by token, before each is built: a count like `yyyy…` pads to that many digits)."""
    parts: list[str] = []
    size = 0
    for letter, n, literal in _tokens(STYLES.get(pattern, pattern)):
        if n > limit:
            raise RenderError(f"dateFormat would produce more than {limit} characters")
        piece = _field(dt, letter, n) if letter else literal
        size += len(piece)
        if size > limit:
            raise RenderError(f"dateFormat would produce more than {limit} characters")
        parts.append(piece)
    return "".join(parts)


def _field(dt: datetime, letter: str, n: int) -> str:
    """One pattern field (`letter` repeated `n` times) of `dt`."""
    if letter == "G":
        return "AD" if dt.year > 0 else "BC"
    if letter == "y":
        return f"{dt.year % 100:02d}" if n == 2 else str(dt.year).zfill(n)
    if letter in "ML":
        if n >= 4:
            return MONTHS[dt.month - 1]
        if n == 3:
            return MONTHS[dt.month - 1][:3]
        return str(dt.month).zfill(n)
    if letter == "d":
        return str(dt.day).zfill(n)
    if letter == "E":
        name = DAYS[dt.weekday()]
        return name if n >= 4 else name[:3]
    if letter == "u":
        return str(dt.isoweekday()).zfill(n)
    if letter == "a":
        return "AM" if dt.hour < 12 else "PM"
    if letter == "H":
        return str(dt.hour).zfill(n)
    if letter == "k":
        return str(dt.hour or 24).zfill(n)
    if letter == "K":
        return str(dt.hour % 12).zfill(n)
    if letter == "h":
        return str(dt.hour % 12 or 12).zfill(n)
    if letter == "m":
        return str(dt.minute).zfill(n)
    if letter == "s":
        return str(dt.second).zfill(n)
    if letter == "S":
        return str(dt.microsecond // 1000).zfill(n)
    if letter == "D":
        return str(dt.timetuple().tm_yday).zfill(n)
    if letter == "z":
        return dt.tzname() or "UTC"
    off = _offset(dt)
    if letter == "Z":
        sign = "-" if off < 0 else "+"
        return f"{sign}{abs(off) // 60:02d}{abs(off) % 60:02d}"
    # "X"
    if off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    hh, mm = abs(off) // 60, abs(off) % 60
    return f"{sign}{hh:02d}" if n == 1 else f"{sign}{hh:02d}{mm:02d}" if n == 2 else f"{sign}{hh:02d}:{mm:02d}"


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


# An inputFormat compiles to one matcher per token. A matcher lists, in the order a backtracking regular expression
# would try them, the positions where its token can end when it starts at a given position. `_match` then advances
# all candidate positions token by token (Pike's method): of two ways to reach the same position it keeps the one a
# backtracking matcher would have tried first, since both continue alike from there. So it finds exactly the match
# `re.match` of the concatenated expression finds (the implementation this replaced), in time tokens x positions,
# where that expression backtracked exponentially (`HmHmHm...` against a long run of digits).


class _Literal:
    """Literal text, case-insensitive."""

    __slots__ = ("rx",)

    def __init__(self, text: str) -> None:
        self.rx = re.compile(re.escape(text), re.IGNORECASE)

    def ends(self, text: str, pos: int) -> list[int]:
        found = self.rx.match(text, pos)
        return [found.end()] if found else []


class _Digits:
    """`\\d{low,high}`: longest run first, as a greedy quantifier."""

    __slots__ = ("low", "rx")

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.rx = re.compile(rf"\d{{0,{high}}}")

    def ends(self, text: str, pos: int) -> list[int]:
        run = self.rx.match(text, pos)
        assert run is not None  # `\d{0,n}` matches the empty string at worst
        return list(range(run.end(), pos + self.low - 1, -1))


class _Alternatives:
    """Alternatives in order (month and day names, AM/PM, AD/BC, zones), case-insensitive."""

    __slots__ = ("rxs",)

    def __init__(self, patterns: list[str]) -> None:
        self.rxs = tuple(re.compile(p, re.IGNORECASE) for p in patterns)

    def ends(self, text: str, pos: int) -> list[int]:
        ends = []
        for rx in self.rxs:
            found = rx.match(text, pos)
            if found:
                ends.append(found.end())
        return ends


_Matcher = _Literal | _Digits | _Alternatives
#: What `(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)` tries, in its order.
_ZONES = ["Z", "UTC", "GMT", r"[+-]\d{2}:\d{2}", r"[+-]\d{4}", r"[+-]\d{2}"]


def _names(names: list[str]) -> _Alternatives:
    return _Alternatives([re.escape(n) for n in names])


def _compile_parser(pattern: str) -> tuple[tuple[_Matcher, tuple[str, int] | None], ...]:
    """The matchers of an inputFormat, each with the field it captures (None for literals)."""
    out: list[tuple[_Matcher, tuple[str, int] | None]] = []
    literal: list[str] = []  # consecutive literal tokens make one matcher
    fields = 0
    for letter, n, text in _tokens(STYLES.get(pattern, pattern)):
        if not letter:
            literal.append(text)
            continue
        if literal:
            out.append((_Literal("".join(literal)), None))
            literal = []
        fields += 1
        if fields > MAX_PARSE_FIELDS:
            raise RenderError(f"an inputFormat has at most {MAX_PARSE_FIELDS} fields (pattern letters)")
        m: _Matcher
        if letter in "ML" and n >= 3:
            m = _names(MONTHS if n >= 4 else [x[:3] for x in MONTHS])
        elif letter == "E":
            m = _names(DAYS if n >= 4 else [x[:3] for x in DAYS])
        elif letter == "a":
            m = _names(["AM", "PM", "am", "pm"])
        elif letter == "G":
            m = _names(["AD", "BC"])
        elif letter in "zZX":
            m = _Alternatives(_ZONES)
        elif letter == "y":
            m = _Digits(2, 2) if n == 2 else _Digits(1, 4)
        elif letter == "S":
            m = _Digits(1, 9)
        else:
            m = _Digits(1, max(n, 2)) if n <= 2 else _Digits(n, n)
        out.append((m, (letter, n)))
    if literal:
        out.append((_Literal("".join(literal)), None))
    return tuple(out)


_compile_parser_cached = lru_cache(maxsize=256)(_compile_parser)

_Captures = tuple[str, "_Captures"] | None


def _match(parser: tuple[tuple[_Matcher, tuple[str, int] | None], ...], text: str) -> list[str] | None:
    """The captured texts of the leading match of `parser` on `text` (one per field), or None."""
    # A thread: (position, captures newest first as a linked list); threads are kept in priority order.
    threads: list[tuple[int, _Captures]] = [(0, None)]
    for m, field in parser:
        nxt: list[tuple[int, _Captures]] = []
        seen: set[int] = set()
        for pos, caps in threads:
            for end in m.ends(text, pos):
                if end not in seen:
                    seen.add(end)
                    nxt.append((end, (text[pos:end], caps) if field is not None else caps))
        if not nxt:
            return None
        threads = nxt
    values: list[str] = []
    node = threads[0][1]
    while node is not None:
        value, node = node
        values.append(value)
    values.reverse()
    return values


def parse_pattern(text: str, pattern: str, now_year: int) -> datetime | None:
    """Parse `text` with a Java pattern (leading match, as SimpleDateFormat.parse); None when it does not match."""
    parser = _compile_parser_cached(pattern) if len(pattern) <= CACHED_LENGTH else _compile_parser(pattern)
    groups = _match(parser, text.strip())
    if groups is None:
        return None
    fields = [field for _, field in parser if field is not None]
    year, month, day, hour, minute, second, milli = 1970, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    tz: tzinfo | None = None
    for (letter, n), value in zip(fields, groups, strict=True):
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
            try:
                tz = UTC if value.upper() in ("Z", "UTC", "GMT") else _tz_from_offset(value)
            except ValueError:  # an offset of a day or more (+99:00): no such zone, not a date
                return None
    if pm is True and hour < 12:
        hour += 12
    try:
        base = datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)
    except ValueError:
        return None
    return base + timedelta(milliseconds=milli)
