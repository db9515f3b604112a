"""Pure-Python twin of _segbuild.pyx: appends endpoint rows to a columnar index (gateway/segments/index.py).

Both implementations take the index and its helpers as arguments, so the layout stays defined in one place:

    append_docs(idx, raws, decode, new_column, parse_instant)   decode each stored document (None skipped) and
                                                               append a row for each one with an Id
    append_rows(idx, rows, new_column, parse_instant)          append a row for each decoded Row with an Id

`idx` is an EndpointIndex, `decode` turns a document into a Row, `new_column(n)` makes a Column of n missing
codes, `parse_instant(text)` reads an ISO 8601 instant (None when unparseable). Rows are appended one by one: when
`decode` raises, the rows before the failing document are in the index, as they would be one call at a time.
The id table is not touched (the caller indexes the rows or rebuilds the table).
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Callable, Iterable
from typing import Any

NAN = math.nan
_DEMO = ("appversion", "make", "model", "platform")


def append_docs(
    idx: Any,
    raws: Iterable[Any],
    decode: Callable[[Any], Any],
    new_column: Callable[[int], Any],
    parse_instant: Callable[[str], float | None],
) -> None:
    for raw in raws:
        if raw is not None:
            ep = decode(raw)
            if ep.Id:
                _append(idx, ep, new_column, parse_instant)


def append_rows(
    idx: Any, rows: Iterable[Any], new_column: Callable[[int], Any], parse_instant: Callable[[str], float | None]
) -> None:
    for ep in rows:
        if ep.Id:
            _append(idx, ep, new_column, parse_instant)


def _append(idx: Any, ep: Any, new_column: Callable[[int], Any], parse_instant: Callable[[str], float | None]) -> None:
    row = idx.n
    idx.n += 1
    idx.blob += ep.Id.encode()
    idx.offsets.append(len(idx.blob))
    idx.alive.append(1)
    idx.live += 1
    sets = idx.sets
    demo = ep.Demographic
    loc = ep.Location
    _push(sets["channel"], ep.ChannelType)
    if demo is not None:
        _push(sets["appversion"], demo.AppVersion)
        _push(sets["make"], demo.Make)
        _push(sets["model"], demo.Model)
        _push(sets["platform"], demo.Platform)
    else:
        for f in _DEMO:
            sets[f].codes.append(0)
    _push(sets["country"], loc.Country if loc is not None else None)
    _push(sets["optout"], ep.OptOut)
    _push(sets["status"], ep.EndpointStatus)
    _push(sets["timezone"], demo.Timezone if demo is not None else None)
    _push(sets["cohort"], ep.CohortId)
    address = ep.Address
    idx.addr.append((zlib.crc32(address.encode()) or 1) if address else 0)  # index.address_hash
    eff = parse_instant(ep.EffectiveDate) if ep.EffectiveDate else None
    idx.eff.append(NAN if eff is None else eff)
    if loc is not None and loc.Latitude is not None and loc.Longitude is not None:
        idx.lat.append(float(loc.Latitude))
        idx.lon.append(float(loc.Longitude))
    else:
        idx.lat.append(NAN)
        idx.lon.append(NAN)
    _push_lists(idx.custom, row, ep.Attributes, new_column)
    _push_lists(idx.user, row, ep.User.UserAttributes if ep.User is not None else None, new_column)
    metrics = ep.Metrics
    if metrics:
        for name in metrics:
            if name not in idx.metrics:
                idx.metrics[name] = array("d", [NAN]) * row
        for name, arr in idx.metrics.items():
            v = metrics.get(name)
            arr.append(NAN if v is None else float(v))
    else:
        for arr in idx.metrics.values():
            arr.append(NAN)


def _push(col: Any, value: str | None) -> None:
    if value is None:
        col.codes.append(0)
    else:
        t = (value,)
        c = col.lookup.get(t)
        if c is None:
            c = col.code(t)  # may widen col.codes: look the array up only after
        col.codes.append(c)


def _push_lists(
    cols: dict[str, Any], row: int, attrs: dict[str, tuple[str, ...]] | None, new_column: Callable[[int], Any]
) -> None:
    if attrs:
        for name in attrs:
            if name not in cols:
                cols[name] = new_column(row)
        for name, col in cols.items():
            t = attrs.get(name)
            if t:
                c = col.lookup.get(t)
                if c is None:
                    c = col.code(t)  # may widen col.codes: look the array up only after
                col.codes.append(c)
            else:
                col.codes.append(0)
    else:
        for col in cols.values():
            col.codes.append(0)
