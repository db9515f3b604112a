"""In-app messages per endpoint in Redis: what a campaign run stores, what GetInAppMessages reads, and the display
counts PutEvents records (the rules are inapp.py's).

Keys, all under the application's hash tag (inapp.py): `gw:{app}:inapp:<endpoint>` (zset of stored messages,
at most MAX_PER_ENDPOINT, the oldest dropped first), `...:<endpoint>:shown` (hash campaign id -> displays) and
`...:<endpoint>:day:<YYYY-MM-DD>` (displays that UTC day) and `...:<endpoint>:seen:<event id>` (a display
already counted), the last two expiring after two days. The one script (`_COUNT`) takes keys of one endpoint, in
the app's slot; every other command names one key.

A run stores a message directly, not through the ingest stream: an in-app message has no wire, no delivery
receipt, no retry and no rate to respect (the app fetches it), so the engine's send path would have nothing to
do; the run's metrics and activity count the endpoints stored for. A stored message is only a reference
(campaign, treatment): GetInAppMessages reads the campaign's latest version, so an update, a pause, a deletion
or the EndTime passing take effect at once, and a dead reference is dropped when it is read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import msgspec
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns import inapp, runs
from gateway.campaigns.plan import treatment_content
from gateway.campaigns.store import campaign_key
from gateway.errors import NotFound
from gateway.templates.store import TemplateStore

log = logging.getLogger("gateway.campaigns.inapp")

_decode = msgspec.json.Decoder(models.CampaignResponse).decode


# KEYS: the event's seen-marker, the endpoint's per-campaign totals, its count for the event's day (one slot: the
# app's hash tag). ARGV: campaign id, TTL (s) of the marker and the day count. A display is counted once per id.
_COUNT = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return 0
"""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InAppStore:
    """Stores in-app campaign messages per endpoint and answers GetInAppMessages. `clock` is the wall clock
    eligibility is judged by (tests fix it)."""

    def __init__(
        self, redis: aioredis.Redis, templates: TemplateStore, *, clock: Callable[[], dt.datetime] = _utcnow
    ) -> None:
        self.redis = redis
        self.templates = templates
        self.clock = clock
        self._count = redis.register_script(_COUNT)

    async def store(
        self, app: str, campaign_id: str, treatment_id: int, endpoint_ids: Sequence[str], now: dt.datetime
    ) -> None:
        """Make treatment `treatment_id` of the campaign available to `endpoint_ids` (a run's in-app recipients);
        storing it again (a run taken over) only refreshes it."""
        if not endpoint_ids:
            return
        name = inapp.member(campaign_id, treatment_id)
        stamp = runs.ms(now)
        pipe = self.redis.pipeline(transaction=False)
        for eid in endpoint_ids:
            key = inapp.messages_key(app, eid)
            pipe.zadd(key, {name: stamp})
            pipe.zremrangebyrank(key, 0, -(inapp.MAX_PER_ENDPOINT + 1))
        await pipe.execute()

    async def record_displays(self, app: str, endpoint_id: str, events: Mapping[str, models.Event]) -> None:
        """Count the endpoint's `_inapp.message_displayed` events (PutEvents' accepted ones by event id; their
        `campaign_id` attribute names the campaign) toward TotalCap and DailyCap, each event id once (an SDK
        resends a batch it got no answer for)."""
        pipe = self.redis.pipeline(transaction=False)
        queued = False
        for event_id, event in events.items():
            cid = (event.Attributes or {}).get("campaign_id")
            if event.EventType != inapp.DISPLAYED or not cid:
                continue
            when = dt.datetime.fromisoformat(event.Timestamp)
            day = (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()
            keys = [inapp.seen_key(app, endpoint_id, event_id), inapp.shown_key(app, endpoint_id),
                    inapp.day_key(app, endpoint_id, day)]
            await self._count(keys=keys, args=[cid, inapp.DAY_TTL_S], client=pipe)  # queued on the pipeline
            queued = True
        if queued:
            await pipe.execute()

    async def get_in_app_messages(self, app: str, endpoint_id: str) -> models.InAppMessagesResponse:
        """GetInAppMessages: the messages the endpoint is eligible for now (inapp.answer)."""
        now = self.clock()
        key = inapp.messages_key(app, endpoint_id)
        # withscores: (member, score) pairs (redis-py types the reply loosely)
        raw = cast(list[tuple[bytes | str, float]], await self.redis.zrange(key, 0, -1, withscores=True))
        stored = inapp.latest_per_campaign([
            inapp.Stored(*parsed, int(score))
            for value, score in raw
            if (parsed := inapp.parse_member(runs.member(value))) is not None
        ])
        pipe = self.redis.pipeline(transaction=False)
        for s in stored:
            pipe.hmget(campaign_key(app, s.campaign_id), ["latest", "paused"])
        states = await pipe.execute() if stored else []
        pipe = self.redis.pipeline(transaction=False)
        for s, (latest, _) in zip(stored, states, strict=True):
            pipe.hget(campaign_key(app, s.campaign_id), f"v{int(latest) if latest is not None else 0}")
        pipe.hgetall(inapp.shown_key(app, endpoint_id))
        pipe.get(inapp.day_key(app, endpoint_id, now.astimezone(dt.UTC).date()))
        *docs, shown_raw, today = await pipe.execute()
        candidates: list[inapp.Candidate] = []
        for s, (_, paused), doc_raw in zip(stored, states, docs, strict=True):
            doc = None if doc_raw is None else _decode(doc_raw)
            candidates.append(inapp.Candidate(s, doc, runs.text(paused) == "1", await self._message(doc, s)))
        dead = [inapp.member(c.stored.campaign_id, c.stored.treatment_id) for c in candidates if inapp.is_dead(c, now)]
        if dead:
            await self.redis.zrem(key, *dead)
        shown = {runs.text(k) or "": int(v) for k, v in shown_raw.items()}
        items = inapp.answer(candidates, now=now, shown=shown, shown_today=int(today or 0))
        return models.InAppMessagesResponse(InAppMessageCampaigns=items)

    async def _message(self, doc: models.CampaignResponse | None, s: inapp.Stored) -> models.InAppMessage | None:
        if doc is None or doc.Schedule is None:
            return None
        try:
            content = treatment_content(doc, s.treatment_id)
        except KeyError:
            return None  # the treatment was removed by an update
        ref = content.templates.InAppTemplate if content.templates is not None else None
        template = None
        if ref is not None and ref.Name:
            try:
                found = await self.templates.get(ref.Name, "INAPP", ref.Version)
            except NotFound:
                log.warning("campaign %s: in-app template %r is gone; its message is not answered", doc.Id, ref.Name)
                return None
            assert isinstance(found, models.InAppTemplateResponse)
            template = found
        return inapp.in_app_message(content.messages, template)
