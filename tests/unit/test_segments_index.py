"""The columnar index itself: dictionary widening, id table, duplicates in a bulk load, updates and deletes, and the
kernels' building blocks, for both implementations."""

from __future__ import annotations

from array import array
from typing import Any

import msgspec
import pytest

from gateway import _fast
from gateway.models import EndpointResponse, EndpointUser
from gateway.segments.definition import Attr, Metric, Not
from gateway.segments.index import EndpointIndex, decode_row, from_documents
from gateway.segments.program import bind

KERNELS = _fast.implementations("segfilter")
enc = msgspec.json.Encoder().encode


def run(kernel: Any, idx: EndpointIndex, node: Any) -> set[str]:
    return set(idx.ids(kernel.rows(kernel.run(bind(node, idx, 0.0, lambda m: b""), idx.n))))


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_dictionary_widens_from_uint8_to_uint32(kernel: Any) -> None:
    n = 70_000 if kernel.__name__.endswith("_segfilter") else 3_000
    docs = [enc(EndpointResponse(Id=f"e{i}", Attributes={"v": [str(i)]})) for i in range(n)]
    idx = from_documents(docs, kernel)
    col = idx.custom["v"]
    assert col.codes.typecode == ("I" if n > 65_535 else "H")
    assert run(kernel, idx, Attr("custom", "v", "INCLUSIVE", (str(n - 1), "5"))) == {f"e{n - 1}", "e5"}
    # widening during incremental updates too
    idx2 = from_documents([enc(EndpointResponse(Id="x", Attributes={"v": ["a"]}))], kernel)
    for i in range(300):
        idx2.upsert(decode_row(enc(EndpointResponse(Id=f"y{i}", Attributes={"v": [f"w{i}"]}))))
    assert idx2.custom["v"].codes.typecode == "H"
    assert run(kernel, idx2, Attr("custom", "v", "INCLUSIVE", ("w299", "a"))) == {"x", "y299"}


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_bulk_load_duplicates_keep_the_last_copy(kernel: Any) -> None:
    docs = [
        enc(EndpointResponse(Id="a", Attributes={"c": ["old"]})),
        enc(EndpointResponse(Id="b", Attributes={"c": ["old"]})),
        enc(EndpointResponse(Id="a", Attributes={"c": ["new"]})),
    ]
    idx = from_documents(docs, kernel)
    assert idx.live == 2
    assert run(kernel, idx, Attr("custom", "c", "INCLUSIVE", ("old",))) == {"b"}
    assert run(kernel, idx, Attr("custom", "c", "INCLUSIVE", ("new",))) == {"a"}


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_updates_clear_removed_members_and_deletes_hide_rows(kernel: Any) -> None:
    idx = from_documents(
        [
            enc(
                EndpointResponse(
                    Id="a", Attributes={"c": ["x"]}, Metrics={"m": 2.0}, User=EndpointUser(UserAttributes={"u": ["1"]})
                )
            )
        ],
        kernel,
    )
    for i in range(40):  # grow the id table several times through the incremental path
        idx.upsert(decode_row(enc(EndpointResponse(Id=f"n{i}"))))
    assert idx.row_of("n39") == 40 and idx.row_of("zz") == -1
    idx.upsert(decode_row(enc(EndpointResponse(Id="a"))))
    assert run(kernel, idx, Attr("custom", "c", "INCLUSIVE", ("x",))) == set()
    assert run(kernel, idx, Attr("user", "u", "INCLUSIVE", ("1",))) == set()
    assert run(kernel, idx, Metric("m", "EQUAL", 2.0)) == set()
    assert "a" in run(kernel, idx, Not(Attr("custom", "c", "INCLUSIVE", ("x",))))
    idx.delete("a")
    assert "a" not in run(kernel, idx, Not(Attr("custom", "c", "INCLUSIVE", ("x",))))
    assert idx.live == 40
    idx.upsert(decode_row(enc(EndpointResponse(Id="a", Attributes={"c": ["x"]}))))
    assert run(kernel, idx, Attr("custom", "c", "INCLUSIVE", ("x",))) == {"a"} and idx.n == 41


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_kernels(kernel: Any) -> None:
    out = bytearray(4)
    kernel.lut_mask(array("B", [0, 1, 2, 9]), bytearray([0, 1, 0]), out)
    assert out == bytearray([0, 1, 0, 0])
    nan = float("nan")
    for op, want in [(0, [0, 0, 1, 0]), (1, [1, 0, 0, 0]), (2, [0, 1, 1, 0]), (3, [1, 1, 0, 0]), (4, [0, 1, 0, 0])]:
        kernel.cmp_mask(array("d", [1.0, 2.0, 3.0, nan]), op, 2.0, out)
        assert list(out) == want, op
    with pytest.raises(ValueError):
        kernel.cmp_mask(array("d", [1.0]), 9, 0.0, bytearray(1))
    kernel.gps_mask(array("d", [0.0, 0.0, nan, 0.0]), array("d", [179.95, -179.95, 0.0, 0.0]), 0.0, 180.0, 10.0, out)
    assert list(out) == [1, 1, 0, 0]
    assert kernel.haversine_km(0.0, 179.95, 0.0, -179.95) == pytest.approx(11.12, abs=0.01)
    prog = [("const", 1), ("mask", bytes([1, 0, 1, 0])), ("and", 2), ("const", 0), ("or", 2), ("not",)]
    assert kernel.run(prog, 4) == bytearray([0, 1, 0, 1])
    assert kernel.count(bytes([1, 0, 1])) == 2 and list(kernel.rows(bytes([0, 1, 1]))) == [1, 2]
    with pytest.raises(ValueError):
        kernel.run([("const", 1), ("const", 1)], 2)
    with pytest.raises(ValueError):
        kernel.run([("bogus",)], 2)
