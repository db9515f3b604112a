"""`gateway kpi rebuild APP`: recompute an application's KPI rollups from the events stream (gateway.kpi.rebuild)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway.errors import ConfigError


def cmd_kpi(args: argparse.Namespace) -> int:
    from gateway import config as config_mod
    from gateway import redisconn
    from gateway.kpi.rebuild import rebuild
    from gateway.localredis import with_found_url

    try:
        cfg, environ = config_mod.load_for_command(args.config, args.redis, os.environ)
    except ConfigError as exc:
        print(f"gateway kpi: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        redis = redisconn.connect(with_found_url(cfg, environ))
        try:
            n = await rebuild(redis, cfg.stream.events_key, args.app, retention_days=cfg.events.retention_days,
                              page=cfg.events.rollup_batch)
        finally:
            await redis.aclose()
        print(f"rebuilt the KPI rollups of {args.app} from {n} events")
        return 0

    return asyncio.run(main())


def register(sub: Any) -> None:
    s = sub.add_parser("kpi", help="KPI rollups: `rebuild APP` recomputes an application's from the events stream")
    s.add_argument("action", choices=["rebuild"])
    s.add_argument("app")
    s.add_argument("--redis", help="Redis URL (default: REDIS_URL, GATEWAY_REDIS_URL or the config file)")
    s.add_argument("--config", help="TOML config file (default: $GATEWAY_CONFIG)")
    s.set_defaults(func=cmd_kpi)
