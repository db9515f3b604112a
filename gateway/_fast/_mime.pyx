# cython: language_level=3
"""Body encoding for SMTP DATA, compiled. Twin of _mime_py.py: same functions, byte-identical output.

One pass over the bytes measures the longest line; a second writes CRLF line endings and dot-stuffing into a
preallocated buffer, instead of Python's split/join per line.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc

import binascii

cdef Py_ssize_t MAX_LINE = 998


cdef Py_ssize_t _longest_line(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i, cur = 0, best = 0
    for i in range(n):
        if p[i] == 10:  # \n
            if cur > best:
                best = cur
            cur = 0
        elif p[i] != 13:  # \r is not counted, as the twin strips it
            cur += 1
    if cur > best:
        best = cur
    return best


cdef bytes _normalize(bytes data, bint stuff, bint drop_last):
    cdef const unsigned char* p = <const unsigned char*> PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    # Worst case: every byte is a line break that becomes CRLF plus a stuffed dot.
    cdef unsigned char* out = <unsigned char*> malloc(3 * n + 2)
    if out == NULL:
        raise MemoryError()
    cdef Py_ssize_t i = 0, o = 0
    cdef bint at_line_start = True
    cdef unsigned char c
    try:
        while i < n:
            c = p[i]
            if c == 13:  # \r or \r\n -> one line break
                if i + 1 < n and p[i + 1] == 10:
                    i += 1
                c = 10
            if c == 10:
                out[o] = 13
                out[o + 1] = 10
                o += 2
                at_line_start = True
            else:
                if stuff and at_line_start and c == 46:  # a line starting with "." gets another one
                    out[o] = 46
                    o += 1
                out[o] = c
                o += 1
                at_line_start = False
            i += 1
        # Without the last line break when asked (the twin drops the empty last line).
        if drop_last and o >= 2 and out[o - 2] == 13 and out[o - 1] == 10:
            o -= 2
        return PyBytes_FromStringAndSize(<char*> out, o)
    finally:
        free(out)


def encode_part(str text, bint allow_8bit, bint stuff=True):
    """(Content-Transfer-Encoding, encoded body) for one text part."""
    cdef bytes raw = text.encode("utf-8")
    cdef bint ascii_only = PyBytes_GET_SIZE(raw) == len(text)
    if ascii_only or allow_8bit:
        if _longest_line(<const unsigned char*> PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw)) <= MAX_LINE:
            return (b"7bit" if ascii_only else b"8bit"), _normalize(raw, stuff, False)
    return b"base64", _wrap64(_normalize(raw, False, False))  # text in canonical form (CRLF), as the twin


cdef bytes _wrap64(bytes raw):
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(raw)
    cdef list chunks = []
    for i in range(0, n, 57):
        chunks.append(binascii.b2a_base64(raw[i:i + 57], newline=False))
    return b"\r\n".join(chunks)


def to_data(bytes message, bint stuff=True):
    """A complete RFC 5322 message as the DATA payload: CRLF line endings and dot-stuffing (BDAT: no stuffing)."""
    return _normalize(message, stuff, True)
