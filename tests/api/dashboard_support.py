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
                days: int = 5) -> None:
    """Write `n` generated messages' events for `app` over the last `days` days and roll them up."""
    pipe = sync_redis.pipeline(transaction=False)
    for a, et, rec in kpi_data.generate(app, int(now.timestamp() * 1000), n, days=days):
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
