"""Event-triggered campaigns (Schedule.Frequency EVENT), the pure part: which events an EventFilter matches, who
the event's recipient is, and Pinpoint's five-minute rule. No I/O, no clock (callers pass `now_ms`); the I/O shell
is listener.py.

Pinpoint's CampaignEventFilter (API reference, CampaignEventFilter and EventDimensions):
- FilterType ENDPOINT "sends the campaign when an endpoint event (Events resource) occurs": the events an app
  reports with PutEvents (records of event_version 3.0, the endpoint in `client.client_id`). SYSTEM "sends the
  campaign when a system event occurs": the events Pinpoint records itself, here the engine's (`_email.delivered`,
  `_SMS.SUCCESS`, `_campaign.send`, ...: every other record on the events stream, event_version 3.1). Either way
  the campaign goes to the endpoint the event is about (`client.client_id`), and only if that endpoint is in the
  campaign's segment (listener.py checks that).
- Dimensions.EventType (SetDimension): INCLUSIVE (the default) when the event type is one of Values, EXCLUSIVE
  when it is none of them; event types compare exactly (case sensitive, like the event names themselves).
- Dimensions.Attributes (AttributeDimension per attribute name) with the segment semantics of
  gateway/segments/program.py (`attr_predicate`, reused): INCLUSIVE the event's value is one of Values; EXCLUSIVE
  it is not (an event without the attribute matches); CONTAINS a Values entry is a substring of it; BEFORE, AFTER,
  ON, BETWEEN read it as an ISO 8601 instant (an unparseable or missing value never matches). Case sensitive.
- Dimensions.Metrics (MetricDimension per metric name): the event's metric compared with Value by
  ComparisonOperator (GREATER_THAN, LESS_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN_OR_EQUAL, EQUAL); an event without
  the metric does not match.
- Every dimension present must hold (AND).

A campaign triggers on events that arrive while it is active: at or after its start (StartTime, or its creation
for IMMEDIATE; for a campaign an update turned EVENT, no earlier than that update) and before EndTime; never on an
event its own send, or any EVENT campaign's send, caused (a campaign on `_email.delivered` that sends email would
otherwise trigger itself, or two such campaigns each other, forever); events of scheduled campaigns' sends do trigger.

"If Amazon Pinpoint can't deliver a message from an event-based campaign within five minutes, it drops the
message" (Pinpoint's campaign quotas). Gateway counts the five minutes from the event's arrival (its
`arrival_timestamp`; a client's own `event_timestamp` may be hours old for events an SDK sent late): a trigger
handled later than that is dropped, counted as the run metric EVENT_EXPIRED (Gateway's name: Pinpoint documents
the drop, not a metric for it) and recorded as a `_campaign.send` event with campaign_send_status EXPIRED. The
request of a trigger handled in time carries the same bound as its deadline, which the engine checks before
sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from gateway import keys, models
from gateway.campaigns.schedule import Run, campaign_zone, first_start
from gateway.campaigns.schedule import parse_instant as parse_at
from gateway.endpoints.rules import parse_instant
from gateway.segments.definition import Attr
from gateway.segments.program import attr_predicate

#: Pinpoint's window: a message an event triggers is dropped unless it can be sent within five minutes.
EXPIRY_MS: Final = 5 * 60 * 1000
#: The run metric of a message dropped by the five-minute rule, and the campaign_send_status of its event.
EXPIRED_METRIC: Final = "EVENT_EXPIRED"
EXPIRED_STATUS: Final = "EXPIRED"
#: The run metric of an event whose endpoint is not in the campaign's segment (one of Pinpoint's run metrics).
FILTERED_OUT: Final = "FILTERED_OUT_BY_SEGMENT"
#: An event campaign's activities live in one open-ended run.
EVENT_RUN: Final = 0

_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "GREATER_THAN": lambda a, b: a > b,
    "LESS_THAN": lambda a, b: a < b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
    "EQUAL": lambda a, b: a == b,
}
_ATTRIBUTE_TYPES: Final = frozenset({"INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN"})


#: Hash of the applications that may have EVENT campaigns (a superset), application -> the token of the last write
#: making one of its campaigns EVENT: store.py sets it before that write's transaction and removes it after the
#: application's last EVENT campaign is gone. Empty: the listeners skip the events stream (listener.py).
EVENT_APPS_KEY: Final = "gw:camp:eventapps"


def is_event(doc: models.CampaignResponse | models.WriteCampaignRequest | None) -> bool:
    """Whether the campaign (version, or write) is event-triggered (Schedule.Frequency EVENT)."""
    return doc is not None and doc.Schedule is not None and doc.Schedule.Frequency == "EVENT"


def events_key(app: str) -> str:
    """Set of the application's EVENT campaign ids (store.py keeps it with every write)."""
    return keys.app_key(app, "camp", "events")


def event_token_key(app: str) -> str:
    """The token of the last committed write that made one of the application's campaigns EVENT (store.py): its
    entry in EVENT_APPS_KEY may go only while that entry still holds this token."""
    return keys.app_key(app, "camp", "evtoken")


def generation_key(app: str) -> str:
    """Counter bumped by every campaign write of the application: a listener's compiled filters are stale once it
    moves."""
    return keys.app_key(app, "camp", "gen")


def handled_key(app: str, campaign_id: str, entry_id: str) -> str:
    """Marker: the campaign has handled the events-stream entry (sent, or counted why not)."""
    return keys.app_key(app, "camp", campaign_id, "ev", entry_id)


class EventFacts(NamedTuple):
    """What a filter looks at in one events-stream record."""

    app: str
    event_type: str
    source: str  # ENDPOINT (PutEvents) or SYSTEM (the engine's own)
    endpoint_id: str | None
    attributes: Mapping[str, str]
    metrics: Mapping[str, float]
    arrival_ms: int
    campaign_id: str | None  # the campaign whose send caused the event, if any


def facts(app: str, event_type: str, record: Mapping[str, Any]) -> EventFacts:
    """The facts of an events-stream record (gateway/events.py's envelope, or PutEvents' event_record)."""
    attrs = record.get("attributes") or {}
    metrics = record.get("metrics") or {}
    client = record.get("client") or {}
    client_id = client.get("client_id")
    arrival = record.get("arrival_timestamp")
    campaign = attrs.get("campaign_id")
    return EventFacts(
        app=app,
        event_type=event_type,
        source="ENDPOINT" if record.get("event_version") == "3.0" else "SYSTEM",
        endpoint_id=client_id if isinstance(client_id, str) and client_id else None,
        attributes={k: v for k, v in attrs.items() if isinstance(v, str)},
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)},
        arrival_ms=int(arrival) if isinstance(arrival, int | float) else 0,
        campaign_id=campaign if isinstance(campaign, str) else None,
    )


def check_event_filter(f: models.CampaignEventFilter) -> str | None:
    """The first problem of an EventFilter as (member path below EventFilter, why), joined by ': ', or None."""
    dims = f.Dimensions
    if dims.EventType is None or not dims.EventType.Values:
        return "Dimensions.EventType: is required, with at least one event type in Values"
    for name, attr in (dims.Attributes or {}).items():
        where = f"Dimensions.Attributes.{name}"
        op = attr.AttributeType or "INCLUSIVE"
        if op not in _ATTRIBUTE_TYPES:
            return f"{where}.AttributeType: unknown {op!r}"
        if not attr.Values:
            return f"{where}.Values: needs at least one value"
        if op in ("BEFORE", "AFTER", "ON") and len(attr.Values) != 1:
            return f"{where}.Values: {op} takes exactly one ISO 8601 date-time"
        if op == "BETWEEN" and len(attr.Values) != 2:
            return f"{where}.Values: BETWEEN takes exactly two ISO 8601 date-times (start, end)"
        if op in ("BEFORE", "AFTER", "ON", "BETWEEN"):
            for v in attr.Values:
                if parse_instant(v) is None:
                    return f"{where}.Values: {v[:40]!r} is not an ISO 8601 date-time"
    for name, metric in (dims.Metrics or {}).items():
        if metric.ComparisonOperator not in _COMPARE:
            return (f"Dimensions.Metrics.{name}.ComparisonOperator: must be one of "
                    f"{', '.join(sorted(_COMPARE))}")
    return None


EventPredicate = Callable[[EventFacts], bool]


def compile_filter(f: models.CampaignEventFilter) -> EventPredicate:
    """The filter as one predicate over EventFacts (checked by check_event_filter first)."""
    dims = f.Dimensions
    assert dims.EventType is not None
    types = frozenset(dims.EventType.Values)
    exclusive = dims.EventType.DimensionType == "EXCLUSIVE"
    source = f.FilterType
    attrs: list[tuple[str, Callable[[tuple[str, ...]], bool], bool]] = []
    for name, a in (dims.Attributes or {}).items():
        op = a.AttributeType or "INCLUSIVE"
        node = Attr("event", name, "INCLUSIVE" if op == "EXCLUSIVE" else op, tuple(a.Values))
        attrs.append((name, attr_predicate(node), op == "EXCLUSIVE"))
    metrics = [(name, _COMPARE[m.ComparisonOperator], m.Value) for name, m in (dims.Metrics or {}).items()]

    def matches(e: EventFacts) -> bool:
        if e.source != source or (e.event_type in types) == exclusive:
            return False
        for name, pred, negate in attrs:
            value = e.attributes.get(name)
            if pred((value,) if value is not None else ()) == negate:
                return False
        for name, compare, want in metrics:
            got = e.metrics.get(name)
            if got is None or not compare(got, want):
                return False
        return True

    return matches


class Trigger(NamedTuple):
    """One active EVENT campaign of an application, compiled: its latest version, when it is active (ms, `end_ms`
    None for no EndTime) and its filter."""

    campaign: models.CampaignResponse
    start_ms: int
    end_ms: int | None
    matches: EventPredicate


def compile_trigger(campaign: models.CampaignResponse, created: dt.datetime, since_ms: int | None = None) -> Trigger | None:
    """The Trigger of a campaign's latest version; None unless it is an unpaused EVENT campaign. `since_ms`: when an
    update made a campaign of another Frequency EVENT (store.py's `evsince`), its start is no earlier than that: an
    event that arrived before the campaign was an EVENT campaign does not trigger it."""
    schedule = campaign.Schedule
    if schedule is None or schedule.Frequency != "EVENT" or schedule.EventFilter is None or campaign.IsPaused:
        return None
    start = first_start(schedule, created)
    end = None
    if schedule.EndTime is not None:
        end = int(parse_at(schedule.EndTime, campaign_zone(schedule.Timezone)).timestamp() * 1000)
    start_ms = int(start.timestamp() * 1000)
    if since_ms is not None:
        start_ms = max(start_ms, since_ms)
    return Trigger(campaign, start_ms, end, compile_filter(schedule.EventFilter))


def triggered(trigger: Trigger, e: EventFacts, event_campaigns: frozenset[str] = frozenset()) -> bool:
    """Whether `e` triggers the campaign: it matches the filter, arrived while the campaign was active, has an
    endpoint, and was caused neither by the campaign's own send nor by that of another of the application's EVENT
    campaigns (`event_campaigns`): event-triggered sends do not cascade, so two campaigns on `_email.delivered`
    cannot trigger each other forever."""
    if e.endpoint_id is None or e.campaign_id == trigger.campaign.Id or e.campaign_id in event_campaigns:
        return False
    if e.arrival_ms < trigger.start_ms or (trigger.end_ms is not None and e.arrival_ms >= trigger.end_ms):
        return False
    return trigger.matches(e)


def expired(arrival_ms: int, now_ms: int) -> bool:
    """Pinpoint's five-minute rule: the message an event triggered can no longer be sent in time."""
    return now_ms - arrival_ms > EXPIRY_MS


def could_match(triggers: list[Trigger], event_type: str) -> bool:
    """A cheap screen before a record is decoded: some trigger could take an event of this type."""
    for t in triggers:
        s = t.campaign.Schedule
        assert s is not None and s.EventFilter is not None and s.EventFilter.Dimensions.EventType is not None
        et = s.EventFilter.Dimensions.EventType
        if (event_type in et.Values) != (et.DimensionType == "EXCLUSIVE"):
            return True
    return False


def event_run(now: dt.datetime) -> Run:
    """The Run an event trigger is planned as: run 0, sent now (local time does not apply to event triggers)."""
    wall = now.astimezone(dt.UTC).replace(tzinfo=None)
    return Run(EVENT_RUN, wall, now, now)
