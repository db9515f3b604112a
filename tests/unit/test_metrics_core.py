"""The engine's lock-free metric state (gateway/metrics/core.py) and the sampler's pure parts."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics.core import EngineMetrics, Hist, entry_ms
from gateway.metrics.exposition import EngineCollector, build_registry
from gateway.metrics.sample import group_info, reported_lag


def test_hist_buckets_are_le_and_cumulative() -> None:
    h = Hist((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert h.count == 5 and h.sum == 0.05 + 0.1 + 0.5 + 1.0 + 7.0


def test_entry_ms_is_the_stream_ids_time() -> None:
    assert entry_ms("1733612345678-0") == 1733612345678
    assert entry_ms("1733612345678-17") == 1733612345678


def test_channel_cells_are_bound_once() -> None:
    m = EngineMetrics()
    assert m.channel("EMAIL") is m.channel("EMAIL")
    assert m.channel("SMS") is not m.channel("EMAIL")


def test_exposition_parses_with_prometheus_parser() -> None:
    m = EngineMetrics()
    cells = m.channel("EMAIL")
    cells.sends = 3
    cells.outcomes = {"SUCCESSFUL": 2, "PERMANENT_FAILURE": 1}
    for v in (0.01, 0.02, 3.0):
        cells.enqueue_to_outcome.observe(v)
    text = generate_latest(build_registry(EngineCollector(engine=m))).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    outcomes = {s.labels["status"]: s.value for s in fams["gateway_outcomes"].samples if s.name.endswith("_total")}
    assert outcomes == {"SUCCESSFUL": 2, "PERMANENT_FAILURE": 1}
    latency = {s.name: s.value for s in fams["gateway_enqueue_to_outcome_seconds"].samples
               if "le" not in s.labels or s.labels["le"] == "+Inf"}
    assert latency["gateway_enqueue_to_outcome_seconds_count"] == 3
    assert "process_cpu_seconds" in fams or "python_gc_objects_collected" in fams


def test_reported_lag_is_redis_7s_or_none() -> None:
    assert reported_lag(group_info({b"name": b"g", b"lag": 4})) == 4
    assert reported_lag(group_info({"name": "g", "lag": None})) is None  # Redis 7 after deletions
    assert reported_lag(group_info({b"name": b"g", b"pending": 0})) is None  # Redis 6.2
