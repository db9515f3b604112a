"""`python -m gateway.api --listen HOST:PORT [--config FILE]`: serve Pinpoint's REST API alone (the worker runs
separately, e.g. `gateway serve`). Prints the bound address once listening, and stops on SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from gateway import config as config_mod
from gateway.api.server import start_api
from gateway.errors import ConfigError
from gateway.metrics.core import ApiMetrics


def parse_listen(value: str) -> tuple[str, int]:
    try:
        return config_mod.host_port(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def run(cfg: config_mod.GatewayConfig, host: str, port: int) -> None:
    api_metrics = ApiMetrics() if cfg.metrics.listen is not None else None
    runner, bound = await start_api(cfg, host, port, metrics=api_metrics)
    print(f"gateway API listening on http://{host}:{bound}", flush=True)
    metrics = None
    if api_metrics is not None and cfg.metrics.listen is not None:  # its own listener, never the API port
        from gateway.metrics.server import api_registry, start_metrics

        metrics, mport = await start_metrics(cfg.metrics.listen, api_registry(api_metrics))
        print(f"gateway API metrics on http://{config_mod.host_port(cfg.metrics.listen)[0]}:{mport}/metrics", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    if metrics is not None:
        await metrics.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gateway.api", description=__doc__)
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8080), help="HOST:PORT (port 0: any)")
    ap.add_argument("--config", help="TOML configuration (default: $GATEWAY_CONFIG)")
    args = ap.parse_args(argv)
    try:
        cfg = config_mod.load(args.config or os.environ.get("GATEWAY_CONFIG"))
        from gateway.localredis import with_found_url

        cfg = with_found_url(cfg, os.environ)  # no Redis configured: a running `gateway serve`'s embedded one
        from gateway.api.server import check_api_config

        # fail here, before listening: a key's secret or the OTP key missing, or auth = "none" off loopback
        check_api_config(cfg, host=args.listen[0])
        if cfg.metrics.listen is not None:
            config_mod.host_port(cfg.metrics.listen)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    from gateway import logs

    logs.setup(cfg)
    host, port = args.listen
    asyncio.run(run(cfg, host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
