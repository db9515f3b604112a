# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Segment filter kernels over a columnar index (compiled twin of _segfilter_py.py; identical behaviour).

A compiled segment is a postfix program (gateway/segments/program.py) of column kernels and mask algebra:

    ("lut", codes, lut)         push: lut[codes[i]] (codes are dictionary codes; a code past the lut is 0)
    ("cmp", values, op, x)      push: values[i] OP x, op 0 GT, 1 LT, 2 GE, 3 LE, 4 EQ (NaN = missing -> 0)
    ("gps", lat, lon, la, lo, km)   push: haversine((la, lo), (lat[i], lon[i])) <= km
    ("mask", bytes)             push: a precomputed mask (imported segment membership, the live-row mask)
    ("const", 0|1)              push: all zeros / all ones
    ("and", k) ("or", k)        pop k masks, push their AND / OR
    ("not",)                    replace the top mask by its negation

Masks are bytearrays of 0/1, one byte per row.
"""

from array import array

from libc.math cimport asin, cos, sin, sqrt, M_PI
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memset

ctypedef fused code_t:
    uint8_t
    uint16_t
    uint32_t

cdef double EARTH_RADIUS_KM = 6371.0088


def lut_mask(const code_t[:] codes, const uint8_t[:] lut, uint8_t[:] out):
    cdef Py_ssize_t i, n = codes.shape[0]
    cdef uint32_t c, m = <uint32_t>lut.shape[0]
    for i in range(n):
        c = codes[i]
        out[i] = lut[c] if c < m else 0


def cmp_mask(const double[:] vals, int op, double x, uint8_t[:] out):
    cdef Py_ssize_t i, n = vals.shape[0]
    cdef double v
    if op == 0:
        for i in range(n):
            out[i] = vals[i] > x
    elif op == 1:
        for i in range(n):
            out[i] = vals[i] < x
    elif op == 2:
        for i in range(n):
            out[i] = vals[i] >= x
    elif op == 3:
        for i in range(n):
            out[i] = vals[i] <= x
    elif op == 4:
        for i in range(n):
            out[i] = vals[i] == x
    else:
        raise ValueError(f"unknown comparison {op}")


cdef inline double _haversine(double lat1, double lon1, double lat2, double lon2) nogil:
    cdef double r = M_PI / 180.0
    cdef double dlat = (lat2 - lat1) * r
    cdef double dlon = (lon2 - lon1) * r
    cdef double s1 = sin(dlat / 2.0)
    cdef double s2 = sin(dlon / 2.0)
    cdef double a = s1 * s1 + cos(lat1 * r) * cos(lat2 * r) * s2 * s2
    if a > 1.0:
        a = 1.0
    return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a))


def haversine_km(double lat1, double lon1, double lat2, double lon2):
    return _haversine(lat1, lon1, lat2, lon2)


def gps_mask(const double[:] lat, const double[:] lon, double lat0, double lon0, double km, uint8_t[:] out):
    cdef Py_ssize_t i, n = lat.shape[0]
    cdef double la, lo
    # Cheap latitude band first: a point more than km away in latitude alone cannot be within range.
    cdef double band = km / (EARTH_RADIUS_KM * M_PI / 180.0)
    for i in range(n):
        la = lat[i]
        lo = lon[i]
        if la != la or lo != lo or la < lat0 - band - 1e-9 or la > lat0 + band + 1e-9:
            out[i] = 0
        else:
            out[i] = _haversine(lat0, lon0, la, lo) <= km


def and_into(uint8_t[:] out, const uint8_t[:] other):
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] &= other[i]


def or_into(uint8_t[:] out, const uint8_t[:] other):
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] |= other[i]


def not_into(uint8_t[:] out):
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] ^= 1


def count(const uint8_t[:] mask):
    cdef Py_ssize_t i, n = mask.shape[0], total = 0
    for i in range(n):
        total += mask[i]
    return total


def rows(const uint8_t[:] mask):
    """Row numbers where the mask is set, as array('I')."""
    cdef Py_ssize_t i, j = 0, n = mask.shape[0]
    cdef Py_ssize_t total = count(mask)
    out = array("I", bytes(4 * total))
    cdef uint32_t[:] o = out
    for i in range(n):
        if mask[i]:
            o[j] = <uint32_t>i
            j += 1
    return out


def ids_of(const uint32_t[:] rows_, const uint8_t[:] blob, const uint32_t[:] offsets):
    """The endpoint ids (str) of the given rows."""
    cdef Py_ssize_t i, n = rows_.shape[0]
    cdef uint32_t r
    cdef list out = [None] * n
    cdef const uint8_t* base = &blob[0] if blob.shape[0] else NULL
    for i in range(n):
        r = rows_[i]
        out[i] = (<const char*>base)[offsets[r]:offsets[r + 1]].decode("utf-8")
    return out


cdef inline uint64_t _fnv(const uint8_t* p, Py_ssize_t n) nogil:
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(n):
        h ^= p[i]
        h *= 1099511628211ULL
    return h


def table_find(const int32_t[:] table, const uint8_t[:] blob, const uint32_t[:] offsets, bytes key):
    """Row of `key` in the open-addressing table (size a power of two, -1 = empty), or -1."""
    cdef Py_ssize_t klen = len(key)
    cdef const uint8_t* k = <const uint8_t*><const char*>key
    cdef uint64_t mask = <uint64_t>(table.shape[0] - 1)
    cdef uint64_t slot = _fnv(k, klen) & mask
    cdef int32_t row
    cdef uint32_t a, b
    while True:
        row = table[slot]
        if row < 0:
            return -1
        a = offsets[row]
        b = offsets[row + 1]
        if b - a == klen and (klen == 0 or memcmp(&blob[a], k, klen) == 0):
            return row
        slot = (slot + 1) & mask


cdef void _insert(int32_t[:] table, const uint8_t* k, Py_ssize_t klen, int32_t row):
    cdef uint64_t mask = <uint64_t>(table.shape[0] - 1)
    cdef uint64_t slot = _fnv(k, klen) & mask
    while table[slot] >= 0:
        slot = (slot + 1) & mask
    table[slot] = row


def table_insert(int32_t[:] table, bytes key, int row):
    """Insert a key known to be absent."""
    _insert(table, <const uint8_t*><const char*>key, len(key), row)


def table_build(const uint8_t[:] blob, const uint32_t[:] offsets, Py_ssize_t n, Py_ssize_t size):
    """(table, superseded): a fresh table of `size` slots (a power of two > n) holding rows 0..n-1; when an id
    occurs in several rows the last one is kept and the earlier rows are listed in `superseded`."""
    out = array("i", b"\xff" * (4 * size))
    cdef int32_t[:] t = out
    cdef list superseded = []
    cdef Py_ssize_t r
    cdef uint64_t mask = <uint64_t>(size - 1)
    cdef uint64_t slot
    cdef int32_t other
    cdef uint32_t a, b, oa, ob
    cdef const uint8_t* base = &blob[0] if blob.shape[0] else NULL
    for r in range(n):
        a = offsets[r]
        b = offsets[r + 1]
        slot = _fnv(base + a, b - a) & mask
        while True:
            other = t[slot]
            if other < 0:
                t[slot] = <int32_t>r
                break
            oa = offsets[other]
            ob = offsets[other + 1]
            if ob - oa == b - a and (b == a or memcmp(base + oa, base + a, b - a) == 0):
                superseded.append(other)
                t[slot] = <int32_t>r
                break
            slot = (slot + 1) & mask
    return out, superseded


def run(list program, Py_ssize_t n):
    """Execute a postfix program over n rows; returns the final mask (bytearray)."""
    cdef list stack = []
    cdef bytearray m, top
    cdef Py_ssize_t k, j
    for ins in program:
        op = ins[0]
        if op == "lut":
            m = bytearray(n)
            lut_mask(ins[1], ins[2], m)
            stack.append(m)
        elif op == "cmp":
            m = bytearray(n)
            cmp_mask(ins[1], ins[2], ins[3], m)
            stack.append(m)
        elif op == "gps":
            m = bytearray(n)
            gps_mask(ins[1], ins[2], ins[3], ins[4], ins[5], m)
            stack.append(m)
        elif op == "mask":
            stack.append(bytearray(ins[1]))
        elif op == "const":
            m = bytearray(n)
            if ins[1]:
                memset(<char*>m, 1, n)
            stack.append(m)
        elif op == "and" or op == "or":
            k = ins[1]
            top = stack[len(stack) - k]
            for j in range(len(stack) - k + 1, len(stack)):
                if op == "and":
                    and_into(top, stack[j])
                else:
                    or_into(top, stack[j])
            del stack[len(stack) - k + 1:]
        elif op == "not":
            not_into(stack[len(stack) - 1])
        else:
            raise ValueError(f"unknown instruction {op!r}")
    if len(stack) != 1:
        raise ValueError("program must leave exactly one mask")
    return stack[0]
