"""`gateway campaign list|show|pause|resume|run-now APP [ID] [--redis URL] [--prefix P]`.

- `list APP`: one line per campaign: id, State, name, frequency, start.
- `show APP ID`: the campaign (latest version) and its activities, as JSON.
- `pause APP ID` / `resume APP ID`: UpdateCampaign with IsPaused (a new version, as the API would store it).
- `run-now APP ID`: start the campaign's next run at once, here, under the run's lease (its enqueueing is done by
  this process; the workers deliver it). Exit status 1 when a worker holds the run right now.

Wired into gateway/cli.py with `campaigns.cli.register(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns.store import CampaignStore
from gateway.errors import InvalidRequest, NotFound
from gateway.localredis import REDIS_HELP, run_client
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

_NEEDS_ID = ("show", "pause", "resume", "run-now")


def register(subparsers: Any) -> None:
    """Add the `campaign` command and its actions to an argparse subparsers object."""
    camp = subparsers.add_parser("campaign", help="list, show, pause, resume or run a campaign now")
    sub = camp.add_subparsers(dest="campaign_command", required=True)
    for name, helptext in (
        ("list", "one line per campaign: id, state, name, frequency, start"),
        ("show", "the campaign and its activities as JSON"),
        ("pause", "pause the campaign (a run in progress stops at its next chunk)"),
        ("resume", "resume a paused campaign (a stopped run continues where it stopped)"),
        ("run-now", "start the campaign's next run now"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("app", metavar="APP", help="application (project) id")
        if name in _NEEDS_ID:
            p.add_argument("campaign", metavar="ID", help="campaign id")
        p.add_argument("--redis", default=None, help=REDIS_HELP)
        if name == "run-now":
            p.add_argument("--prefix", default="gateway", help="stream prefix (as the workers' [stream] prefix)")
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute a parsed `campaign` command; returns the exit status."""
    return run_client("gateway campaign", args, _run)


async def _run(args: argparse.Namespace) -> int:
    client = aioredis.Redis.from_url(args.redis)
    store = CampaignStore(client, SegmentStore(client), TemplateStore(client))
    try:
        return await _act(args, client, store)
    except (NotFound, InvalidRequest) as exc:
        print(f"gateway campaign: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


async def _act(args: argparse.Namespace, client: aioredis.Redis, store: CampaignStore) -> int:
    action = args.campaign_command
    if action == "list":
        token: str | None = None
        while True:
            page = await store.list_campaigns(args.app, 100, token)
            for c in page.Item:
                state = c.State.CampaignStatus if c.State is not None else ""
                schedule = c.Schedule or models.Schedule(StartTime="")
                print(f"{c.Id}\t{state}\t{c.Name or ''}\t{schedule.Frequency or 'ONCE'}\t{schedule.StartTime}")
            token = page.NextToken
            if token is None:
                return 0
    if action == "show":
        camp = await store.get_campaign(args.app, args.campaign, None)
        acts = await store.list_activities(args.app, args.campaign, None, None)
        doc = {"Campaign": msgspec.to_builtins(camp), "Activities": msgspec.to_builtins(acts.Item)}
        print(json.dumps(doc, indent=2))
        return 0
    if action in ("pause", "resume"):
        camp = await store.update_campaign(args.app, args.campaign,
                                           models.WriteCampaignRequest(IsPaused=action == "pause"))
        print(f"{camp.Id}\t{camp.State.CampaignStatus if camp.State is not None else ''}\tversion {camp.Version}")
        return 0
    from gateway.campaigns.runner import Scheduler
    from gateway.producer import Producer

    await store.get_campaign(args.app, args.campaign, None)  # NotFound here, not a silent no-op
    scheduler = Scheduler(client, producer=Producer(client, prefix=args.prefix), events_key=f"{args.prefix}:events")
    try:
        ran = await scheduler.run_campaign(args.app, args.campaign, now=True)
    finally:
        await scheduler.aclose()
    if not ran:
        print("gateway campaign: a worker is running this campaign now", file=sys.stderr)
        return 1
    camp = await store.get_campaign(args.app, args.campaign, None)
    print(f"{camp.Id}\t{camp.State.CampaignStatus if camp.State is not None else ''}")
    return 0
