"""A campaign's totals per treatment across its runs (gateway.dashboard.data.sum_by_treatment / treatment_totals):
per-activity counts summed per treatment, and rates of the sums, never averages of per-run rates."""

from __future__ import annotations

from gateway import models
from gateway.dashboard.data import UNMAPPED, sum_by_treatment, treatment_totals


def test_counts_of_each_run_add_up_per_treatment() -> None:
    by_counter = {"sent": {"r1t0": 10.0, "r2t0": 30.0, "r1t1": 5.0, "r2t1": 0.0, "stray": 2.0},
                  "delivered": {"r1t0": 10.0, "r2t0": 20.0, "r1t1": 4.0, "stray": 1.0}}
    treatment_of = {"r1t0": "0", "r2t0": "0", "r1t1": "1", "r2t1": "1", "r1t2": "2"}
    assert sum_by_treatment(by_counter, treatment_of) == {
        "0": {"sent": 40, "delivered": 30}, "1": {"sent": 5, "delivered": 4}, "2": {"sent": 0, "delivered": 0},
        UNMAPPED: {"sent": 2, "delivered": 1}}
    assert sum_by_treatment({"sent": {}}, {}) == {}


def _campaign(holdout: int | None) -> models.CampaignResponse:
    return models.CampaignResponse(
        Id="c", ApplicationId="a", Arn="arn", CreationDate="d", LastModifiedDate="d", SegmentId="s", SegmentVersion=1,
        TreatmentName="<A>", HoldoutPercent=holdout,
        AdditionalTreatments=[models.TreatmentResource(Id="1", SizePercent=30, TreatmentName="B")])


def test_rates_are_of_summed_counts_and_rows_come_in_treatment_order() -> None:
    acts = {"r1t0": ("0", "<A>"), "r2t0": ("0", "<A>"), "r1t1": ("1", "B"), "r2t1": ("1", "B")}
    # run 1 of the main treatment: 1 of 1 delivered; run 2: 1 of 9. The average of the rates would be 0.556.
    by_counter = {"sent": {"r1t0": 1.0, "r2t0": 9.0, "r1t1": 4.0, "other": 3.0},
                  "delivered": {"r1t0": 1.0, "r2t0": 1.0, "r1t1": 4.0, "other": 3.0},
                  "opened": {"r2t0": 3.0, "r1t1": 1.0},
                  "email-sent": {"r1t0": 1.0, "r2t0": 9.0, "r1t1": 4.0},
                  "email-delivered": {"r1t0": 1.0, "r2t0": 1.0, "r1t1": 4.0}}
    rows = treatment_totals(_campaign(10), acts, by_counter)
    assert [(r.treatment_id, r.name, r.holdout, r.size_percent) for r in rows] == [
        ("0", "<A>", False, 60), ("1", "B", False, 30), ("holdout", "Holdout (sent nothing)", True, 10),
        (None, "Activities not in the campaign store", False, None)]
    main, b, held, stray = rows
    assert main.counts == {"sent": 10.0, "delivered": 2.0, "opened": 3.0, "email-sent": 10.0,
                           "email-delivered": 2.0, "failed": 8.0}
    assert main.rates["successful-delivery-rate"] == 0.2 and main.rates["open-rate"] == 1.5
    assert main.activities == ["r1t0", "r2t0"] and b.activities == ["r1t1"]
    assert b.rates["successful-delivery-rate"] == 1.0 and b.rates["open-rate"] == 0.25
    assert held.counts["sent"] == 0.0 and all(v == 0.0 for v in held.rates.values())
    assert stray.activities == ["other"] and stray.counts["sent"] == 3.0 and stray.rates["open-rate"] == 0.0


def test_without_a_holdout_or_strays_there_are_only_the_treatments() -> None:
    rows = treatment_totals(_campaign(None), {}, {"sent": {}})
    assert [(r.treatment_id, r.size_percent, r.counts) for r in rows] == [
        ("0", 70, {"sent": 0.0, "failed": 0.0}), ("1", 30, {"sent": 0.0, "failed": 0.0})]


def test_a_campaign_the_store_does_not_know_is_one_unmapped_row() -> None:
    rows = treatment_totals(None, {}, {"sent": {"x": 2.0, "y": 3.0}, "delivered": {"x": 1.0}})
    assert [(r.treatment_id, r.activities, r.counts["sent"], r.rates["successful-delivery-rate"]) for r in rows] == [
        (None, ["x", "y"], 5.0, 0.2)]
