"""Holdout and treatment splits by CohortId: exact cohort counts, sizes within binomial bounds over real
endpoint ids, stable across runs, rotated between campaigns."""

from __future__ import annotations

import math

import pytest

from gateway.campaigns.split import HOLDOUT, endpoint_cohort, partition, plan_split
from gateway.endpoints.rules import cohort_id

N = 100_000
IDS = [f"endpoint-{i}" for i in range(N)]
PAIRS = [(i, cohort_id(i)) for i in IDS]


def test_each_group_is_exactly_its_percent_of_the_cohorts() -> None:
    split = plan_split("camp-1", 10, [30, 20])
    assert [len(split.cohorts(g)) for g in (HOLDOUT, 0, 1, 2)] == [10, 40, 30, 20]
    assert sorted(c for g in (HOLDOUT, 0, 1, 2) for c in split.cohorts(g)) == list(range(100))
    assert plan_split("c", None, []).cohorts(0) == list(range(100))
    assert plan_split("c", 100, []).cohorts(HOLDOUT) == list(range(100))
    assert plan_split("c", 0, [0, 100]).cohorts(1) == [] and len(plan_split("c", 0, [0, 100]).cohorts(2)) == 100
    with pytest.raises(ValueError, match="add up to <= 100"):
        plan_split("c", 50, [51])


def test_group_sizes_are_within_binomial_bounds() -> None:
    split = plan_split("spring-sale", 10, [25, 25, 5])
    groups = partition(split, PAIRS)
    for group, percent in ((HOLDOUT, 10), (0, 35), (1, 25), (2, 25), (3, 5)):
        p = percent / 100
        mean, sigma = N * p, math.sqrt(N * p * (1 - p))
        assert abs(len(groups[group]) - mean) <= 4 * sigma, (group, len(groups[group]), mean)
    assert sum(len(v) for v in groups.values()) == N


def test_the_split_is_stable_across_runs_and_rotates_between_campaigns() -> None:
    first = partition(plan_split("weekly-digest", 20, [40]), PAIRS)
    again = partition(plan_split("weekly-digest", 20, [40]), reversed(PAIRS))
    assert {g: sorted(v) for g, v in first.items()} == {g: sorted(v) for g, v in again.items()}
    other = plan_split("another-campaign", 20, [40])
    overlap = len(set(first[HOLDOUT]) & set(partition(other, PAIRS)[HOLDOUT]))
    assert overlap < len(first[HOLDOUT])  # not the same people held out of every campaign


def test_cohort_of_an_endpoint() -> None:
    assert endpoint_cohort("e", "42") == 42 and endpoint_cohort("e", 7) == 7
    for bad in (None, "", "100", "-1", "x", 100):
        assert endpoint_cohort("endpoint-9", bad) == int(cohort_id("endpoint-9"))
