"""TemplateStore on a real Redis: Pinpoint's create/update/version/active-version/list/delete semantics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.templates import TemplateError
from gateway.templates.store import (
    TemplateExists,
    TemplateNotFound,
    TemplateStore,
    TemplateVersionError,
    active_target,
    update_target,
)


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
    # update without CreateNewVersion overwrites the latest version (and a version, if named, must be that one)
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v3b")) == "3"
    assert (await store.program("Otp", "SMS", "3", "Body")).render({}) == "v3b"
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v3c"), version="3") == "3"
    with pytest.raises(TemplateVersionError, match="not the latest version"):
        await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v1b"), version="1")
    with pytest.raises(TemplateVersionError, match="must not be given"):
        await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v4"), create_new_version=True, version="3")
    assert (await store.program("Otp", "SMS", "1", "Body")).render({"code": 1}) == "v1 1"
    listing = await store.list_versions("Otp", "SMS", page_size=2)
    assert [v.Version for v in listing.Item] == ["1", "2"] and listing.NextToken == "3"
    rest = await store.list_versions("Otp", "SMS", next_token=listing.NextToken)
    assert [v.Version for v in rest.Item] == ["3"] and rest.NextToken is None
    with pytest.raises(TemplateError, match="active version"):
        await store.delete("Otp", "SMS", "2")
    assert await store.set_active_version("Otp", "SMS", "latest") == "3"
    await store.set_active_version("Otp", "SMS", "2")
    await store.delete("Otp", "SMS", "3")
    with pytest.raises(TemplateNotFound):
        await store.program("Otp", "SMS", "3", "Body")
    with pytest.raises(TemplateNotFound):
        await store.set_active_version("Otp", "SMS", "3")
    # the latest *existing* version is now 2: plain updates and `latest` go to it; new versions continue after 3
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v2b")) == "2"
    assert await store.set_active_version("Otp", "SMS", "latest") == "2"
    assert await store.update("Otp", "SMS", models.SMSTemplateRequest(Body="v4"), create_new_version=True) == "4"
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



class _AfterRead:
    """A Redis client whose first `read` command is followed by `action` (another client's write)."""

    def __init__(self, real: aioredis.Redis, read: str, action: Callable[[], Awaitable[object]]) -> None:
        self.real, self.read, self.action, self.fired = real, read, action, False

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.real, name)
        if name != self.read:
            return attr

        async def read_then_act(*args: object, **kwargs: object) -> object:
            result = await attr(*args, **kwargs)
            if not self.fired:
                self.fired = True
                await self.action()
            return result

        return read_then_act


@pytest.mark.parametrize(("write", "read"), [("new_version", "hgetall"), ("overwrite", "hget"),
                                              ("set_active", "hkeys"), ("delete_version", "hlen")])
async def test_a_delete_between_check_and_write_leaves_no_half_template(
    redis: aioredis.Redis, write: str, read: str
) -> None:
    """Another client deletes the template after this store has read what it checks but before it writes. The
    write must fail as TemplateNotFound and leave no keys: a half-recreated template (meta without `active`, or
    versions without meta) would wedge the name (create says it exists; get and delete say it does not)."""
    other = TemplateStore(redis)
    await other.create("Race", "SMS", models.SMSTemplateRequest(Body="v1"))
    await other.update("Race", "SMS", models.SMSTemplateRequest(Body="v2"), create_new_version=True)
    store = TemplateStore(_AfterRead(redis, read, lambda: other.delete("Race", "SMS")))  # type: ignore[arg-type]
    body = models.SMSTemplateRequest(Body="late")
    call = {
        "new_version": lambda: store.update("Race", "SMS", body, create_new_version=True),
        "overwrite": lambda: store.update("Race", "SMS", body, version="2"),
        "set_active": lambda: store.set_active_version("Race", "SMS", "2"),
        "delete_version": lambda: store.delete("Race", "SMS", "2"),
    }[write]
    with pytest.raises(TemplateNotFound):
        await call()
    assert await redis.keys("gw:tpl:{SMS:Race}*") == []
    # the name is free again and starts from version 1
    assert await other.create("Race", "SMS", models.SMSTemplateRequest(Body="new")) == "1"
    assert [v.Version for v in (await other.list_versions("Race", "SMS")).Item] == ["1"]


async def test_a_new_version_between_check_and_delete_of_the_last_version_is_kept(redis: aioredis.Redis) -> None:
    """Deleting the only version deletes the template; if another client adds a version in between, the delete is
    re-checked (now it would delete the active version while another exists) instead of leaving versions without
    their meta."""
    other = TemplateStore(redis)
    await other.create("Race", "SMS", models.SMSTemplateRequest(Body="v1"))
    store = TemplateStore(_AfterRead(redis, "hlen", lambda: other.update(  # type: ignore[arg-type]
        "Race", "SMS", models.SMSTemplateRequest(Body="v2"), create_new_version=True)))
    with pytest.raises(TemplateError, match="active version"):
        await store.delete("Race", "SMS", "1")
    assert [v.Version for v in (await other.list_versions("Race", "SMS")).Item] == ["1", "2"]
    assert (await other.get("Race", "SMS")).Version == "1"


async def test_concurrent_new_versions_get_distinct_numbers(redis_server: object) -> None:
    import asyncio

    url = redis_server.url  # type: ignore[attr-defined]
    clients = [aioredis.Redis.from_url(url) for _ in range(4)]
    try:
        await clients[0].flushall()
        await TemplateStore(clients[0]).create("Many", "SMS", models.SMSTemplateRequest(Body="v1"))
        numbers = await asyncio.gather(*(
            TemplateStore(c).update("Many", "SMS", models.SMSTemplateRequest(Body=f"from {i}"), create_new_version=True)
            for i, c in enumerate(clients)))
        assert sorted(numbers) == ["2", "3", "4", "5"]
        versions = (await TemplateStore(clients[0]).list_versions("Many", "SMS")).Item
        assert [v.Version for v in versions] == ["1", "2", "3", "4", "5"]
        bodies = {(await TemplateStore(clients[0]).get("Many", "SMS", n)).Body for n in numbers}  # type: ignore[union-attr]
        assert bodies == {f"from {i}" for i in range(4)}
    finally:
        for c in clients:
            await c.aclose()


def test_update_target_follows_pinpoints_version_rules() -> None:
    what = "template 't' of type SMS"
    # create-new-version: one past the highest number ever given, and no version with it
    assert update_target(what, {1, 2}, 5, create_new_version=True, version=None) == 6
    with pytest.raises(TemplateVersionError, match="must not be given"):
        update_target(what, {1, 2}, 2, create_new_version=True, version="2")
    # otherwise the latest existing version, which a version, if given, must name
    assert update_target(what, {1, 2}, 5, create_new_version=False, version=None) == 2
    assert update_target(what, {1, 2}, 5, create_new_version=False, version="2") == 2
    with pytest.raises(TemplateVersionError, match=r"Version 1 is not the latest version of template 't' of type SMS \(2\)"):
        update_target(what, {1, 2}, 2, create_new_version=False, version="1")
    with pytest.raises(TemplateNotFound, match="no version 7"):
        update_target(what, {1, 2}, 2, create_new_version=False, version="7")
    for bad in ("latest", "0", "x", "-1"):
        with pytest.raises(TemplateVersionError, match="positive integer"):
            update_target(what, {1, 2}, 2, create_new_version=False, version=bad)


def test_active_target_takes_latest_or_an_existing_number() -> None:
    what = "template 't' of type SMS"
    assert active_target(what, {1, 3}, "latest") == 3
    assert active_target(what, {1, 3}, "1") == 1
    with pytest.raises(TemplateNotFound, match="no version 2"):
        active_target(what, {1, 3}, "2")
    for bad in ("LATEST", "x", "0"):
        with pytest.raises(TemplateVersionError):
            active_target(what, {1, 3}, bad)
    with pytest.raises(TemplateNotFound):
        active_target(what, set(), "latest")
