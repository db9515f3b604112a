# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Appends endpoint rows to a columnar index (compiled twin of _segbuild_py.py; identical behaviour).

    append_docs(idx, raws, decode, new_column, parse_instant)   decode each stored document (None skipped) and
                                                               append a row for each one with an Id
    append_rows(idx, rows, new_column, parse_instant)          append a row for each decoded Row with an Id

The index layout lives in gateway/segments/index.py; this module does the same appends as the twin, without the
interpreter: each call looks the index's columns up once, keeps each column's lookup dict and code array at hand,
and appends to arrays in place while they have room (growth, and arrays exporting buffers, go through
array.append, so errors and over-allocation are the array module's own). The canonical EffectiveDate written by
the gateway (`2024-05-01T10:00:00.123Z`) is read here; any other text goes to `parse_instant`, which returns the
same value for the canonical form (the seconds are microseconds / 10**6, correctly rounded, as
datetime.timestamp() computes them).
"""

from array import array as _pyarray
from zlib import crc32 as _crc32

from cpython cimport array
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject, Py_SIZE
from libc.math cimport NAN
from libc.stdint cimport int64_t
from libc.string cimport memcpy

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object u, Py_ssize_t *size) except NULL

cdef extern from *:
    """
    /* CPython's arrayobject (Modules/arraymodule.c), to see whether an append fits in the allocation. */
    typedef struct {
        PyObject_VAR_HEAD
        char *ob_item;
        Py_ssize_t allocated;
        const void *ob_descr;
        PyObject *weakreflist;
        Py_ssize_t ob_exports;
    } gw_arrayobject;
    static CYTHON_INLINE Py_ssize_t gw_room(PyObject *a) {
        gw_arrayobject *o = (gw_arrayobject *)a;
        return o->ob_exports == 0 ? o->allocated - Py_SIZE(o) : 0;
    }
    static CYTHON_INLINE Py_ssize_t gw_exports(PyObject *a) { return ((gw_arrayobject *)a)->ob_exports; }
    static CYTHON_INLINE void gw_grow1(PyObject *a) { Py_SET_SIZE(a, Py_SIZE(a) + 1); }
    """
    Py_ssize_t gw_room(object a)
    Py_ssize_t gw_exports(object a)
    void gw_grow1(object a)


cdef bint _in_place_ok():
    # The struct above must match this interpreter's array.array: check it sees an exported buffer come and go.
    a = _pyarray("B", b"x")
    if gw_exports(a) != 0:
        return False
    m = memoryview(a)
    seen = gw_exports(a)
    m.release()
    return seen == 1 and gw_exports(a) == 0 and gw_room(a) >= 0

cdef bint IN_PLACE = _in_place_ok()
cdef int64_t MAX_EXACT = 9007199254740992  # 2**53: larger microsecond counts are not exact in a double


cdef inline int push_code(array.array arr, Py_ssize_t c) except -1:
    cdef Py_ssize_t n = Py_SIZE(arr)
    cdef char tc = arr.ob_descr.typecode
    if IN_PLACE and gw_room(arr) > 0 and c >= 0:
        if tc == b"B" and c <= 0xFF:
            gw_grow1(arr)
            arr.data.as_uchars[n] = <unsigned char>c
            return 0
        if tc == b"H" and c <= 0xFFFF:
            gw_grow1(arr)
            arr.data.as_ushorts[n] = <unsigned short>c
            return 0
        if tc == b"I" and arr.ob_descr.itemsize == 4 and c <= 0xFFFFFFFF:
            gw_grow1(arr)
            arr.data.as_uints[n] = <unsigned int>c
            return 0
    arr.append(c)
    return 0


cdef inline int push_double(array.array arr, double v) except -1:
    cdef Py_ssize_t n = Py_SIZE(arr)
    if IN_PLACE and gw_room(arr) > 0 and arr.ob_descr.typecode == b"d":
        gw_grow1(arr)
        arr.data.as_doubles[n] = v
        return 0
    arr.append(v)
    return 0


cdef inline int push_byte(bytearray b, unsigned char v) except -1:
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(b)
    PyByteArray_Resize(b, n + 1)  # over-allocates, and refuses while a buffer is exported, as append does
    PyByteArray_AS_STRING(b)[n] = <char>v
    return 0


cdef class _Col:
    """One dictionary-encoded column as an append sees it: its lookup dict, its (possibly widened) codes, and a
    memo of this call's one-value keys by their string (no tuple to build, hash and compare for most rows)."""

    cdef object name
    cdef object col
    cdef dict lookup
    cdef dict memo
    cdef array.array codes

    def __cinit__(self, name, col):
        self.name = name
        self.col = col
        self.lookup = col.lookup
        self.codes = col.codes
        self.memo = {}

    cdef inline int push_key(self, object t) except -1:
        cdef PyObject *p = PyDict_GetItem(self.lookup, t)
        cdef Py_ssize_t c
        if p is NULL:
            c = self.col.code(t)  # may widen the codes array: look it up again
            self.codes = self.col.codes
            self.lookup = self.col.lookup
        else:
            c = <object>p
        return push_code(self.codes, c)

    cdef inline int push_one(self, object value) except -1:
        """Push the code of the key (value,), value an exact str."""
        cdef PyObject *p = PyDict_GetItem(self.memo, value)
        cdef Py_ssize_t n
        if p is not NULL:
            return push_code(self.codes, <Py_ssize_t><object>p)
        n = Py_SIZE(self.codes)
        self.push_key((value,))
        # codes never change once given (dictionaries only grow), so the memo stays right for this call
        self.memo[value] = self.codes[n]
        return 0

    cdef inline int push_value(self, object value) except -1:
        if value is None:
            return push_code(self.codes, 0)
        if type(value) is str:
            return self.push_one(value)
        return self.push_key((value,))

    cdef inline int push_list(self, object t) except -1:
        if t:
            if type(t) is tuple and len(<tuple>t) == 1 and type((<tuple>t)[0]) is str:
                return self.push_one((<tuple>t)[0])
            return self.push_key(t)
        return push_code(self.codes, 0)


cdef inline int _digit(str s, Py_ssize_t i) except -2:
    cdef Py_UCS4 ch = s[i]
    if ch < 48 or ch > 57:  # ASCII digits only (datetime.fromisoformat reads others differently)
        return -1
    return <int>ch - 48


cdef int _num(str s, Py_ssize_t i, Py_ssize_t k) except -2:
    cdef int v = 0, d
    cdef Py_ssize_t j
    for j in range(i, i + k):
        d = _digit(s, j)
        if d < 0:
            return -1
        v = v * 10 + d
    return v


cdef bint _canonical_instant(str s, double *out) except -1:
    """Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.fffZ`; False (nothing written) for any other text."""
    cdef int y, mo, d, h, mi, sec, ms, dim
    cdef int64_t days, yy, era, yoe, doy, doe, mp, us
    if len(s) != 24:
        return False
    if s[4] != u"-" or s[7] != u"-" or s[10] != u"T" or s[13] != u":" or s[16] != u":" or s[19] != u"." or s[23] != u"Z":
        return False
    y = _num(s, 0, 4)
    mo = _num(s, 5, 2)
    d = _num(s, 8, 2)
    h = _num(s, 11, 2)
    mi = _num(s, 14, 2)
    sec = _num(s, 17, 2)
    ms = _num(s, 20, 3)
    if y < 1 or mo < 1 or mo > 12 or d < 1 or h < 0 or h > 23 or mi < 0 or mi > 59 or sec < 0 or sec > 59 or ms < 0:
        return False
    if mo == 2:
        dim = 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    else:
        dim = 31
    if d > dim:
        return False
    # days from 1970-01-01 (H. Hinnant's days_from_civil, proleptic Gregorian as datetime)
    yy = y - (1 if mo <= 2 else 0)
    era = (yy if yy >= 0 else yy - 399) // 400
    yoe = yy - era * 400
    mp = mo - 3 if mo > 2 else mo + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    us = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000 + ms) * 1000
    if us >= MAX_EXACT or us <= -MAX_EXACT:
        return False
    out[0] = <double>us / 1000000.0
    return True


cdef class _Appender:
    """The index's columns looked up once per call; `append(ep)` adds one row."""

    cdef object idx
    cdef object new_column
    cdef object parse_instant
    cdef Py_ssize_t n, live
    cdef bytearray blob, alive
    cdef array.array offsets, eff, lat, lon, addr
    cdef _Col channel, appversion, make, model, platform, country, optout, status, timezone, cohort
    cdef dict custom, user, metrics
    cdef list custom_cols, user_cols, metric_names, metric_arrs

    def __cinit__(self, idx, new_column, parse_instant):
        self.idx = idx
        self.new_column = new_column
        self.parse_instant = parse_instant
        self.n = idx.n
        self.live = idx.live
        self.blob = idx.blob
        self.alive = idx.alive
        self.offsets = idx.offsets
        self.eff = idx.eff
        self.lat = idx.lat
        self.lon = idx.lon
        self.addr = idx.addr
        sets = idx.sets
        self.channel = _Col("channel", sets["channel"])
        self.appversion = _Col("appversion", sets["appversion"])
        self.make = _Col("make", sets["make"])
        self.model = _Col("model", sets["model"])
        self.platform = _Col("platform", sets["platform"])
        self.country = _Col("country", sets["country"])
        self.optout = _Col("optout", sets["optout"])
        self.status = _Col("status", sets["status"])
        self.timezone = _Col("timezone", sets["timezone"])
        self.cohort = _Col("cohort", sets["cohort"])
        self.custom = idx.custom
        self.user = idx.user
        self.metrics = idx.metrics
        self.custom_cols = [_Col(k, v) for k, v in self.custom.items()]
        self.user_cols = [_Col(k, v) for k, v in self.user.items()]
        self.metric_names = list(self.metrics)
        self.metric_arrs = list(self.metrics.values())

    cdef int finish(self) except -1:
        self.idx.n = self.n
        self.idx.live = self.live
        return 0

    cdef int append(self, object ep) except -1:
        cdef object eid = ep.Id
        cdef const char *key
        cdef Py_ssize_t row, old, klen, end
        cdef double e
        if not eid:
            return 0
        row = self.n
        self.n += 1  # before encoding, as the twin: a failure leaves the same state in both
        if type(eid) is str:
            key = PyUnicode_AsUTF8AndSize(eid, &klen)  # as str.encode(): UTF-8, an error for lone surrogates
        else:
            eid = eid.encode()
            key = PyBytes_AS_STRING(eid)
            klen = PyBytes_GET_SIZE(eid)
        old = PyByteArray_GET_SIZE(self.blob)
        PyByteArray_Resize(self.blob, old + klen)
        memcpy(PyByteArray_AS_STRING(self.blob) + old, key, klen)
        end = old + klen
        push_code(self.offsets, end)
        push_byte(self.alive, 1)
        self.live += 1
        demo = ep.Demographic
        loc = ep.Location
        self.channel.push_value(ep.ChannelType)
        if demo is not None:
            self.appversion.push_value(demo.AppVersion)
            self.make.push_value(demo.Make)
            self.model.push_value(demo.Model)
            self.platform.push_value(demo.Platform)
        else:
            push_code(self.appversion.codes, 0)
            push_code(self.make.codes, 0)
            push_code(self.model.codes, 0)
            push_code(self.platform.codes, 0)
        self.country.push_value(loc.Country if loc is not None else None)
        self.optout.push_value(ep.OptOut)
        self.status.push_value(ep.EndpointStatus)
        self.timezone.push_value(demo.Timezone if demo is not None else None)
        self.cohort.push_value(ep.CohortId)
        address = ep.Address
        push_code(self.addr, (_crc32(address.encode()) or 1) if address else 0)  # index.address_hash
        text = ep.EffectiveDate
        if text:
            if not (type(text) is str and _canonical_instant(<str>text, &e)):
                parsed = self.parse_instant(text)
                e = NAN if parsed is None else <double>parsed
        else:
            e = NAN
        push_double(self.eff, e)
        if loc is not None:
            la = loc.Latitude
            lo = loc.Longitude
        else:
            la = lo = None
        if la is not None and lo is not None:
            push_double(self.lat, <double>la)
            push_double(self.lon, <double>lo)
        else:
            push_double(self.lat, NAN)
            push_double(self.lon, NAN)
        self.push_lists(self.custom, self.custom_cols, row, ep.Attributes)
        user = ep.User
        self.push_lists(self.user, self.user_cols, row, user.UserAttributes if user is not None else None)
        self.push_metrics(row, ep.Metrics)
        return 0

    cdef int push_lists(self, dict cols, list slots, Py_ssize_t row, object attrs) except -1:
        cdef _Col slot
        cdef PyObject *p
        if attrs:
            if type(attrs) is dict:
                for name in <dict>attrs:  # compiled to PyDict_Next
                    if name not in cols:
                        self.new_list_column(cols, slots, row, name)
                for slot in slots:
                    p = PyDict_GetItem(<dict>attrs, slot.name)
                    slot.push_list(<object>p if p is not NULL else None)
            else:
                for name in attrs:
                    if name not in cols:
                        self.new_list_column(cols, slots, row, name)
                for slot in slots:
                    slot.push_list(attrs.get(slot.name))
        else:
            for slot in slots:
                push_code(slot.codes, 0)
        return 0

    cdef int new_list_column(self, dict cols, list slots, Py_ssize_t row, object name) except -1:
        col = self.new_column(row)
        cols[name] = col
        slots.append(_Col(name, col))
        return 0

    cdef int new_metric(self, Py_ssize_t row, object name) except -1:
        arr = _pyarray("d", [NAN]) * row
        self.metrics[name] = arr
        self.metric_names.append(name)
        self.metric_arrs.append(arr)
        return 0

    cdef int push_metrics(self, Py_ssize_t row, object metrics) except -1:
        cdef Py_ssize_t i
        cdef PyObject *p
        cdef array.array arr
        if metrics:
            if type(metrics) is dict:
                for name in <dict>metrics:
                    if name not in self.metrics:
                        self.new_metric(row, name)
            else:
                for name in metrics:
                    if name not in self.metrics:
                        self.new_metric(row, name)
            for i in range(len(self.metric_names)):
                if type(metrics) is dict:
                    p = PyDict_GetItem(<dict>metrics, self.metric_names[i])
                    v = <object>p if p is not NULL else None
                else:
                    v = metrics.get(self.metric_names[i])
                push_double(<array.array>self.metric_arrs[i], NAN if v is None else <double>v)
        else:
            for arr in self.metric_arrs:
                push_double(arr, NAN)
        return 0


def append_docs(idx, raws, decode, new_column, parse_instant):
    """Decode each document of `raws` (None entries skipped) and append a row for each one with an Id."""
    cdef _Appender a = _Appender(idx, new_column, parse_instant)
    try:
        for raw in raws:
            if raw is not None:
                a.append(decode(raw))
    finally:
        a.finish()


def append_rows(idx, rows, new_column, parse_instant):
    """Append a row for each decoded Row of `rows` with an Id."""
    cdef _Appender a = _Appender(idx, new_column, parse_instant)
    try:
        for ep in rows:
            a.append(ep)
    finally:
        a.finish()

