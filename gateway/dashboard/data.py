"""What the dashboard's JSON endpoints answer, computed by the KPI code itself (gateway.kpi.query over the rollups):
Pinpoint's KPIs by their catalog names, and a few all-channel counts the catalog has no name for, defined here as
`catalog.Kpi`s of the same shape and run through the same query. Derived here: `failed` (final outcomes that were
not deliveries: sent - delivered), and a campaign's totals per treatment across its runs: the per-activity counts
the query answers, summed per treatment (sum_by_treatment), with rates evaluated by catalog.value on those sums
(TREATMENT_RATES: a ratio of summed counts, never an average of per-run rates).

Campaign names and treatments come from the campaign store (GetCampaigns / GetCampaignActivities); journeys, which
have no store yet, are the journey ids the rollups counted events for; stream lag is the /metrics sampler's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gateway import models
from gateway.api.services import CampaignService
from gateway.campaigns.store import iso
from gateway.config import GatewayConfig
from gateway.errors import NotFound
from gateway.kpi import catalog, query
from gateway.metrics.sample import Sampler

#: Counters the dashboard shows (gateway/kpi/rollup.py): final outcomes, deliveries and email engagement.
FUNNEL = ("sent", "delivered", "opened", "clicked")
OTHER = ("hardbounced", "softbounced", "complained", "unsubscribed", "rejected")
CAMPAIGN_COUNTS = ("sent", "delivered", "opened", "clicked", "hardbounced", "complained", "unsubscribed")
JOURNEY_WORDS = ("sent", "delivered", "opened", "clicked", "hardbounced", "softbounced", "complained",
                 "unsubscribed", "rejected")
#: Pinpoint KPIs shown as headline numbers, per campaign, per treatment (campaign activity).
APP_KPIS = ("successful-delivery-rate", "unique-deliveries", "email-open-rate")
CAMPAIGN_KPIS = ("successful-delivery-rate", "email-open-rate", "unique-deliveries", "hard-bounce-rate")
#: Of CAMPAIGN_KPIS, those GetApplicationDateRangeKpi groups by campaign (hard-bounce-rate is a campaign metric only).
BY_CAMPAIGN = CAMPAIGN_KPIS[:3]
MAX_CAMPAIGNS = 1000  # stored campaigns listed (pages of 100)
#: Per treatment across a campaign's runs: every channel's counters, and EMAIL's sent / delivered as the
#: denominators of the email rates (the catalog's email KPIs are EMAIL over EMAIL as well).
TREATMENT_COUNTS = ("sent", "delivered", "opened", "clicked", "hardbounced", "softbounced", "complained",
                    "unsubscribed")
TREATMENT_EMAIL = ("sent", "delivered")
#: The rates of a treatment's summed counts, evaluated by catalog.value (num / den; 0 when den is 0). Opens and
#: clicks are events (not distinct endpoints: HyperLogLogs of different activities cannot be added up).
TREATMENT_RATES = (
    catalog.Kpi("successful-delivery-rate", "SuccessfulDeliveryRate", "rate", "delivered", "sent"),
    catalog.Kpi("open-rate", "OpenRate", "rate", "opened", "email-delivered"),
    catalog.Kpi("click-rate", "ClickRate", "rate", "clicked", "email-delivered"),
    catalog.Kpi("hard-bounce-rate", "HardBounceRate", "rate", "hardbounced", "email-sent"),
    catalog.Kpi("complaint-rate", "ComplaintRate", "rate", "complained", "email-delivered"),
    catalog.Kpi("opt-out-rate", "OptOutRate", "rate", "unsubscribed", "email-delivered"),
)
#: The group of activities the campaign store does not map to a treatment (a deleted campaign, a run beyond the
#: listed ones, events from elsewhere).
UNMAPPED = ""


def sum_by_treatment(by_counter: Mapping[str, Mapping[str, float]], treatment_of: Mapping[str, str]
                     ) -> dict[str, dict[str, int]]:
    """{treatment id (UNMAPPED for an activity `treatment_of` does not name): {counter: total}} from
    {counter: {activity id: count}} (the KPI query's rows grouped by campaign activity). Every counter of
    `by_counter` is in every treatment's totals (0 when none of its activities counted it); a treatment appears
    when `treatment_of` names it or an activity of it counted something."""
    counters = list(by_counter)
    out: dict[str, dict[str, int]] = {t: dict.fromkeys(counters, 0) for t in treatment_of.values()}
    for counter, per_activity in by_counter.items():
        for activity, n in per_activity.items():
            cell = out.setdefault(treatment_of.get(activity, UNMAPPED), dict.fromkeys(counters, 0))
            cell[counter] += int(n)
    return out


def count_kpi(counter: str, channel: str | None = None, group: str | None = None) -> catalog.Kpi:
    """A count of rollup `counter` over every source (transactional, campaigns, journeys), for `channel` (None:
    every channel), grouped by `group`: the shape of catalog.Kpi, not one of Pinpoint's names."""
    name = f"dashboard-{counter}" + (f"-{channel.lower()}" if channel else "")
    return catalog.Kpi(name, counter.capitalize(), "count", counter, channel=channel, group=group)


def values(rows: Sequence[models.ResultRow]) -> dict[str, float]:
    """{group value ("" ungrouped): value} of KPI result rows."""
    return {(r.GroupedBys[0].Value if r.GroupedBys else ""): float(r.Values[0].Value) for r in rows}


def parse_time(name: str, value: str | None, *, end: bool) -> dt.datetime | None:
    """A query parameter as a UTC time: YYYY-MM-DD (a start at its first instant, an end at its last) or an ISO
    8601 date and time; catalog.RangeError naming the parameter otherwise."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            t = dt.datetime.combine(day, dt.time.max if end else dt.time.min, dt.UTC)
            return t.replace(microsecond=999_000) if end else t
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise catalog.RangeError(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date and time, "
                                 f"e.g. 2026-07-26T20:00:00Z; got {value[:40]!r}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def date_range(start: str | None, end: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The range a request asks for, by the KPI API's rules (catalog.date_range); RangeError when it breaks one."""
    return catalog.date_range(parse_time("start", start, end=False), parse_time("end", end, end=True), now)


class Range(msgspec.Struct):
    start: str  # as the KPI API's StartTime / EndTime
    end: str
    days: list[str]


class Overview(msgspec.Struct):
    """One application over a range: per day sent / delivered / failed (every channel) and Pinpoint's
    successful-delivery-rate-grouped-by-date; the email funnel's totals; Pinpoint's headline KPIs."""

    application_id: str
    name: str
    range: Range
    daily: dict[str, list[float]]  # series name -> one value per day of range.days
    delivery_rate: list[float]  # successful-delivery-rate-grouped-by-date, per day
    totals: dict[str, float]  # every channel: sent, delivered, failed
    funnel: dict[str, float]  # EMAIL: FUNNEL then OTHER counters
    kpis: dict[str, float]  # APP_KPIS by name


class Treatment(msgspec.Struct):
    """One campaign activity (a treatment in one run)."""

    activity_id: str
    treatment_id: str | None
    treatment_name: str | None
    counts: dict[str, float]  # CAMPAIGN_COUNTS, every channel
    kpis: dict[str, float]  # CAMPAIGN_KPIS (GetCampaignDateRangeKpi ...-grouped-by-campaign-activity)


class TreatmentTotal(msgspec.Struct):
    """One treatment of a campaign over every run in the range: its activities' counts summed, rates of the sums."""

    treatment_id: str | None  # "0" the main treatment, "1".."4" the additional ones; None: activities not mapped
    name: str
    holdout: bool  # the campaign's holdout: endpoints sent nothing, by design (its counts are zeros)
    size_percent: int | None  # the share of the audience (cohorts) it gets; None when unknown
    activities: list[str]  # its activities that counted something in the range
    counts: dict[str, float]  # TREATMENT_COUNTS, failed (sent - delivered), email-sent, email-delivered
    rates: dict[str, float]  # TREATMENT_RATES by name


class Campaign(msgspec.Struct):
    campaign_id: str
    name: str | None  # None: no stored campaign has this id (deleted, or its events came from elsewhere)
    counts: dict[str, float]  # CAMPAIGN_COUNTS, every channel
    kpis: dict[str, float]  # CAMPAIGN_KPIS (GetApplicationDateRangeKpi ...-grouped-by-campaign; hard-bounce-rate:
    #                         GetCampaignDateRangeKpi)
    treatments: list[Treatment]
    by_treatment: list[TreatmentTotal]  # main, additional treatments, holdout, then activities not mapped


class Campaigns(msgspec.Struct):
    range: Range
    campaigns: list[Campaign]


class JourneyActivity(msgspec.Struct):
    activity_id: str
    counts: dict[str, float]  # JOURNEY_WORDS (emails-WORD-grouped-by-journey-activity)


class Journey(msgspec.Struct):
    journey_id: str
    counts: dict[str, float]  # JOURNEY_WORDS (journey-emails-WORD)
    activities: list[JourneyActivity]


class Journeys(msgspec.Struct):
    range: Range
    journeys: list[Journey]


class Lag(msgspec.Struct):
    stream: str
    group: str
    lag: int
    pending: int
    consumers: int


class LagReport(msgspec.Struct):
    at_ms: int
    groups: list[Lag]


class Application(msgspec.Struct):
    application_id: str
    name: str


def treatment_totals(stored: models.CampaignResponse | None, acts: Mapping[str, tuple[str, str]],
                     by_counter: Mapping[str, Mapping[str, float]]) -> list[TreatmentTotal]:
    """A campaign's rows per treatment: `by_counter` ({counter: {activity: count}}) summed per treatment of
    `acts` (activity id -> (treatment id, name), from the campaign store), with `failed` and TREATMENT_RATES of
    the sums. In order: the main treatment ("0"), the additional ones, the holdout when the campaign has one, then
    any activities the store does not map (only when they counted something)."""
    sums = sum_by_treatment(by_counter, {a: t for a, (t, _) in acts.items()})
    names = {t: name for t, name in acts.values()}
    extra = list(stored.AdditionalTreatments or []) if stored is not None else []
    holdout = (stored.HoldoutPercent or 0) if stored is not None else 0
    sizes: dict[str, int | None] = {t.Id: t.SizePercent for t in extra}
    if stored is not None:
        sizes["0"] = 100 - holdout - sum(t.SizePercent or 0 for t in extra)
        names.setdefault("0", stored.TreatmentName or "Default")
        names.update((t.Id, t.TreatmentName or f"Treatment {t.Id}") for t in extra if t.Id not in names)
    order = [t for t in ["0", *(t.Id for t in extra)] if stored is not None or t in sums]
    order += sorted(t for t in sums if t not in order and t != UNMAPPED)  # a treatment since removed
    zero = dict.fromkeys(by_counter, 0)

    def row(tid: str | None, name: str, cell: Mapping[str, int], *, held: bool = False,
            size: int | None = None) -> TreatmentTotal:
        counts = {k: float(v) for k, v in cell.items()}
        counts["failed"] = counts.get("sent", 0.0) - counts.get("delivered", 0.0)
        mine = sorted(a for a, (t, _) in acts.items() if t == tid and any(by_counter[k].get(a) for k in by_counter))
        if tid is None:
            mapped = set(acts)
            mine = sorted({a for per in by_counter.values() for a, n in per.items() if n and a not in mapped})
        return TreatmentTotal(treatment_id=tid, name=name, holdout=held, size_percent=size, activities=mine,
                              counts=counts, rates={k.name: catalog.value(k, cell, None) for k in TREATMENT_RATES})

    out = [row(t, names.get(t, f"Treatment {t}"), sums.get(t, zero), size=sizes.get(t)) for t in order]
    if holdout:
        out.append(row("holdout", "Holdout (sent nothing)", zero, held=True, size=holdout))
    if any(sums.get(UNMAPPED, zero).values()):
        out.append(row(None, "Activities not in the campaign store", sums[UNMAPPED]))
    return out


class DataSource:
    """The dashboard's reads over one Redis client: the rollups, the application and campaign stores, the stream
    sampler. Every method takes the already-resolved range; unknown applications are the caller's check."""

    def __init__(self, redis: Any, campaigns: CampaignService | None, config: GatewayConfig) -> None:
        self.redis = redis
        self.campaigns = campaigns
        self.sampler = Sampler(redis, config)

    async def _rows(self, app: str, level: str, target: str, kpi: catalog.Kpi | str, start: dt.datetime,
                    end: dt.datetime) -> dict[str, float]:
        k = catalog.lookup(level, kpi) if isinstance(kpi, str) else kpi
        return values(await query.run(self.redis, app, level, target, k, start, end))

    async def overview(self, app: str, name: str, start: dt.datetime, end: dt.datetime) -> Overview:
        days = catalog.days(start, end)
        a = catalog.APP
        daily_sent, daily_delivered, rate, *rest = await asyncio.gather(
            self._rows(app, a, "", count_kpi("sent", group="date"), start, end),
            self._rows(app, a, "", count_kpi("delivered", group="date"), start, end),
            self._rows(app, a, "", "successful-delivery-rate-grouped-by-date", start, end),
            self._rows(app, a, "", count_kpi("sent"), start, end),
            self._rows(app, a, "", count_kpi("delivered"), start, end),
            *(self._rows(app, a, "", count_kpi(c, "EMAIL"), start, end) for c in FUNNEL + OTHER),
            *(self._rows(app, a, "", k, start, end) for k in APP_KPIS),
        )
        sent, delivered = rest[0][""], rest[1][""]
        funnel = {c: r[""] for c, r in zip(FUNNEL + OTHER, rest[2:2 + len(FUNNEL + OTHER)], strict=True)}
        kpis = {k: r[""] for k, r in zip(APP_KPIS, rest[2 + len(FUNNEL + OTHER):], strict=True)}
        s = [daily_sent[d] for d in days]
        dl = [daily_delivered[d] for d in days]
        return Overview(
            application_id=app, name=name, range=Range(iso(start), iso(end), days),
            daily={"sent": s, "delivered": dl, "failed": [x - y for x, y in zip(s, dl, strict=True)]},
            delivery_rate=[rate[d] for d in days],
            totals={"sent": sent, "delivered": delivered, "failed": sent - delivered}, funnel=funnel, kpis=kpis)

    async def _stored_campaigns(self, app: str) -> dict[str, models.CampaignResponse]:
        out: dict[str, models.CampaignResponse] = {}
        if self.campaigns is None:
            return out
        token: str | None = None
        while len(out) < MAX_CAMPAIGNS:
            page = await self.campaigns.list_campaigns(app, 100, token)
            out.update((c.Id, c) for c in page.Item)
            token = page.NextToken
            if not token:
                break
        return out

    async def _activities(self, app: str, campaign: models.CampaignResponse | None) -> dict[str, tuple[str, str]]:
        """activity id -> (treatment id, treatment name) from the campaign store."""
        if campaign is None or self.campaigns is None:
            return {}
        try:
            acts = await self.campaigns.list_activities(app, campaign.Id, 1000, None)
        except NotFound:
            return {}
        names = {"0": campaign.TreatmentName or "Default"}
        names.update((t.Id, t.TreatmentName or f"Treatment {t.Id}") for t in campaign.AdditionalTreatments or [])
        return {x.Id: (x.TreatmentId or "0", names.get(x.TreatmentId or "0", "")) for x in acts.Item}

    async def _campaign(self, app: str, cid: str, stored: models.CampaignResponse | None,
                        counts: dict[str, dict[str, float]], kpis: dict[str, dict[str, float]], start: dt.datetime,
                        end: dt.datetime) -> Campaign:
        c = catalog.CAMPAIGN
        extra = [x for x in TREATMENT_COUNTS if x not in CAMPAIGN_COUNTS]
        acts, hard, per, more = await asyncio.gather(
            self._activities(app, stored), self._rows(app, c, cid, "hard-bounce-rate", start, end), asyncio.gather(
                *(self._rows(app, c, cid, count_kpi(x, group="activity"), start, end) for x in CAMPAIGN_COUNTS),
                *(self._rows(app, c, cid, f"{k}-grouped-by-campaign-activity", start, end) for k in CAMPAIGN_KPIS)),
            asyncio.gather(
                *(self._rows(app, c, cid, count_kpi(x, group="activity"), start, end) for x in extra),
                *(self._rows(app, c, cid, count_kpi(x, "EMAIL", "activity"), start, end) for x in TREATMENT_EMAIL)))
        by_count = dict(zip(CAMPAIGN_COUNTS, per[:len(CAMPAIGN_COUNTS)], strict=True))
        by_kpi = dict(zip(CAMPAIGN_KPIS, per[len(CAMPAIGN_COUNTS):], strict=True))
        every = {**by_count, **dict(zip(extra, more[:len(extra)], strict=True))}
        every.update((f"email-{x}", r) for x, r in zip(TREATMENT_EMAIL, more[len(extra):], strict=True))
        by_treatment = treatment_totals(stored, acts, {x: every[x] for x in TREATMENT_COUNTS} | {
            f"email-{x}": every[f"email-{x}"] for x in TREATMENT_EMAIL})
        ids = sorted(set(acts) | {g for rows in per for g in rows})
        treatments = [Treatment(activity_id=i, treatment_id=acts[i][0] if i in acts else None,
                                treatment_name=acts[i][1] if i in acts else None,
                                counts={x: by_count[x].get(i, 0.0) for x in CAMPAIGN_COUNTS},
                                kpis={k: by_kpi[k].get(i, 0.0) for k in CAMPAIGN_KPIS}) for i in ids]
        return Campaign(campaign_id=cid, name=stored.Name if stored is not None else None,
                        counts={x: counts[x].get(cid, 0.0) for x in CAMPAIGN_COUNTS},
                        kpis={**{k: kpis[k].get(cid, 0.0) for k in BY_CAMPAIGN}, "hard-bounce-rate": hard[""]},
                        treatments=treatments, by_treatment=by_treatment)

    async def campaigns_of(self, app: str, start: dt.datetime, end: dt.datetime) -> Campaigns:
        a = catalog.APP
        stored, per = await asyncio.gather(self._stored_campaigns(app), asyncio.gather(
            *(self._rows(app, a, "", count_kpi(x, group="campaign"), start, end) for x in CAMPAIGN_COUNTS),
            *(self._rows(app, a, "", f"{k}-grouped-by-campaign", start, end) for k in BY_CAMPAIGN)))
        counts = dict(zip(CAMPAIGN_COUNTS, per[:len(CAMPAIGN_COUNTS)], strict=True))
        kpis = dict(zip(BY_CAMPAIGN, per[len(CAMPAIGN_COUNTS):], strict=True))
        ids = list(stored) + sorted({g for rows in per for g in rows} - set(stored))
        rows = await asyncio.gather(*(self._campaign(app, i, stored.get(i), counts, kpis, start, end) for i in ids))
        rows.sort(key=lambda r: (-r.counts["sent"], r.name or "", r.campaign_id))
        return Campaigns(range=Range(iso(start), iso(end), catalog.days(start, end)), campaigns=rows)

    async def _journey(self, app: str, jid: str, start: dt.datetime, end: dt.datetime) -> Journey:
        j = catalog.JOURNEY
        per = await asyncio.gather(
            *(self._rows(app, j, jid, f"journey-emails-{w}", start, end) for w in JOURNEY_WORDS),
            *(self._rows(app, j, jid, f"emails-{w}-grouped-by-journey-activity", start, end) for w in JOURNEY_WORDS))
        totals, by_act = per[:len(JOURNEY_WORDS)], per[len(JOURNEY_WORDS):]
        acts = sorted({g for rows in by_act for g in rows})
        return Journey(journey_id=jid, counts={w: t[""] for w, t in zip(JOURNEY_WORDS, totals, strict=True)},
                       activities=[JourneyActivity(activity_id=i, counts={
                           w: r.get(i, 0.0) for w, r in zip(JOURNEY_WORDS, by_act, strict=True)}) for i in acts])

    async def journeys_of(self, app: str, start: dt.datetime, end: dt.datetime) -> Journeys:
        """The journeys the rollups counted email events for in the range (there is no journey store yet)."""
        found = await asyncio.gather(*(self._rows(app, catalog.APP, "", count_kpi(w, "EMAIL", "journey"), start, end)
                                       for w in JOURNEY_WORDS))
        ids = sorted({g for rows in found for g in rows})
        journeys = await asyncio.gather(*(self._journey(app, i, start, end) for i in ids))
        return Journeys(range=Range(iso(start), iso(end), catalog.days(start, end)), journeys=list(journeys))

    async def lag(self, now_ms: int) -> LagReport:
        """The ingest and events streams' consumer groups, as /metrics samples them (gateway.metrics.sample)."""
        sample = await self.sampler.sample(now_ms)
        return LagReport(at_ms=sample.at_ms, groups=[Lag(stream=g.stream, group=g.group, lag=g.lag, pending=g.pending,
                                                         consumers=g.consumers) for g in sample.groups])
