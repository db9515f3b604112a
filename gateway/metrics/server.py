"""The `/metrics` listener: a small aiohttp server on `[metrics] listen`, on the process's own event loop.

Served on the loop rather than prometheus_client's thread server, so a scrape reads the engine's lock-free
counters between two steps of the engine, never in the middle of one. Unauthenticated by design, as Prometheus
scrapes: it is a listener of its own (never the API's port), off unless configured, and what it exposes carries
no addresses, only channel types, statuses, stream and pool names and numbers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.config import host_port
from gateway.metrics.core import ApiMetrics
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


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The request key the API sets to the operation it routed a request to (gateway/api/server.py): a typed
#: RequestKey where aiohttp has them (3.12+), else a plain string key.
_REQUEST_KEY = getattr(web, "RequestKey", None)
OPERATION: Any = _REQUEST_KEY("gateway.operation", str) if _REQUEST_KEY is not None else "gateway.operation"

def api_middleware(metrics: ApiMetrics) -> Any:
    """An aiohttp middleware recording each API request in `metrics`: its operation, status and duration."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe(request.get(OPERATION) or "unmatched", status, time.perf_counter() - started)

    return record


def api_registry(api: ApiMetrics) -> CollectorRegistry:
    """The registry of a process serving only the API (`python -m gateway.api`): its requests, the rate limiters
    (none) and prometheus_client's process collectors."""
    return build_registry(EngineCollector(api=api))


def worker_registry(worker: Any, api: ApiMetrics | None = None) -> CollectorRegistry:
    """The registry of a process running `worker` (gateway/worker.py): its dispatcher's counters, its Redis sample,
    its channels' pools, its Redis pools and the rate limiters; and the API's requests when it serves the API too."""
    pools = {"worker": worker.redis.connection_pool}
    if worker._reader is not worker.redis:  # the lanes' blocking reads have a pool of their own
        pools["reader"] = worker._reader.connection_pool
    collector = EngineCollector(engine=worker.metrics, sampler=worker.sampler,
                                pools=lambda: channel_pools(worker.channels), redis_pools=pools, api=api)
    return build_registry(collector)


__all__ = ["OPERATION", "api_middleware", "api_registry", "metrics_app", "start_metrics", "worker_registry"]
