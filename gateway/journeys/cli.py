"""`gateway journey list|show APP [ID] [--redis URL]`.

- `list APP`: one line per journey, oldest first: id, State, name, start activity, number of activities.
- `show APP ID`: the journey (GetJourney's JourneyResponse) as JSON.

(`metrics` comes with the journey runtime, which is not built yet: docs/journeys.md.)
Wired into gateway/cli.py with `journeys.cli.register(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway.errors import InvalidRequest, NotFound
from gateway.journeys.store import JourneyStore
from gateway.localredis import REDIS_HELP, run_client
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore


def register(subparsers: Any) -> None:
    """Add the `journey` command and its actions to an argparse subparsers object."""
    journey = subparsers.add_parser("journey", help="list or show journeys")
    sub = journey.add_subparsers(dest="journey_command", required=True)
    for name, helptext in (
        ("list", "one line per journey: id, state, name, start activity, activities"),
        ("show", "the journey as JSON"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("app", metavar="APP", help="application (project) id")
        if name == "show":
            p.add_argument("journey", metavar="ID", help="journey id")
        p.add_argument("--redis", default=None, help=REDIS_HELP)
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed `journey` command; returns the exit status."""
    return run_client("gateway journey", args, _run)


async def _run(args: argparse.Namespace) -> int:
    client = aioredis.Redis.from_url(args.redis)
    store = JourneyStore(client, SegmentStore(client), TemplateStore(client))
    try:
        return await _act(args, store)
    except (NotFound, InvalidRequest) as exc:
        print(f"gateway journey: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


async def _act(args: argparse.Namespace, store: JourneyStore) -> int:
    if args.journey_command == "list":
        token: str | None = None
        while True:
            page = await store.list_journeys(args.app, 100, token)
            for j in page.Item:
                print(f"{j.Id}\t{j.State or ''}\t{j.Name}\t{j.StartActivity or ''}\t{len(j.Activities or {})}")
            token = page.NextToken
            if token is None:
                return 0
    journey = await store.get_journey(args.app, args.journey)
    print(json.dumps(msgspec.to_builtins(journey), indent=2))
    return 0
