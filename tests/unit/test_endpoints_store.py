"""The endpoint store against a real Redis: UpdateEndpoint(sBatch), address rule, user limit, quotas, deletes,
RemoveAttributes, status and opt-out helpers, and the change stream every write appends to."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.endpoints import EndpointValidationError
from gateway.endpoints.store import EndpointNotFound, EndpointStore, changes_key
from gateway.models import EndpointBatchItem, EndpointBatchRequest, EndpointRequest, EndpointResponse, EndpointUser

APP = "app1"


def clock() -> str:
    return "2024-01-01T00:00:00.000Z"


@pytest.fixture
def store(redis: aioredis.Redis) -> EndpointStore:
    return EndpointStore(redis, clock=clock)


async def test_update_then_get_round_trips(store: EndpointStore) -> None:
    ep = await store.update_endpoint(APP, "e1", EndpointRequest(Address="a@x.org", ChannelType="EMAIL"))
    assert await store.get(APP, "e1") == ep
    assert (await store.get_many(APP, ["e1", "nope"]))[1] is None
    assert ep.CreationDate == "2024-01-01T00:00:00.000Z"


async def test_second_write_merges(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "e1", EndpointRequest(Address="a@x", ChannelType="EMAIL", Attributes={"a": ["1"]}))
    ep = await store.update_endpoint(APP, "e1", EndpointRequest(Attributes={"b": ["2"]}, Metrics={"m": 1}))
    assert ep.Attributes == {"a": ["1"], "b": ["2"]} and ep.Address == "a@x" and ep.Metrics == {"m": 1.0}


async def test_same_address_deactivates_older_endpoints(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "old", EndpointRequest(Address="+15550001", ChannelType="SMS"))
    await store.update_endpoint(APP, "new", EndpointRequest(Address="+15550001", ChannelType="SMS"))
    old, new = await store.get_many(APP, ["old", "new"])
    assert old is not None and new is not None
    assert (old.EndpointStatus, new.EndpointStatus) == ("INACTIVE", "ACTIVE")
    # updating the old one again makes it the active holder of the address
    await store.update_endpoint(APP, "old", EndpointRequest(Address="+15550001"))
    old, new = await store.get_many(APP, ["old", "new"])
    assert old is not None and new is not None
    assert (old.EndpointStatus, new.EndpointStatus) == ("ACTIVE", "INACTIVE")
    # an update that does not write the Address leaves the others alone
    await store.update_endpoint(APP, "new", EndpointRequest(Attributes={"a": ["1"]}))
    old, _ = await store.get_many(APP, ["old", "new"])
    assert old is not None and old.EndpointStatus == "ACTIVE"


async def test_changed_address_leaves_old_address_group(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "a", EndpointRequest(Address="x@y", ChannelType="EMAIL"))
    await store.update_endpoint(APP, "a", EndpointRequest(Address="z@y"))
    await store.update_endpoint(APP, "b", EndpointRequest(Address="x@y", ChannelType="EMAIL"))
    a = await store.get(APP, "a")
    assert a is not None and a.EndpointStatus == "ACTIVE"


async def test_batch_address_conflict_within_one_batch(store: EndpointStore) -> None:
    items = [EndpointBatchItem(Id=f"e{i}", Address="same@x", ChannelType="EMAIL") for i in range(3)]
    out = await store.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))
    assert [e.EndpointStatus for e in out] == ["INACTIVE", "INACTIVE", "ACTIVE"]
    stored = await store.get_many(APP, ["e0", "e1", "e2"])
    assert [e.EndpointStatus for e in stored if e] == ["INACTIVE", "INACTIVE", "ACTIVE"]


async def test_batch_limits(store: EndpointStore) -> None:
    with pytest.raises(EndpointValidationError, match="100"):
        await store.update_endpoints_batch(
            APP, EndpointBatchRequest(Item=[EndpointBatchItem(Id=f"{i}") for i in range(101)])
        )
    with pytest.raises(EndpointValidationError, match=r"Item\[1\]: Id is required"):
        await store.update_endpoints_batch(
            APP, EndpointBatchRequest(Item=[EndpointBatchItem(Id="a"), EndpointBatchItem()])
        )
    bad = [EndpointBatchItem(Id="a"), EndpointBatchItem(Id="b", OptOut="MAYBE")]
    with pytest.raises(EndpointValidationError, match=r"Item\[1\]"):
        await store.update_endpoints_batch(APP, EndpointBatchRequest(Item=bad))
    assert await store.get(APP, "a") is None  # all or nothing


async def _full_user(store: EndpointStore, uid: str = "u1") -> None:
    """15 endpoints for `uid`: 3 EMAIL (the oldest) and 12 push endpoints, p0 the oldest of those."""
    items = [EndpointBatchItem(Id=f"m{i}", ChannelType="EMAIL", Address=f"m{i}@x", User=EndpointUser(UserId=uid),
                               EffectiveDate=f"2020-01-0{i + 1}T00:00:00.000Z") for i in range(3)]
    items += [EndpointBatchItem(Id=f"p{i}", ChannelType="GCM", Address=f"tok{i}", User=EndpointUser(UserId=uid),
                                EffectiveDate=f"2024-01-{i + 10}T00:00:00.000Z") for i in range(12)]
    await store.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))


async def test_a_16th_push_endpoint_displaces_the_oldest_push_endpoint_in_the_same_transaction(
    store: EndpointStore, redis: aioredis.Redis
) -> None:
    await _full_user(store)
    before = len(await redis.xrange(changes_key(APP)))
    new = await store.update_endpoint(APP, "phone", EndpointRequest(ChannelType="APNS", Address="t", User=EndpointUser(UserId="u1")))
    assert new.EndpointStatus == "ACTIVE" and new.User == EndpointUser(UserId="u1")
    p0 = await store.get(APP, "p0")
    assert p0 is not None and p0.EndpointStatus == "INACTIVE" and p0.User is None and p0.Address == "tok0"
    ids = (await store.user_endpoint_ids(APP, ["u1"]))[0]
    assert len(ids) == 15 and "phone" in ids and "p0" not in ids
    # one write, one change entry naming both endpoints (the segment index sees the displaced one too)
    entries = await redis.xrange(changes_key(APP))
    assert len(entries) == before + 1 and set(msgspec.json.decode(entries[-1][1][b"ids"])) == {"phone", "p0"}
    # a 16th SMS endpoint is still refused, and nothing is written
    with pytest.raises(EndpointValidationError, match="limit is 15: endpoint 'sms' \\(ChannelType SMS\\)"):
        await store.update_endpoint(APP, "sms", EndpointRequest(ChannelType="SMS", Address="+14155550100", User=EndpointUser(UserId="u1")))
    assert await store.get(APP, "sms") is None and len(await redis.xrange(changes_key(APP))) == before + 1


async def test_an_endpoint_leaving_a_full_user_in_the_same_batch_makes_room(store: EndpointStore) -> None:
    await _full_user(store)
    await store.update_endpoints_batch(APP, EndpointBatchRequest(Item=[
        EndpointBatchItem(Id="m0", User=EndpointUser(UserId="u2")),
        EndpointBatchItem(Id="sms", ChannelType="SMS", Address="+14155550100", User=EndpointUser(UserId="u1"))]))
    ids = await store.user_endpoint_ids(APP, ["u1", "u2"])
    assert len(ids[0]) == 15 and "sms" in ids[0] and ids[1] == ["m0"]
    assert {e.EndpointStatus for e in await store.get_many(APP, ids[0]) if e is not None} == {"ACTIVE"}


async def test_concurrent_16th_push_endpoints_displace_distinct_endpoints(redis: aioredis.Redis) -> None:
    await _full_user(EndpointStore(redis))
    user = EndpointUser(UserId="u1")
    await asyncio.gather(*(
        EndpointStore(redis).update_endpoint(APP, f"new{i}", EndpointRequest(ChannelType="GCM", Address=f"n{i}", User=user))
        for i in range(4)))
    store = EndpointStore(redis)
    ids = (await store.user_endpoint_ids(APP, ["u1"]))[0]
    assert len(ids) == 15 and {f"new{i}" for i in range(4)} <= set(ids)
    eps = {e.Id: e for e in await store.get_many(APP, [f"p{i}" for i in range(12)]) if e is not None}
    assert {i for i, e in eps.items() if e.EndpointStatus == "INACTIVE"} == {"p0", "p1", "p2", "p3"}
    assert all(eps[f"p{i}"].User is None for i in range(4)) and all(eps[f"p{i}"].User is not None for i in range(4, 12))


async def test_at_most_15_endpoints_per_user(store: EndpointStore) -> None:
    user = EndpointUser(UserId="u1")
    items = [EndpointBatchItem(Id=f"e{i}", User=user) for i in range(15)]
    await store.update_endpoints_batch(APP, EndpointBatchRequest(Item=items))
    with pytest.raises(EndpointValidationError, match="limit is 15"):
        await store.update_endpoint(APP, "e15", EndpointRequest(User=user))
    await store.update_endpoint(APP, "e3", EndpointRequest(User=user, Attributes={"a": ["1"]}))  # existing member ok
    # moving an endpoint to another user frees a place
    await store.update_endpoint(APP, "e0", EndpointRequest(User=EndpointUser(UserId="u2")))
    await store.update_endpoint(APP, "e15", EndpointRequest(User=user))
    ids = await store.user_endpoint_ids(APP, ["u1", "u2"])
    assert len(ids[0]) == 15 and "e0" not in ids[0] and ids[1] == ["e0"]


async def test_250_attribute_keys_per_application(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "a", EndpointRequest(Attributes={f"k{i}": ["v"] for i in range(200)}))
    await store.update_endpoint(APP, "b", EndpointRequest(Metrics={f"m{i}": 1.0 for i in range(40)}))
    await store.update_endpoint(
        APP, "c", EndpointRequest(User=EndpointUser(UserAttributes={f"u{i}": ["v"] for i in range(10)}))
    )
    with pytest.raises(EndpointValidationError, match="limit is 250"):
        await store.update_endpoint(APP, "d", EndpointRequest(Attributes={"one-more": ["v"]}))
    await store.update_endpoint(APP, "d", EndpointRequest(Attributes={"k1": ["reuse"]}))  # known key: fine
    removed = await store.remove_attributes(APP, "endpoint-custom-attributes", ["k1*"])
    assert set(removed.Attributes or []) == {"k1"} | {f"k1{i}" for i in range(10)} | {
        f"k1{i}{j}" for i in range(10) for j in range(10)
    }
    await store.update_endpoint(APP, "d", EndpointRequest(Attributes={"one-more": ["v"]}))  # quota freed


async def test_remove_attributes_keeps_values_and_stops_capturing(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "e", EndpointRequest(Attributes={"x": ["1"]}, Metrics={"m": 1}))
    res = await store.remove_attributes(APP, "endpoint-metric-attributes", ["m"])
    assert res.Attributes == ["m"] and res.AttributeType == "endpoint-metric-attributes"
    ep = await store.update_endpoint(APP, "e", EndpointRequest(Metrics={"m": 5}))
    assert ep.Metrics == {"m": 1.0}  # existing value kept, new value not captured
    with pytest.raises(EndpointValidationError, match="attribute type"):
        await store.remove_attributes(APP, "endpoint-bogus", ["x"])


async def test_deletes(store: EndpointStore) -> None:
    user = EndpointUser(UserId="u")
    await store.update_endpoint(APP, "a", EndpointRequest(Address="a@x", ChannelType="EMAIL", User=user))
    await store.update_endpoint(APP, "b", EndpointRequest(Address="b@x", ChannelType="EMAIL", User=user))
    got = await store.get_user_endpoints(APP, "u")
    assert sorted(e.Id or "" for e in got.Item) == ["a", "b"]
    deleted = await store.delete_endpoint(APP, "a")
    assert deleted.Id == "a" and await store.get(APP, "a") is None
    with pytest.raises(EndpointNotFound):
        await store.delete_endpoint(APP, "a")
    gone = await store.delete_user_endpoints(APP, "u")
    assert [e.Id for e in gone.Item] == ["b"]
    with pytest.raises(EndpointNotFound):
        await store.get_user_endpoints(APP, "u")
    assert await store.count(APP) == 0


async def test_status_and_opt_out_helpers(store: EndpointStore) -> None:
    await store.update_endpoint(APP, "p", EndpointRequest(Address="tok", ChannelType="APNS"))
    ep = await store.set_status(APP, "p", "INACTIVE")
    assert ep.EndpointStatus == "INACTIVE" and ep.EffectiveDate == clock()
    await store.update_endpoint(APP, "s1", EndpointRequest(Address="+1 415-555-0100", ChannelType="SMS"))
    assert await store.opt_out_address(APP, "SMS", "+14155550100") == ["s1"]
    s1 = await store.get(APP, "s1")
    assert s1 is not None and s1.OptOut == "ALL"
    with pytest.raises(EndpointNotFound):
        await store.set_status(APP, "missing", "INACTIVE")


async def test_every_write_appends_to_the_change_stream(store: EndpointStore, redis: aioredis.Redis) -> None:
    await store.update_endpoint(APP, "a", EndpointRequest(Address="q@x", ChannelType="EMAIL"))
    await store.update_endpoint(APP, "b", EndpointRequest(Address="q@x", ChannelType="EMAIL"))
    await store.set_status(APP, "b", "INACTIVE")
    await store.delete_endpoint(APP, "a")
    entries = await redis.xrange(changes_key(APP))
    ids = [msgspec.json.decode(f[b"ids"]) for _, f in entries]
    assert ids == [["a"], ["b", "a"], ["b"], ["a"]]


async def test_concurrent_writers_do_not_lose_updates(redis: aioredis.Redis) -> None:
    stores = [EndpointStore(redis) for _ in range(4)]
    await asyncio.gather(
        *(
            s.update_endpoint(APP, "e", EndpointRequest(Attributes={f"k{i}": [str(i)]}))
            for i, s in enumerate(stores * 5)
        )
    )
    ep = await stores[0].get(APP, "e")
    assert ep is not None and set(ep.Attributes or {}) == {f"k{i}" for i in range(20)}


async def test_put_keeps_sets_and_stream(store: EndpointStore, redis: aioredis.Redis) -> None:
    await store.put(APP, EndpointResponse(Id="z", Address="z@x", User=EndpointUser(UserId="uz")))
    assert await store.user_endpoint_ids(APP, ["uz"]) == [["z"]]
    assert await store.count(APP) == 1
    assert len(await redis.xrange(changes_key(APP))) == 1


async def test_sms_and_voice_addresses_are_stored_in_e164(store: EndpointStore) -> None:
    ep = await store.update_endpoint(APP, "s", EndpointRequest(Address="+1 (415) 555-0100", ChannelType="SMS"))
    assert ep.Address == "+14155550100"
    # the channel of the stored endpoint decides when the request names none
    ep = await store.update_endpoint(APP, "s", EndpointRequest(Address="+44 20 7946 0958"))
    assert ep.Address == "+442079460958"
    ep = await store.update_endpoint(APP, "v", EndpointRequest(Address="+1 415 555 0101", ChannelType="VOICE"))
    assert ep.Address == "+14155550101"
    ep = await store.update_endpoint(APP, "e", EndpointRequest(Address="Ada@Example.com", ChannelType="EMAIL"))
    assert ep.Address == "Ada@Example.com"
    # the same number written in another format is the same address: the older holder becomes INACTIVE
    await store.update_endpoint(APP, "s2", EndpointRequest(Address="+14155550100", ChannelType="SMS"))
    await store.update_endpoint(APP, "s3", EndpointRequest(Address="+1-415-555-0100", ChannelType="SMS"))
    s2 = await store.get(APP, "s2")
    assert s2 is not None and s2.EndpointStatus == "INACTIVE"


async def test_an_impossible_number_is_refused_with_the_reason(store: EndpointStore) -> None:
    with pytest.raises(EndpointValidationError, match=r"^Address: invalid phone number: not a phone number"):
        await store.update_endpoint(APP, "s", EndpointRequest(Address="call me", ChannelType="SMS"))
    batch = EndpointBatchRequest(Item=[
        EndpointBatchItem(Id="ok", Address="+14155550100", ChannelType="SMS"),
        EndpointBatchItem(Id="bad", Address="+1 4", ChannelType="VOICE"),
    ])
    with pytest.raises(EndpointValidationError, match=r"^Item\[1\]: Address: invalid phone number"):
        await store.update_endpoints_batch(APP, batch)
    assert await store.get_many(APP, ["ok", "bad", "s"]) == [None, None, None]  # all or nothing
