"""The plain reference evaluator: does one endpoint (a JSON dict of Pinpoint's EndpointResponse) belong to a segment?

Written straight from the definition, one endpoint at a time, sharing nothing with the compiled path except the
ISO 8601 parser. Tests compare the compiled filter with it; the benchmark measures the compiled filter against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.endpoints.rules import parse_instant
from gateway.models import AttributeDimension, SegmentDimensions, SegmentResponse, SetDimension
from gateway.segments.definition import DURATIONS, EARTH_RADIUS_KM

Endpoint = Mapping[str, Any]
Lookup = Callable[[str, "int | None"], SegmentResponse]
MembersOf = Callable[[str, int], "set[str]"]


def _date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _attr_match(values: list[str], dim: AttributeDimension) -> bool:
    op = dim.AttributeType or "INCLUSIVE"
    crit = dim.Values
    if op in ("INCLUSIVE", "EXCLUSIVE"):
        hit = any(v in crit for v in values)
        return hit if op == "INCLUSIVE" else not hit
    if op == "CONTAINS":
        return any(c in v for v in values for c in crit)
    times = [t for t in (parse_instant(v) for v in values) if t is not None]
    if op == "BEFORE":
        limit = parse_instant(crit[0])
        return any(t < limit for t in times) if limit is not None else False
    if op == "AFTER":
        limit = parse_instant(crit[0])
        return any(t > limit for t in times) if limit is not None else False
    if op == "ON":
        day = parse_instant(crit[0])
        return day is not None and any(_date(t) == _date(day) for t in times)
    if op == "BETWEEN":
        lo, hi = parse_instant(crit[0]), parse_instant(crit[1])
        return lo is not None and hi is not None and any(lo <= t <= hi for t in times)
    raise ValueError(op)


def _set_match(value: str | None, dim: SetDimension) -> bool:
    hit = value is not None and value.casefold() in {v.casefold() for v in dim.Values}
    return not hit if dim.DimensionType == "EXCLUSIVE" else hit


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; correct across the antimeridian because it works on sin(dlon/2)."""
    r = math.pi / 180.0
    dlat = (lat2 - lat1) * r
    dlon = (lon2 - lon1) * r
    s1 = math.sin(dlat / 2.0)
    s2 = math.sin(dlon / 2.0)
    a = s1 * s1 + math.cos(lat1 * r) * math.cos(lat2 * r) * s2 * s2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def dimensions_match(d: SegmentDimensions, ep: Endpoint, now: float) -> bool:
    """Every criterion in `d` holds for `ep`."""
    attrs = ep.get("Attributes") or {}
    for name, dim in (d.Attributes or {}).items():
        if not _attr_match(attrs.get(name) or [], dim):
            return False
    uattrs = (ep.get("User") or {}).get("UserAttributes") or {}
    for name, dim in (d.UserAttributes or {}).items():
        if not _attr_match(uattrs.get(name) or [], dim):
            return False
    metrics = ep.get("Metrics") or {}
    for name, m in (d.Metrics or {}).items():
        v = metrics.get(name)
        if v is None:
            return False
        ok = {
            "GREATER_THAN": v > m.Value,
            "LESS_THAN": v < m.Value,
            "GREATER_THAN_OR_EQUAL": v >= m.Value,
            "LESS_THAN_OR_EQUAL": v <= m.Value,
            "EQUAL": v == m.Value,
        }[m.ComparisonOperator]
        if not ok:
            return False
    if d.Behavior is not None and d.Behavior.Recency is not None:
        rec = d.Behavior.Recency
        eff = parse_instant(ep["EffectiveDate"]) if ep.get("EffectiveDate") else None
        active = eff is not None and eff >= now - DURATIONS[rec.Duration]
        if active != (rec.RecencyType == "ACTIVE"):
            return False
    demo = ep.get("Demographic") or {}
    if d.Demographic is not None:
        fields = {
            "AppVersion": demo.get("AppVersion"),
            "Channel": ep.get("ChannelType"),
            "DeviceType": None,  # Pinpoint's endpoint model carries no device type: always missing
            "Make": demo.get("Make"),
            "Model": demo.get("Model"),
            "Platform": demo.get("Platform"),
        }
        for f, value in fields.items():
            dim = getattr(d.Demographic, f)
            if dim is not None and not _set_match(value, dim):
                return False
    loc = ep.get("Location") or {}
    if d.Location is not None:
        if d.Location.Country is not None and not _set_match(loc.get("Country"), d.Location.Country):
            return False
        g = d.Location.GPSPoint
        if g is not None:
            lat, lon = loc.get("Latitude"), loc.get("Longitude")
            if lat is None or lon is None:
                return False
            km = haversine_km(g.Coordinates.Latitude, g.Coordinates.Longitude, lat, lon)
            if not km <= (g.RangeInKilometers or 0.0):
                return False
    return True


def _how(how: str, results: list[bool]) -> bool:
    if not results:
        return True
    if how == "ALL":
        return all(results)
    if how == "ANY":
        return any(results)
    return not any(results)


def segment_match(
    seg: SegmentResponse, ep: Endpoint, now: float, lookup: Lookup, members: MembersOf, _depth: int = 0
) -> bool:
    """Whether `ep` is in `seg`; `lookup` returns referenced segments, `members` an imported version's ids."""
    if _depth > 20:
        raise ValueError("segment references nest too deeply (a cycle?)")
    if seg.SegmentType == "IMPORT":
        return ep.get("Id") in members(seg.Id, seg.Version or 1)
    if seg.Dimensions is not None:
        return dimensions_match(seg.Dimensions, ep, now)
    if seg.SegmentGroups is None:
        return True
    results = []
    for g in seg.SegmentGroups.Groups or []:
        srcs = [
            segment_match(lookup(s.Id, s.Version), ep, now, lookup, members, _depth + 1) for s in g.SourceSegments or []
        ]
        dims = [dimensions_match(d, ep, now) for d in g.Dimensions or []]
        results.append(_how(g.SourceType or "ANY", srcs) and _how(g.Type or "ALL", dims))
    return _how(seg.SegmentGroups.Include or "ALL", results)
