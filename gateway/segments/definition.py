"""Pinpoint segment definitions (SegmentDimensions, SegmentGroupList) checked and compiled to a small boolean tree.

The tree is independent of any index: gateway/segments/program.py binds it to an application's columnar index,
and gateway/segments/reference.py evaluates the *definition* itself (not this tree) as the plain oracle.

Semantics (docs/segments.md has the full table):
- every criterion present in one SegmentDimensions must hold (AND); an empty SegmentDimensions matches all;
- INCLUSIVE: some value of the endpoint's list equals some criterion value; EXCLUSIVE: the negation (an endpoint
  without the attribute is therefore *in* an EXCLUSIVE segment); CONTAINS: some value contains some criterion
  value as a substring; BEFORE/AFTER/ON/BETWEEN read values as ISO 8601 instants (unparseable values never match);
- attribute names and values are case sensitive (Pinpoint's rule); Demographic, Channel and Country values compare
  case-insensitively, because SDKs report "iOS"/"ios" and "us"/"US" interchangeably;
- Recency ACTIVE: EffectiveDate within the duration before now; INACTIVE: not ACTIVE (missing EffectiveDate too);
- GPSPoint: great-circle (haversine) distance <= RangeInKilometers;
- groups: a group is (its source segments combined by SourceType) AND (its dimensions combined by Type); groups
  combine by Include. ALL = and, ANY = or, NONE = not-or. Defaults: Include ALL, Type ALL, SourceType ANY.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.endpoints.rules import parse_instant
from gateway.errors import InvalidRequest, NotFound
from gateway.models import (
    AttributeDimension,
    SegmentDimensions,
    SegmentGroupList,
    SetDimension,
    WriteSegmentRequest,
)

DURATIONS = {"HR_24": 86400.0, "DAY_7": 7 * 86400.0, "DAY_14": 14 * 86400.0, "DAY_30": 30 * 86400.0}
METRIC_OPS = ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL")
DEMOGRAPHIC_FIELDS = ("AppVersion", "Channel", "DeviceType", "Make", "Model", "Platform")
MAX_DIMENSIONS = 100
EARTH_RADIUS_KM = 6371.0088


class SegmentValidationError(InvalidRequest):
    """A segment definition breaks Pinpoint's rules; the REST API answers BadRequestException with this text."""


class SegmentNotFound(NotFound):
    """No such segment (or version) in the application: NotFoundException."""


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Attr:
    """A custom (kind "custom") or user ("user") attribute criterion; op is INCLUSIVE (EXCLUSIVE = Not(INCLUSIVE)),
    CONTAINS, BEFORE, AFTER, ON or BETWEEN."""

    kind: str
    name: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SetIn:
    """A standard field (channel, appversion, make, model, platform, country, devicetype) is one of `values`
    (compared case-insensitively)."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    name: str
    op: str
    value: float


@dataclass(frozen=True)
class Active:
    """EffectiveDate >= now - seconds."""

    seconds: float


@dataclass(frozen=True)
class Near:
    lat: float
    lon: float
    km: float


@dataclass(frozen=True)
class Members:
    """Endpoints listed by an imported (static) segment version."""

    segment_id: str
    version: int


@dataclass(frozen=True)
class Ref:
    """Another segment (a SegmentGroup source); expanded by the resolver before binding."""

    segment_id: str
    version: int | None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Const | Attr | SetIn | Metric | Active | Near | Members | Ref | And | Or | Not
TRUE = Const(True)


def combine(how: str, nodes: list[Node]) -> Node:
    """ALL / ANY / NONE over `nodes` (an empty list matches everything)."""
    if not nodes:
        return TRUE
    if how == "NONE":
        return Not(nodes[0] if len(nodes) == 1 else Or(tuple(nodes)))
    if len(nodes) == 1:
        return nodes[0]
    return And(tuple(nodes)) if how == "ALL" else Or(tuple(nodes))


def _instant(where: str, v: str) -> None:
    if parse_instant(v) is None:
        raise SegmentValidationError(f"{where}: {v!r} is not an ISO 8601 date-time")


def _attr(where: str, kind: str, name: str, dim: AttributeDimension) -> Node:
    op = dim.AttributeType or "INCLUSIVE"
    vals = tuple(dim.Values)
    if not vals:
        raise SegmentValidationError(f"{where}.{name}: Values must not be empty")
    if op in ("BEFORE", "AFTER", "ON"):
        if len(vals) != 1:
            raise SegmentValidationError(f"{where}.{name}: {op} takes exactly one value")
        _instant(f"{where}.{name}", vals[0])
    elif op == "BETWEEN":
        if len(vals) != 2:
            raise SegmentValidationError(f"{where}.{name}: BETWEEN takes exactly two values (start, end)")
        for v in vals:
            _instant(f"{where}.{name}", v)
    elif op not in ("INCLUSIVE", "EXCLUSIVE", "CONTAINS"):
        raise SegmentValidationError(f"{where}.{name}: unknown AttributeType {op!r}")
    if op == "EXCLUSIVE":
        return Not(Attr(kind, name, "INCLUSIVE", vals))
    return Attr(kind, name, op, vals)


def _set(where: str, field: str, dim: SetDimension | None) -> Node | None:
    if dim is None:
        return None
    if not dim.Values:
        raise SegmentValidationError(f"{where}: Values must not be empty")
    node: Node = SetIn(field, tuple(dim.Values))
    return Not(node) if dim.DimensionType == "EXCLUSIVE" else node


def count_dimensions(d: SegmentDimensions) -> int:
    n = len(d.Attributes or {}) + len(d.UserAttributes or {}) + len(d.Metrics or {})
    if d.Behavior is not None and d.Behavior.Recency is not None:
        n += 1
    if d.Demographic is not None:
        n += sum(getattr(d.Demographic, f) is not None for f in DEMOGRAPHIC_FIELDS)
    if d.Location is not None:
        n += (d.Location.Country is not None) + (d.Location.GPSPoint is not None)
    return n


def compile_dimensions(d: SegmentDimensions, where: str = "Dimensions") -> Node:
    """One SegmentDimensions -> AND of its criteria (checked; SegmentValidationError names the bad member)."""
    parts: list[Node] = []
    for name, dim in (d.Attributes or {}).items():
        parts.append(_attr(f"{where}.Attributes", "custom", name, dim))
    for name, dim in (d.UserAttributes or {}).items():
        parts.append(_attr(f"{where}.UserAttributes", "user", name, dim))
    for name, m in (d.Metrics or {}).items():
        if m.ComparisonOperator not in METRIC_OPS:
            raise SegmentValidationError(
                f"{where}.Metrics.{name}: ComparisonOperator {m.ComparisonOperator!r} is not one of "
                + ", ".join(METRIC_OPS)
            )
        parts.append(Metric(name, m.ComparisonOperator, float(m.Value)))
    if d.Behavior is not None and d.Behavior.Recency is not None:
        r = d.Behavior.Recency
        node: Node = Active(DURATIONS[r.Duration])
        parts.append(node if r.RecencyType == "ACTIVE" else Not(node))
    if d.Demographic is not None:
        for f in DEMOGRAPHIC_FIELDS:
            n = _set(f"{where}.Demographic.{f}", f.lower(), getattr(d.Demographic, f))
            if n is not None:
                parts.append(n)
    if d.Location is not None:
        n = _set(f"{where}.Location.Country", "country", d.Location.Country)
        if n is not None:
            parts.append(n)
        g = d.Location.GPSPoint
        if g is not None:
            c = g.Coordinates
            if not (-90 <= c.Latitude <= 90 and -180 <= c.Longitude <= 180):
                raise SegmentValidationError(f"{where}.Location.GPSPoint.Coordinates are out of range")
            if g.RangeInKilometers is None or not g.RangeInKilometers >= 0:
                raise SegmentValidationError(
                    f"{where}.Location.GPSPoint.RangeInKilometers is required and must be >= 0"
                )
            parts.append(Near(c.Latitude, c.Longitude, float(g.RangeInKilometers)))
    return combine("ALL", parts)


def compile_groups(groups: SegmentGroupList) -> Node:
    """SegmentGroupList -> tree; SourceSegments become Ref nodes the resolver expands."""
    out: list[Node] = []
    for gi, g in enumerate(groups.Groups or []):
        where = f"SegmentGroups.Groups[{gi}]"
        sources: list[Node] = [Ref(s.Id, s.Version) for s in g.SourceSegments or []]
        dims = [compile_dimensions(d, f"{where}.Dimensions[{i}]") for i, d in enumerate(g.Dimensions or [])]
        base = combine(g.SourceType or "ANY", sources)
        filt = combine(g.Type or "ALL", dims)
        out.append(filt if base == TRUE else (base if filt == TRUE else And((base, filt))))
    return combine(groups.Include or "ALL", out)


def check_write_request(req: WriteSegmentRequest) -> Node:
    """Validate a CreateSegment/UpdateSegment body and return its compiled tree."""
    if req.Dimensions is not None and req.SegmentGroups is not None:
        raise SegmentValidationError("specify either Dimensions or SegmentGroups, not both")
    total = 0
    if req.Dimensions is not None:
        total = count_dimensions(req.Dimensions)
    if req.SegmentGroups is not None:
        groups = req.SegmentGroups.Groups or []
        for g in groups:
            total += sum(count_dimensions(d) for d in g.Dimensions or [])
    if total > MAX_DIMENSIONS:
        raise SegmentValidationError(f"{total} dimensions exceed the limit of {MAX_DIMENSIONS} per segment")
    if req.Dimensions is not None:
        return compile_dimensions(req.Dimensions)
    if req.SegmentGroups is not None:
        return compile_groups(req.SegmentGroups)
    return TRUE
