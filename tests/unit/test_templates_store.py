"""TemplateStore on a real Redis: Pinpoint's create/update/version/active-version/list/delete semantics."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.templates import TemplateError
from gateway.templates.store import TemplateExists, TemplateNotFound, TemplateStore


def email(html: str, subject: str = "Hi {{name}}", **kw: object) -> models.EmailTemplateRequest:
    return models.EmailTemplateRequest(HtmlPart=html, Subject=subject, **kw)  # type: ignore[arg-type]


async def test_create_get_and_render(redis: aioredis.Redis) -> None:
    store = TemplateStore(redis, clock=lambda: 1_700_000_000.0)
    version = await store.create("Welcome", "EMAIL", email(
        "<p>{{User.UserAttributes.FirstName}}</p>", tags={"team": "growth"},
        DefaultSubstitutions='{"User.UserAttributes.FirstName": "friend"}', TemplateDescription="d"))
    assert version == "1"
    got = await store.get("Welcome", "EMAIL")
    assert isinstance(got, models.EmailTemplateResponse)
    assert (got.Version, got.TemplateName, got.TemplateType, got.tags) == ("1", "Welcome", "EMAIL", {"team": "growth"})
    assert got.CreationDate == got.LastModifiedDate == "2023-11-14T22:13:20.000Z"
    program = await store.program("Welcome", "EMAIL", None, "HtmlPart")
    assert program.render({}) == "<p></p>"
    assert await store.defaults("Welcome", "EMAIL", None) == {"User.UserAttributes.FirstName": "friend"}
    with pytest.raises(TemplateExists):
        await store.create("Welcome", "EMAIL", email("x"))


async def test_bad_templates_are_refused_at_save_time(redis: aioredis.Redis) -> None:
    store = TemplateStore(redis)
    with pytest.raises(TemplateError) as info:
        await store.create("Bad", "SMS", models.SMSTemplateRequest(Body="Hi\n{{#if a}}x{{/iff}}"))
    assert (info.value.line, info.value.column) == (2, 11) and info.value.reason.startswith("Body: ")
    with pytest.raises(TemplateError, match="unknown helper 'frobnicate'"):
        await store.create("Bad", "EMAIL", email("{{frobnicate x}}"))
    with pytest.raises(TemplateError, match="limit for SMS is 1600"):
        await store.create("Bad", "SMS", models.SMSTemplateRequest(Body="x" * 1601))
    with pytest.raises(TemplateError, match="DefaultSubstitutions"):
        await store.create("Bad", "SMS", models.SMSTemplateRequest(Body="x", DefaultSubstitutions="[1]"))
    with pytest.raises(TemplateError, match="names are"):
        await store.create("bad name!", "SMS", models.SMSTemplateRequest(Body="x"))
    with pytest.raises(TemplateNotFound):
        await store.get("Bad", "SMS")


async def test_versions_and_active_version(redis: aioredis.Redis) -> None:
    store = TemplateStore(redis, ttl=0.0)
    await store.create("Otp", "SMS", models.SMSTemplateRequest(Body="v1 {{code}}"))
    for n in ("2", "3"):
        body = models.SMSTemplateRequest(Body=f"v{n} {{{{code}}}}")
        assert await store.update("Otp", "SMS", body, create_new_version=True) == n
    # a new version is not active until made so
    assert (await store.program("Otp", "SMS", None, "Body")).render({"code": 1}) == "v1 1"
    assert (await store.program("Otp", "SMS", "3", "Body")).render({"code": 1}) == "v3 1"
    await store.set_active_version("Otp", "SMS", "2")
    assert (await store.get("Otp", "SMS")).Version == "2"
    assert (await store.program("Otp", "SMS", None, "Body")).render({"code": 1}) == "v2 1"
    # update without CreateNewVersion overwrites the latest version (or the one named)
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v3b")) == "3"
    assert (await store.program("Otp", "SMS", "3", "Body")).render({}) == "v3b"
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v1b"), version="1") == "1"
    listing = await store.list_versions("Otp", "SMS", page_size=2)
    assert [v.Version for v in listing.Item] == ["1", "2"] and listing.NextToken == "3"
    rest = await store.list_versions("Otp", "SMS", next_token=listing.NextToken)
    assert [v.Version for v in rest.Item] == ["3"] and rest.NextToken is None
    with pytest.raises(TemplateError, match="active version"):
        await store.delete("Otp", "SMS", "2")
    await store.delete("Otp", "SMS", "3")
    with pytest.raises(TemplateNotFound):
        await store.program("Otp", "SMS", "3", "Body")
    with pytest.raises(TemplateNotFound):
        await store.set_active_version("Otp", "SMS", "3")
    await store.delete("Otp", "SMS")
    with pytest.raises(TemplateNotFound):
        await store.get("Otp", "SMS")


async def test_other_processes_see_overwrites_after_ttl(redis: aioredis.Redis) -> None:
    writer, reader = TemplateStore(redis), TemplateStore(redis, ttl=0.0)
    await writer.create("T", "VOICE", models.VoiceTemplateRequest(Body="one", VoiceId="Joanna"))
    assert (await reader.program("T", "VOICE", None, "Body")).render({}) == "one"
    await writer.update("T", "VOICE", models.VoiceTemplateRequest(Body="two"))
    assert (await reader.program("T", "VOICE", None, "Body")).render({}) == "two"


async def test_push_parts_and_inapp(redis: aioredis.Redis) -> None:
    store = TemplateStore(redis)
    push = models.PushNotificationTemplateRequest(
        APNS=models.APNSPushNotificationTemplate(Title="Hi {{name}}", Body="b"),
        Default=models.DefaultPushNotificationTemplate(Body="d {{name}}"))
    await store.create("P", "PUSH", push)
    assert (await store.program("P", "PUSH", None, "APNS.Title")).render({"name": "Al"}) == "Hi Al"
    assert (await store.program("P", "PUSH", None, "Default.Body")).render({"name": "Al"}) == "d Al"
    with pytest.raises(TemplateNotFound, match=r"no part 'GCM\.Body'"):
        await store.program("P", "PUSH", None, "GCM.Body")
    got = await store.get("P", "PUSH")
    assert isinstance(got, models.PushNotificationTemplateResponse) and got.APNS is not None
    assert got.APNS.Title == "Hi {{name}}"
    inapp = {"Layout": "TOP_BANNER", "Content": [{"BodyConfig": {"Alignment": "LEFT", "Body": "{{not a var}}",
                                                                "TextColor": "#000"}}]}
    await store.create("I", "INAPP", inapp)  # type: ignore[arg-type]
    got_inapp = await store.get("I", "INAPP")
    assert isinstance(got_inapp, models.InAppTemplateResponse) and got_inapp.Layout == "TOP_BANNER"


async def test_list_templates_by_prefix_and_type_with_paging(redis: aioredis.Redis) -> None:
    store = TemplateStore(redis)
    for name in ("alpha", "alpine", "beta"):
        await store.create(name, "SMS", models.SMSTemplateRequest(Body=name))
    await store.create("alpha", "EMAIL", email("x"))
    everything = await store.list_templates()
    assert [(t.TemplateName, t.TemplateType) for t in everything.Item] == [
        ("alpha", "EMAIL"), ("alpha", "SMS"), ("alpine", "SMS"), ("beta", "SMS")]
    page = await store.list_templates(prefix="al", template_type="SMS", page_size=1)
    assert [t.TemplateName for t in page.Item] == ["alpha"] and page.NextToken
    page2 = await store.list_templates(prefix="al", template_type="SMS", page_size=5, next_token=page.NextToken)
    assert [t.TemplateName for t in page2.Item] == ["alpine"] and page2.NextToken is None


async def test_concurrent_creates_make_exactly_one_template(redis_server: object) -> None:
    import asyncio

    url = redis_server.url  # type: ignore[attr-defined]
    clients = [aioredis.Redis.from_url(url) for _ in range(4)]
    try:
        await clients[0].flushall()
        results = await asyncio.gather(
            *(TemplateStore(c).create("Race", "SMS", models.SMSTemplateRequest(Body=f"b{i}"))
              for i, c in enumerate(clients)),
            return_exceptions=True,
        )
        assert sum(r == "1" for r in results) == 1
        assert all(isinstance(r, TemplateExists) for r in results if r != "1")
        assert (await TemplateStore(clients[0]).list_versions("Race", "SMS")).Item[0].Version == "1"
    finally:
        for c in clients:
            await c.aclose()
