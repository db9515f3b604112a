"""A campaign's audience split into holdout and treatments by CohortId, pure.

Pinpoint gives every endpoint a CohortId from 0 to 99 ("each cohort contains approximately 1 percent of the
endpoints") and assigns campaign holdout and treatment groups by it: an endpoint whose cohort is not the current
treatment's is counted as TREATMENT_HOLDOUT. So a group of N percent is exactly N cohorts:
HoldoutPercent cohorts hold out, each additional treatment takes SizePercent cohorts in its order (TreatmentId 1
to 4), and the default treatment (0) takes the rest. Which cohorts go where is rotated by the campaign id, so
the same 10 % of users are not held out of every campaign, while one campaign's groups stay the same across all
its runs (an endpoint never switches treatment between recurrences).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, TypeVar

from gateway.endpoints.rules import cohort_id

COHORTS: Final = 100
#: The group of held-out endpoints (treatments are 0, the default, to 4).
HOLDOUT: Final = -1


class Split:
    """The group of each of the 100 cohorts for one campaign (`group(cohort)`), built once per run."""

    __slots__ = ("_table",)

    def __init__(self, table: tuple[int, ...]) -> None:
        self._table = table

    def group(self, cohort: int) -> int:
        """HOLDOUT, 0 (the default treatment) or the additional treatment's Id (1 to 4) of a cohort 0-99."""
        return self._table[cohort % COHORTS]

    def cohorts(self, group: int) -> list[int]:
        """The cohorts of one group (its size in percent is their number)."""
        return [c for c, g in enumerate(self._table) if g == group]

    def __repr__(self) -> str:
        sizes = {g: self._table.count(g) for g in sorted(set(self._table))}
        return f"Split({sizes})"


def rotation(campaign_id: str) -> int:
    """The campaign's offset into the cohorts (stable: derived from its id only)."""
    return int.from_bytes(hashlib.blake2b(campaign_id.encode(), digest_size=8).digest(), "big") % COHORTS


def plan_split(campaign_id: str, holdout_percent: int | None, sizes: Sequence[int]) -> Split:
    """The split of a campaign with HoldoutPercent `holdout_percent` and additional treatments of SizePercent
    `sizes` (in their order). ValueError when they add up to more than 100 (validate.py refuses that earlier)."""
    holdout = holdout_percent or 0
    if holdout < 0 or any(s < 0 for s in sizes) or holdout + sum(sizes) > COHORTS:
        raise ValueError(f"HoldoutPercent {holdout} and SizePercent {list(sizes)} must be >= 0 and add up to <= 100")
    ordered = [HOLDOUT] * holdout
    for treatment, size in enumerate(sizes, start=1):
        ordered += [treatment] * size
    ordered += [0] * (COHORTS - len(ordered))
    offset = rotation(campaign_id)
    # cohort c takes position (c + offset) % 100 of the ordered groups
    return Split(tuple(ordered[(c + offset) % COHORTS] for c in range(COHORTS)))


def endpoint_cohort(endpoint_id: str, cohort: str | int | None) -> int:
    """An endpoint's CohortId as a number; one missing or not 0-99 is derived from the id as the endpoint store
    derives it (gateway.endpoints.rules.cohort_id), so the endpoint lands where it would once stored."""
    if isinstance(cohort, int) and 0 <= cohort < COHORTS:
        return cohort
    if isinstance(cohort, str) and cohort.isdigit() and int(cohort) < COHORTS:
        return int(cohort)
    return int(cohort_id(endpoint_id))


def partition(split: Split, endpoints: Iterable[tuple[str, str | int | None]]) -> dict[int, list[str]]:
    """Endpoint ids by group (HOLDOUT, 0, 1...) from (endpoint id, CohortId) pairs, in the order given."""
    out: dict[int, list[str]] = {}
    for endpoint_id, cohort in endpoints:
        out.setdefault(split.group(endpoint_cohort(endpoint_id, cohort)), []).append(endpoint_id)
    return out


class _Member(Protocol):
    @property
    def Id(self) -> str | None: ...

    @property
    def CohortId(self) -> str | None: ...


M = TypeVar("M", bound=_Member)


def partition_audience(split: Split, endpoints: Iterable[M]) -> dict[int, list[M]]:
    """Endpoints (each with its Id and CohortId) by group (HOLDOUT, 0, 1...), in the order given: each endpoint's
    cohort is looked at once for the whole run, and each CohortId naming a cohort is read once."""
    table = split._table
    lists: dict[int, list[M]] = {g: [] for g in set(table)}
    by_cohort: dict[str | None, list[M]] = {}  # CohortId "0".."99" -> its group's list
    for endpoint in endpoints:
        cohort = endpoint.CohortId
        group = by_cohort.get(cohort)
        if group is None:
            group = lists[table[endpoint_cohort(endpoint.Id or "", cohort)]]
            if cohort is not None and cohort.isdigit() and len(cohort) <= 2:  # the same group for every endpoint
                by_cohort[cohort] = group
        group.append(endpoint)
    return {g: members for g, members in lists.items() if members}
