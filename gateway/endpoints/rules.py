"""Pinpoint's endpoint rules as pure functions: merge an UpdateEndpoint request into the stored endpoint, check
the documented size limits, derive the CohortId.

Nothing here touches Redis; the store (store.py) reads, calls `merge`, and writes. Merge rules (Pinpoint's):

- scalar members given in the request overwrite, absent ones keep the stored value;
- Attributes, Metrics and User.UserAttributes overwrite per key (other keys are kept); an empty list for an
  attribute key removes that key, because an empty list matches no segment criterion and Pinpoint stores none;
- Demographic and Location merge per member;
- EndpointStatus becomes ACTIVE on every create or update unless the request names a status itself;
- EffectiveDate is the request's, else the time of the write; CreationDate is kept from the first write;
- OptOut defaults to NONE on create; CohortId is derived from the endpoint id (stable, "0"-"99").

A user holds at most 15 endpoints. A 16th of a push channel type displaces the user's push endpoint with the oldest
EffectiveDate (it becomes INACTIVE and loses its UserId); any other 16th is refused (`user_displacements`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import msgspec

from gateway.errors import InvalidRequest
from gateway.models import (
    EndpointBatchItem,
    EndpointDemographic,
    EndpointLocation,
    EndpointRequest,
    EndpointResponse,
    EndpointUser,
)

MAX_NAME = 50
MAX_VALUE = 100
MAX_VALUES_PER_KEY = 50
MAX_ENDPOINT_BYTES = 15 * 1024
MAX_APP_ATTRIBUTE_KEYS = 250
MAX_ENDPOINTS_PER_USER = 15
MAX_BATCH = 100
#: The channel types whose 16th endpoint on a user displaces the user's oldest one of these instead of being refused
#: (developer guide, audience-define-auto-inactive: "ADM, GCM, APNS, APNS_VOIP, APNS_VOIP_SANDBOX or BAIDU").
#: APNS_SANDBOX is in too: the page lists the VoIP sandbox, and a development build must not be refused where the
#: same app in production is served.
PUSH_CHANNEL_TYPES = frozenset({"ADM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "GCM"})
STATUSES = ("ACTIVE", "INACTIVE")
OPT_OUTS = ("ALL", "NONE")
# RemoveAttributes' attribute-type path parameter -> which member of the endpoint it addresses.
ATTRIBUTE_TYPES = {
    "endpoint-custom-attributes": "custom",
    "endpoint-metric-attributes": "metric",
    "endpoint-user-attributes": "user",
}

_encode = msgspec.json.Encoder().encode


class EndpointValidationError(InvalidRequest):
    """An endpoint write breaks one of Pinpoint's rules; the REST API answers BadRequestException with this text."""


def cohort_id(endpoint_id: str) -> str:
    """A stable cohort "0"-"99" from the endpoint id: the same id lands in the same cohort in every process."""
    digest = hashlib.blake2b(endpoint_id.encode(), digest_size=8).digest()
    return str(int.from_bytes(digest, "big") % 100)


def now_iso() -> str:
    """The current UTC time in Pinpoint's ISO 8601 form (milliseconds, Z)."""
    return iso_from_epoch(datetime.now(UTC).timestamp())


def iso_from_epoch(seconds: float) -> str:
    """`2024-05-01T10:00:00.123Z` for seconds since the epoch."""
    dt = datetime.fromtimestamp(seconds, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")


def parse_instant(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date or date-time (UTC unless an offset is given), None if unparseable.

    Accepts `2024-05-01`, `2024-05-01T10:00Z`, `2024-05-01T10:00:00.123+02:00` and the `Z`/offset forms.
    """
    if len(text) == 24 and text[10] == "T" and text[23] == "Z" and text[19] == ".":
        # The canonical form this gateway writes (2024-05-01T10:00:00.123Z): skip the regex.
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    if not _ISO_RE.match(text):
        return None
    t = text.replace("Z", "+00:00")
    # fromisoformat accepts at most 6 fractional digits on 3.11; trim nanoseconds.
    m = re.match(r"^(.*\.\d{6})\d+(.*)$", t)
    if m:
        t = m.group(1) + m.group(2)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _check_attrs(where: str, attrs: Mapping[str, list[str]] | None) -> None:
    if not attrs:
        return
    for name, values in attrs.items():
        if not name:
            raise EndpointValidationError(f"{where}: attribute name is empty")
        if len(name) > MAX_NAME:
            raise EndpointValidationError(f"{where}: attribute name {name[:60]!r} exceeds {MAX_NAME} characters")
        if len(values) > MAX_VALUES_PER_KEY:
            raise EndpointValidationError(
                f"{where}.{name}: {len(values)} values exceed the limit of {MAX_VALUES_PER_KEY} per attribute"
            )
        for i, v in enumerate(values):
            if len(v) > MAX_VALUE:
                raise EndpointValidationError(f"{where}.{name}[{i}]: value exceeds {MAX_VALUE} characters")


def check_request(req: EndpointRequest | EndpointBatchItem) -> None:
    """Reject a request that breaks a per-field rule (names, values, enumerations), before any merge."""
    _check_attrs("Attributes", req.Attributes)
    if req.User is not None:
        _check_attrs("User.UserAttributes", req.User.UserAttributes)
    if req.Metrics:
        for name, value in req.Metrics.items():
            if not name or len(name) > MAX_NAME:
                raise EndpointValidationError(f"Metrics: metric name {name[:60]!r} must be 1-{MAX_NAME} characters")
            if value != value or value in (float("inf"), float("-inf")):
                raise EndpointValidationError(f"Metrics.{name}: value must be a finite number")
    if req.EndpointStatus is not None and req.EndpointStatus not in STATUSES:
        raise EndpointValidationError(f"EndpointStatus must be ACTIVE or INACTIVE, not {req.EndpointStatus!r}")
    if req.OptOut is not None and req.OptOut not in OPT_OUTS:
        raise EndpointValidationError(f"OptOut must be ALL or NONE, not {req.OptOut!r}")
    if req.EffectiveDate is not None and parse_instant(req.EffectiveDate) is None:
        raise EndpointValidationError(f"EffectiveDate {req.EffectiveDate!r} is not an ISO 8601 date-time")
    loc = req.Location
    if loc is not None:
        if loc.Latitude is not None and not -90.0 <= loc.Latitude <= 90.0:
            raise EndpointValidationError("Location.Latitude must be between -90 and 90")
        if loc.Longitude is not None and not -180.0 <= loc.Longitude <= 180.0:
            raise EndpointValidationError("Location.Longitude must be between -180 and 180")


def _merge_lists(
    old: dict[str, list[str]] | None, new: dict[str, list[str]] | None, blocked: frozenset[str]
) -> dict[str, list[str]] | None:
    if new is None:
        return old
    out = dict(old or {})
    for k, v in new.items():
        if k in blocked:
            continue
        if v:
            out[k] = list(v)
        else:
            out.pop(k, None)
    return out or None


def _merge_struct(old: msgspec.Struct | None, new: msgspec.Struct | None) -> msgspec.Struct | None:
    if new is None:
        return old
    if old is None:
        return new
    changes = {f: getattr(new, f) for f in new.__struct_fields__ if getattr(new, f) is not None}
    return msgspec.structs.replace(old, **changes)


def merge(
    app: str,
    endpoint_id: str,
    old: EndpointResponse | None,
    req: EndpointRequest | EndpointBatchItem,
    *,
    now: str,
    request_id: str,
    blocked: Mapping[str, frozenset[str]] | None = None,
) -> EndpointResponse:
    """The endpoint after applying `req` to `old` (None when new), by Pinpoint's merge rules.

    `blocked` holds, per attribute kind ("custom", "metric", "user"), names removed with RemoveAttributes: Pinpoint
    stops capturing new values for those, so they are ignored here (and reported by `ignored_keys`).
    """
    blk = blocked or {}
    none: frozenset[str] = frozenset()
    base = old or EndpointResponse()
    metrics = base.Metrics
    if req.Metrics is not None:
        metrics = dict(metrics or {})
        for k, v in req.Metrics.items():
            if k not in blk.get("metric", none):
                metrics[k] = float(v)
        metrics = metrics or None
    user = base.User
    if req.User is not None:
        old_user = base.User or EndpointUser()
        user = EndpointUser(
            UserId=req.User.UserId if req.User.UserId is not None else old_user.UserId,
            UserAttributes=_merge_lists(old_user.UserAttributes, req.User.UserAttributes, blk.get("user", none)),
        )
        if user.UserId is None and user.UserAttributes is None:
            user = None
    demo = _merge_struct(base.Demographic, req.Demographic)
    loc = _merge_struct(base.Location, req.Location)
    assert demo is None or isinstance(demo, EndpointDemographic)
    assert loc is None or isinstance(loc, EndpointLocation)
    return EndpointResponse(
        Address=req.Address if req.Address is not None else base.Address,
        ApplicationId=app,
        Attributes=_merge_lists(base.Attributes, req.Attributes, blk.get("custom", none)),
        ChannelType=req.ChannelType if req.ChannelType is not None else base.ChannelType,
        CohortId=base.CohortId or cohort_id(endpoint_id),
        CreationDate=base.CreationDate or now,
        Demographic=demo,
        EffectiveDate=req.EffectiveDate or now,
        EndpointStatus=req.EndpointStatus or "ACTIVE",
        Id=endpoint_id,
        Location=loc,
        Metrics=metrics,
        OptOut=req.OptOut or base.OptOut or "NONE",
        RequestId=req.RequestId or request_id,
        User=user,
    )


def user_displacements(
    user_id: str, members: Mapping[str, EndpointResponse], joining: Sequence[EndpointResponse]
) -> list[str]:
    """The ids of the user's endpoints that `joining` endpoints displace, in order, by Pinpoint's 15-per-user rule.

    `members` are the user's endpoints that stay (as they will be after this write), `joining` the endpoints that
    take the user's UserId in this write, in request order. While the user has fewer than 15, an endpoint joins.
    At 15, an endpoint of a push channel type (PUSH_CHANNEL_TYPES) displaces the user's push endpoint with the
    oldest EffectiveDate (ties: the smaller id), which the caller makes INACTIVE without its UserId; anything else
    is an EndpointValidationError, as is a push endpoint when the user has no push endpoint to displace.
    """
    current = dict(members)
    displaced: list[str] = []
    for ep in joining:
        eid = ep.Id or ""
        if len(current) < MAX_ENDPOINTS_PER_USER:
            current[eid] = ep
            continue
        full = (f"user {user_id!r} already has {len(current)} endpoints and the limit is {MAX_ENDPOINTS_PER_USER}: "
                f"endpoint {eid!r} (ChannelType {ep.ChannelType or 'none'}) cannot join")
        if ep.ChannelType not in PUSH_CHANNEL_TYPES:
            raise EndpointValidationError(
                f"{full}; only a push endpoint displaces the user's oldest push endpoint, so delete one of the "
                "user's endpoints first"
            )
        pushes = [e for e in current.values() if e.ChannelType in PUSH_CHANNEL_TYPES]
        if not pushes:
            raise EndpointValidationError(
                f"{full}: the user has no push endpoint it could displace, so delete one of the user's endpoints first"
            )
        oldest = min(pushes, key=_effective_order)
        del current[oldest.Id or ""]
        displaced.append(oldest.Id or "")
        current[eid] = ep
    return displaced


def _effective_order(ep: EndpointResponse) -> tuple[float, str]:
    # An endpoint without a readable EffectiveDate counts as the oldest: nothing says it is recent.
    when = parse_instant(ep.EffectiveDate) if ep.EffectiveDate else None
    return (when if when is not None else float("-inf"), ep.Id or "")


def displace(ep: EndpointResponse) -> EndpointResponse:
    """The endpoint a user's 16th push endpoint displaced: INACTIVE, without its UserId (its UserAttributes and
    everything else kept, so setting it ACTIVE with the UserId again restores it, as Pinpoint's guide says)."""
    user = ep.User
    if user is not None:
        user = EndpointUser(UserAttributes=user.UserAttributes) if user.UserAttributes else None
    return msgspec.structs.replace(ep, EndpointStatus="INACTIVE", User=user)


def check_size(ep: EndpointResponse) -> bytes:
    """The endpoint's JSON, or EndpointValidationError when it exceeds Pinpoint's 15 KB endpoint limit."""
    raw = _encode(ep)
    if len(raw) > MAX_ENDPOINT_BYTES:
        raise EndpointValidationError(
            f"endpoint {ep.Id!r} is {len(raw)} bytes; Pinpoint's limit is {MAX_ENDPOINT_BYTES} bytes (15 KB)"
        )
    return raw


def attribute_keys(ep: EndpointResponse | EndpointRequest | EndpointBatchItem) -> dict[str, set[str]]:
    """The custom attribute, metric and user attribute names an endpoint (or request) sets, by kind."""
    return {
        "custom": set(ep.Attributes or ()),
        "metric": set(ep.Metrics or ()),
        "user": set((ep.User.UserAttributes or {}) if ep.User is not None else ()),
    }


def glob_matches(patterns: Iterable[str], names: Iterable[str]) -> set[str]:
    """Names matched by any RemoveAttributes Blacklist entry (an exact name or a `*`/`?` glob)."""
    import fnmatch

    pats = list(patterns)
    return {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)}
