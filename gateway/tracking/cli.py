"""`gateway tracking`: the tracking server in its own process (or `gateway serve --tracking HOST:PORT`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

from gateway.errors import ConfigError

log = logging.getLogger("gateway.tracking")


def listen_address(cfg: Any, flag: str | None) -> tuple[str, int] | None:
    """Where the tracking server binds: the flag, else `tracking.listen`, else None (not served)."""
    from gateway.config import host_port
    where = flag or (cfg.tracking.listen if cfg.tracking is not None else None)
    if where is None:
        return None
    if cfg.tracking is None:
        raise ConfigError("--tracking needs a [tracking] section (public_url and keys) in the config")
    return host_port(where)


def cmd_tracking(args: argparse.Namespace) -> int:
    from gateway import config as config_mod
    from gateway import redisconn
    from gateway.tracking.finish import tracker_from_config
    from gateway.tracking.server import start_tracking

    try:
        from gateway.localredis import with_found_url

        loaded, environ = config_mod.load_for_command(args.config, args.redis, os.environ)
        cfg = with_found_url(loaded, environ)
        at = listen_address(cfg, args.listen) or listen_address(cfg, "127.0.0.1:8480")
        tracker_from_config(cfg.tracking, environ)  # the keys must be there before we listen
    except ConfigError as exc:
        print(f"gateway tracking: {exc}", file=sys.stderr)
        return 2
    assert at is not None
    from gateway import logs
    from gateway.cli import _tune_process, _uvloop
    logs.setup(cfg, environ)
    _uvloop()

    async def main() -> int:
        redis = redisconn.connect(cfg)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner, port = await start_tracking(cfg, redis, at[0], at[1])
        _tune_process()
        log.warning("tracking server listening on http://%s:%d", at[0], port)
        print(f"listening {port}", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()  # flushes buffered events
            await redis.aclose()
        return 0

    return asyncio.run(main())


def register(sub: Any) -> None:
    s = sub.add_parser("tracking", help="serve email open/click tracking and one-click unsubscribe ([tracking])")
    s.add_argument("--listen", metavar="HOST:PORT", help="default: tracking.listen, else 127.0.0.1:8480")
    s.add_argument("--redis", help="Redis URL (default: REDIS_URL, GATEWAY_REDIS_URL or the config file)")
    s.add_argument("--config", help="TOML config file (default: $GATEWAY_CONFIG)")
    s.set_defaults(func=cmd_tracking)
