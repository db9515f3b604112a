# cython: language_level=3
"""GSM 03.38 / UCS-2 text encoding and SMS segmentation, compiled. Behaviour is identical to the twin
gateway/_fast/_gsm_py.py, which documents the rules; tests run both."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc

GSM7 = 0
UCS2 = 8
GSM_SINGLE = 160
GSM_PART = 153
UCS2_SINGLE = 140
UCS2_PART = 134
ESC = 0x1B

# The alphabet tables are the twin's: one copy of GSM 03.38, so the two implementations cannot disagree on it.
from gateway._fast._gsm_py import DEFAULT_ALPHABET, EXTENSION

# Latin-1 range lookup: -1 = not GSM, 0..127 = septet, 0x100|code = escape + extension code.
cdef short _LATIN[256]
cdef Py_UCS4 _DEC[128]
cdef Py_UCS4 _EXT_DEC[128]


cdef void _init_tables():
    cdef int i
    for i in range(256):
        _LATIN[i] = -1
    for i in range(128):
        _DEC[i] = ord(DEFAULT_ALPHABET[i])
        _EXT_DEC[i] = 0
        c = ord(DEFAULT_ALPHABET[i])
        if i != ESC and c < 256:
            _LATIN[c] = i
    for code, ch in EXTENSION.items():
        _EXT_DEC[code] = ord(ch)
        if ord(ch) < 256:
            _LATIN[ord(ch)] = 0x100 | code


_init_tables()


cdef inline int _lookup(Py_UCS4 ch):
    if ch < 256:
        return _LATIN[ch]
    # Greek capitals of the default alphabet, and the euro sign of the extension table.
    if ch == 0x0394: return 0x10
    if ch == 0x03A6: return 0x12
    if ch == 0x0393: return 0x13
    if ch == 0x039B: return 0x14
    if ch == 0x03A9: return 0x15
    if ch == 0x03A0: return 0x16
    if ch == 0x03A8: return 0x17
    if ch == 0x03A3: return 0x18
    if ch == 0x0398: return 0x19
    if ch == 0x039E: return 0x1A
    if ch == 0x20AC: return 0x100 | 0x65
    return -1


def is_gsm7(str text):
    cdef Py_UCS4 ch
    for ch in text:
        if _lookup(ch) < 0:
            return False
    return True


def gsm7_encode(str text):
    cdef Py_ssize_t n = len(text)
    cdef Py_ssize_t j = 0
    cdef int v
    cdef Py_UCS4 ch
    cdef unsigned char* buf = <unsigned char*>PyMem_Malloc(2 * n + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        for ch in text:
            v = _lookup(ch)
            if v < 0:
                return None
            if v & 0x100:
                buf[j] = ESC
                buf[j + 1] = v & 0x7F
                j += 2
            else:
                buf[j] = v
                j += 1
        return PyBytes_FromStringAndSize(<char*>buf, j)
    finally:
        PyMem_Free(buf)


def gsm7_decode(bytes data):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i = 0
    cdef unsigned char b, nb
    out = []
    while i < n:
        b = p[i] & 0x7F
        if b == ESC:
            if i + 1 < n:
                nb = p[i + 1] & 0x7F
                if _EXT_DEC[nb] != 0:
                    out.append(chr(_EXT_DEC[nb]))
                elif nb == ESC:
                    out.append(" ")
                else:
                    out.append(chr(_DEC[nb]))
                i += 2
                continue
            out.append(" ")
            i += 1
            continue
        out.append(chr(_DEC[b]))
        i += 1
    return "".join(out)


def ucs2_encode(str text):
    return text.encode("utf-16-be")


def ucs2_decode(bytes data):
    return data.decode("utf-16-be", "replace")


def encode(str text):
    data = gsm7_encode(text)
    if data is not None:
        return GSM7, data
    return UCS2, text.encode("utf-16-be")


def split(bytes data, int coding):
    cdef Py_ssize_t single, size, cut
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i = 0
    if coding == 8:
        single = 140
        size = 134
    else:
        single = 160
        size = 153
    if n <= single:
        return [data]
    parts = []
    while n - i > size:
        cut = i + size
        if coding == 8:
            if 0xD8 <= p[cut - 2] <= 0xDB:
                cut -= 2
        elif p[cut - 1] == ESC:
            cut -= 1
        parts.append(data[i:cut])
        i = cut
    parts.append(data[i:])
    return parts


def segments(str text):
    coding, data = encode(text)
    return coding, split(data, coding)


def udh(int ref, int total, int seq):
    return bytes((5, 0, 3, ref & 0xFF, total, seq))
