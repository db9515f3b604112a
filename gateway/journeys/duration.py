"""ISO 8601 durations as journeys use them (Wait.WaitFor, EvaluationWaitTime.WaitFor, RefreshFrequency,
Limits.EndpointReentryInterval): `PnW`, or `PnDTnHnMnS` with any part left out (`P1D`, `PT1H`, `PT30M`,
`P2DT12H`, `PT0.5S`). Calendar years and months (`P1Y`, `P1M`) have no fixed length, so they are refused rather than
guessed; a duration must be longer than zero."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

_DURATION: Final = re.compile(
    r"^P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?)\Z"
)
_CALENDAR: Final = re.compile(r"^P(?:\d+Y\d*|\d+M)")


def parse_duration(text: str) -> dt.timedelta:
    """The length of an ISO 8601 duration; ValueError saying why when it is not one (or not above zero)."""
    m = _DURATION.match(text)
    if m is None or text in ("P", "PT"):
        if _CALENDAR.match(text):
            raise ValueError(f"{text[:40]!r}: years and months have no fixed length; give days, hours, minutes or "
                             "seconds (e.g. P30D)")
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 duration (e.g. P1D, PT1H, PT30M, P2DT12H)")
    parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
    if not parts:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 duration (e.g. P1D, PT1H, PT30M, P2DT12H)")
    try:
        length = dt.timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is too long a duration") from None
    if length <= dt.timedelta(0):
        raise ValueError(f"{text[:40]!r} must be longer than zero")
    return length
