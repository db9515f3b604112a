"""Who gets one treatment's run of a campaign, and why each other endpoint does not: pure (no I/O, no clock).

The runner resolves the segment, loads its endpoints and calls `plan_treatment` once per treatment and run.
Pinpoint keeps an activity per treatment and run, with run metrics naming why endpoints were not messaged
(pinpoint.md §5): an endpoint outside the treatment's cohorts is TREATMENT_HOLDOUT *for that treatment*; inside,
the first rule it breaks, in this order:

    ENDPOINT_OPT_OUT           OptOut is ALL
    ENDPOINT_INACTIVE          EndpointStatus is INACTIVE
    ENDPOINT_MISSING_ADDRESS   no Address
    ENDPOINT_CHANNEL_MISMATCH  the treatment has no message or template for the endpoint's channel
    ENDPOINT_MISSING_TIMEZONE  a local-time run and no valid Demographic.Timezone (schedule.local_delivery)
    QUIET_TIME                 the delivery falls in quiet time in the endpoint's zone (schedule.in_quiet_time)

ENDPOINT_PRODUCED counts every endpoint the segment produced. Every endpoint of the segment is thus either a
recipient or counted under exactly one reason.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Final, NamedTuple

from gateway import models
from gateway.campaigns.schedule import Run, in_quiet_time, local_delivery
from gateway.campaigns.split import COHORTS, Split, endpoint_cohort

PRODUCED: Final = "ENDPOINT_PRODUCED"
HOLDOUT: Final = "TREATMENT_HOLDOUT"
OPT_OUT: Final = "ENDPOINT_OPT_OUT"
INACTIVE: Final = "ENDPOINT_INACTIVE"
MISSING_ADDRESS: Final = "ENDPOINT_MISSING_ADDRESS"
CHANNEL_MISMATCH: Final = "ENDPOINT_CHANNEL_MISMATCH"
MISSING_TIMEZONE: Final = "ENDPOINT_MISSING_TIMEZONE"
QUIET: Final = "QUIET_TIME"

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
}


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


def endpoint_outcome(
    endpoint: models.EndpointResponse, content: Content, run: Run, quiet: models.QuietTime | None
) -> Recipient | str:
    """One endpoint inside the treatment's cohorts: a Recipient, or the reason it is not messaged (module doc)."""
    reason = endpoint_reason(endpoint)
    if reason is not None:
        return reason
    zone = endpoint.Demographic.Timezone if endpoint.Demographic is not None else None
    reached = kind_outcome(content, run, quiet, endpoint.ChannelType, zone)
    return reached if isinstance(reached, str) else Recipient(endpoint.Id or "", *reached)


def endpoint_reason(endpoint: models.EndpointResponse) -> str | None:
    """The reason an endpoint is not messaged whatever the treatment (OPT_OUT, INACTIVE, MISSING_ADDRESS), if any."""
    if endpoint.OptOut == "ALL":
        return OPT_OUT
    if endpoint.EndpointStatus == "INACTIVE":
        return INACTIVE
    if not endpoint.Address:
        return MISSING_ADDRESS
    return None


def kind_outcome(
    content: Content, run: Run, quiet: models.QuietTime | None, channel_type: str | None, zone: str | None
) -> tuple[str, dt.datetime] | str:
    """The part of endpoint_outcome that depends only on the endpoint's channel type and time zone: (channel,
    delivery time), or the reason (CHANNEL_MISMATCH, MISSING_TIMEZONE, QUIET). A run's audience has few such
    kinds, so planning decides each once (plan_treatment)."""
    channel = channel_for(content, channel_type)
    if channel is None:
        return CHANNEL_MISMATCH
    delivery = local_delivery(content.schedule, run, zone)
    if delivery.at is None:
        return MISSING_TIMEZONE
    if in_quiet_time(quiet, zone, delivery.at):
        return QUIET
    return channel, delivery.at


def plan_treatment(
    campaign: models.CampaignResponse,
    treatment_id: int,
    run: Run,
    endpoints: Iterable[models.EndpointResponse],
    split: Split,
    quiet: models.QuietTime | None,
) -> TreatmentPlan:
    """Treatment `treatment_id`'s run `run` over the segment's `endpoints` (each with its Id), split by `split`;
    `quiet` is the quiet time in force (schedule.effective_quiet_time). endpoint_outcome for each endpoint, with
    its channel-type-and-zone part (kind_outcome) decided once per kind."""
    content = treatment_content(campaign, treatment_id)
    metrics: Counter[str] = Counter()
    recipients: list[Recipient] = []
    kinds: dict[tuple[str | None, str | None], tuple[str, dt.datetime] | str] = {}
    whole = len(split.cohorts(treatment_id)) == COHORTS  # every cohort is this treatment's: nothing to hold out
    produced = held_out = 0
    for endpoint in endpoints:
        produced += 1
        if not whole and split.group(endpoint_cohort(endpoint.Id or "", endpoint.CohortId)) != treatment_id:
            held_out += 1
            continue
        reason = endpoint_reason(endpoint)
        if reason is not None:
            metrics[reason] += 1
        else:
            demographic = endpoint.Demographic
            kind = (endpoint.ChannelType, demographic.Timezone if demographic is not None else None)
            reached = kinds.get(kind)
            if reached is None:
                reached = kinds[kind] = kind_outcome(content, run, quiet, *kind)
            if isinstance(reached, str):
                metrics[reached] += 1
            else:
                # no NamedTuple __new__ frame: a million of them
                recipients.append(_new_tuple(Recipient, (endpoint.Id or "", reached[0], reached[1])))
    if produced:
        metrics[PRODUCED] = produced
    if held_out:
        metrics[HOLDOUT] = held_out
    return TreatmentPlan(treatment_id, recipients, metrics)


def plan_group(
    campaign: models.CampaignResponse,
    treatment_id: int,
    run: Run,
    audience: int,
    members: Iterable[models.EndpointResponse],
    quiet: models.QuietTime | None,
) -> TreatmentPlan:
    """plan_treatment for an audience of `audience` endpoints already partitioned by cohort
    (split.partition_audience), given only this treatment's `members`: the same recipients and run metrics, while
    the audience is walked once for all treatments instead of once per treatment."""
    plan = plan_treatment(campaign, treatment_id, run, members, Split((treatment_id,) * COHORTS), quiet)
    held_out = audience - plan.metrics[PRODUCED]
    if audience:
        plan.metrics[PRODUCED] = audience
    if held_out:
        plan.metrics[HOLDOUT] += held_out
    return plan
