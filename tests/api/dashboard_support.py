"""Helpers of the dashboard tests: a small cookie-keeping HTTP client (http.client, no redirects followed) and
the generated data an application's dashboard is loaded with (tests/kpi_data.py, rolled up)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis

from gateway.kpi.rollup import RollupConsumer
from tests import kpi_data
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer

KEY = "gateway:events"


class Browserless:
    """GET/POST against the API server on 127.0.0.1, keeping the cookies it sets (as a browser would)."""

    def __init__(self, server: ApiServer) -> None:
        self.netloc = urlsplit(server.url).netloc
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, list[str]], bytes]:
        conn = http.client.HTTPConnection(self.netloc, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            got: dict[str, list[str]] = {}
            for k, v in resp.getheaders():
                got.setdefault(k.lower(), []).append(v)
            for c in got.get("set-cookie", []):
                name, _, rest = c.partition("=")
                value = rest.split(";", 1)[0].strip('"')
                if value and "max-age=0" not in c.lower():
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return resp.status, got, raw
        finally:
            conn.close()

    def login(self, key: str = ACCESS_KEY, secret: str = SECRET) -> int:
        return self.request("POST", "/dashboard/login", {"access_key": key, "secret": secret, "next": "/dashboard"})[0]

    def json(self, path: str) -> tuple[int, Any]:
        status, _, raw = self.request("GET", path)
        return status, json.loads(raw)


def load_events(server: ApiServer, sync_redis: redis.Redis, app: str, now: dt.datetime, n: int = 400,
                days: int = 5, campaigns: list[dict[str, str]] | None = None) -> None:
    """Write `n` generated messages' events for `app` over the last `days` days and roll them up (`campaigns`:
    kpi_data.generate's campaign sources)."""
    pipe = sync_redis.pipeline(transaction=False)
    for a, et, rec in kpi_data.generate(app, int(now.timestamp() * 1000), n, days=days, campaigns=campaigns):
        pipe.xadd(KEY, {"app": a, "event_type": et, "record": rec})
    pipe.execute()

    async def roll() -> None:
        consumer = RollupConsumer(server.services.apps.redis, KEY, "dashboard-test", retention_days=90)
        await consumer.ensure_group()
        while await consumer.step():
            pass

    server.call(roll())


def kpi_values(resp: dict[str, Any]) -> dict[str, float]:
    """{group value ("" ungrouped): value} of a Get*DateRangeKpi response's rows."""
    return {(r["GroupedBys"][0]["Value"] if r["GroupedBys"] else ""): float(r["Values"][0]["Value"])
            for r in resp["KpiResult"]["Rows"]}


def ab_campaign(pp: Any, sync_redis: redis.Redis, app: str, name: str, runs: int = 2) -> tuple[str, dict[str, str]]:
    """A stored recurring campaign with an additional treatment ("B", 30 %) and a 10 % holdout whose `runs` runs
    are recorded as the scheduler records them (so GetCampaignActivities lists one activity per treatment and
    run): (campaign id, {activity id: treatment id})."""
    from gateway.campaigns import runs as run_keys

    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={
        "Name": "all", "Dimensions": {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}}
    )["SegmentResponse"]["Id"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cid = str(pp.create_campaign(ApplicationId=app, WriteCampaignRequest={
        "Name": name, "SegmentId": seg, "TreatmentName": name, "HoldoutPercent": 10,
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@example.com", "Title": "t", "HtmlBody": "b"}},
        "AdditionalTreatments": [{"SizePercent": 30, "TreatmentName": "B", "MessageConfiguration": {
            "EmailMessage": {"FromAddress": "a@example.com", "Title": "t2", "HtmlBody": "b2"}}}],
        "Schedule": {"StartTime": later, "Frequency": "DAILY", "Timezone": "UTC"}})["CampaignResponse"]["Id"])
    for n in range(1, runs + 1):
        sync_redis.zadd(run_keys.runs_key(app, cid), {str(n): n})
        sync_redis.hset(run_keys.run_key(app, cid, n), mapping={"state": run_keys.COMPLETED})
    return cid, {run_keys.activity_id(cid, n, t): str(t) for n in range(1, runs + 1) for t in (0, 1)}


def sources(cid: str, treatment_of: dict[str, str]) -> list[dict[str, str]]:
    """kpi_data.generate's campaign sources for the activities of one campaign."""
    return [{"campaign_id": cid, "campaign_activity_id": a, "treatment_id": t} for a, t in sorted(treatment_of.items())]


def expected_by_treatment(facts: list[dict[str, Any]], cid: str, treatment_of: dict[str, str],
                          days: list[str]) -> dict[str, dict[str, float]]:
    """Per treatment, the counts the dashboard should draw, from the raw events scanned one by one
    (kpi_data.scan): every channel's counters, failed, and EMAIL's sent / delivered."""
    words = ("sent", "delivered", "opened", "clicked", "hardbounced", "softbounced", "complained", "unsubscribed")
    out: dict[str, dict[str, float]] = {t: {**dict.fromkeys(words, 0.0), "email-sent": 0.0, "email-delivered": 0.0}
                                        for t in treatment_of.values()}
    for f in facts:
        if f["campaign"] != cid or f["day"] not in days or f["what"] not in words:
            continue
        cell = out[treatment_of[f["activity"]]]
        cell[f["what"]] += 1
        if f["channel"] == "EMAIL" and f["what"] in ("sent", "delivered"):
            cell[f"email-{f['what']}"] += 1
    for cell in out.values():
        cell["failed"] = cell["sent"] - cell["delivered"]
    return out
