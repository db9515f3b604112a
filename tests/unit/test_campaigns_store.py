"""The campaign store over a real Redis: concurrent UpdateCampaign calls each get their own version (none is lost
or overwritten), and the clock the store is given decides what "in the past" means."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.store import CampaignStore
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
IOS = models.SegmentDimensions(Demographic=models.SegmentDemographics(
    Platform=models.SetDimension(DimensionType="INCLUSIVE", Values=["ios"])))


async def _store(redis: aioredis.Redis, clock: list[dt.datetime]) -> tuple[CampaignStore, str]:
    segments = SegmentStore(redis)
    seg = await segments.create("app", models.WriteSegmentRequest(Name="ios", Dimensions=IOS))
    return CampaignStore(redis, segments, TemplateStore(redis), clock=lambda: clock[0]), seg.Id


async def test_concurrent_updates_each_get_a_version(redis: aioredis.Redis) -> None:
    clock = [NOW]
    store, segment_id = await _store(redis, clock)
    created = await store.create_campaign("app", models.WriteCampaignRequest(
        Name="v1", SegmentId=segment_id, Schedule=models.Schedule(StartTime="2026-06-02T00:00:00Z"),
        MessageConfiguration=models.MessageConfiguration(SMSMessage=models.CampaignSmsMessage(Body="hi"))))
    names = [f"n{i}" for i in range(10)]
    done = await asyncio.gather(*(
        store.update_campaign("app", created.Id, models.WriteCampaignRequest(Name=n)) for n in names))
    assert sorted(d.Version or 0 for d in done) == list(range(2, 12))
    versions = await store.list_campaign_versions("app", created.Id, 100, None)
    assert [v.Version for v in versions.Item] == list(range(11, 0, -1))
    assert sorted(v.Name or "" for v in versions.Item[:-1]) == names  # every update is one stored version
    # the store's clock, not the machine's, decides what is past
    clock[0] = dt.datetime(2026, 6, 3, tzinfo=dt.UTC)
    with pytest.raises(CampaignValidationError, match="is in the past"):
        await store.update_campaign("app", created.Id, models.WriteCampaignRequest(
            Schedule=models.Schedule(StartTime="2026-06-02T12:00:00Z")))
    kept = await store.update_campaign("app", created.Id, models.WriteCampaignRequest(Name="later"))
    assert kept.Version == 12 and kept.LastModifiedDate == "2026-06-03T00:00:00.000Z"
