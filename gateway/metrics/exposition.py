"""Turning what a process recorded into Prometheus metric families, at scrape time only.

`EngineCollector` reads the dispatcher's counters (gateway/metrics/core.py), the last Redis sample
(gateway/metrics/sample.py), the channels' connection pools, the Redis pools and the rate limiters
(`gateway.ratelimit.limiters`); `build_registry` puts it in a registry of the process's own with
prometheus_client's process, platform and GC collectors. The metric names are listed in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import ratelimit
from gateway.metrics.core import ApiMetrics, EngineMetrics, PoolUse, redis_pool_use
from gateway.metrics.sample import Sampler

PoolSource = Callable[[], Iterable[tuple[str, list[PoolUse]]]]  # (channel name, its pools' use)


def channel_pools(channels: Iterable[Any]) -> list[tuple[str, list[PoolUse]]]:
    """The pools of every channel that reports them (`pool_use()`), by the channel's configured name."""
    out = []
    for ch in channels:
        use = getattr(ch, "pool_use", None)
        if use is not None:
            cfg = getattr(ch, "cfg", None)
            out.append((getattr(cfg, "name", None) or type(ch).__name__, use()))
    return out


class EngineCollector(Collector):
    """A process's gateway metrics (see the module docstring); every part is optional."""

    def __init__(self, engine: EngineMetrics | None = None, sampler: Sampler | None = None,
                 pools: PoolSource | None = None, redis_pools: dict[str, Any] | None = None,
                 api: ApiMetrics | None = None) -> None:
        self.engine = engine
        self.api = api
        self.sampler = sampler
        self.pools = pools
        self.redis_pools = redis_pools or {}

    def collect(self) -> Iterator[Metric]:
        if self.engine is not None:
            yield from _engine(self.engine)
        if self.sampler is not None and self.sampler.last is not None:
            yield from _sample(self.sampler)
        if self.api is not None:
            yield from _api(self.api)
        yield from _limiters()
        uses: list[tuple[str, PoolUse]] = [("redis", redis_pool_use(name, pool))
                                           for name, pool in self.redis_pools.items()]
        if self.pools is not None:
            uses += [(channel, u) for channel, pools in self.pools() for u in pools]
        yield from _pools(uses)


def _engine(m: EngineMetrics) -> Iterator[Metric]:
    sends = CounterMetricFamily("gateway_sends", "Messages handed to a channel (provider calls made).", labels=["channel"])
    outcomes = CounterMetricFamily("gateway_outcomes", "Recipients' outcomes written, by ChannelType and DeliveryStatus "
                                   "(a retried recipient counts once per attempt).", labels=["channel", "status"])
    retried = CounterMetricFamily("gateway_retries_scheduled", "Outcomes that scheduled a retry.", labels=["channel"])
    dead = CounterMetricFamily("gateway_dead_lettered", "Recipients dead-lettered after their last attempt.",
                               labels=["channel"])
    latency = HistogramMetricFamily("gateway_enqueue_to_outcome_seconds", "From the stream entry's id (when it was "
                                    "enqueued, or re-enqueued for a retry) to its outcome being written.",
                                    labels=["channel"])
    send_s = HistogramMetricFamily("gateway_send_seconds", "How long a channel's send took: rate-limit wait, "
                                   "connection checkout and the provider round trip.", labels=["channel"])
    for ct, cells in sorted(m.channels.items()):
        label = ct or "NONE"
        sends.add_metric([label], cells.sends)
        for status, n in sorted(cells.outcomes.items()):
            outcomes.add_metric([label, status], n)
        retried.add_metric([label], cells.retried)
        dead.add_metric([label], cells.dead_lettered)
        latency.add_metric([label], cells.enqueue_to_outcome.cumulative(), cells.enqueue_to_outcome.sum)
        send_s.add_metric([label], cells.send_seconds.cumulative(), cells.send_seconds.sum)
    yield from (sends, outcomes, retried, dead, latency, send_s)
    yield CounterMetricFamily("gateway_batches", "Batches of stream entries processed.", value=m.batches)
    yield CounterMetricFamily("gateway_entries", "Stream entries processed.", value=m.entries)
    yield CounterMetricFamily("gateway_undecodable_entries", "Entries dead-lettered whole before any recipient "
                              "(undecodable, or breaking their batch's preparation).", value=m.undecodable)


def _api(m: ApiMetrics) -> Iterator[Metric]:
    requests = CounterMetricFamily("gateway_api_requests", "REST API requests by operation (Pinpoint's name; "
                                   "`unmatched` before one was found) and HTTP status.", labels=["operation", "code"])
    for (operation, code), n in sorted(m.requests.items()):
        requests.add_metric([operation, str(code)], n)
    seconds = HistogramMetricFamily("gateway_api_request_seconds", "REST API request duration by operation.",
                                    labels=["operation"])
    for operation, hist in sorted(m.seconds.items()):
        seconds.add_metric([operation], hist.cumulative(), hist.sum)
    yield from (requests, seconds)


def _sample(sampler: Sampler) -> Iterator[Metric]:
    s = sampler.last
    assert s is not None
    yield GaugeMetricFamily("gateway_metrics_sampled_timestamp_seconds", "When the stream gauges below were read.",
                            value=s.at_ms / 1000)
    length = GaugeMetricFamily("gateway_stream_length", "XLEN of the send lanes, the events and the dead-letter "
                               "streams.", labels=["stream"])
    for key, n in sorted(s.lengths.items()):
        length.add_metric([key], n)
    lag = GaugeMetricFamily("gateway_stream_group_lag", "Entries not yet delivered to the consumer group (every "
                            "group of the send lanes and the events stream: engine and event destinations).",
                            labels=["stream", "group"])
    pending = GaugeMetricFamily("gateway_stream_group_pending", "Entries delivered to the group, not yet "
                                "acknowledged.", labels=["stream", "group"])
    consumers = GaugeMetricFamily("gateway_stream_group_consumers", "Consumers in the group.", labels=["stream", "group"])
    oldest = GaugeMetricFamily("gateway_stream_oldest_pending_age_seconds", "Age of the engine group's oldest "
                               "unacknowledged entry.", labels=["stream", "group"])
    for g in s.groups:
        lag.add_metric([g.stream, g.group], g.lag)
        pending.add_metric([g.stream, g.group], g.pending)
        consumers.add_metric([g.stream, g.group], g.consumers)
        if g.oldest_pending_age_s is not None:
            oldest.add_metric([g.stream, g.group], g.oldest_pending_age_s)
    yield from (length, lag, pending, consumers, oldest)
    scheduled = GaugeMetricFamily("gateway_retry_scheduled", "Retries waiting in the lane's schedule (ZCARD).",
                                  labels=["lane"])
    due = GaugeMetricFamily("gateway_retry_due", "Scheduled retries already due (not yet moved back to the stream).",
                            labels=["lane"])
    for lane, n in sorted(s.retry_scheduled.items()):
        scheduled.add_metric([lane], n)
        due.add_metric([lane], s.retry_due.get(lane, 0))
    yield from (scheduled, due)
    yield GaugeMetricFamily("gateway_dead_letters", "Entries in the dead-letter stream.", value=s.dead_letters)


def _limiters() -> Iterator[Metric]:
    waits = CounterMetricFamily("gateway_ratelimit_waits", "Acquisitions that waited for the rate limit.",
                                labels=["limiter"])
    waited = CounterMetricFamily("gateway_ratelimit_wait_seconds", "Time spent waiting for the rate limit.",
                                 labels=["limiter"])
    by_name: dict[str, tuple[int, float]] = {}
    for lim in ratelimit.limiters():
        n, t = by_name.get(lim.name, (0, 0.0))
        by_name[lim.name] = (n + lim.waits, t + lim.waited_s)
    for name, (n, t) in sorted(by_name.items()):
        waits.add_metric([name], n)
        waited.add_metric([name], t)
    yield from (waits, waited)


def _pools(uses: list[tuple[str, PoolUse]]) -> Iterator[Metric]:
    conns = GaugeMetricFamily("gateway_pool_connections", "Connections of a pool, by state (open includes busy).",
                              labels=["channel", "pool", "state"])
    limit = GaugeMetricFamily("gateway_pool_limit", "The most connections the pool opens.", labels=["channel", "pool"])
    waiting = GaugeMetricFamily("gateway_pool_waiting", "Callers queued for a connection.", labels=["channel", "pool"])
    for channel, u in uses:
        conns.add_metric([channel, u.pool, "open"], u.open)
        conns.add_metric([channel, u.pool, "busy"], u.busy)
        limit.add_metric([channel, u.pool], u.limit)
        waiting.add_metric([channel, u.pool], u.waiting)
    yield from (conns, limit, waiting)


def build_registry(collector: Collector | None = None) -> CollectorRegistry:
    """A registry of the process's own: `collector` with prometheus_client's process, platform and GC ones."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    if collector is not None:
        registry.register(collector)
    return registry


__all__ = ["EngineCollector", "build_registry", "channel_pools"]
