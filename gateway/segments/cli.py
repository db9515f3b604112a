"""`gateway segment count|sample APP SEGMENT [--version N] [--redis URL]`.

The lead wires this into gateway/cli.py with `segments.cli.register(subparsers)`; each parsed namespace carries
`func`, a callable that takes the namespace and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import redis.asyncio as aioredis

from gateway.localredis import REDIS_HELP, run_client
from gateway.segments.definition import SegmentNotFound
from gateway.segments.resolver import SegmentResolver


def register(subparsers: Any) -> None:
    """Add the `segment` command (with `count` and `sample`) to an argparse subparsers object."""
    seg = subparsers.add_parser("segment", help="resolve a segment against the endpoints in Redis")
    sub = seg.add_subparsers(dest="segment_command", required=True)
    for name, helptext in (
        ("count", "print how many endpoints the segment holds"),
        ("sample", "print some endpoint ids of the segment, one per line"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("app", metavar="APP", help="application (project) id")
        p.add_argument("segment", metavar="SEGMENT", help="segment id")
        p.add_argument("--version", type=int, default=None, help="segment version (default: latest)")
        p.add_argument("--redis", default=None, help=REDIS_HELP)
        if name == "sample":
            p.add_argument("-n", type=int, default=10, help="how many ids (default 10)")
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed `segment` command; returns the exit status."""
    return run_client("gateway segment", args, _run)


async def _run(args: argparse.Namespace) -> int:
    client = aioredis.Redis.from_url(args.redis)
    try:
        resolver = SegmentResolver(client)
        if args.segment_command == "count":
            print(await resolver.count(args.app, args.segment, args.version))
        else:
            for eid in await resolver.sample(args.app, args.segment, args.n, args.version):
                print(eid)
        return 0
    except SegmentNotFound as exc:
        print(f"gateway segment: {exc.args[0]}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
