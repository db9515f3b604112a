"""The dashboard over HTTP (no browser: tests/api/test_dashboard_browser.py draws it in Chromium): login and
sessions, refusals, escaping, and its JSON equal to what the KPI API answers for the same range."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import tomllib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
import trustme
from aiohttp import web

from gateway.api.server import create_app
from gateway.api.sigv4 import SigV4Verifier
from gateway.dashboard import session
from gateway.kpi import query
from tests import kpi_data
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer
from tests.api.dashboard_support import Browserless, ab_campaign, expected_by_treatment, kpi_values, load_events, sources

ROOT = Path(__file__).resolve().parents[2]


def test_pages_redirect_and_data_answer_401_without_a_session(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    for path in ("/dashboard", f"/dashboard/apps/{live_app}?start=2026-01-01"):
        status, headers, _ = b.request("GET", path)
        where = urlsplit(headers["location"][0])
        assert status == 303 and where.path == "/dashboard/login" and parse_qs(where.query) == {"next": [path]}
    for path in ("/dashboard/api/apps", "/dashboard/api/lag", f"/dashboard/api/apps/{live_app}/overview"):
        status, headers, raw = b.request("GET", path)
        assert status == 401 and headers["x-amzn-errortype"] == ["UnauthorizedException"], path
        assert "Log in at /dashboard/login" in json.loads(raw)["Message"]
    status, _, raw = b.request("GET", "/dashboard/login?next=/dashboard/apps/x")
    assert status == 200 and b'name=access_key' in raw and b'value="/dashboard/apps/x"' in raw


def test_wrong_credentials_get_a_message_and_no_cookie(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    for key, secret in (("AKIDGATEWAYTEST", "wrong"), ("NOSUCHKEY", "test-secret-key"), ("", "")):
        status, headers, raw = b.request("POST", "/dashboard/login", {"access_key": key, "secret": secret})
        assert status == 401 and b"Unknown access key id or wrong secret." in raw
        assert "set-cookie" not in headers and not b.cookies
    assert b.request("GET", "/dashboard")[0] == 303


def test_login_sets_a_strict_httponly_session_and_logout_ends_it(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    status, headers, _ = b.request("POST", "/dashboard/login", {"access_key": "AKIDGATEWAYTEST",
                                                                "secret": "test-secret-key",
                                                                "next": f"/dashboard/apps/{live_app}"})
    assert status == 303 and headers["location"] == [f"/dashboard/apps/{live_app}"]
    (cookie,) = headers["set-cookie"]
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert cookie.startswith(session.COOKIE + "=") and "httponly" in attrs and "samesite=strict" in attrs
    assert "path=/dashboard" in attrs and "secure" not in attrs  # plain HTTP here: see the TLS test
    status, _, raw = b.request("GET", "/dashboard")
    assert status == 200 and f"/dashboard/apps/{live_app}".encode() in raw and b">live<" in raw
    status, apps = b.json("/dashboard/api/apps")
    assert status == 200 and apps == [{"application_id": live_app, "name": "live"}]
    # a session can only go back into the dashboard, never to another site
    status, headers, _ = b.request("POST", "/dashboard/login", {"access_key": "AKIDGATEWAYTEST",
                                                                "secret": "test-secret-key", "next": "//evil.test/"})
    assert headers["location"] == ["/dashboard"]
    status, headers, _ = b.request("POST", "/dashboard/logout", {})
    assert status == 303 and headers["location"] == ["/dashboard/login"] and not b.cookies
    assert b.request("GET", "/dashboard")[0] == 303


def test_a_forged_or_expired_session_is_refused(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    assert b.login() == 303
    good = b.cookies[session.COOKIE]
    secrets = {"AKIDGATEWAYTEST": "test-secret-key"}.get
    forged = [good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "x.1.y", "", good + "."]
    key, expires, tag = good.split(".")
    forged.append(f"{key}.{int(expires) + 3600}.{tag}")  # a longer life is not signed
    forged.append(session.issue("AKIDGATEWAYTEST", "test-secret-key", 0))  # expired long ago
    for token in forged:
        b.cookies[session.COOKIE] = token
        assert b.request("GET", "/dashboard")[0] == 303, token
        assert session.verify(token, secrets, 1e9 + 1) is None or token == forged[-1]


def test_unknown_applications_and_bad_ranges_get_clear_errors(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    b.login()
    now = dt.datetime.now(dt.UTC)
    day = now.date()
    base = f"/dashboard/api/apps/{live_app}/overview"
    cases = [
        ("/dashboard/api/apps/0000/overview", 404, "NotFoundException", "Application 0000 not found"),
        (f"/dashboard/api/apps/{live_app}/bogus", 404, "NotFoundException", "No dashboard data named 'bogus'"),
        (base + "?start=yesterday", 400, "BadRequestException", "start must be a date (YYYY-MM-DD)"),
        (base + f"?start={day}&end={day - dt.timedelta(days=1)}", 400, "BadRequestException",
         "StartTime must be before EndTime"),
        (base + f"?start={day - dt.timedelta(days=40)}&end={day}", 400, "BadRequestException", "31 days"),
        (base + f"?start={day - dt.timedelta(days=100)}&end={day - dt.timedelta(days=80)}", 400,
         "BadRequestException", "90 days"),
    ]
    for path, status, code, words in cases:
        got, headers, raw = b.request("GET", path)
        body = json.loads(raw)
        assert (got, headers["x-amzn-errortype"][0]) == (status, code) and words in body["Message"], (path, body)
    status, _, raw = b.request("GET", "/dashboard/apps/0000")
    assert status == 404 and b"Application 0000 not found" in raw
    status, _, raw = b.request("GET", "/dashboard/static/../web.py")
    assert status in (400, 404) and b"import" not in raw  # dot segments: the API refuses them first
    assert b.request("GET", "/dashboard/static/secret.txt")[0] == 404


def test_kpis_not_being_computed_are_said_so(redis_server: Any) -> None:
    """A deployment that keeps no rollups ([events] rollups = false) draws no zeros: it says why."""
    server = ApiServer(redis_server.url, SigV4Verifier({ACCESS_KEY: SECRET}), with_fakes=False,
                       config={"events": {"rollups": False}}).start()
    try:
        app = server.call(server.services.apps.create("no-rollups")).Id
        b = Browserless(server)
        b.login()
        status, body = b.json(f"/dashboard/api/apps/{app}/overview")
        assert status == 400 and body["Message"] == query.NOT_COMPUTED
    finally:
        server.stop()


def test_names_from_data_are_escaped_in_pages(live_api: ApiServer, live_pp: Any) -> None:
    name = '<script>window.pwned=1</script><img src=x onerror="x()">'
    app = live_pp.create_app(CreateApplicationRequest={"Name": name})["ApplicationResponse"]["Id"]
    b = Browserless(live_api)
    b.login()
    for path in ("/dashboard", f"/dashboard/apps/{app}?start=%22%3E%3Cscript%3E"):
        status, headers, raw = b.request("GET", path)
        text = raw.decode()
        assert status == 200 and "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img" in text
        assert "<script>window" not in text and "<img" not in text and '"><script>' not in text
        csp = headers["content-security-policy"][0]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp  # an injected inline script cannot run


def test_static_assets_are_served_and_shipped_as_package_data(live_api: ApiServer, live_app: str) -> None:
    b = Browserless(live_api)
    status, headers, raw = b.request("GET", "/dashboard/static/dashboard.js")  # assets need no session
    assert status == 200 and headers["content-type"][0].startswith("application/javascript")
    assert b"innerHTML" not in raw and b"http://" not in raw.replace(b"http://www.w3.org/2000/svg", b"")
    assert b.request("GET", "/dashboard/static/dashboard.css")[0] == 200
    # setuptools installs them: every file of gateway/dashboard/static matches the package-data globs
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gateway.dashboard"]
    files = [p.relative_to(ROOT / "gateway" / "dashboard").as_posix() for p in (ROOT / "gateway/dashboard/static").iterdir()]
    assert files and all(any(fnmatch(f, g) for g in globs) for f in files), (files, globs)


def test_data_equals_the_kpi_api(live_api: ApiServer, live_pp: Any, live_app: str, sync_redis: redis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    load_events(live_api, sync_redis, live_app, now)
    facts = kpi_data.scan(sync_redis.xrange("gateway:events"), live_app)
    b = Browserless(live_api)
    b.login()
    start, end = (now - dt.timedelta(days=6)).date(), now.date()
    q = f"?start={start}&end={end}"
    status, o = b.json(f"/dashboard/api/apps/{live_app}/overview{q}")
    assert status == 200, o
    t0, t1 = o["range"]["start"], o["range"]["end"]
    assert (t0, t1) == (f"{start}T00:00:00.000Z", f"{end}T23:59:59.999Z")
    days = o["range"]["days"]

    def app_kpi(name: str) -> dict[str, float]:
        return kpi_values(live_pp.get_application_date_range_kpi(ApplicationId=live_app, KpiName=name, StartTime=t0,
                                                                  EndTime=t1)["ApplicationDateRangeKpiResponse"])

    rate = app_kpi("successful-delivery-rate-grouped-by-date")
    assert o["delivery_rate"] == [rate[d] for d in days]
    assert o["kpis"] == {k: app_kpi(k)[""] for k in ("successful-delivery-rate", "unique-deliveries", "email-open-rate")}
    # the all-channel counts Pinpoint has no KPI name for: the raw events scanned one by one
    seen = Counter((f["day"], f["what"]) for f in facts)
    assert o["daily"]["sent"] == [seen[d, "sent"] for d in days] and sum(o["daily"]["sent"]) > 0
    assert o["daily"]["failed"] == [seen[d, "sent"] - seen[d, "delivered"] for d in days]
    email = Counter(f["what"] for f in facts if f["channel"] == "EMAIL" and f["day"] in days)
    assert o["funnel"] == {k: float(email[k]) for k in o["funnel"]} and o["funnel"]["clicked"] > 0

    status, c = b.json(f"/dashboard/api/apps/{live_app}/campaigns{q}")
    assert status == 200 and [x["campaign_id"] for x in c["campaigns"]] and all(x["name"] is None for x in c["campaigns"])
    assert {x["campaign_id"] for x in c["campaigns"]} == {"camp0", "camp1", "camp2"}
    for k in ("successful-delivery-rate", "email-open-rate", "unique-deliveries"):
        want = app_kpi(f"{k}-grouped-by-campaign")
        assert {x["campaign_id"]: x["kpis"][k] for x in c["campaigns"]} == want
    for camp in c["campaigns"]:
        want = kpi_values(live_pp.get_campaign_date_range_kpi(
            ApplicationId=live_app, CampaignId=camp["campaign_id"], KpiName="hard-bounce-rate-grouped-by-campaign-activity",
            StartTime=t0, EndTime=t1)["CampaignDateRangeKpiResponse"])
        assert {t["activity_id"]: t["kpis"]["hard-bounce-rate"] for t in camp["treatments"]} == want

    status, j = b.json(f"/dashboard/api/apps/{live_app}/journeys{q}")
    assert status == 200 and [x["journey_id"] for x in j["journeys"]] == ["jour1"]
    (jour,) = j["journeys"]
    for w in ("sent", "delivered", "opened"):
        got = kpi_values(live_pp.get_journey_date_range_kpi(ApplicationId=live_app, JourneyId="jour1",
                                                            KpiName=f"emails-{w}-grouped-by-journey-activity",
                                                            StartTime=t0, EndTime=t1)["JourneyDateRangeKpiResponse"])
        assert {a["activity_id"]: a["counts"][w] for a in jour["activities"]} == got
    assert jour["counts"]["sent"] == sum(a["counts"]["sent"] for a in jour["activities"]) > 0

    status, lag = b.json("/dashboard/api/lag")
    groups = {(g["stream"], g["group"]): g for g in lag["groups"]}
    assert groups["gateway:events", "kpi-rollup"]["lag"] == 0 and groups["gateway:events", "kpi-rollup"]["pending"] == 0


def test_stored_campaigns_show_their_names_and_treatments(live_api: ApiServer, live_pp: Any, live_app: str,
                                                          sync_redis: redis.Redis) -> None:
    seg = live_pp.create_segment(ApplicationId=live_app, WriteSegmentRequest={
        "Name": "all", "Dimensions": {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}}
    )["SegmentResponse"]["Id"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cid = live_pp.create_campaign(ApplicationId=live_app, WriteCampaignRequest={
        "Name": "<b>winter</b>", "SegmentId": seg, "TreatmentName": "A",
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@example.com", "Title": "t", "HtmlBody": "b"}},
        "Schedule": {"StartTime": later, "Frequency": "ONCE", "Timezone": "UTC"}})["CampaignResponse"]["Id"]
    sync_redis.xgroup_create("gateway:events", "kpi-rollup", id="0", mkstream=True)
    b = Browserless(live_api)
    b.login()
    status, c = b.json(f"/dashboard/api/apps/{live_app}/campaigns")
    assert status == 200 and [(x["campaign_id"], x["name"]) for x in c["campaigns"]] == [(cid, "<b>winter</b>")]
    assert c["campaigns"][0]["counts"]["sent"] == 0.0
    status, j = b.json(f"/dashboard/api/apps/{live_app}/journeys")
    assert status == 200 and j["journeys"] == []


def test_each_treatment_is_totalled_across_the_campaigns_runs(live_api: ApiServer, live_pp: Any, live_app: str,
                                                              sync_redis: redis.Redis) -> None:
    """Two runs x two treatments: per treatment, the raw events' counts added up over both runs (scanned one by
    one), equal to the sums of the KPI API's per-activity values; rates are ratios of those sums."""
    cid, treatment_of = ab_campaign(live_pp, sync_redis, live_app, "<b>spring</b>")
    now = dt.datetime.now(dt.UTC)
    load_events(live_api, sync_redis, live_app, now, n=600, campaigns=sources(cid, treatment_of))
    facts = kpi_data.scan(sync_redis.xrange("gateway:events"), live_app)
    b = Browserless(live_api)
    b.login()
    start, end = (now - dt.timedelta(days=6)).date(), now.date()
    status, c = b.json(f"/dashboard/api/apps/{live_app}/campaigns?start={start}&end={end}")
    assert status == 200, c
    (camp,) = c["campaigns"]
    assert camp["campaign_id"] == cid and camp["name"] == "<b>spring</b>"
    rows = {t["treatment_id"]: t for t in camp["by_treatment"]}
    assert [(t["treatment_id"], t["name"], t["holdout"], t["size_percent"]) for t in camp["by_treatment"]] == [
        ("0", "<b>spring</b>", False, 60), ("1", "B", False, 30), ("holdout", "Holdout (sent nothing)", True, 10)]
    want = expected_by_treatment(facts, cid, treatment_of, c["range"]["days"])
    for tid in ("0", "1"):
        got = rows[tid]
        assert got["counts"] == want[tid] and got["counts"]["sent"] > 0 and got["counts"]["opened"] > 0, tid
        assert sorted(got["activities"]) == sorted(a for a, t in treatment_of.items() if t == tid)
        w = want[tid]
        assert got["rates"] == {
            "successful-delivery-rate": w["delivered"] / w["sent"], "open-rate": w["opened"] / w["email-delivered"],
            "click-rate": w["clicked"] / w["email-delivered"], "hard-bounce-rate": w["hardbounced"] / w["email-sent"],
            "complaint-rate": w["complained"] / w["email-delivered"],
            "opt-out-rate": w["unsubscribed"] / w["email-delivered"]}
    assert set(rows["holdout"]["counts"].values()) == {0.0}
    # the per-run rows stay: four activities, whose counts add up to the treatments' totals
    assert {t["activity_id"]: t["treatment_id"] for t in camp["treatments"]} == treatment_of
    for tid in ("0", "1"):
        for k in ("sent", "delivered", "opened", "clicked"):
            assert sum(t["counts"][k] for t in camp["treatments"] if t["treatment_id"] == tid) == rows[tid]["counts"][k]
    # the KPI API's per-activity delivery rates, weighted by each activity's sends, give the treatment's rate
    t0, t1 = c["range"]["start"], c["range"]["end"]
    per_act = kpi_values(live_pp.get_campaign_date_range_kpi(
        ApplicationId=live_app, CampaignId=cid, KpiName="successful-delivery-rate-grouped-by-campaign-activity",
        StartTime=t0, EndTime=t1)["CampaignDateRangeKpiResponse"])
    sent = {t["activity_id"]: t["counts"]["sent"] for t in camp["treatments"]}
    for tid in ("0", "1"):
        mine = [a for a, t in treatment_of.items() if t == tid]
        delivered = sum(per_act[a] * sent[a] for a in mine)
        assert abs(delivered - rows[tid]["counts"]["delivered"]) < 1e-9
        assert abs(rows[tid]["rates"]["successful-delivery-rate"] - delivered / sum(sent[a] for a in mine)) < 1e-12


def test_the_session_cookie_is_secure_over_tls(live_api: ApiServer, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    async def serve() -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(create_app(live_api.services, live_api.verifier))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
        await site.start()
        return runner, int(runner.addresses[0][1])

    runner, port = live_api.call(serve())
    try:
        import http.client
        from urllib.parse import urlencode

        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx, timeout=10)
        conn.request("POST", "/dashboard/login", urlencode({"access_key": "AKIDGATEWAYTEST", "secret": "test-secret-key"}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        cookie = resp.getheader("set-cookie") or ""
        assert resp.status == 303 and "secure" in [a.strip().lower() for a in cookie.split(";")], cookie
    finally:
        live_api.call(asyncio.wait_for(runner.cleanup(), 10))


def test_without_api_authentication_the_dashboard_asks_for_no_login(redis_server: Any, sync_redis: redis.Redis) -> None:
    server = ApiServer(redis_server.url, None).start()  # api.auth = "none": loopback only, as the API
    try:
        b = Browserless(server)
        assert b.request("GET", "/dashboard")[0] == 200
        status, headers, _ = b.request("GET", "/dashboard/login")
        assert status == 303 and headers["location"] == ["/dashboard"]
        assert b.json("/dashboard/api/apps") == (200, [])
    finally:
        server.stop()


def test_metrics_name_the_dashboards_requests(live_api: ApiServer, live_app: str) -> None:
    from gateway.metrics.core import ApiMetrics
    from gateway.metrics.server import api_middleware

    metrics = ApiMetrics()

    async def serve() -> tuple[web.AppRunner, int]:
        app = create_app(live_api.services, live_api.verifier)
        app.middlewares.append(api_middleware(metrics))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, int(runner.addresses[0][1])

    runner, port = live_api.call(serve())
    try:
        b = Browserless(live_api)
        b.netloc = f"127.0.0.1:{port}"
        b.request("GET", "/dashboard")
        b.request("GET", "/dashboard/api/lag")
        assert metrics.requests == {("Dashboard", 303): 1, ("DashboardData", 401): 1}
    finally:
        live_api.call(asyncio.wait_for(runner.cleanup(), 10))


def test_a_failing_read_is_a_500_in_pinpoints_shape(live_api: ApiServer, live_app: str,
                                                    monkeypatch: Any) -> None:
    from gateway.dashboard.data import DataSource

    async def down(self: DataSource, now_ms: int) -> None:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(DataSource, "lag", down)
    b = Browserless(live_api)
    b.login()
    status, headers, raw = b.request("GET", "/dashboard/api/lag")
    body = json.loads(raw)
    assert status == 500 and headers["x-amzn-errortype"] == ["InternalServerErrorException"]
    assert body["Message"] == f"Internal server error; request {body['RequestID']}"
