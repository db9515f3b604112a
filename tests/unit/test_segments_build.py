"""Appending rows to the columnar index: the compiled builder (gateway/_fast/_segbuild.pyx) and its pure-Python twin
produce identical columns, byte for byte, on random endpoint documents, random batch splits, dictionary widening,
the canonical EffectiveDate fast path against parse_instant, and failures part-way through a batch."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _fast
from gateway.endpoints.rules import parse_instant
from gateway.segments.index import Column, EndpointIndex, decode_row

BUILDERS = _fast.implementations("segbuild")
KERNEL = _fast.load("segfilter")
enc = msgspec.json.Encoder().encode


def columns(idx: EndpointIndex) -> dict[str, Any]:
    """Everything an append writes, in comparable form (floats as bytes, so NaN compares equal)."""

    def col(c: Column) -> tuple[Any, ...]:
        return (c.codes.typecode, c.codes.tobytes(), c.values, c.lookup, c.width)

    return {
        "n": idx.n,
        "live": idx.live,
        "blob": bytes(idx.blob),
        "offsets": idx.offsets.tobytes(),
        "alive": bytes(idx.alive),
        "eff": idx.eff.tobytes(),
        "lat": idx.lat.tobytes(),
        "lon": idx.lon.tobytes(),
        "addr": idx.addr.tobytes(),
        "sets": [(k, col(c)) for k, c in idx.sets.items()],
        "custom": [(k, col(c)) for k, c in idx.custom.items()],
        "user": [(k, col(c)) for k, c in idx.user.items()],
        "metrics": [(k, m.typecode, m.tobytes()) for k, m in idx.metrics.items()],
    }


def built(builder: ModuleType, batches: list[list[bytes | None]]) -> EndpointIndex:
    idx = EndpointIndex(KERNEL, builder)
    for batch in batches:
        idx.bulk_append(batch)
    return idx


WORDS = ["red", "Red", "", "blue", "ü", "a,b", "🙂", "x" * 40]
DATES = [
    "2024-05-01T10:00:00.123Z",  # the canonical form (fast path)
    "1970-01-01T00:00:00.000Z",
    "1969-12-31T23:59:59.999Z",
    "2024-02-29T12:00:00.500Z",
    "2023-02-29T12:00:00.500Z",  # not a date: parse_instant says None
    "0001-01-01T00:00:00.000Z",  # beyond 2**53 microseconds: falls back to parse_instant
    "9999-12-31T23:59:59.999Z",
    "2024-13-01T00:00:00.000Z",
    "2024-05-01T24:00:00.000Z",
    "2024-05-01T10:00:60.000Z",
    "2024-05-01T10:00:00.12Z",
    "2024-05-01T10:00:00.123+",
    "2024-05-01 10:00:00.123Z",
    "2024-05-01T10:00:00.1234Z",
    "2024-05-01",
    "2024-05-01T10:00Z",
    "2024-05-01T10:00:00.123+02:00",
    "2024-05-0\u0661T10:00:00.123Z",  # a non-ASCII digit (ARABIC-INDIC ONE)
    "bad",
    "",
]
NAMES = ["a", "b", "c", "long_attribute_name"]

values = st.lists(st.sampled_from(WORDS), max_size=3)
attributes = st.one_of(st.none(), st.dictionaries(st.sampled_from(NAMES), values, max_size=4))
metric = st.one_of(st.sampled_from([0, 1, -7, 2**40]), st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def document(draw: Any) -> bytes | None:
    if draw(st.integers(0, 30)) == 0:
        return None  # MGET of a key deleted meanwhile
    doc: dict[str, Any] = {"Id": draw(st.sampled_from(["", None, *[f"e{i}" for i in range(12)], "é/ü"]))}
    if draw(st.booleans()):
        doc["ChannelType"] = draw(st.sampled_from(["EMAIL", "SMS", "GCM", "", None]))
    if draw(st.booleans()):
        doc["EffectiveDate"] = draw(st.sampled_from([*DATES, None]))
    if draw(st.booleans()):
        doc["Attributes"] = draw(attributes)
    if draw(st.booleans()):
        doc["Metrics"] = draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(NAMES), metric, max_size=3)))
    if draw(st.booleans()):
        doc["Demographic"] = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        k: st.sampled_from(["ios", "iOS", "3.1", "", None])
                        for k in ("AppVersion", "Make", "Model", "Platform", "Timezone")
                    },
                ),
            )
        )
    if draw(st.booleans()):
        doc["Location"] = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "Country": st.sampled_from(["US", "us", "FR", None]),
                        "Latitude": st.one_of(st.none(), st.floats(-90, 90), st.integers(-90, 90)),
                        "Longitude": st.one_of(st.none(), st.floats(-180, 180)),
                    },
                ),
            )
        )
    if draw(st.booleans()):
        doc["User"] = draw(
            st.one_of(st.none(), st.fixed_dictionaries({}, optional={"UserAttributes": attributes, "UserId": st.just("u")}))
        )
    if draw(st.booleans()):
        doc["Address"] = draw(st.sampled_from(["a@example.com", "+14155550100", "", "ü@é.example", None]))
    for member, choices in (("OptOut", ["ALL", "NONE", None]), ("EndpointStatus", ["ACTIVE", "INACTIVE", None]),
                            ("CohortId", ["0", "57", "99", None])):
        if draw(st.booleans()):
            doc[member] = draw(st.sampled_from(choices))
    doc["RequestId"] = "ignored"  # members the index does not read are skipped by the decoder
    return enc(doc)


@given(st.lists(st.lists(document(), max_size=12), max_size=6))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_append_and_twin_produce_identical_columns(batches: list[list[bytes | None]]) -> None:
    results = [columns(built(b, batches)) for b in BUILDERS]
    assert all(r == results[0] for r in results[1:])


@given(st.lists(document(), max_size=20), st.lists(document(), max_size=20))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_appends_after_upserts_and_table_rebuilds_agree(first: list[bytes | None], then: list[bytes | None]) -> None:
    """Upserts of new ids append one row at a time through the builder; existing rows are rewritten in place."""
    results = []
    for b in BUILDERS:
        idx = built(b, [first])
        idx.rebuild_table()
        for raw in then:
            if raw is not None:
                idx.upsert(decode_row(raw))
        idx.bulk_append(first)
        results.append(columns(idx))
    assert all(r == results[0] for r in results[1:])


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_widening_inside_one_batch_keeps_every_code(builder: ModuleType) -> None:
    docs: list[bytes | None] = []
    for i in range(70_000):
        # 66,000 distinct values widen uint8 -> uint16 -> uint32 in one call; repeats come back through the memo
        v = str(i % 66_000)
        docs.append(enc({"Id": f"e{i}", "ChannelType": v, "Attributes": {"v": [v], "w": [v, "x"]}}))
    idx = built(builder, [docs])
    want = [str(i % 66_000) for i in range(70_000)]
    for col in (idx.sets["channel"], idx.custom["v"]):
        assert col.codes.typecode == "I"
        assert [col.values[c][0] for c in col.codes] == want
    assert idx.custom["w"].values[idx.custom["w"].codes[66_001]] == ("1", "x")


def test_widening_agrees_between_builders() -> None:
    docs: list[bytes | None] = [
        enc({"Id": f"e{i}", "Demographic": {"Model": f"m{i % 300}"}, "Attributes": {"v": [f"w{i % 260}"]}})
        for i in range(900)
    ]
    results = [columns(built(b, [docs[:100], docs[100:]])) for b in BUILDERS]
    assert results[0]["sets"][3][1][0] == "H"
    assert all(r == results[0] for r in results[1:])


@given(
    st.integers(0, 10_000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.integers(0, 999),
)
@settings(max_examples=500, deadline=None)
def test_canonical_effective_dates_read_exactly_as_parse_instant(
    y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int
) -> None:
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}Z"
    want = parse_instant(text)
    for b in BUILDERS:
        idx = built(b, [[enc({"Id": "e", "EffectiveDate": text})]])
        got = idx.eff[0]
        assert (math.isnan(got) and want is None) or got == want, (b.__name__, text, got, want)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_a_bad_document_stops_the_batch_after_the_rows_before_it(builder: ModuleType) -> None:
    good = [enc({"Id": f"e{i}", "Attributes": {"a": ["x"]}}) for i in range(3)]
    idx = EndpointIndex(KERNEL, builder)
    with pytest.raises(msgspec.ValidationError):
        idx.bulk_append([*good, b'{"Id": "bad", "Attributes": {"a": "not a list"}}', *good])
    assert idx.n == 3 and bytes(idx.blob) == b"e0e1e2"
    assert list(idx.custom["a"].codes) == [1, 1, 1]
    twin = EndpointIndex(KERNEL, BUILDERS[-1])
    twin.bulk_append(good)
    assert columns(idx) == columns(twin)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_a_column_exporting_its_buffer_is_not_resized_under_the_view(builder: ModuleType) -> None:
    idx = built(builder, [[enc({"Id": "a", "EffectiveDate": DATES[0]})]])
    view = memoryview(idx.eff)
    with pytest.raises(BufferError):
        idx.bulk_append([enc({"Id": "b", "EffectiveDate": DATES[0]})])
    view.release()
    assert len(idx.eff) == 1


def test_a_failed_append_leaves_the_same_state_in_both() -> None:
    states = []
    for b in BUILDERS:
        idx = built(b, [[enc({"Id": "a", "EffectiveDate": DATES[0]})]])
        view = memoryview(idx.eff)
        with pytest.raises(BufferError):
            idx.bulk_append([enc({"Id": "b", "ChannelType": "SMS", "EffectiveDate": DATES[0]})])
        view.release()
        states.append(columns(idx))
    assert all(s == states[0] for s in states[1:])
