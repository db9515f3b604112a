"""Bind a compiled segment tree (definition.py) to an application's index: the postfix program the filter kernel
(gateway._fast.load("segfilter")) runs. Lookup tables are cached in the index, so binding the same segment again
costs only the dictionary entries added since."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.endpoints.rules import parse_instant
from gateway.segments.definition import (
    Active,
    And,
    Attr,
    Const,
    Members,
    Metric,
    Near,
    Node,
    Not,
    Or,
    Ref,
    SetIn,
)
from gateway.segments.index import Column, EndpointIndex

OPCODES = {"GREATER_THAN": 0, "LESS_THAN": 1, "GREATER_THAN_OR_EQUAL": 2, "LESS_THAN_OR_EQUAL": 3, "EQUAL": 4}
Program = list[tuple[Any, ...]]


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def attr_predicate(node: Attr) -> Callable[[tuple[str, ...]], bool]:
    """Whether one dictionary entry (an endpoint's list of values) satisfies the criterion."""
    crit = node.values
    if node.op == "INCLUSIVE":
        cset = frozenset(crit)
        return lambda vals: any(v in cset for v in vals)
    if node.op == "CONTAINS":
        return lambda vals: any(c in v for v in vals for c in crit)

    def times(vals: tuple[str, ...]) -> list[float]:
        return [t for t in (parse_instant(v) for v in vals) if t is not None]

    a = parse_instant(crit[0])
    assert a is not None  # checked when the segment was written
    if node.op == "BEFORE":
        return lambda vals: any(t < a for t in times(vals))
    if node.op == "AFTER":
        return lambda vals: any(t > a for t in times(vals))
    if node.op == "ON":
        day = _day(a)
        return lambda vals: any(_day(t) == day for t in times(vals))
    if node.op == "BETWEEN":
        b = parse_instant(crit[1])
        assert b is not None
        return lambda vals: any(a <= t <= b for t in times(vals))
    raise ValueError(f"unknown attribute operator {node.op!r}")


def set_predicate(node: SetIn) -> Callable[[tuple[str, ...]], bool]:
    want = frozenset(v.casefold() for v in node.values)
    return lambda vals: any(v.casefold() in want for v in vals)


def bind(node: Node, idx: EndpointIndex, now: float, members: Callable[[Members], bytes | bytearray]) -> Program:
    """The program for `node` over `idx` at wall-clock `now`, ANDed with the live-row mask."""
    prog: Program = []
    _emit(node, idx, now, members, prog)
    prog.append(("mask", idx.alive))
    prog.append(("and", 2))
    return prog


def _lut(prog: Program, idx: EndpointIndex, key: Any, col: Column | None, pred: Any) -> None:
    if col is None:
        prog.append(("const", 0))
    else:
        prog.append(("lut", col.codes, idx.lut(key, col, pred)))


def _emit(node: Node, idx: EndpointIndex, now: float, members: Any, prog: Program) -> None:
    if isinstance(node, Const):
        prog.append(("const", 1 if node.value else 0))
    elif isinstance(node, Attr):
        cols = idx.custom if node.kind == "custom" else idx.user
        col = cols.get(node.name)
        _lut(prog, idx, (node.kind, node.name, node), col, attr_predicate(node) if col is not None else None)
    elif isinstance(node, SetIn):
        col = idx.sets.get(node.field)  # DeviceType has no column: always missing
        _lut(prog, idx, ("set", node), col, set_predicate(node) if col is not None else None)
    elif isinstance(node, Metric):
        arr = idx.metrics.get(node.name)
        if arr is None:
            prog.append(("const", 0))
        else:
            prog.append(("cmp", arr, OPCODES[node.op], node.value))
    elif isinstance(node, Active):
        prog.append(("cmp", idx.eff, OPCODES["GREATER_THAN_OR_EQUAL"], now - node.seconds))
    elif isinstance(node, Near):
        prog.append(("gps", idx.lat, idx.lon, node.lat, node.lon, node.km))
    elif isinstance(node, Members):
        prog.append(("mask", members(node)))
    elif isinstance(node, (And, Or)):
        for c in node.children:
            _emit(c, idx, now, members, prog)
        prog.append(("and" if isinstance(node, And) else "or", len(node.children)))
    elif isinstance(node, Not):
        _emit(node.child, idx, now, members, prog)
        prog.append(("not",))
    elif isinstance(node, Ref):
        raise ValueError(f"segment reference {node.segment_id!r} was not expanded before binding")
    else:
        raise TypeError(f"unknown node {node!r}")
