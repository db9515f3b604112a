"""The KPI catalog (Pinpoint's names, each defined from rollup counters) and the pure parts of a query: date
range rules, which rollup keys a query reads, and the result rows from what it read. See docs/analytics.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from gateway import models
from gateway.kpi.rollup import by_campaign_key, hash_key, hll_key

#: Pinpoint's rules: an inclusive range of at most 31 days whose start is fewer than 90 days ago; without a
#: range, the preceding 31 days.
MAX_RANGE = dt.timedelta(days=31)
MAX_AGE = dt.timedelta(days=90)

APP, CAMPAIGN, JOURNEY = "application", "campaign", "journey"


class Kpi(msgspec.Struct, frozen=True):
    """One KPI: `kind` count (num), rate (num / den, 0 when den is 0) or unique (distinct endpoints of the
    counter num; with den, divided by the count den). `channel` None counts every channel; `txn` only
    transactional sends (no campaign or journey); `group` None, "date", "campaign", "activity" or "journey" (no
    Pinpoint KPI groups by journey: the dashboard finds an application's journeys with it)."""

    name: str
    key: str
    kind: str
    num: str
    den: str = ""
    channel: str | None = None
    txn: bool = False
    group: str | None = None


def _camel(base: str) -> str:
    return "".join(w.capitalize() for w in base.split("-"))


def _variants(base: str, kind: str, num: str, den: str = "", channel: str | None = None, txn: bool = False,
              groups: Iterable[tuple[str, str | None]] = (("", None),)) -> dict[str, Kpi]:
    out = {}
    for suffix, group in groups:
        name = base + suffix
        out[name] = Kpi(name, _camel(base), kind, num, den, channel, txn, group)
    return out


def _catalog() -> dict[str, dict[str, Kpi]]:
    by_date = ("-grouped-by-date", "date")
    app: dict[str, Kpi] = {}
    camp: dict[str, Kpi] = {}
    app_groups = (("", None), by_date, ("-grouped-by-campaign", "campaign"))
    camp_groups = (("", None), by_date, ("-grouped-by-campaign-activity", "activity"))
    for groups, into in ((app_groups, app), (camp_groups, camp)):
        into.update(_variants("successful-delivery-rate", "rate", "delivered", "sent", groups=groups))
        into.update(_variants("email-open-rate", "unique", "opened", "delivered", "EMAIL", groups=groups))
        into.update(_variants("unique-deliveries", "unique", "delivered", groups=groups))
    camp.update(_variants("hard-bounce-rate", "rate", "hardbounced", "sent", "EMAIL", groups=camp_groups))
    txn = (("", None), by_date)
    for base, num in (("sent", "sent"), ("delivered", "delivered"), ("opened", "opened"), ("clicked", "clicked"),
                      ("hard-bounced", "hardbounced"), ("soft-bounced", "softbounced"),
                      ("with-complaints", "complained")):
        app.update(_variants(f"txn-emails-{base}", "count", num, channel="EMAIL", txn=True, groups=txn))
    app.update(_variants("txn-emails-unique-opens", "unique", "opened", channel="EMAIL", txn=True, groups=txn))
    app.update(_variants("txn-emails-unique-clicks", "unique", "clicked", channel="EMAIL", txn=True, groups=txn))
    app.update(_variants("txn-emails-delivery-rate", "rate", "delivered", "sent", "EMAIL", True, txn))
    app.update(_variants("txn-emails-complaint-rate", "rate", "complained", "delivered", "EMAIL", True, txn))
    app.update(_variants("txn-sms-sent", "count", "sent", channel="SMS", txn=True, groups=txn))
    app.update(_variants("txn-sms-delivered", "count", "delivered", channel="SMS", txn=True, groups=txn))
    app.update(_variants("txn-sms-delivery-rate", "rate", "delivered", "sent", "SMS", True, txn))
    journey: dict[str, Kpi] = {}
    for word in ("clicked", "complained", "delivered", "hardbounced", "opened", "rejected", "sent", "softbounced",
                 "unsubscribed"):
        journey[f"journey-emails-{word}"] = Kpi(f"journey-emails-{word}", _camel(f"journey-emails-{word}"),
                                                "count", word, channel="EMAIL")
        name = f"emails-{word}-grouped-by-journey-activity"
        journey[name] = Kpi(name, _camel(f"journey-emails-{word}"), "count", word, channel="EMAIL", group="activity")
    return {APP: app, CAMPAIGN: camp, JOURNEY: journey}


CATALOG = _catalog()

GROUP_KEYS = {"date": "Date", "campaign": "CampaignId", "activity": "CampaignActivityId", "journey": "JourneyId"}


class RangeError(ValueError):
    """A KPI name or date range Pinpoint would refuse (the API's BadRequestException)."""


def lookup(level: str, name: str) -> Kpi:
    """The KPI `name` at `level` (application, campaign, journey); RangeError for a name not served there."""
    kpi = CATALOG[level].get(name)
    if kpi is None:
        article = "an" if level[0] in "aeiou" else "a"
        raise RangeError(f"Invalid KpiName: {name!r} is not {article} {level} metric (see docs/analytics.md for the list)")
    return kpi


def date_range(start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
               ) -> tuple[dt.datetime, dt.datetime]:
    """The query's (start, end) after Pinpoint's defaults and rules; RangeError when it breaks one."""
    end = end or now
    start = start or end - MAX_RANGE
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    if start > end:
        raise RangeError("StartTime must be before EndTime")
    if end - start > MAX_RANGE:
        raise RangeError("The date range (EndTime - StartTime) must not exceed 31 days")
    if now - start >= MAX_AGE:
        raise RangeError("StartTime must be fewer than 90 days from the current day")
    return start, end


def days(start: dt.datetime, end: dt.datetime) -> list[str]:
    """Every UTC day from start's to end's, inclusive, as YYYY-MM-DD."""
    d, last = start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date()
    out = []
    while d <= last:
        out.append(d.isoformat())
        d += dt.timedelta(days=1)
    return out


def scope_hash(level: str, target: str) -> str:
    """The rollup hash scope a level reads: the app-wide hash, or the campaign's or journey's."""
    return "a" if level == APP else f"c:{target}" if level == CAMPAIGN else f"j:{target}"


def hash_keys(app: str, level: str, target: str, day_list: list[str]) -> list[str]:
    return [hash_key(app, d, scope_hash(level, target)) for d in day_list]


Tally = dict[str, dict[str, int]]  # group value -> counter -> total


def campaign_keys(app: str, kpi: Kpi, day_list: list[str]) -> list[tuple[str, str]]:
    """For a query grouped by campaign: (counter, by-campaign hash) for each counter it reads, each day (HGETALL
    each: a field per campaign)."""
    counters = [c for c in (kpi.num, kpi.den) if c]
    return [(c, by_campaign_key(app, d, kpi.channel or "*", c)) for d in day_list for c in counters]


def tally_by_campaign(flat: Sequence[bytes | str | int]) -> Tally:
    """{campaign: {counter: total}} from the totals the by-campaign hashes were summed into (query.SUM_BY_CAMPAIGN:
    a flat list of counter, campaign, total)."""
    out: Tally = {}
    for i in range(0, len(flat), 3):
        counter, campaign, total = (_text(flat[i]), _text(flat[i + 1]), int(flat[i + 2]))
        out.setdefault(campaign, {})[counter] = total
    return out


def _text(v: bytes | str | int) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def fields(kpi: Kpi) -> list[str] | None:
    """The hash fields an ungrouped or per-day query of `kpi` reads (HMGET), or None: read whole hashes."""
    if kpi.group in ("campaign", "activity", "journey"):
        return None
    src, ch = ("t" if kpi.txn else "*"), (kpi.channel or "*")
    return [f"{src}|{ch}|{c}" for c in (kpi.num, kpi.den) if c]


def tally(kpi: Kpi, by_day: Mapping[str, Sequence[bytes | None] | Mapping[bytes, bytes]]) -> Tally:
    """Sum the counters `kpi` reads per group value ("" ungrouped): `by_day` holds, per day, the values of
    fields(kpi) (HMGET) or, for a query grouped by activity, the campaign's whole hash (HGETALL); grouped by
    campaign, see tally_by_campaign."""
    out: Tally = {}
    wanted = fields(kpi)
    for day, got in by_day.items():
        if wanted is not None:
            assert not isinstance(got, Mapping)
            cell = out.setdefault(day if kpi.group == "date" else "", {})
            for name, v in zip(wanted, got, strict=True):
                counter = name.rsplit("|", 1)[1]
                cell[counter] = cell.get(counter, 0) + int(v or 0)
            continue
        assert isinstance(got, Mapping)
        for raw, v in got.items():
            src, channel, counter = raw.decode().rsplit("|", 2)
            if counter not in (kpi.num, kpi.den) or channel != (kpi.channel or "*") or src == "*":
                continue
            if kpi.group == "journey":  # the app hash's sources `j:JOURNEY` (by campaign: tally_by_campaign)
                if not src.startswith("j:"):
                    continue
                src = src[2:]
            cell = out.setdefault(src, {})
            cell[counter] = cell.get(counter, 0) + int(v)
    return out


def unique_keys(app: str, kpi: Kpi, level: str, target: str, day_list: list[str], groups: Iterable[str]
                ) -> dict[str, list[str]]:
    """For a unique KPI, the HyperLogLogs whose union counts each group (PFCOUNT of the list)."""
    base = "t" if kpi.txn else scope_hash(level, target)
    if kpi.group == "date":
        return {d: [hll_key(app, d, base, kpi.num)] for d in day_list}
    if kpi.group == "campaign":
        return {g: [hll_key(app, d, f"c:{g}", kpi.num) for d in day_list] for g in groups}
    if kpi.group == "activity":
        return {g: [hll_key(app, d, f"{base}:{g}", kpi.num) for d in day_list] for g in groups}
    return {"": [hll_key(app, d, base, kpi.num) for d in day_list]}


def value(kpi: Kpi, cell: Mapping[str, int], unique: int | None) -> float:
    """The KPI's value for one group from its counters (and its distinct count for a unique KPI)."""
    num = float(unique or 0) if kpi.kind == "unique" else float(cell.get(kpi.num, 0))
    if not kpi.den:
        return num
    den = cell.get(kpi.den, 0)
    return num / den if den else 0.0


def rows(kpi: Kpi, values: Mapping[str, float], day_list: list[str]) -> list[models.ResultRow]:
    """BaseKpiResult rows: one ungrouped row, one per day (every day of the range, in order), or one per group."""
    def val(v: float) -> list[models.ResultRowValue]:
        return [models.ResultRowValue(Key=kpi.key, Type="Double", Value=repr(float(v)))]
    if kpi.group is None:
        return [models.ResultRow(GroupedBys=[], Values=val(values.get("", 0.0)))]
    keys = day_list if kpi.group == "date" else sorted(values)
    name = "JourneyActivityId" if kpi.name.startswith("emails-") else GROUP_KEYS[kpi.group]
    return [models.ResultRow(GroupedBys=[models.ResultRowValue(Key=name, Type="String", Value=g)],
                             Values=val(values.get(g, 0.0))) for g in keys]
