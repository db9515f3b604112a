"""The dashboard in a real headless Chromium (tests/chromium.py): log in through the form, load an application
with generated events, and check that what the page draws equals what the KPI API answers for the same range.
A screenshot is kept (tmp_path, and $GATEWAY_TEST_ARTIFACTS when set)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import kpi_data
from tests.api.conftest import ACCESS_KEY, SECRET, ApiServer
from tests.api.dashboard_support import ab_campaign, expected_by_treatment, kpi_values, load_events, sources
from tests.chromium import Chromium

EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'

#: Everything the page drew that carries a number, as the strings in its data-value attributes.
READ_DOM = """(() => {
  const all = (root, sel) => typeof root === 'string' ? Array.from(document.querySelectorAll(root))
    : Array.from(root.querySelectorAll(sel));
  const by = (nodes, key) => Object.fromEntries(nodes.map(n => [n.dataset[key], n.dataset.value]));
  return {
    ready: document.getElementById('dash').dataset.ready,
    notice: document.getElementById('notice').textContent,
    title: document.getElementById('app-name').textContent,
    bars: all('#daily rect[data-series]').map(r => [r.dataset.series, r.dataset.key, r.dataset.value, r.getAttribute('height')]),
    rate: all('#rate circle[data-key]').map(c => [c.dataset.key, c.dataset.value]),
    kpis: by(all('#tiles [data-kpi]'), 'kpi'),
    totals: by(all('#tiles [data-total]'), 'total'),
    funnel: by(all('#funnel [data-counter]'), 'counter'),
    campaigns: all('tr.campaign').map(tr => ({id: tr.dataset.campaign, name: tr.querySelector('.name').textContent,
      counts: by(all(tr, '[data-field]'), 'field'), kpis: by(all(tr, '[data-kpi]'), 'kpi')})),
    treatments: all('tr.treatment').map(tr => ({campaign: tr.dataset.campaign, activity: tr.dataset.activity,
      label: tr.cells[0].textContent, kpis: by(all(tr, '[data-kpi]'), 'kpi'), counts: by(all(tr, '[data-field]'), 'field')})),
    byTreatment: all('tr.treatment-total').map(tr => ({campaign: tr.dataset.campaign, treatment: tr.dataset.treatment,
      label: tr.cells[0].textContent, counts: by(all(tr, '[data-field]'), 'field'), rates: by(all(tr, '[data-rate]'), 'rate')})),
    treatmentBars: all('.by-treatment rect[data-series]').map(r => [r.closest('.by-treatment').dataset.campaign,
      r.dataset.series, r.dataset.key, r.dataset.value]),
    journeys: all('.journey').map(j => ({id: j.dataset.journey, counts: by(all(j, '.tile[data-kpi]'), 'kpi'),
      bars: all(j, 'rect[data-series]').map(r => [r.dataset.series, r.dataset.key, r.dataset.value])})),
    lag: all('#lag tr[data-group]').map(tr => [tr.dataset.stream, tr.dataset.group, by(all(tr, '[data-field]'), 'field')]),
    injected: document.querySelectorAll('#campaigns img, #campaigns script').length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
  };
})()"""


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Chromium]:
    """A headless Chromium with a fresh profile; a browser that cannot start fails the test (never skips), and
    the process is always ended."""
    browser = await Chromium.launch(tmp_path / "profile")
    try:
        yield browser
    finally:
        await browser.close()


def _keep(png: bytes, tmp_path: Path) -> None:
    (tmp_path / "dashboard.png").write_bytes(png)
    where = os.environ.get("GATEWAY_TEST_ARTIFACTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "dashboard.png", Path(where) / "dashboard.png")


def _campaign(pp: Any, app: str, name: str) -> str:
    seg = pp.create_segment(ApplicationId=app, WriteSegmentRequest={
        "Name": "all", "Dimensions": {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}}
    )["SegmentResponse"]["Id"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(pp.create_campaign(ApplicationId=app, WriteCampaignRequest={
        "Name": name, "SegmentId": seg,
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@example.com", "Title": "t", "HtmlBody": "b"}},
        "Schedule": {"StartTime": later, "Frequency": "ONCE", "Timezone": "UTC"}})["CampaignResponse"]["Id"])


async def test_the_dashboard_draws_what_the_kpi_api_answers(chromium: Chromium, live_api: ApiServer, live_pp: Any,
                                                            sync_redis: redis.Redis, tmp_path: Path) -> None:
    app = live_pp.create_app(CreateApplicationRequest={"Name": "<i>shop</i>"})["ApplicationResponse"]["Id"]
    evil = _campaign(live_pp, app, EVIL)
    ab, treatment_of = ab_campaign(live_pp, sync_redis, app, EVIL + " ab")  # two runs x two treatments, a holdout
    now = dt.datetime.now(dt.UTC)
    generated = [{"campaign_id": f"camp{c}", "campaign_activity_id": f"act{c}{a}", "treatment_id": "0"}
                 for c in range(3) for a in range(2)]
    load_events(live_api, sync_redis, app, now, n=600, campaigns=generated + sources(ab, treatment_of))
    start, end = (now - dt.timedelta(days=6)).date(), now.date()
    page = await chromium.new_page()

    # log in through the form (the dashboard sends us there first)
    await page.goto(f"{live_api.url}/dashboard")
    assert await page.evaluate("location.pathname") == "/dashboard/login"
    await page.evaluate_and_load(
        f"document.getElementById('access_key').value = {ACCESS_KEY!r};"
        f"document.getElementById('secret').value = 'wrong'; document.querySelector('#login button').click()")
    assert "Unknown access key id or wrong secret." in await page.evaluate("document.body.textContent")
    assert await page.evaluate("document.cookie") == ""  # no cookie; and the real one is HttpOnly anyway
    await page.evaluate_and_load(
        f"document.getElementById('access_key').value = {ACCESS_KEY!r};"
        f"document.getElementById('secret').value = {SECRET!r}; document.querySelector('#login button').click()")
    assert await page.evaluate("location.pathname") == "/dashboard"
    assert await page.evaluate(f"document.querySelector('a[href=\"/dashboard/apps/{app}\"]').textContent") == "<i>shop</i>"
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read the session

    await page.goto(f"{live_api.url}/dashboard/apps/{app}?start={start}&end={end}")
    await page.wait_for("document.getElementById('dash').dataset.ready")
    _keep(await page.screenshot(), tmp_path)
    drawn = await page.evaluate(READ_DOM)
    assert drawn["ready"] == "1", drawn["notice"]
    assert drawn["title"] == "<i>shop</i>"
    t0, t1 = f"{start}T00:00:00.000Z", f"{end}T23:59:59.999Z"
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    assert await page.evaluate("[document.getElementById('start').value, document.getElementById('end').value]") == [
        str(start), str(end)]

    def app_kpi(name: str) -> dict[str, float]:
        return kpi_values(live_pp.get_application_date_range_kpi(ApplicationId=app, KpiName=name, StartTime=t0,
                                                                  EndTime=t1)["ApplicationDateRangeKpiResponse"])

    # the delivery-rate line and the headline KPIs: GetApplicationDateRangeKpi's values
    rate = app_kpi("successful-delivery-rate-grouped-by-date")
    assert [(k, float(v)) for k, v in drawn["rate"]] == [(d, rate[d]) for d in days] and any(rate.values())
    for name in ("successful-delivery-rate", "unique-deliveries", "email-open-rate"):
        assert float(drawn["kpis"][name]) == app_kpi(name)[""], name
    # the bars: one per day and series, heights in proportion to their values, and the per-day delivered and
    # sent counts add up to the totals tiles
    bars = {(s, d): (float(v), float(h)) for s, d, v, h in drawn["bars"]}
    assert {d for _, d in bars} == set(days) and {s for s, _ in bars} == {"sent", "delivered", "failed"}
    tallest = max(bars.values())
    assert all(abs(h / tallest[1] - v / tallest[0]) < 1e-6 for v, h in bars.values())
    for s in ("sent", "delivered", "failed"):
        assert sum(bars[s, d][0] for d in days) == float(drawn["totals"][s])
    assert all(bars["failed", d][0] == bars["sent", d][0] - bars["delivered", d][0] for d in days)
    # the funnel: transactional email's counts are in the KPI API too; every source's are at least those
    txn = {"sent": "sent", "delivered": "delivered", "opened": "opened", "clicked": "clicked",
           "hardbounced": "hard-bounced", "softbounced": "soft-bounced", "complained": "with-complaints"}
    for counter, name in txn.items():
        assert float(drawn["funnel"][counter]) >= app_kpi(f"txn-emails-{name}")[""] > 0, counter
    # campaigns: the stored one by its name, shown as text (nothing ran), and the KPI API's per-campaign values
    assert drawn["injected"] == 0 and drawn["pwned"] is None
    names = {c["id"]: c["name"] for c in drawn["campaigns"]}
    assert names[evil] == EVIL and {"camp0", "camp1", "camp2"} <= set(names)
    for name in ("successful-delivery-rate", "email-open-rate", "unique-deliveries"):
        want = app_kpi(f"{name}-grouped-by-campaign")
        assert {c["id"]: float(c["kpis"][name]) for c in drawn["campaigns"] if c["id"] in want} == want
    # per campaign hard-bounce-rate, and treatments: GetCampaignDateRangeKpi (...-grouped-by-campaign-activity)
    for cid in ("camp0", "camp1"):
        want_hard = kpi_values(live_pp.get_campaign_date_range_kpi(
            ApplicationId=app, CampaignId=cid, KpiName="hard-bounce-rate", StartTime=t0,
            EndTime=t1)["CampaignDateRangeKpiResponse"])[""]
        assert float(next(c for c in drawn["campaigns"] if c["id"] == cid)["kpis"]["hard-bounce-rate"]) == want_hard
        for name in ("successful-delivery-rate", "email-open-rate", "unique-deliveries", "hard-bounce-rate"):
            want = kpi_values(live_pp.get_campaign_date_range_kpi(
                ApplicationId=app, CampaignId=cid, KpiName=f"{name}-grouped-by-campaign-activity", StartTime=t0,
                EndTime=t1)["CampaignDateRangeKpiResponse"])
            got = {t["activity"]: float(t["kpis"][name]) for t in drawn["treatments"] if t["campaign"] == cid}
            assert got == want and len(got) == 2, (cid, name)
    # per treatment across both runs of the A/B campaign: the raw events' counts (scanned one by one), drawn in
    # the table and as bars, equal to the per-run rows added up; the KPI API's per-activity delivery rates
    # weighted by the runs' sends give the treatment's deliveries and its rate (a rate of sums, not a mean)
    want = expected_by_treatment(kpi_data.scan(sync_redis.xrange("gateway:events"), app), ab, treatment_of, days)
    mine = {t["treatment"]: t for t in drawn["byTreatment"] if t["campaign"] == ab}
    assert list(mine) == ["0", "1", "holdout"]
    assert {t["campaign"] for t in drawn["byTreatment"]} == {ab, evil}  # camp0..2: not stored, no treatments known
    assert mine["0"]["label"] == EVIL + " ab (60%)" and mine["1"]["label"] == "B (30%)"
    assert mine["holdout"]["label"] == "Holdout (sent nothing) (10%)"
    assert all(v == "0" for v in mine["holdout"]["counts"].values())
    rate_of = kpi_values(live_pp.get_campaign_date_range_kpi(
        ApplicationId=app, CampaignId=ab, KpiName="successful-delivery-rate-grouped-by-campaign-activity",
        StartTime=t0, EndTime=t1)["CampaignDateRangeKpiResponse"])
    per_run = {t["activity"]: {k: float(v) for k, v in t["counts"].items()} for t in drawn["treatments"]
               if t["campaign"] == ab}
    assert set(per_run) == set(treatment_of) == set(rate_of)
    bars = {(s, k): float(v) for c, s, k, v in drawn["treatmentBars"] if c == ab}
    for tid in ("0", "1"):
        got = {k: float(v) for k, v in mine[tid]["counts"].items()}
        assert got == {k: want[tid][k] for k in got} and got["sent"] > 0 and got["clicked"] > 0, tid
        runs = [a for a, t in treatment_of.items() if t == tid]
        for k in ("sent", "delivered", "opened", "clicked", "hardbounced", "complained", "unsubscribed"):
            assert sum(per_run[a][k] for a in runs) == got[k], (tid, k)
        delivered = sum(rate_of[a] * per_run[a]["sent"] for a in runs)
        assert abs(delivered - got["delivered"]) < 1e-9
        assert abs(float(mine[tid]["rates"]["successful-delivery-rate"]) - delivered / got["sent"]) < 1e-12
        assert float(mine[tid]["rates"]["open-rate"]) == want[tid]["opened"] / want[tid]["email-delivered"]
        assert {s: v for (s, k), v in bars.items() if k == tid} == {
            s: got[s] for s in ("sent", "delivered", "failed", "opened", "clicked")}
    # journeys: GetJourneyDateRangeKpi
    (jour,) = drawn["journeys"]
    assert jour["id"] == "jour1"
    for word in ("sent", "delivered", "opened", "clicked"):
        total = kpi_values(live_pp.get_journey_date_range_kpi(ApplicationId=app, JourneyId="jour1",
                                                              KpiName=f"journey-emails-{word}", StartTime=t0,
                                                              EndTime=t1)["JourneyDateRangeKpiResponse"])
        assert float(jour["counts"][f"journey-emails-{word}"]) == total[""]
        by_act = kpi_values(live_pp.get_journey_date_range_kpi(
            ApplicationId=app, JourneyId="jour1", KpiName=f"emails-{word}-grouped-by-journey-activity",
            StartTime=t0, EndTime=t1)["JourneyDateRangeKpiResponse"])
        assert {d: float(v) for s, d, v in jour["bars"] if s == word} == by_act
    # stream lag: the rollup group read everything
    lag = {(s, g): f for s, g, f in drawn["lag"]}
    assert lag["gateway:events", "kpi-rollup"] == {"lag": "0", "pending": "0"}

    # logging out ends the session: the page sends us to the login form again
    await page.evaluate_and_load("document.getElementById('logout').click()")
    assert await page.evaluate("location.pathname") == "/dashboard/login"
    await page.goto(f"{live_api.url}/dashboard/apps/{app}")
    assert await page.evaluate("location.pathname") == "/dashboard/login"


async def test_an_application_without_journeys_says_so(chromium: Chromium, live_api: ApiServer, live_pp: Any,
                                                       sync_redis: redis.Redis, tmp_path: Path) -> None:
    app = live_pp.create_app(CreateApplicationRequest={"Name": "quiet"})["ApplicationResponse"]["Id"]
    sync_redis.xgroup_create("gateway:events", "kpi-rollup", id="0", mkstream=True)
    page = await chromium.new_page()
    await page.goto(f"{live_api.url}/dashboard/login")
    await page.evaluate_and_load(
        f"document.getElementById('access_key').value = {ACCESS_KEY!r};"
        f"document.getElementById('secret').value = {SECRET!r}; document.querySelector('#login button').click()")
    await page.goto(f"{live_api.url}/dashboard/apps/{app}")
    await page.wait_for("document.getElementById('dash').dataset.ready")
    got = await page.evaluate("[document.getElementById('dash').dataset.ready, "
                              "document.getElementById('no-journeys').textContent, "
                              "document.getElementById('no-campaigns').textContent]")
    assert got[0] == "1" and got[1].startswith("No journeys") and got[2].startswith("No campaigns")
    # a bad range in the address: the page shows the API's reason
    await page.goto(f"{live_api.url}/dashboard/apps/{app}?start=2020-01-01&end=2020-01-05")
    await page.wait_for("document.getElementById('dash').dataset.ready")
    assert await page.evaluate("document.getElementById('notice').textContent") == \
        "StartTime must be fewer than 90 days from the current day"
