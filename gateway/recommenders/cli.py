"""`gateway recommend APP USER_OR_ENDPOINT [--user] [-n N] [--redis URL] [--config FILE]`: what the built-in
recommender would give that recipient now, one item a line (item, score, and whether co-occurrence or popularity
chose it). Only the built-in recommender (`gateway:builtin`) so far: the https model-service and Personalize
providers are not called by Gateway yet (docs/recommenders.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import GatewayConfig


def register(subparsers: Any) -> None:
    """Add the `recommend` command to an argparse subparsers object."""
    p = subparsers.add_parser("recommend", help="print what the built-in recommender gives a recipient")
    p.add_argument("app", metavar="APP", help="application (project) id")
    p.add_argument("recipient", metavar="USER_OR_ENDPOINT", help="endpoint id (or user id with --user)")
    p.add_argument("--user", action="store_true", help="the id is a user id (PINPOINT_USER_ID)")
    p.add_argument("-n", type=int, default=5, choices=range(1, 6), metavar="N",
                   help="how many items, 1 to 5 (RecommendationsPerMessage; default 5)")
    p.add_argument("--redis", help="Redis URL (default: REDIS_URL, GATEWAY_REDIS_URL or the config file)")
    p.add_argument("--config", help="TOML config file for [recommenders] (default: $GATEWAY_CONFIG)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed `recommend` command; returns the exit status."""
    from gateway import config as config_mod
    from gateway.localredis import with_found_url

    try:
        cfg, environ = config_mod.load_for_command(args.config, args.redis, os.environ)
    except ConfigError as exc:
        print(f"gateway recommend: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, with_found_url(cfg, environ)))


async def _run(args: argparse.Namespace, cfg: GatewayConfig) -> int:
    import redis.asyncio as aioredis

    from gateway.recommenders.builtin import BuiltinRecommender, IdType
    from gateway.recommenders.service import builtin_settings
    from gateway.redisconn import url_of

    client = aioredis.Redis.from_url(url_of(cfg))
    try:
        recommender = BuiltinRecommender(client, builtin_settings(cfg.recommenders))
        id_type: IdType = "PINPOINT_USER_ID" if args.user else "PINPOINT_ENDPOINT_ID"
        items = await recommender.recommend(args.app, args.recipient, args.n, id_type)
    finally:
        await client.aclose()
    if not items:
        print("gateway recommend: nothing to recommend yet (no events with an item attribute for this application)",
              file=sys.stderr)
        return 1
    for r in items:
        print(f"{r.item}\t{r.score:.4g}\t{r.source}")
    return 0
