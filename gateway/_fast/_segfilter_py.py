"""Pure-Python twin of _segfilter.pyx: the same kernels and program interpreter, identical results.

See the compiled module's docstring for the instruction set. The hash table uses Python's `hash(bytes)` instead
of FNV-1a: each table is only ever built and probed by the one module, so only self-consistency matters.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Sequence
from typing import Any

EARTH_RADIUS_KM = 6371.0088
_OPS = (operator.gt, operator.lt, operator.ge, operator.le, operator.eq)


def lut_mask(codes: Sequence[int], lut: bytes | bytearray, out: bytearray) -> None:
    m = len(lut)
    out[:] = bytes(lut[c] if c < m else 0 for c in codes)


def cmp_mask(vals: Sequence[float], op: int, x: float, out: bytearray) -> None:
    if not 0 <= op < len(_OPS):
        raise ValueError(f"unknown comparison {op}")
    f = _OPS[op]
    out[:] = bytes(1 if f(v, x) else 0 for v in vals)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = math.pi / 180.0
    dlat = (lat2 - lat1) * r
    dlon = (lon2 - lon1) * r
    s1 = math.sin(dlat / 2.0)
    s2 = math.sin(dlon / 2.0)
    a = s1 * s1 + math.cos(lat1 * r) * math.cos(lat2 * r) * s2 * s2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def gps_mask(lat: Sequence[float], lon: Sequence[float], lat0: float, lon0: float, km: float, out: bytearray) -> None:
    band = km / (EARTH_RADIUS_KM * math.pi / 180.0)
    res = bytearray(len(lat))
    for i, (la, lo) in enumerate(zip(lat, lon, strict=True)):
        if la != la or lo != lo or la < lat0 - band - 1e-9 or la > lat0 + band + 1e-9:
            continue
        res[i] = haversine_km(lat0, lon0, la, lo) <= km
    out[:] = res


def and_into(out: bytearray, other: bytes | bytearray) -> None:
    out[:] = bytes(a & b for a, b in zip(out, other, strict=True))


def or_into(out: bytearray, other: bytes | bytearray) -> None:
    out[:] = bytes(a | b for a, b in zip(out, other, strict=True))


def not_into(out: bytearray) -> None:
    out[:] = bytes(a ^ 1 for a in out)


def count(mask: bytes | bytearray) -> int:
    return sum(mask)


def rows(mask: bytes | bytearray) -> array[int]:
    return array("I", [i for i, b in enumerate(mask) if b])


def ids_of(rows_: Sequence[int], blob: bytes | bytearray, offsets: Sequence[int]) -> list[str]:
    return [bytes(blob[offsets[r] : offsets[r + 1]]).decode("utf-8") for r in rows_]


def table_find(table: Sequence[int], blob: bytes | bytearray, offsets: Sequence[int], key: bytes) -> int:
    mask = len(table) - 1
    slot = hash(key) & mask
    while True:
        row = table[slot]
        if row < 0:
            return -1
        if blob[offsets[row] : offsets[row + 1]] == key:
            return int(row)
        slot = (slot + 1) & mask


def table_insert(table: Any, key: bytes, row: int) -> None:
    mask = len(table) - 1
    slot = hash(key) & mask
    while table[slot] >= 0:
        slot = (slot + 1) & mask
    table[slot] = row


def table_build(blob: bytes | bytearray, offsets: Sequence[int], n: int, size: int) -> tuple[array[int], list[int]]:
    out = array("i", [-1]) * size
    superseded: list[int] = []
    mask = size - 1
    for r in range(n):
        key = bytes(blob[offsets[r] : offsets[r + 1]])
        slot = hash(key) & mask
        while True:
            other = out[slot]
            if other < 0:
                out[slot] = r
                break
            if blob[offsets[other] : offsets[other + 1]] == key:
                superseded.append(other)
                out[slot] = r
                break
            slot = (slot + 1) & mask
    return out, superseded


def run(program: list[tuple[Any, ...]], n: int) -> bytearray:
    stack: list[bytearray] = []
    for ins in program:
        op = ins[0]
        m = bytearray(n)
        if op == "lut":
            lut_mask(ins[1], ins[2], m)
            stack.append(m)
        elif op == "cmp":
            cmp_mask(ins[1], ins[2], ins[3], m)
            stack.append(m)
        elif op == "gps":
            gps_mask(ins[1], ins[2], ins[3], ins[4], ins[5], m)
            stack.append(m)
        elif op == "mask":
            stack.append(bytearray(ins[1]))
        elif op == "const":
            stack.append(bytearray(b"\x01" * n) if ins[1] else m)
        elif op in ("and", "or"):
            k = ins[1]
            top = stack[len(stack) - k]
            for other in stack[len(stack) - k + 1 :]:
                (and_into if op == "and" else or_into)(top, other)
            del stack[len(stack) - k + 1 :]
        elif op == "not":
            not_into(stack[-1])
        else:
            raise ValueError(f"unknown instruction {op!r}")
    if len(stack) != 1:
        raise ValueError("program must leave exactly one mask")
    return stack[0]
