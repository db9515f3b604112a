"""A campaign run's audience from the segment index (runner.members_of, runner.repeated_addresses): the index's
planning columns give every endpoint the members planning reads as its stored document has them, whichever way the
index got its rows (either builder, upserts, a snapshot), and the addresses that may repeat are all found."""

from __future__ import annotations

import itertools
from types import ModuleType

import msgspec
import pytest

from gateway import _fast
from gateway.campaigns.runner import ADDRESS_ON_FILE, Member, members_of, repeated_addresses
from gateway.segments import snapshot
from gateway.segments.index import EndpointIndex, address_hash, decode_row

BUILDERS = _fast.implementations("segbuild")
KERNEL = _fast.load("segfilter")
enc = msgspec.json.Encoder().encode


def documents() -> list[bytes]:
    """Endpoints over every combination of the planning members' shapes (present, absent, odd values)."""
    shapes = itertools.product(
        ["EMAIL", "SMS", "IN_APP", None],
        ["a@example.com", "", None, "ü@é.example"],
        ["ALL", "NONE", None],
        ["ACTIVE", "INACTIVE", None],
        [{"Timezone": "Asia/Tokyo"}, {"Timezone": None}, {"Platform": "ios"}, None],
        ["0", "57", None],
    )
    out = []
    for i, (channel, address, optout, status, demo, cohort) in enumerate(shapes):
        doc = {"Id": f"e{i:04d}", "ChannelType": channel, "Address": address and f"{i}.{address}", "OptOut": optout,
               "EndpointStatus": status, "Demographic": demo, "CohortId": cohort, "RequestId": "r"}
        out.append(enc({k: v for k, v in doc.items() if v is not None or i % 2}))  # null and absent alike
    return out


def expected(raw: bytes) -> Member:
    m = msgspec.json.decode(raw, type=Member)
    tz = m.Demographic.Timezone if m.Demographic is not None else None
    return Member(m.Id, ADDRESS_ON_FILE if m.Address else None, m.ChannelType, m.CohortId,
                  None if tz is None else type(m.Demographic)(tz), None, m.EndpointStatus, m.OptOut)  # type: ignore[misc]


def audience(idx: EndpointIndex) -> list[Member]:
    rows = list(range(idx.n))
    return members_of(idx, rows, idx.ids(rows))


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_members_from_the_index_are_the_documents_planning_view(builder: ModuleType) -> None:
    docs = documents()
    want = [expected(d) for d in docs]
    built = EndpointIndex(KERNEL, builder)
    built.bulk_append(docs)
    built.rebuild_table()
    assert audience(built) == want
    # rows written one by one (the change-stream path), and rows first written otherwise then rewritten
    upserted = EndpointIndex(KERNEL, builder)
    upserted.ingest(enc({"Id": msgspec.json.decode(d)["Id"], "Address": "x", "OptOut": "ALL",
                         "Demographic": {"Timezone": "UTC"}, "CohortId": "1"}) for d in docs[::2])
    upserted.ingest(docs)
    by_id = {m.Id: m for m in audience(upserted)}
    assert [by_id[m.Id] for m in want] == want
    assert audience(snapshot.restore(snapshot.dump(built), KERNEL) or built) == want
    assert list(built.addr) == [address_hash(decode_row(d).Address) for d in docs]


def test_every_address_that_may_repeat_is_a_candidate() -> None:
    docs = [enc({"Id": f"e{i}", "Address": f"u{i % 7}@example.com" if i % 3 else None}) for i in range(40)]
    idx = EndpointIndex(KERNEL)
    idx.bulk_append(docs)
    idx.rebuild_table()
    rows = list(range(idx.n))
    candidates = repeated_addresses(idx, rows, idx.ids(rows))
    addresses = {f"e{i}": f"u{i % 7}@example.com" for i in range(40) if i % 3}
    repeated = {a for a in addresses.values() if list(addresses.values()).count(a) > 1}
    assert set(candidates) == {e for e, a in addresses.items() if a in repeated}
    unique = [r for r in rows if idx.ids([r])[0] in {"e1", "e2", "e4"}]  # three distinct addresses, one None
    assert repeated_addresses(idx, [*unique, 0], idx.ids([*unique, 0])) == []


def test_gc_paused_restores_the_collector_as_it_found_it() -> None:
    import gc

    from gateway.campaigns.runner import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        gc.disable()
        with gc_paused():  # nested (or under a caller that paused it): left off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("planning failed")
    assert gc.isenabled()
