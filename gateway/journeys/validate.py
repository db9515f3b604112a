"""Every member of a WriteJourneyRequest checked against Pinpoint's rules, without I/O.

`check_journey` takes the journey as it would be stored (an UpdateJourney request already merged over the stored
journey, see `merge`) and raises JourneyValidationError naming the first member that breaks a rule
(`WriteJourneyRequest.Activities.welcome.EMAIL.TemplateName: is required`). What needs a store (templates and
segments exist, an event-started journey's segment is not imported) is returned as `Lookups`.

Rules and their sources (Pinpoint's API reference for Journeys and its shapes; ../shared/reference/pinpoint.md §5):
- Name is required; State on create and update is DRAFT or ACTIVE; an ACTIVE journey needs a StartCondition, a
  StartActivity and activities.
- Activities: at most 40; ids of 1 to 100 alphanumeric characters; each activity has exactly one type (EMAIL, SMS,
  PUSH, CUSTOM, Wait, ConditionalSplit, MultiCondition, RandomSplit, Holdout; there is no VOICE activity, and
  ContactCenter needs Amazon Connect, which a self-hosted gateway has not); every NextActivity, TrueActivity,
  FalseActivity, DefaultActivity and branch target names an activity of the journey, and so does StartActivity;
  every cycle passes through a Wait (otherwise a participant would loop without end at once).
- EMAIL, SMS and PUSH name a TemplateName (it must exist, of the channel's kind) and optionally a TemplateVersion
  (a positive integer); CUSTOM needs an https DeliveryUri (no Lambda), at least one EndpointTypes entry and at most
  5 KB of MessageConfig.Data, as campaigns' custom delivery.
- Wait and EvaluationWaitTime: exactly one of WaitFor (an ISO 8601 duration, duration.py) and WaitUntil (an ISO
  8601 date-time).
- ConditionalSplit: a Condition with at least one SimpleCondition (TrueActivity / FalseActivity are its two
  branches); MultiCondition: 1 to 4 Branches, each with a Condition, plus DefaultActivity (5 paths with the "Else");
  RandomSplit: 1 to 5 Branches whose Percentage values add up to 100; Holdout: Percentage 0 to 100. A
  SimpleCondition has exactly one of EventCondition, SegmentCondition and SegmentDimensions; an EventCondition's
  MessageActivity names a message activity of the journey and its Dimensions are checked as an event filter's.
- StartCondition: exactly one of SegmentStartCondition and EventStartCondition; an EventStartCondition's EventFilter
  is checked as a campaign's (triggers.check_event_filter) and its segment must be dynamic.
- Limits: DailyCap, TotalCap, EndpointReentryCap and TimeframeCap.Cap 0 to 100, TimeframeCap.Days 0 to 30,
  MessagesPerSecond 1 to 20,000, EndpointReentryInterval an ISO 8601 duration; RefreshFrequency a duration.
- Schedule: StartTime and EndTime ISO 8601, EndTime after StartTime and not in the past, at most 540 days apart (a
  journey runs at most 540 days); Timezone one of Pinpoint's values (campaigns' list).
- QuietTime: Start and End, both HH:MM. OpenHours and ClosedDays need SendingSchedule true; OpenHours per channel
  and day (MONDAY ... SUNDAY) at most 7 rules of StartTime < EndTime (HH:MM); ClosedDays at most 20 rules per
  channel, each StartDateTime < EndDateTime (ISO 8601).
- JourneyChannelSettings configures Amazon Connect, which is refused like ContactCenter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Final, TypeVar

import msgspec

from gateway import models
from gateway.campaigns.schedule import campaign_zone, parse_hhmm, parse_instant
from gateway.campaigns.triggers import check_event_filter
from gateway.campaigns.validate import MAX_CUSTOM_DATA, is_https_url
from gateway.journeys.duration import parse_duration
from gateway.journeys.errors import JourneyValidationError
from gateway.templates.store import TemplateVersionError, version_number

ROOT: Final = "WriteJourneyRequest"
MAX_ACTIVITIES: Final = 40
MAX_ACTIVITY_ID: Final = 100
MAX_MULTI_BRANCHES: Final = 4  # plus DefaultActivity: five paths
MAX_RANDOM_BRANCHES: Final = 5
MAX_CAP: Final = 100
MAX_TIMEFRAME_DAYS: Final = 30
MAX_MESSAGES_PER_SECOND: Final = 20_000
MAX_JOURNEY_DAYS: Final = 540
MAX_OPEN_HOURS_RULES: Final = 7
MAX_CLOSED_DAYS_RULES: Final = 20
DAYS: Final = frozenset({"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"})
WRITE_STATES: Final = frozenset({"DRAFT", "ACTIVE"})
#: Activity's type members, in the order the refusals list them.
TYPES: Final = ("EMAIL", "SMS", "PUSH", "CUSTOM", "Wait", "ConditionalSplit", "MultiCondition", "RandomSplit",
                "Holdout", "ContactCenter")
MESSAGE_TYPES: Final = frozenset({"EMAIL", "SMS", "PUSH", "CUSTOM"})
_ID: Final = re.compile(r"[A-Za-z0-9]{1,100}")
_NO_CONNECT: Final = ("Amazon Connect is not available in a self-hosted gateway, so journeys have no ContactCenter "
                      "activity (send through EMAIL, SMS, PUSH or CUSTOM instead)")


class TemplateRef(msgspec.Struct, frozen=True):
    """A template an activity names: the store checks it exists as one of `kinds` (`member` names it)."""

    kinds: tuple[str, ...]
    name: str
    version: str | None
    member: str


class SegmentRef(msgspec.Struct, frozen=True):
    """A segment the journey names: the store checks it exists (and, if `dynamic`, that it is not imported)."""

    segment_id: str
    member: str
    dynamic: bool = False


class Lookups(msgspec.Struct, frozen=True):
    """What `check_journey` leaves to the store."""

    templates: tuple[TemplateRef, ...]
    segments: tuple[SegmentRef, ...]


def bad(member: str, why: str) -> JourneyValidationError:
    """The refusal of `member` (a path below WriteJourneyRequest)."""
    return JourneyValidationError(f"{ROOT}.{member}: {why}")


def merge(previous: models.JourneyResponse, request: models.WriteJourneyRequest) -> models.WriteJourneyRequest:
    """The journey an UpdateJourney asks for: members the request sets replace the stored journey's, the others
    are kept (CreationDate and LastModifiedDate are the store's, never the request's)."""
    fields = {f: getattr(previous, f) for f in models.WriteJourneyRequest.__struct_fields__}
    for f in models.WriteJourneyRequest.__struct_fields__:
        value = getattr(request, f)
        if value is not None:
            fields[f] = value
    fields["CreationDate"] = fields["LastModifiedDate"] = None
    return models.WriteJourneyRequest(**fields)


def check_journey(
    req: models.WriteJourneyRequest, *, now: dt.datetime, previous: models.JourneyResponse | None = None
) -> Lookups:
    """Check every member of the journey `req` would store (module doc); `previous` is the stored journey when
    updating (a Schedule.EndTime it already had is not refused for being past). Returns what the store must still
    look up."""
    if not req.Name or not req.Name.strip():
        raise bad("Name", "is required")
    check_write_state(req.State)
    activities = req.Activities or {}
    templates: list[TemplateRef] = []
    segments: list[SegmentRef] = []
    check_activity_count(activities)
    for activity_id, activity in activities.items():
        check_activity_id(activity_id)
        check_activity(activity_id, activity, activities, templates, segments)
    check_targets(req.StartActivity, activities)
    check_cycles(activities)
    if req.StartCondition is not None:
        check_start_condition(req.StartCondition, segments)
    if req.Limits is not None:
        check_limits(req.Limits)
    if req.RefreshFrequency is not None:
        check_duration("RefreshFrequency", req.RefreshFrequency)
    if req.Schedule is not None:
        kept_end = previous.Schedule.EndTime if previous is not None and previous.Schedule is not None else None
        check_schedule(req.Schedule, now, kept_end)
    if req.QuietTime is not None:
        check_quiet_time(req.QuietTime)
    check_sending_schedule(req)
    if req.JourneyChannelSettings is not None:
        raise bad("JourneyChannelSettings", _NO_CONNECT)
    if req.State == "ACTIVE":
        check_publishable(req)
    return Lookups(templates=tuple(templates), segments=tuple(segments))


# -- journey-level rules -------------------------------------------------------------------------------------------


def check_write_state(state: str | None) -> None:
    """CreateJourney and UpdateJourney take State DRAFT or ACTIVE only (the others through UpdateJourneyState)."""
    if state is not None and state not in WRITE_STATES:
        raise bad("State", f"must be DRAFT or ACTIVE when creating or updating a journey, got {state}; pause, resume "
                  "or cancel a journey with UpdateJourneyState")


def check_publishable(req: models.WriteJourneyRequest) -> None:
    """An ACTIVE journey can run: it has a start condition, a start activity and activities."""
    if req.StartCondition is None:
        raise bad("StartCondition", "is required to publish a journey (State ACTIVE)")
    if not req.Activities:
        raise bad("Activities", "a journey needs at least one activity to be published (State ACTIVE)")
    if req.StartActivity is None:
        raise bad("StartActivity", "is required to publish a journey (State ACTIVE)")


def check_activity_count(activities: dict[str, models.Activity]) -> None:
    if len(activities) > MAX_ACTIVITIES:
        raise bad("Activities", f"at most {MAX_ACTIVITIES} activities per journey, got {len(activities)}")


def check_activity_id(activity_id: str) -> None:
    if _ID.fullmatch(activity_id) is None:
        raise bad(f"Activities.{activity_id[:MAX_ACTIVITY_ID]}",
                  f"an activity id is 1 to {MAX_ACTIVITY_ID} alphanumeric characters")


def activity_type(activity_id: str, activity: models.Activity) -> str:
    """The activity's one type member (TYPES); refused when it has none or several."""
    present = [t for t in TYPES if getattr(activity, t) is not None]
    if len(present) != 1:
        got = "none" if not present else ", ".join(present)
        raise bad(f"Activities.{activity_id}", f"an activity has exactly one of {', '.join(TYPES[:-1])} (got {got}); "
                  "VOICE is not a supported journey activity type")
    return present[0]


def targets(activity: models.Activity) -> Iterator[tuple[str, str]]:
    """Every (member below the activity, activity id) the activity can lead to."""
    for kind in ("EMAIL", "SMS", "PUSH", "CUSTOM", "Wait", "Holdout", "ContactCenter"):
        step = getattr(activity, kind)
        if step is not None and step.NextActivity is not None:
            yield f"{kind}.NextActivity", step.NextActivity
    if activity.ConditionalSplit is not None:
        for name in ("TrueActivity", "FalseActivity"):
            target = getattr(activity.ConditionalSplit, name)
            if target is not None:
                yield f"ConditionalSplit.{name}", target
    if activity.MultiCondition is not None:
        for i, branch in enumerate(activity.MultiCondition.Branches or []):
            if branch.NextActivity is not None:
                yield f"MultiCondition.Branches[{i}].NextActivity", branch.NextActivity
        if activity.MultiCondition.DefaultActivity is not None:
            yield "MultiCondition.DefaultActivity", activity.MultiCondition.DefaultActivity
    if activity.RandomSplit is not None:
        for i, entry in enumerate(activity.RandomSplit.Branches or []):
            if entry.NextActivity is not None:
                yield f"RandomSplit.Branches[{i}].NextActivity", entry.NextActivity


def check_targets(start: str | None, activities: dict[str, models.Activity]) -> None:
    """StartActivity and every branch target name an activity of the journey."""
    if start is not None and start not in activities:
        raise bad("StartActivity", f"{start[:MAX_ACTIVITY_ID]!r} is not an activity of this journey")
    for activity_id, activity in activities.items():
        for member, target in targets(activity):
            if target not in activities:
                raise bad(f"Activities.{activity_id}.{member}",
                          f"{target[:MAX_ACTIVITY_ID]!r} is not an activity of this journey")
            if target == activity_id and activity.Wait is None:
                raise bad(f"Activities.{activity_id}.{member}", "an activity cannot lead to itself (only a Wait can)")


def check_cycles(activities: dict[str, models.Activity]) -> None:
    """Every cycle passes through a Wait: the graph without its Wait activities has no cycle. The refusal names the
    cycle's activities in order."""
    graph = {
        a: [t for _, t in targets(act) if t in activities and activities[t].Wait is None]
        for a, act in activities.items() if act.Wait is None
    }
    colour: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if colour.get(root):
            continue
        path = [root]
        stack = [iter(graph[root])]
        colour[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = 2
                stack.pop()
                continue
            if colour.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                raise bad(f"Activities.{nxt}", f"the activities {' -> '.join(cycle)} form a cycle with no Wait "
                          "activity on it (a participant would loop without end)")
            if not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))


def check_duration(member: str, text: str) -> dt.timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise bad(member, str(exc)) from None


def check_wait_time(member: str, wait: models.WaitTime | None) -> None:
    """Exactly one of WaitFor (ISO 8601 duration) and WaitUntil (ISO 8601 date-time)."""
    if wait is None or (wait.WaitFor is None) == (wait.WaitUntil is None):
        raise bad(member, "needs exactly one of WaitFor (an ISO 8601 duration) and WaitUntil (an ISO 8601 date-time)")
    if wait.WaitFor is not None:
        check_duration(f"{member}.WaitFor", wait.WaitFor)
    if wait.WaitUntil is not None:
        try:
            parse_instant(wait.WaitUntil)
        except ValueError as exc:
            raise bad(f"{member}.WaitUntil", str(exc)) from None


# -- activities ----------------------------------------------------------------------------------------------------


def check_activity(
    activity_id: str, activity: models.Activity, activities: dict[str, models.Activity],
    templates: list[TemplateRef], segments: list[SegmentRef],
) -> None:
    """One activity's own members (its targets are checked by check_targets)."""
    kind = activity_type(activity_id, activity)
    where = f"Activities.{activity_id}.{kind}"
    if kind == "ContactCenter":
        raise bad(where, _NO_CONNECT)
    if kind in ("EMAIL", "SMS", "PUSH"):
        check_message_activity(where, kind, getattr(activity, kind), templates)
    elif kind == "CUSTOM":
        assert activity.CUSTOM is not None
        check_custom_activity(where, activity.CUSTOM, templates)
    elif kind == "Wait":
        assert activity.Wait is not None
        check_wait_time(f"{where}.WaitTime", activity.Wait.WaitTime)
    elif kind == "ConditionalSplit":
        assert activity.ConditionalSplit is not None
        check_conditional_split(where, activity.ConditionalSplit, activities, segments)
    elif kind == "MultiCondition":
        assert activity.MultiCondition is not None
        check_multi_condition(where, activity.MultiCondition, activities, segments)
    elif kind == "RandomSplit":
        assert activity.RandomSplit is not None
        check_random_split(where, activity.RandomSplit)
    else:
        assert activity.Holdout is not None
        check_holdout(where, activity.Holdout)


def _template_version(member: str, version: str | None) -> None:
    if version is not None:
        try:
            version_number(version)
        except TemplateVersionError as exc:
            raise bad(member, str(exc)) from None


def check_message_activity(
    where: str, kind: str,
    step: models.EmailMessageActivity | models.SMSMessageActivity | models.PushMessageActivity,
    templates: list[TemplateRef],
) -> None:
    """EMAIL, SMS and PUSH send a template of their channel."""
    if not step.TemplateName:
        raise bad(f"{where}.TemplateName", f"is required: a journey's {kind} activity sends a {kind} template")
    _template_version(f"{where}.TemplateVersion", step.TemplateVersion)
    templates.append(TemplateRef(kinds=(kind,), name=step.TemplateName, version=step.TemplateVersion,
                                 member=f"{ROOT}.{where}.TemplateName"))
    config = step.MessageConfig
    if isinstance(config, models.JourneyPushMessage) and config.TimeToLive is not None:
        if not config.TimeToLive.isdigit():
            raise bad(f"{where}.MessageConfig.TimeToLive", "is a number of seconds")
    if isinstance(config, models.JourneyEmailMessage) and config.FromAddress is not None:
        if "@" not in config.FromAddress:
            raise bad(f"{where}.MessageConfig.FromAddress", "must be an email address")


def check_custom_activity(where: str, step: models.CustomMessageActivity, templates: list[TemplateRef]) -> None:
    """CUSTOM posts to an https DeliveryUri, as campaigns' custom delivery (the API HEAD-checks it, store.py)."""
    uri = step.DeliveryUri
    if not uri:
        raise bad(f"{where}.DeliveryUri", "is required (an https URL)")
    if uri.startswith("arn:") or "://" not in uri:
        raise bad(f"{where}.DeliveryUri", "Gateway runs no AWS Lambda functions: give an https URL")
    if not is_https_url(uri):
        raise bad(f"{where}.DeliveryUri", "must be an https URL of RFC 3986 characters")
    if not step.EndpointTypes:
        raise bad(f"{where}.EndpointTypes", "needs at least one endpoint type the custom channel sends to")
    if step.MessageConfig is not None and step.MessageConfig.Data is not None:
        size = len(step.MessageConfig.Data.encode())
        if size > MAX_CUSTOM_DATA:
            raise bad(f"{where}.MessageConfig.Data", f"at most {MAX_CUSTOM_DATA} bytes, got {size}")
    _template_version(f"{where}.TemplateVersion", step.TemplateVersion)
    if step.TemplateName:
        templates.append(TemplateRef(kinds=("PUSH", "SMS", "EMAIL"), name=step.TemplateName,
                                     version=step.TemplateVersion, member=f"{ROOT}.{where}.TemplateName"))


def check_simple_condition(
    where: str, cond: models.SimpleCondition | None, activities: dict[str, models.Activity],
    segments: list[SegmentRef],
) -> None:
    """Exactly one of EventCondition, SegmentCondition, SegmentDimensions."""
    if cond is None:
        raise bad(where, "is required")
    present = [n for n in ("EventCondition", "SegmentCondition", "SegmentDimensions") if getattr(cond, n) is not None]
    if len(present) != 1:
        raise bad(where, "needs exactly one of EventCondition, SegmentCondition and SegmentDimensions")
    if cond.SegmentCondition is not None:
        segments.append(SegmentRef(cond.SegmentCondition.SegmentId, f"{ROOT}.{where}.SegmentCondition.SegmentId"))
    if cond.EventCondition is not None:
        event = cond.EventCondition
        if event.Dimensions is None and event.MessageActivity is None:
            raise bad(f"{where}.EventCondition", "needs Dimensions or a MessageActivity")
        if event.MessageActivity is not None:
            target = activities.get(event.MessageActivity)
            if target is None or not any(getattr(target, t) is not None for t in MESSAGE_TYPES):
                raise bad(f"{where}.EventCondition.MessageActivity",
                          f"{event.MessageActivity[:MAX_ACTIVITY_ID]!r} is not a message activity (EMAIL, SMS, PUSH "
                          "or CUSTOM) of this journey")
        if event.Dimensions is not None:
            problem = check_event_filter(models.CampaignEventFilter(Dimensions=event.Dimensions, FilterType="ENDPOINT"))
            if problem is not None:
                raise JourneyValidationError(f"{ROOT}.{where}.EventCondition.{problem}")


def check_conditional_split(
    where: str, split: models.ConditionalSplitActivity, activities: dict[str, models.Activity],
    segments: list[SegmentRef],
) -> None:
    """A yes/no split: its Condition's SimpleConditions, joined by ALL or ANY; TrueActivity and FalseActivity."""
    if split.Condition is None or not split.Condition.Conditions:
        raise bad(f"{where}.Condition.Conditions", "needs at least one condition")
    for i, cond in enumerate(split.Condition.Conditions):
        check_simple_condition(f"{where}.Condition.Conditions[{i}]", cond, activities, segments)
    if split.EvaluationWaitTime is not None:
        check_wait_time(f"{where}.EvaluationWaitTime", split.EvaluationWaitTime)


def check_multi_condition(
    where: str, split: models.MultiConditionalSplitActivity, activities: dict[str, models.Activity],
    segments: list[SegmentRef],
) -> None:
    """1 to 4 conditional Branches plus the DefaultActivity ("Else"): five paths at most."""
    branches = split.Branches or []
    if not 1 <= len(branches) <= MAX_MULTI_BRANCHES:
        raise bad(f"{where}.Branches", f"1 to {MAX_MULTI_BRANCHES} branches (plus DefaultActivity, {MAX_MULTI_BRANCHES + 1} "
                  f"paths in all), got {len(branches)}")
    for i, branch in enumerate(branches):
        check_simple_condition(f"{where}.Branches[{i}].Condition", branch.Condition, activities, segments)
    if split.EvaluationWaitTime is not None:
        check_wait_time(f"{where}.EvaluationWaitTime", split.EvaluationWaitTime)


def check_random_split(where: str, split: models.RandomSplitActivity) -> None:
    """1 to 5 Branches whose Percentage values (0 to 100 each) add up to 100."""
    branches = split.Branches or []
    if not 1 <= len(branches) <= MAX_RANDOM_BRANCHES:
        raise bad(f"{where}.Branches", f"1 to {MAX_RANDOM_BRANCHES} branches, got {len(branches)}")
    total = 0
    for i, entry in enumerate(branches):
        if entry.Percentage is None or not 0 <= entry.Percentage <= 100:
            raise bad(f"{where}.Branches[{i}].Percentage", f"is required, 0 to 100, got {entry.Percentage}")
        total += entry.Percentage
    if total != 100:
        raise bad(f"{where}.Branches", f"the branches' Percentage values must add up to 100, got {total}")


def check_holdout(where: str, holdout: models.HoldoutActivity) -> None:
    if not 0 <= holdout.Percentage <= 100:
        raise bad(f"{where}.Percentage", f"must be 0 to 100, got {holdout.Percentage}")


# -- start, limits and timing --------------------------------------------------------------------------------------


def check_start_condition(start: models.StartCondition, segments: list[SegmentRef]) -> None:
    """A segment or an event starts the journey; an event start's segment must be dynamic (Pinpoint refuses an
    imported one)."""
    if (start.SegmentStartCondition is None) == (start.EventStartCondition is None):
        raise bad("StartCondition", "needs exactly one of SegmentStartCondition and EventStartCondition")
    if start.SegmentStartCondition is not None:
        segments.append(SegmentRef(start.SegmentStartCondition.SegmentId,
                                   f"{ROOT}.StartCondition.SegmentStartCondition.SegmentId"))
        return
    event = start.EventStartCondition
    assert event is not None
    where = "StartCondition.EventStartCondition"
    if event.EventFilter is None:
        raise bad(f"{where}.EventFilter", "is required")
    problem = check_event_filter(models.CampaignEventFilter(
        Dimensions=event.EventFilter.Dimensions, FilterType=event.EventFilter.FilterType
    ))
    if problem is not None:
        raise JourneyValidationError(f"{ROOT}.{where}.EventFilter.{problem}")
    if event.SegmentId is not None:
        segments.append(SegmentRef(event.SegmentId, f"{ROOT}.{where}.SegmentId", dynamic=True))


def check_limits(limits: models.JourneyLimits) -> None:
    bounds = {"DailyCap": (0, MAX_CAP), "TotalCap": (0, MAX_CAP), "EndpointReentryCap": (0, MAX_CAP),
              "MessagesPerSecond": (1, MAX_MESSAGES_PER_SECOND)}
    for name, (low, high) in bounds.items():
        value = getattr(limits, name)
        if value is not None and not low <= value <= high:
            raise bad(f"Limits.{name}", f"must be {low} to {high}, got {value}")
    if limits.TimeframeCap is not None:
        cap = limits.TimeframeCap
        if cap.Cap is not None and not 0 <= cap.Cap <= MAX_CAP:
            raise bad("Limits.TimeframeCap.Cap", f"must be 0 to {MAX_CAP}, got {cap.Cap}")
        if cap.Days is not None and not 0 <= cap.Days <= MAX_TIMEFRAME_DAYS:
            raise bad("Limits.TimeframeCap.Days", f"must be 0 to {MAX_TIMEFRAME_DAYS}, got {cap.Days}")
    if limits.EndpointReentryInterval is not None:
        check_duration("Limits.EndpointReentryInterval", limits.EndpointReentryInterval)


def check_schedule(schedule: models.JourneySchedule, now: dt.datetime, kept_end: str | None) -> None:
    """Timezone one of Pinpoint's; StartTime and EndTime ISO 8601 (read in that zone when they carry no offset);
    EndTime after StartTime, not past (unless kept from before), at most 540 days after the start."""
    try:
        zone = campaign_zone(schedule.Timezone)
    except ValueError as exc:
        raise bad("Schedule.Timezone", str(exc)) from None
    start = now
    if schedule.StartTime is not None:
        try:
            start = parse_instant(schedule.StartTime, zone)
        except ValueError as exc:
            raise bad("Schedule.StartTime", str(exc)) from None
    if schedule.EndTime is None:
        return
    try:
        end = parse_instant(schedule.EndTime, zone)
    except ValueError as exc:
        raise bad("Schedule.EndTime", str(exc)) from None
    if end <= start:
        raise bad("Schedule.EndTime", f"{schedule.EndTime} is not after the start time")
    if end < now and schedule.EndTime != kept_end:
        raise bad("Schedule.EndTime", f"{schedule.EndTime} is in the past")
    if end - max(start, now) > dt.timedelta(days=MAX_JOURNEY_DAYS):
        raise bad("Schedule.EndTime", f"a journey runs at most {MAX_JOURNEY_DAYS} days")


def check_quiet_time(quiet: models.QuietTime) -> None:
    if (quiet.Start is None) != (quiet.End is None):
        raise bad("QuietTime", "needs both Start and End")
    for name, value in (("Start", quiet.Start), ("End", quiet.End)):
        if value is not None:
            try:
                parse_hhmm(value)
            except ValueError as exc:
                raise bad(f"QuietTime.{name}", str(exc)) from None


def check_sending_schedule(req: models.WriteJourneyRequest) -> None:
    """OpenHours and ClosedDays take effect with SendingSchedule true (refused otherwise, rather than stored and
    ignored); their rules per channel."""
    if (req.OpenHours is not None or req.ClosedDays is not None) and not req.SendingSchedule:
        which = "OpenHours" if req.OpenHours is not None else "ClosedDays"
        raise bad(which, "takes effect only with SendingSchedule true; set it")
    if req.OpenHours is not None:
        for channel in req.OpenHours.__struct_fields__:
            days: dict[str, list[models.OpenHoursRule]] | None = getattr(req.OpenHours, channel)
            for day, rules in (days or {}).items():
                check_open_hours(f"OpenHours.{channel}.{day[:20]}", day, rules)
    if req.ClosedDays is not None:
        for channel in req.ClosedDays.__struct_fields__:
            closed: list[models.ClosedDaysRule] | None = getattr(req.ClosedDays, channel)
            check_closed_days(f"ClosedDays.{channel}", closed or [])


#: What a span's bounds parse to (a time of day or an instant): compared, end after start.
T = TypeVar("T", dt.time, dt.datetime)


def check_span(where: str, rule: object, names: tuple[str, str], parse: Callable[[str], T], form: str) -> None:
    """A rule's start and end members: both present, each parsed by `parse`, the end after the start."""
    bounds: list[T] = []
    for name in names:
        value = getattr(rule, name)
        if value is None:
            raise bad(f"{where}.{name}", f"is required ({form})")
        try:
            bounds.append(parse(value))
        except ValueError as exc:
            raise bad(f"{where}.{name}", str(exc)) from None
    if bounds[1] <= bounds[0]:
        raise bad(f"{where}.{names[1]}", f"must be after {names[0]}")


def check_open_hours(where: str, day: str, rules: list[models.OpenHoursRule]) -> None:
    if day not in DAYS:
        raise bad(where, "is not a day of the week (MONDAY ... SUNDAY)")
    if len(rules) > MAX_OPEN_HOURS_RULES:
        raise bad(where, f"at most {MAX_OPEN_HOURS_RULES} rules per day, got {len(rules)}")
    for i, rule in enumerate(rules):
        check_span(f"{where}[{i}]", rule, ("StartTime", "EndTime"), parse_hhmm, "HH:MM")


def check_closed_days(where: str, rules: list[models.ClosedDaysRule]) -> None:
    if len(rules) > MAX_CLOSED_DAYS_RULES:
        raise bad(where, f"at most {MAX_CLOSED_DAYS_RULES} rules per channel, got {len(rules)}")
    for i, rule in enumerate(rules):
        check_span(f"{where}[{i}]", rule, ("StartDateTime", "EndDateTime"), parse_instant, "an ISO 8601 date-time")
