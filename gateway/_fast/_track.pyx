# cython: language_level=3, boundscheck=False, wraparound=False
"""The anchor scanner of link tracking, compiled. Behaviour is identical to the twin gateway/_fast/_track_py.py,
which documents the rules; tests run both."""

from libc.string cimport memchr


cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)


cdef inline Py_ssize_t _find(int kind, void* data, Py_ssize_t n, Py_UCS4 c, Py_ssize_t start):
    """Index of `c` at or after `start`, or -1 (memchr for 1-byte strings)."""
    cdef const char* hit
    if start >= n:
        return -1
    if kind == 1:
        hit = <const char*>memchr(<const char*>data + start, <int>c, <size_t>(n - start))
        return -1 if hit == NULL else hit - <const char*>data
    while start < n:
        if PyUnicode_READ(kind, data, start) == c:
            return start
        start += 1
    return -1


cdef inline bint _ws(Py_UCS4 c):
    return c == 32 or c == 9 or c == 10 or c == 13 or c == 12


cdef inline Py_UCS4 _low(Py_UCS4 c):
    if 65 <= c <= 90:
        return <Py_UCS4>(<unsigned int>c + 32)
    return c


cdef bint _lower_is(int kind, void* data, Py_ssize_t start, Py_ssize_t end, str word):
    cdef Py_ssize_t m = len(word), t
    if end - start != m:
        return False
    for t in range(m):
        if _low(PyUnicode_READ(kind, data, start + t)) != <Py_UCS4>word[t]:
            return False
    return True


def anchors(str html):
    """The edits of `html`'s anchors (see the twin's docstring)."""
    cdef list out = []
    cdef list removals
    cdef Py_ssize_t n = len(html), i, j, k, ws, name_start, name_end, vs, ve, close
    cdef Py_UCS4 c1, c2, q, ch
    cdef bint closed
    cdef object href
    cdef int kind = PyUnicode_KIND(html)
    cdef void* data = PyUnicode_DATA(html)
    i = _find(kind, data, n, 60, 0)
    while 0 <= i < n - 2:
        c1 = PyUnicode_READ(kind, data, i + 1)
        c2 = PyUnicode_READ(kind, data, i + 2)
        if (c1 != 97 and c1 != 65) or (not _ws(c2) and c2 != 47 and c2 != 62):
            i = _find(kind, data, n, 60, i + 1)
            continue
        j = i + 2
        href = None
        removals = []
        closed = False
        while True:
            ws = j
            while j < n:
                ch = PyUnicode_READ(kind, data, j)
                if not (_ws(ch) or ch == 47):
                    break
                j += 1
            if j >= n:
                break
            if PyUnicode_READ(kind, data, j) == 62:
                closed = True
                break
            name_start = j
            j += 1
            while j < n:
                ch = PyUnicode_READ(kind, data, j)
                if _ws(ch) or ch == 47 or ch == 62 or ch == 61:
                    break
                j += 1
            name_end = j
            k = j
            while k < n and _ws(PyUnicode_READ(kind, data, k)):
                k += 1
            vs = -1
            ve = -1
            if k < n and PyUnicode_READ(kind, data, k) == 61:
                k += 1
                while k < n and _ws(PyUnicode_READ(kind, data, k)):
                    k += 1
                if k >= n:
                    break
                q = PyUnicode_READ(kind, data, k)
                if q == 34 or q == 39:
                    close = _find(kind, data, n, q, k + 1)
                    if close < 0:
                        break
                    vs = k + 1
                    ve = close
                    j = close + 1
                else:
                    vs = k
                    while k < n:
                        ch = PyUnicode_READ(kind, data, k)
                        if _ws(ch) or ch == 62:
                            break
                        k += 1
                    ve = k
                    j = k
            else:
                j = name_end
            if _lower_is(kind, data, name_start, name_end, "ses:no-track"):
                removals.append((ws, j, None))
            elif href is None and vs >= 0 and _lower_is(kind, data, name_start, name_end, "href"):
                href = (vs, ve, html[vs:ve])
        if not closed:
            break
        if removals:
            out += removals
        elif href is not None:
            out.append(href)
        i = _find(kind, data, n, 60, j + 1)
    return out
