"""The `/metrics` listener: a small aiohttp server on `[metrics] listen`, on the process's own event loop.

Served on the loop rather than prometheus_client's thread server, so a scrape reads the engine's lock-free
counters between two steps of the engine, never in the middle of one. Unauthenticated by design, as Prometheus
scrapes: it is a listener of its own (never the API's port), off unless configured, and what it exposes carries
no addresses, only channel types, statuses, stream and pool names and numbers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.config import host_port
from gateway.metrics.exposition import EngineCollector, build_registry, channel_pools

_REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """The application: GET /metrics, nothing else."""
    app = web.Application()
    app[_REGISTRY] = registry
    app.router.add_get("/metrics", _metrics)
    return app


async def start_metrics(listen: str, registry: CollectorRegistry) -> tuple[web.AppRunner, int]:
    """Serve `registry` at http://`listen`/metrics (HOST:PORT, port 0: any free port); returns the runner (to
    clean up) and the bound port."""
    host, port = host_port(listen)
    runner = web.AppRunner(metrics_app(registry), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


def worker_registry(worker: Any) -> CollectorRegistry:
    """The registry of a process running `worker` (gateway/worker.py): its dispatcher's counters, its Redis sample,
    its channels' pools, its Redis pools and the rate limiters."""
    pools = {"worker": worker.redis.connection_pool}
    if worker._reader is not worker.redis:  # the lanes' blocking reads have a pool of their own
        pools["reader"] = worker._reader.connection_pool
    collector = EngineCollector(engine=worker.metrics, sampler=worker.sampler,
                                pools=lambda: channel_pools(worker.channels), redis_pools=pools)
    return build_registry(collector)


__all__ = ["metrics_app", "start_metrics", "worker_registry"]
