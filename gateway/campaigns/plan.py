"""Who gets one treatment's run of a campaign, and why each other endpoint does not: pure (no I/O, no clock).

The runner resolves the segment, loads its endpoints and calls `plan_treatment` once per treatment and run.
Pinpoint keeps an activity per treatment and run, with run metrics naming why endpoints were not messaged
(pinpoint.md §5): an endpoint outside the treatment's cohorts is TREATMENT_HOLDOUT *for that treatment*; inside,
the first rule it breaks, in this order:

    ENDPOINT_OPT_OUT           OptOut is ALL
    ENDPOINT_INACTIVE          EndpointStatus is INACTIVE
    ENDPOINT_MISSING_ADDRESS   no Address (an in-app endpoint needs none: the app fetches its messages)
    DUPLICATE_ENDPOINT         another endpoint of the segment has the same channel and address (`duplicates`)
    ENDPOINT_CHANNEL_MISMATCH  the treatment has no message or template for the endpoint's channel
    ENDPOINT_MISSING_TIMEZONE  a local-time run and no valid Demographic.Timezone (schedule.local_delivery)
    QUIET_TIME                 the delivery falls in quiet time in the endpoint's zone (schedule.in_quiet_time)

ENDPOINT_PRODUCED counts every endpoint the segment produced. Every endpoint of the segment is thus either a
recipient or counted under exactly one reason (the runner then counts the limits' reasons, limits.py).

One message per endpoint per run, as Pinpoint decides it: Pinpoint messages endpoints, not users, so a user with
an email and an SMS endpoint gets the run on each (a treatment reaches every channel it has content for). What it
de-dupes (run metrics, "Duplicate endpoints were found and de-duped"; DeliveryStatus DUPLICATE, "The endpoint
address is a duplicate of another endpoint address") is the same address twice: two endpoints of one channel
with one address get one message. The endpoint store already makes every other endpoint with an address INACTIVE
when one writes it (so ENDPOINT_INACTIVE counts most duplicates); two can still both be ACTIVE when an old one is
re-activated without writing its address. The run then messages the one written last (latest EffectiveDate,
ties: the smallest Id) and counts each other DUPLICATE_ENDPOINT (`duplicate_endpoints`). Pinpoint's
DUPLICATE_USER counts a user id listed twice in a user-id-only segment: Gateway expands such a segment into its
users' endpoints when it is imported (segments/jobs.py), so a run never meets a user twice and the metric does
not arise at run time.

A treatment with its own Schedule (AdditionalTreatments[i].Schedule) runs on it: its run n is run n of its own
schedule (`treatment_run`: its own start, local time, time zone and quiet time), within the campaign's run n.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from gateway import models
from gateway.campaigns.schedule import Run, in_quiet_time, local_delivery, run_at
from gateway.campaigns.split import COHORTS, Split, endpoint_cohort

PRODUCED: Final = "ENDPOINT_PRODUCED"
HOLDOUT: Final = "TREATMENT_HOLDOUT"
OPT_OUT: Final = "ENDPOINT_OPT_OUT"
INACTIVE: Final = "ENDPOINT_INACTIVE"
MISSING_ADDRESS: Final = "ENDPOINT_MISSING_ADDRESS"
CHANNEL_MISMATCH: Final = "ENDPOINT_CHANNEL_MISMATCH"
MISSING_TIMEZONE: Final = "ENDPOINT_MISSING_TIMEZONE"
QUIET: Final = "QUIET_TIME"
DUPLICATE_ENDPOINT: Final = "DUPLICATE_ENDPOINT"
#: A treatment whose own schedule has no run n (its EndTime came before the campaign's): its endpoints are counted
#: under this reason in run n. Pinpoint has no name for it.
TREATMENT_ENDED: Final = "TREATMENT_SCHEDULE_ENDED"

# The MessageConfiguration members and the TemplateConfiguration member that can reach each channel type.
_PUSH_TEMPLATE: Final = "PushTemplate"
_CHANNELS: Final[dict[str, tuple[tuple[str, ...], str | None]]] = {
    "EMAIL": (("EmailMessage",), "EmailTemplate"),
    "SMS": (("SMSMessage",), "SMSTemplate"),
    "GCM": (("GCMMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "APNS": (("APNSMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "APNS_SANDBOX": (("APNSMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "APNS_VOIP": (("APNSMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "APNS_VOIP_SANDBOX": (("APNSMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "ADM": (("ADMMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "BAIDU": (("BaiduMessage", "DefaultMessage"), _PUSH_TEMPLATE),
    "IN_APP": (("InAppMessage",), "InAppTemplate"),
}
#: The in-app channel: the app fetches its messages (inapp.py), so an endpoint needs no Address, and the run
#: stores the message at its start (the device shows it when its EventFilter fires; QuietTime goes with it).
IN_APP: Final = "IN_APP"


class Content(NamedTuple):
    """What one treatment sends: its MessageConfiguration, TemplateConfiguration, CustomDeliveryConfiguration and
    Schedule (a treatment without its own takes the campaign's)."""

    messages: models.MessageConfiguration | None
    templates: models.TemplateConfiguration | None
    custom: models.CustomDeliveryConfiguration | None
    schedule: models.Schedule


class Recipient(NamedTuple):
    """An endpoint that gets the run, on `channel` (its ChannelType, or CUSTOM for custom delivery), at `at`."""

    endpoint_id: str
    channel: str
    at: dt.datetime


_new_tuple: Final = tuple.__new__


class TreatmentPlan(NamedTuple):
    """One treatment's run: its recipients and its run metrics (reason -> count, ENDPOINT_PRODUCED included)."""

    treatment_id: int
    recipients: list[Recipient]
    metrics: Counter[str]


def treatment_content(campaign: models.CampaignResponse, treatment_id: int) -> Content:
    """The content of treatment 0 (the campaign's own) or of additional treatment `treatment_id` (1 to 4);
    KeyError when the campaign has no such treatment."""
    assert campaign.Schedule is not None  # validate.py requires it
    if treatment_id == 0:
        return Content(campaign.MessageConfiguration, campaign.TemplateConfiguration,
                       campaign.CustomDeliveryConfiguration, campaign.Schedule)
    for t in campaign.AdditionalTreatments or []:
        if t.Id == str(treatment_id):
            return Content(t.MessageConfiguration, t.TemplateConfiguration, t.CustomDeliveryConfiguration,
                           t.Schedule or campaign.Schedule)
    raise KeyError(f"campaign {campaign.Id} has no treatment {treatment_id}")


def channel_for(content: Content, channel_type: str | None) -> str | None:
    """The channel a treatment reaches an endpoint of `channel_type` on: CUSTOM when its custom delivery takes that
    endpoint type (all types when EndpointTypes is empty), the type itself when it has a message or template for it,
    None otherwise (ENDPOINT_CHANNEL_MISMATCH)."""
    if channel_type is None:
        return None
    custom = content.custom
    if custom is not None and (not custom.EndpointTypes or channel_type in custom.EndpointTypes):
        return "CUSTOM"
    members, template = _CHANNELS.get(channel_type, ((), None))
    m, t = content.messages, content.templates
    if m is not None and any(getattr(m, name) is not None for name in members):
        return channel_type
    if t is not None and template is not None and getattr(t, template) is not None:
        return channel_type
    return None


def treatment_run(schedule: models.Schedule, campaign: models.Schedule, created: dt.datetime, run: Run) -> Run | None:
    """A treatment's run in the campaign's run `run`: the campaign's run itself when the treatment follows the
    campaign's `schedule`, else run `run.number` of its own (None when its own schedule has no such run)."""
    if schedule == campaign:
        return run
    return run_at(schedule, created, run.number)


def duplicate_endpoints(endpoints: Sequence[models.EndpointResponse]) -> frozenset[str]:
    """The endpoints a run does not message because another endpoint of the same channel has the same address
    (module doc): of each such group that could be messaged, all but the last written (latest EffectiveDate, ties:
    the smallest Id), as the endpoint store keeps the last writer of an address ACTIVE."""
    # a first pass over the addresses alone: almost every run has no repeated address (the endpoint store keeps
    # one ACTIVE per address), and this keeps the check at a set lookup per endpoint
    seen: set[str | None] = set()
    repeated: set[str | None] = set()
    for ep in endpoints:
        address = ep.Address
        if address in seen:
            repeated.add(address)
        else:
            seen.add(address)
    repeated.discard(None)
    if not repeated:
        return frozenset()
    keeper: dict[tuple[str | None, str | None], tuple[str, str]] = {}  # (channel, address) -> (EffectiveDate, Id)
    dropped: set[str] = set()
    for ep in endpoints:
        if ep.Address not in repeated or ep.OptOut == "ALL" or ep.EndpointStatus == "INACTIVE":
            continue
        mine = (ep.EffectiveDate or "", ep.Id or "")
        key = (ep.ChannelType, ep.Address)
        first = keeper.setdefault(key, mine)
        if first is mine:
            continue
        if (mine[0], first[1]) > (first[0], mine[1]):  # later, or as late with the smaller Id
            keeper[key] = mine
            dropped.add(first[1])
        else:
            dropped.add(mine[1])
    return frozenset(dropped)


def endpoint_outcome(
    endpoint: models.EndpointResponse, content: Content, run: Run, quiet: models.QuietTime | None,
    duplicates: frozenset[str] = frozenset(),
) -> Recipient | str:
    """One endpoint inside the treatment's cohorts: a Recipient, or the reason it is not messaged (module doc)."""
    zone = endpoint.Demographic.Timezone if endpoint.Demographic is not None else None
    reached = kind_outcome(content, run, quiet, endpoint.ChannelType, zone)
    reason = endpoint_reason(endpoint, not isinstance(reached, str) and reached[0] == IN_APP, duplicates)
    if reason is not None:
        return reason
    return reached if isinstance(reached, str) else Recipient(endpoint.Id or "", *reached)


def endpoint_reason(
    endpoint: models.EndpointResponse, in_app: bool, duplicates: frozenset[str] = frozenset()
) -> str | None:
    """The reason an endpoint is not messaged that depends on the endpoint itself, if any: OPT_OUT, INACTIVE, then
    (unless its channel is `in_app`, which needs no address) MISSING_ADDRESS and DUPLICATE_ENDPOINT. It comes
    before kind_outcome's reason (module doc's order)."""
    if endpoint.OptOut == "ALL":
        return OPT_OUT
    if endpoint.EndpointStatus == "INACTIVE":
        return INACTIVE
    if in_app:
        return None
    if not endpoint.Address:
        return MISSING_ADDRESS
    if duplicates and endpoint.Id in duplicates:
        return DUPLICATE_ENDPOINT
    return None


def kind_outcome(
    content: Content, run: Run, quiet: models.QuietTime | None, channel_type: str | None, zone: str | None
) -> tuple[str, dt.datetime] | str:
    """The part of endpoint_outcome that depends only on the endpoint's channel type and time zone: (channel,
    delivery time), or the reason (CHANNEL_MISMATCH, MISSING_TIMEZONE, QUIET). An in-app endpoint gets the run's
    start (its app shows the message; no local time or quiet time here). A run's audience has few such kinds, so
    planning decides each once (plan_treatment)."""
    channel = channel_for(content, channel_type)
    if channel is None:
        return CHANNEL_MISMATCH
    if channel == IN_APP:
        return channel, run.start
    delivery = local_delivery(content.schedule, run, zone)
    if delivery.at is None:
        return MISSING_TIMEZONE
    if in_quiet_time(quiet, zone, delivery.at):
        return QUIET
    return channel, delivery.at


def plan_treatment(
    campaign: models.CampaignResponse,
    treatment_id: int,
    run: Run | None,
    endpoints: Iterable[models.EndpointResponse],
    split: Split,
    quiet: models.QuietTime | None,
    duplicates: frozenset[str] = frozenset(),
) -> TreatmentPlan:
    """Treatment `treatment_id`'s run `run` (the treatment's own, `treatment_run`; None when its schedule has none)
    over the segment's `endpoints` (each with its Id), split by `split`; `quiet` is the quiet time in force for the
    treatment (schedule.effective_quiet_time); `duplicates` from `duplicate_endpoints`. endpoint_outcome for each
    endpoint, with its channel-type-and-zone part (kind_outcome) decided once per kind."""
    content = treatment_content(campaign, treatment_id)
    metrics: Counter[str] = Counter()
    recipients: list[Recipient] = []
    kinds: dict[tuple[str | None, str | None], tuple[str, dt.datetime] | str] = {}
    whole = len(split.cohorts(treatment_id)) == COHORTS  # every cohort is this treatment's: nothing to hold out
    produced = held_out = ended = 0
    for endpoint in endpoints:
        produced += 1
        if not whole and split.group(endpoint_cohort(endpoint.Id or "", endpoint.CohortId)) != treatment_id:
            held_out += 1
            continue
        if run is None:
            ended += 1
            continue
        demographic = endpoint.Demographic
        kind = (endpoint.ChannelType, demographic.Timezone if demographic is not None else None)
        reached = kinds.get(kind)
        if reached is None:
            reached = kinds[kind] = kind_outcome(content, run, quiet, *kind)
        # the endpoint's own reasons come first (module doc's order); an in-app endpoint needs no address
        reason = endpoint_reason(endpoint, not isinstance(reached, str) and reached[0] == IN_APP, duplicates)
        if reason is not None:
            metrics[reason] += 1
        elif isinstance(reached, str):
            metrics[reached] += 1
        else:
            # no NamedTuple __new__ frame: a million of them
            recipients.append(_new_tuple(Recipient, (endpoint.Id or "", reached[0], reached[1])))
    if produced:
        metrics[PRODUCED] = produced
    if held_out:
        metrics[HOLDOUT] = held_out
    if ended:
        metrics[TREATMENT_ENDED] = ended
    return TreatmentPlan(treatment_id, recipients, metrics)


def plan_group(
    campaign: models.CampaignResponse,
    treatment_id: int,
    run: Run | None,
    audience: int,
    members: Iterable[models.EndpointResponse],
    quiet: models.QuietTime | None,
    duplicates: frozenset[str] = frozenset(),
) -> TreatmentPlan:
    """plan_treatment for an audience of `audience` endpoints already partitioned by cohort
    (split.partition_audience), given only this treatment's `members`: the same recipients and run metrics, while
    the audience is walked once for all treatments instead of once per treatment."""
    plan = plan_treatment(campaign, treatment_id, run, members, Split((treatment_id,) * COHORTS), quiet, duplicates)
    held_out = audience - plan.metrics[PRODUCED]
    if audience:
        plan.metrics[PRODUCED] = audience
    if held_out:
        plan.metrics[HOLDOUT] += held_out
    return plan
