"""In-app campaigns, the pure rules (gateway/campaigns/inapp.py): what Pinpoint refuses in an in-app message, and
which stored messages GetInAppMessages answers, in which order, judged at a fixed instant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from gateway import models
from gateway.campaigns import inapp
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.validate import check_campaign, check_supported

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
FILTER = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["level_up"]}}}


def _content(**extra: Any) -> dict[str, Any]:
    return {"HeaderConfig": {"Header": "Hi", "Alignment": "CENTER", "TextColor": "#000000"},
            "BodyConfig": {"Body": "Welcome", "Alignment": "LEFT", "TextColor": "#000000"}, **extra}


def _campaign(**extra: Any) -> dict[str, Any]:
    return {
        "SegmentId": "seg", "Name": "promo",
        "Schedule": {"StartTime": "IMMEDIATE", "EndTime": "2026-03-08T00:00:00Z", "Frequency": "IN_APP_EVENT",
                     "EventFilter": FILTER, "QuietTime": {"Start": "22:00", "End": "07:00"}},
        "MessageConfiguration": {"InAppMessage": {"Layout": "TOP_BANNER", "Content": [_content()]}},
        **extra,
    }


def _check(request: dict[str, Any]) -> None:
    req = msgspec.convert(request, models.WriteCampaignRequest)
    check_campaign(req, now=NOW)
    check_supported(req)


def test_a_valid_in_app_campaign_with_priority_and_caps_is_accepted() -> None:
    _check(_campaign(Priority=1, Limits={"Session": 1, "Daily": 2, "Total": 3}))
    carousel = [_content(PrimaryBtn={"DefaultConfig": {"Text": "Go", "ButtonAction": "DEEP_LINK", "Link": "app://shop"}})] * 5
    _check(_campaign(MessageConfiguration={"InAppMessage": {"Layout": "CAROUSEL", "Content": carousel}}))


@pytest.mark.parametrize(("message", "member"), [
    ({"Content": [_content()]}, "MessageConfiguration.InAppMessage.Layout: is required"),
    ({"Layout": "TOP_BANNER", "Content": []}, "MessageConfiguration.InAppMessage.Content: needs at least one"),
    ({"Layout": "TOP_BANNER", "Content": [_content(), _content()]},
     "MessageConfiguration.InAppMessage.Content: a TOP_BANNER message has exactly one content item, got 2"),
    ({"Layout": "CAROUSEL", "Content": [_content()] * 6},
     "MessageConfiguration.InAppMessage.Content: a CAROUSEL message has at most 5 content items, got 6"),
    ({"Layout": "OVERLAYS", "Content": [{"BackgroundColor": "#ffffff"}]},
     "MessageConfiguration.InAppMessage.Content[0]: needs a HeaderConfig, a BodyConfig or an ImageUrl"),
    ({"Layout": "OVERLAYS", "Content": [_content(ImageUrl="ftp://x/y.png")]},
     "MessageConfiguration.InAppMessage.Content[0].ImageUrl: must be an http or https URL"),
    ({"Layout": "MIDDLE_BANNER", "Content": [_content(PrimaryBtn={"DefaultConfig": {"Text": "Go", "ButtonAction": "LINK"}})]},
     "MessageConfiguration.InAppMessage.Content[0].PrimaryBtn.DefaultConfig.Link: is required when ButtonAction is LINK"),
    ({"Layout": "MIDDLE_BANNER", "Content": [_content(SecondaryBtn={
        "DefaultConfig": {"Text": "Close", "ButtonAction": "CLOSE"}, "IOS": {"ButtonAction": "LINK", "Link": "javascript:x"}})]},
     "MessageConfiguration.InAppMessage.Content[0].SecondaryBtn.IOS.Link: must be an http or https URL"),
    ({"Layout": "MIDDLE_BANNER", "Content": [_content(PrimaryBtn={"Android": {"ButtonAction": "CLOSE"}})]},
     "MessageConfiguration.InAppMessage.Content[0].PrimaryBtn.DefaultConfig: is required"),
])
def test_bad_in_app_messages_are_refused_naming_the_member(message: dict[str, Any], member: str) -> None:
    with pytest.raises(CampaignValidationError) as err:
        _check(_campaign(MessageConfiguration={"InAppMessage": message}))
    assert str(err.value).startswith("WriteCampaignRequest." + member), str(err.value)


def test_in_app_content_goes_only_with_in_app_event_and_alone() -> None:
    email = {"EmailMessage": {"FromAddress": "a@example.com", "Body": "x"}}
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest\.MessageConfiguration: an in-app campaign"):
        _check(_campaign(MessageConfiguration={"InAppMessage": {"Layout": "TOP_BANNER", "Content": [_content()]}, **email}))
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest\.Schedule\.Frequency: in-app content"):
        _check(_campaign(Schedule={"StartTime": "IMMEDIATE", "Frequency": "ONCE"}))
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest\.Limits\.MaximumDuration: not supported"):
        _check(_campaign(Limits={"MaximumDuration": 600}))


# -- eligibility --------------------------------------------------------------------------------------------------


def _doc(cid: str, *, priority: int | None = None, end: str | None = "2026-03-08T00:00:00Z", **extra: Any
         ) -> models.CampaignResponse:
    body = _campaign(Priority=priority, **extra)
    body["Schedule"]["EndTime"] = end
    return msgspec.convert({**body, "Id": cid, "ApplicationId": "app", "Arn": "arn", "CreationDate": "2026-03-01T00:00:00Z",
                            "LastModifiedDate": "2026-03-01T00:00:00Z", "SegmentVersion": 1, "Version": 1},
                           models.CampaignResponse)


MSG = models.InAppMessage(Layout="TOP_BANNER", Content=[])


def _cand(cid: str, stored_ms: int = 0, *, paused: bool = False, doc: models.CampaignResponse | None = None,
          **kw: Any) -> inapp.Candidate:
    return inapp.Candidate(inapp.Stored(cid, 0, stored_ms), doc if doc is not None else _doc(cid, **kw), paused, MSG)


def _ids(items: list[models.InAppMessageCampaign]) -> list[str | None]:
    return [i.CampaignId for i in items]


def test_messages_are_ordered_highest_priority_first_then_oldest_stored() -> None:
    cands = [_cand("none", 1), _cand("p3", 2, priority=3), _cand("p1-late", 9, priority=1), _cand("p1", 5, priority=1)]
    assert _ids(inapp.answer(cands, now=NOW, shown={}, shown_today=0)) == ["p1", "p1-late", "p3", "none"]


def test_an_answer_carries_the_schedule_caps_and_message_as_pinpoint_shapes_them() -> None:
    [item] = inapp.answer([_cand("c", priority=2, Limits={"Session": 1, "Daily": 0, "Total": 4})], now=NOW, shown={},
                          shown_today=0)
    assert (item.CampaignId, item.TreatmentId, item.Priority, item.InAppMessage) == ("c", "0", 2, MSG)
    assert (item.SessionCap, item.DailyCap, item.TotalCap) == (1, None, 4)  # 0 is no cap
    assert item.Schedule is not None and item.Schedule.EndDate == "2026-03-08T00:00:00.000Z"
    assert item.Schedule.EventFilter is not None and item.Schedule.EventFilter.Dimensions.EventType is not None
    assert item.Schedule.EventFilter.Dimensions.EventType.Values == ["level_up"]
    assert item.Schedule.QuietTime == models.QuietTime(Start="22:00", End="07:00")


def test_expired_paused_deleted_and_capped_messages_are_not_answered() -> None:
    expired = _cand("expired", end="2026-03-01T12:00:00Z")  # EndTime is now: over
    paused = _cand("paused", paused=True)
    deleted = inapp.Candidate(inapp.Stored("deleted", 0, 0), None, False, None)
    total = _cand("total", Limits={"Total": 2})
    daily = _cand("daily", Limits={"Daily": 3})
    live = _cand("live", end=None)
    got = inapp.answer([expired, paused, deleted, total, daily, live], now=NOW, shown={"total": 2}, shown_today=3)
    assert _ids(got) == ["live"]
    assert _ids(inapp.answer([total, daily], now=NOW, shown={"total": 1}, shown_today=2)) == ["daily", "total"]
    assert [c.stored.campaign_id for c in (expired, paused, deleted, live) if inapp.is_dead(c, NOW)] == ["expired", "deleted"]


def test_a_campaign_stored_again_keeps_only_its_latest_treatment() -> None:
    stored = [inapp.Stored("a", 0, 10), inapp.Stored("a", 2, 20), inapp.Stored("b", 1, 5)]
    assert sorted(inapp.latest_per_campaign(stored)) == [inapp.Stored("a", 2, 20), inapp.Stored("b", 1, 5)]


async def test_an_endpoint_keeps_at_most_max_per_endpoint_messages_the_oldest_dropped(redis: Any) -> None:
    from gateway.campaigns.inappstore import InAppStore
    from gateway.templates.store import TemplateStore

    store = InAppStore(redis, TemplateStore(redis), clock=lambda: NOW)
    for i in range(inapp.MAX_PER_ENDPOINT + 3):
        await store.store("app", f"c{i:03d}", 0, ["ep", "other"], NOW + dt.timedelta(seconds=i))
    kept = [m.decode() for m in await redis.zrange(inapp.messages_key("app", "ep"), 0, -1)]
    assert len(kept) == inapp.MAX_PER_ENDPOINT and kept[0] == "c003:0" and kept[-1] == f"c{inapp.MAX_PER_ENDPOINT + 2:03d}:0"
    await store.store("app", "c050", 0, ["ep"], NOW + dt.timedelta(hours=1))  # stored again: refreshed, not doubled
    assert await redis.zcard(inapp.messages_key("app", "ep")) == inapp.MAX_PER_ENDPOINT
    assert (await redis.zrange(inapp.messages_key("app", "ep"), -1, -1)) == [b"c050:0"]
