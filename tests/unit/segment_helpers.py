"""In-memory helpers for segment tests: index endpoints without Redis, run a segment with a kernel, and ask the
reference evaluator the same question."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec

from gateway.models import EndpointResponse, SegmentResponse, WriteSegmentRequest
from gateway.segments import reference
from gateway.segments.definition import And, Node, Not, Or, Ref, check_write_request
from gateway.segments.index import from_documents
from gateway.segments.program import bind
from gateway.segments.store import tree_of

NOW = 1717200000.0  # 2024-06-01T00:00:00Z


def seg(seg_id: str = "s", *, version: int = 1, import_: bool = False, **write: Any) -> SegmentResponse:
    req = msgspec.convert(write, WriteSegmentRequest) if write else WriteSegmentRequest()
    if not import_:
        check_write_request(req)
    return SegmentResponse(
        ApplicationId="app",
        Arn="arn",
        CreationDate="2024-01-01T00:00:00.000Z",
        Id=seg_id,
        SegmentType="IMPORT" if import_ else "DIMENSIONAL",
        Dimensions=req.Dimensions,
        SegmentGroups=req.SegmentGroups,
        Version=version,
    )


def _expand(node: Node, segs: dict[str, SegmentResponse]) -> Node:
    if isinstance(node, Ref):
        return _expand(tree_of(segs[node.segment_id]), segs)
    if isinstance(node, And):
        return And(tuple(_expand(c, segs) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(_expand(c, segs) for c in node.children))
    if isinstance(node, Not):
        return Not(_expand(node.child, segs))
    return node


def compiled(
    kernel: ModuleType,
    endpoints: list[EndpointResponse],
    s: SegmentResponse,
    *,
    segs: dict[str, SegmentResponse] | None = None,
    members: dict[str, set[str]] | None = None,
    now: float = NOW,
) -> set[str]:
    """Ids the compiled filter selects."""
    enc = msgspec.json.Encoder().encode
    idx = from_documents([enc(e) for e in endpoints], kernel)
    node = _expand(tree_of(s), segs or {})
    mem = members or {}

    def mask(m: Any) -> bytearray:
        out = bytearray(idx.n)
        for eid in mem.get(m.segment_id, set()):
            r = idx.row_of(eid)
            if r >= 0:
                out[r] = 1
        return out

    return set(idx.ids(kernel.rows(kernel.run(bind(node, idx, now, mask), idx.n))))


def referenced(
    endpoints: list[EndpointResponse],
    s: SegmentResponse,
    *,
    segs: dict[str, SegmentResponse] | None = None,
    members: dict[str, set[str]] | None = None,
    now: float = NOW,
) -> set[str]:
    """Ids the plain reference evaluator selects."""
    table = segs or {}
    mem = members or {}
    out = set()
    for e in endpoints:
        d = msgspec.to_builtins(e)
        if reference.segment_match(s, d, now, lambda i, v: table[i], lambda i, v: mem.get(i, set())):
            out.add(e.Id or "")
    return out
