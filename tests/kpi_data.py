"""Generated event streams for the KPI tests (and the benchmark): records made by the engine's own record
builders (gateway.events.message_record, gateway.tracking.records.engagement_record), and the oracle: a scan of
the raw events stream that computes each KPI from first principles, independent of gateway.kpi."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from typing import Any

from gateway import events
from gateway.kpi.rollup import Tally
from gateway.tracking.records import engagement_record
from gateway.tracking.tokens import CLICK, OPEN, Token

DAY_MS = 86_400_000


def generate(app: str, now_ms: int, n: int, seed: int = 7, days: int = 10,
             tally: Tally | None = None, campaigns: list[dict[str, str]] | None = None
             ) -> list[tuple[str, str, bytes]]:
    """(app, event_type, record) triples for `n` messages over the last `days` days, counted in `tally` (the KPI
    rollups, as the engine's writers count what they write) when given. `campaigns`: the campaign sources (each
    campaign_id, campaign_activity_id, treatment_id) instead of camp0..camp2 with two activities each."""
    rnd = random.Random(seed)
    out: list[tuple[str, str, bytes]] = []
    sources: list[dict[str, str]] = [{}, {}]  # transactional, twice as likely
    for c in range(3):
        for a in range(2):
            sources.append({"campaign_id": f"camp{c}", "campaign_activity_id": f"act{c}{a}", "treatment_id": "0"})
    if campaigns is not None:
        sources[2:] = [dict(x) for x in campaigns]
    for a in range(2):
        sources.append({"journey_id": "jour1", "journey_activity_id": f"jact{a}"})
    for i in range(n):
        ctx = rnd.choice(sources)
        channel = rnd.choice(("EMAIL", "EMAIL", "SMS"))
        endpoint = f"ep{rnd.randrange(n // 3 + 1)}"
        t = now_ms - rnd.randrange(days * DAY_MS)
        mid = f"m{i}"

        def rec(event_type: str, status: str, message: str, at: int, attempt: int = 1, *, mid: str = mid,
                i: int = i, channel: str = channel, endpoint: str = endpoint, ctx: dict[str, str] = ctx) -> None:
            out.append((app, event_type, events.message_record(
                event_type=event_type, app=app, now_ms=at, message_id=mid, request_id=f"r{i}",
                channel_type=channel, address="a@example.com" if channel == "EMAIL" else "+15555550100",
                endpoint_id=endpoint, delivery_status=status, status_code=200, status_message=message,
                attempt=attempt, trace_id=None, context=ctx or None, tally=tally)))

        roll = rnd.random()
        if channel == "EMAIL":
            rec("_email.send", "SUCCESSFUL", "handed", t)
            if roll < 0.1:
                rec("_email.hardbounce", "PERMANENT_FAILURE", "550 no such user", t)
                continue
            if roll < 0.2:
                rec("_email.softbounce", "TEMPORARY_FAILURE", "451 later (attempt 1 of 3; will retry)", t)
            if roll < 0.25:
                rec("_email.rejected", "PERMANENT_FAILURE", "rejected", t)
                continue
            if roll < 0.28:  # retries exhausted
                rec("_email.softbounce", "TEMPORARY_FAILURE", "452 mailbox full (attempt 3 of 3)", t, attempt=3)
                continue
            rec("_email.delivered", "SUCCESSFUL", "250 ok", t)
            if roll > 0.95:
                rec("_email.complaint", "", "", t + 1000)
            for kind, p in ((OPEN, 0.5), (CLICK, 0.2), ("u", 0.05)):
                while rnd.random() < p:  # repeated opens and clicks
                    tok = Token(kind=kind, app=app, message_id=mid, endpoint_id=endpoint, url="https://x.test/")
                    r = engagement_record(tok, now_ms=t + 2000, ip="127.0.0.1", user_agent="t")
                    r["attributes"].update(ctx)
                    out.append(events.record_args(r))
                    if tally is not None:
                        tally.add_record(r)
                    if kind == "u":
                        break
        else:
            rec("_SMS.SUCCESS" if roll > 0.2 else "_SMS.FAILURE", "SUCCESSFUL" if roll > 0.2 else
                "PERMANENT_FAILURE", "ok", t)
    return out


# ---------------------------------------------------------------------------------------------- the oracle

def day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


def scan(entries: list[tuple[bytes, dict[bytes, bytes]]], app: str) -> list[dict[str, Any]]:
    """One fact per counted event of `app`: day, channel, what it counts, endpoint and its campaign/journey."""
    out = []
    for _id, fields in entries:
        if fields[b"app"].decode() != app:
            continue
        et = fields[b"event_type"].decode()
        rec = json.loads(fields[b"record"])
        a = rec["attributes"]
        base = {"day": day(rec["event_timestamp"]), "channel": a.get("channel_type", ""),
                "endpoint": rec["client"].get("client_id", ""), "campaign": a.get("campaign_id", ""),
                "activity": a.get("campaign_activity_id", ""), "journey": a.get("journey_id", ""),
                "jactivity": a.get("journey_activity_id", "")}
        status = a.get("delivery_status", "")
        retried = "will retry" in a.get("status_message", "")
        final = bool(status) and not et.endswith(".send") and not retried
        what = []
        if final:
            what.append("sent")
            if status == "SUCCESSFUL":
                what.append("delivered")
        named = {"_email.open": "opened", "_email.click": "clicked", "_email.unsubscribe": "unsubscribed",
                 "_email.hardbounce": "hardbounced", "_email.softbounce": "softbounced",
                 "_email.complaint": "complained", "_email.rejected": "rejected"}.get(et)
        if named and (final or not status or named in ("opened", "clicked", "unsubscribed")):
            what.append(named)
        for w in what:
            out.append({**base, "what": w})
    return out


def oracle(facts: list[dict[str, Any]], level: str, target: str, name: str, days_: list[str]) -> dict[str, float]:
    """KPI `name` from the scanned facts: {group value ("" ungrouped): value}."""
    fs = [f for f in facts if f["day"] in days_]
    if level == "campaign":
        fs = [f for f in fs if f["campaign"] == target]
    if level == "journey":
        fs = [f for f in fs if f["journey"] == target and not f["campaign"]]
    group = ""
    for suffix, g in (("-grouped-by-date", "day"), ("-grouped-by-campaign-activity", "activity"),
                      ("-grouped-by-campaign", "campaign"), ("-grouped-by-journey-activity", "jactivity")):
        if name.endswith(suffix):
            name, group = name[: -len(suffix)], g
    if group == "jactivity":
        name = "journey-" + name
    if group == "campaign":
        fs = [f for f in fs if f["campaign"]]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in fs:
        groups[f[group] if group else ""].append(f)
    if group == "day":
        for d in days_:
            groups.setdefault(d, [])

    def count(rows: list[dict[str, Any]], what: str, channel: str | None = None) -> int:
        return sum(1 for f in rows if f["what"] == what and (channel is None or f["channel"] == channel))

    def uniq(rows: list[dict[str, Any]], what: str, channel: str | None = None) -> int:
        return len({f["endpoint"] for f in rows if f["what"] == what and (channel is None or f["channel"] == channel)})

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    out = {}
    for g, rows in groups.items():
        txn = [f for f in rows if not f["campaign"] and not f["journey"]]
        if name == "successful-delivery-rate":
            v = ratio(count(rows, "delivered"), count(rows, "sent"))
        elif name == "unique-deliveries":
            v = uniq(rows, "delivered")
        elif name == "email-open-rate":
            v = ratio(uniq(rows, "opened", "EMAIL"), count(rows, "delivered", "EMAIL"))
        elif name == "hard-bounce-rate":
            v = ratio(count(rows, "hardbounced", "EMAIL"), count(rows, "sent", "EMAIL"))
        elif name.startswith("txn-emails-unique-"):
            v = uniq(txn, {"opens": "opened", "clicks": "clicked"}[name.rsplit("-", 1)[1]], "EMAIL")
        elif name == "txn-emails-delivery-rate":
            v = ratio(count(txn, "delivered", "EMAIL"), count(txn, "sent", "EMAIL"))
        elif name == "txn-emails-complaint-rate":
            v = ratio(count(txn, "complained", "EMAIL"), count(txn, "delivered", "EMAIL"))
        elif name.startswith("txn-emails-"):
            w = {"sent": "sent", "delivered": "delivered", "opened": "opened", "clicked": "clicked",
                 "hard-bounced": "hardbounced", "soft-bounced": "softbounced",
                 "with-complaints": "complained"}[name[len("txn-emails-"):]]
            v = count(txn, w, "EMAIL")
        elif name == "txn-sms-delivery-rate":
            v = ratio(count(txn, "delivered", "SMS"), count(txn, "sent", "SMS"))
        elif name.startswith("txn-sms-"):
            v = count(txn, name[len("txn-sms-"):], "SMS")
        elif name.startswith("journey-emails-"):
            v = count(rows, name[len("journey-emails-"):], "EMAIL")
        else:
            raise KeyError(name)
        out[g] = float(v)
    return out
