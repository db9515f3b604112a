# cython: language_level=3, boundscheck=False, wraparound=False
"""Link tracking's hot path, compiled: SipHash-2-4-128, token encoding, the anchor scanner and the one-pass
rewrite. Behaviour is identical to the twin gateway/_fast/_track_py.py, which documents the rules; tests run both."""

import html as htmllib

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy


cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    unsigned char* PyUnicode_1BYTE_DATA(object)
    bint Py_UNICODE_ISSPACE(Py_UCS4 ch)


cdef inline uint64_t _rotl(uint64_t x, int b) nogil:
    return (x << b) | (x >> (64 - b))


cdef inline uint64_t _le64(const unsigned char* p) nogil:
    cdef uint64_t r = 0
    cdef int t
    for t in range(7, -1, -1):
        r = (r << 8) | p[t]
    return r


cdef void _sip128(const unsigned char* key, const unsigned char* m, Py_ssize_t n, unsigned char* out) noexcept nogil:
    cdef uint64_t k0 = _le64(key), k1 = _le64(key + 8)
    cdef uint64_t v0 = k0 ^ 0x736F6D6570736575ULL, v1 = k1 ^ 0x646F72616E646F6DULL ^ 0xEE
    cdef uint64_t v2 = k0 ^ 0x6C7967656E657261ULL, v3 = k1 ^ 0x7465646279746573ULL
    cdef uint64_t b, w
    cdef Py_ssize_t i, end = n - n % 8
    cdef int r, t
    for i in range(0, end, 8):
        w = _le64(m + i)
        v3 ^= w
        for r in range(2):
            v0 += v1; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
            v2 += v3; v3 = _rotl(v3, 16); v3 ^= v2
            v0 += v3; v3 = _rotl(v3, 21); v3 ^= v0
            v2 += v1; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
        v0 ^= w
    b = (<uint64_t>(n & 0xFF)) << 56
    for t in range(n - end):
        b |= (<uint64_t>m[end + t]) << (8 * t)
    v3 ^= b
    for r in range(2):
        v0 += v1; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
        v2 += v3; v3 = _rotl(v3, 16); v3 ^= v2
        v0 += v3; v3 = _rotl(v3, 21); v3 ^= v0
        v2 += v1; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
    v0 ^= b
    v2 ^= 0xEE
    for r in range(4):
        v0 += v1; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
        v2 += v3; v3 = _rotl(v3, 16); v3 ^= v2
        v0 += v3; v3 = _rotl(v3, 21); v3 ^= v0
        v2 += v1; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
    w = v0 ^ v1 ^ v2 ^ v3
    for t in range(8):
        out[t] = <unsigned char>(w >> (8 * t))
    v1 ^= 0xDD
    for r in range(4):
        v0 += v1; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
        v2 += v3; v3 = _rotl(v3, 16); v3 ^= v2
        v0 += v3; v3 = _rotl(v3, 21); v3 ^= v0
        v2 += v1; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
    w = v0 ^ v1 ^ v2 ^ v3
    for t in range(8):
        out[8 + t] = <unsigned char>(w >> (8 * t))


cdef const char* _B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


cdef bytes _key16(bytes key):
    if len(key) != 16:
        raise ValueError("the key must be 16 bytes")
    return key


def mac(bytes key, bytes data):
    """SipHash-2-4-128 of `data` under the 16-byte `key`."""
    cdef unsigned char out[16]
    _key16(key)
    _sip128(<const unsigned char*>PyBytes_AS_STRING(key), <const unsigned char*>PyBytes_AS_STRING(data),
            PyBytes_GET_SIZE(data), out)
    return (<char*>out)[:16]


cdef str _token(const unsigned char* key, unsigned char* raw, Py_ssize_t n):
    """Unpadded URL-safe base64 of body || mac, written straight into a new str. `raw` holds the body in its first
    `n` bytes and has room for 16 more (the MAC goes there)."""
    cdef Py_ssize_t total = n + 16, outlen = (total * 4 + 2) // 3, i = 0, o = 0
    cdef unsigned char* dst
    cdef unsigned int w
    _sip128(key, raw, n, raw + n)
    result = PyUnicode_New(outlen, 127)
    dst = PyUnicode_1BYTE_DATA(result)
    while i + 3 <= total:
        w = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2]
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]
        dst[o + 2] = _B64[(w >> 6) & 63]; dst[o + 3] = _B64[w & 63]
        o += 4
        i += 3
    if total - i == 1:
        w = raw[i] << 16
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]
    elif total - i == 2:
        w = (raw[i] << 16) | (raw[i + 1] << 8)
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]; dst[o + 2] = _B64[(w >> 6) & 63]
    return result


cdef str _tok(bytes key, bytes body):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(body)
    cdef unsigned char* raw = <unsigned char*>malloc(n + 16)
    if raw == NULL:
        raise MemoryError()
    try:
        memcpy(raw, PyBytes_AS_STRING(body), n)
        return _token(<const unsigned char*>PyBytes_AS_STRING(key), raw, n)
    finally:
        free(raw)


def token(bytes key, bytes body):
    """Unpadded URL-safe base64 of `body` followed by its MAC."""
    _key16(key)
    return _tok(key, body)


_SCHEMES = ("https://", "http://")


def tracked_url(str value):
    """The URL an href value points to when it is an absolute http(s) URL (entities decoded), else None."""
    cdef str url = value.strip()
    if not url.startswith(_SCHEMES) and not url[:8].lower().startswith(_SCHEMES):
        return None
    if "&" not in url:
        return url
    plain = url.replace("&amp;", "&")  # the common entity; html.unescape costs ~10x more
    return plain if "&" not in url.replace("&amp;", "") else htmllib.unescape(url)


cdef Py_ssize_t _fast_url(int kind, void* data, Py_ssize_t start, Py_ssize_t end, str skip, unsigned char* out):
    """The common case of tracked_url, without making objects: the href value data[start:end] stripped, an http(s)
    URL (scheme in any case), all ASCII, no `&`, not starting with `skip`. Writes it to `out`; its length, or -1
    when the value is not that case (the caller then does exactly what tracked_url does)."""
    cdef Py_ssize_t t, m, sl
    cdef Py_UCS4 c
    cdef int sk
    cdef void* sd
    while start < end and Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start)):
        start += 1
    while end > start and Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1)):
        end -= 1
    m = end - start
    if m < 7:
        return -1
    for t in range(m):
        c = PyUnicode_READ(kind, data, start + t)
        if c >= 128 or c == 38:  # non-ASCII or `&`: the general path
            return -1
        out[t] = <unsigned char>c
    for t in range(4):
        if (out[t] | 32) != <unsigned char>b"http"[t]:
            return -2
    if m >= 8 and (out[4] | 32) == 115 and out[5] == 58 and out[6] == 47 and out[7] == 47:
        pass
    elif not (out[4] == 58 and out[5] == 47 and out[6] == 47):
        return -2
    sl = len(skip)
    if 0 < sl <= m:
        sk = PyUnicode_KIND(skip)
        sd = PyUnicode_DATA(skip)
        for t in range(sl):
            if PyUnicode_READ(sk, sd, t) != out[t]:
                return m
        return -2
    return m


cdef Py_ssize_t _digits(Py_ssize_t v, unsigned char* out):
    cdef unsigned char tmp[24]
    cdef Py_ssize_t n = 0, t
    while True:
        tmp[n] = <unsigned char>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    for t in range(n):
        out[t] = tmp[n - 1 - t]
    return n


def track(str html, bytes key, bytes head, click_prefix, str skip_prefix, pixel):
    """`html` with its links tracked and the open pixel added (see the twin's docstring)."""
    cdef _Edits ed
    cdef list out
    cdef Py_ssize_t n = len(html), pos = 0, at = -1, start, end, index = 0, e, hl, m, bl
    cdef int kind = PyUnicode_KIND(html)
    cdef void* data = PyUnicode_DATA(html)
    cdef const unsigned char* k
    cdef unsigned char* buf = NULL
    cdef str url
    cdef bytes enc
    _key16(key)
    k = <const unsigned char*>PyBytes_AS_STRING(key)
    ed.v = NULL
    ed.n = 0
    ed.cap = 0
    if pixel is not None:
        at = pixel[0]
    elif click_prefix is None:
        return html, 0
    hl = PyBytes_GET_SIZE(head)
    try:
        if click_prefix is not None:
            _scan(kind, data, n, &ed)
        if ed.n == 0 and pixel is None:
            return html, 0
        # body buffer: "c" head SEP index SEP url, 16 bytes of MAC; a URL of the fast path is at most n ASCII bytes
        buf = <unsigned char*>malloc(hl + n + 64)
        if buf == NULL:
            raise MemoryError()
        out = []
        for e in range(0, ed.n, 3):
            start = ed.v[e]
            end = ed.v[e + 1]
            m = -3
            if ed.v[e + 2]:  # an href
                buf[0] = 99
                memcpy(buf + 1, PyBytes_AS_STRING(head), hl)
                bl = 1 + hl
                buf[bl] = 31
                bl += 1
                bl += _digits(index, buf + bl)
                buf[bl] = 31
                bl += 1
                m = _fast_url(kind, data, start, end, skip_prefix, buf + bl)
                if m == -2:
                    continue
                if m == -1:
                    url = tracked_url(html[start:end])
                    if url is None or (skip_prefix and url.startswith(skip_prefix)):
                        continue
            if pos <= at <= start:
                out.append(html[pos:at])
                out.append(pixel[1])
                out.append(_open_token(k, head))
                out.append(pixel[2])
                pos = at
                at = -1
            elif start < at < end:  # not a real end tag: inside an attribute
                at = n
            out.append(html[pos:start])
            if m >= 0:
                out.append(click_prefix)
                out.append(_token(k, buf, bl + m))
                index += 1
            elif m == -1:
                enc = b"".join((b"c", head, b"\x1f", str(index).encode(), b"\x1f", url.encode()))
                out.append(click_prefix)
                out.append(_tok(key, enc))
                index += 1
            pos = end
        if at >= 0:
            out.append(html[pos:at])
            out.append(pixel[1])
            out.append(_open_token(k, head))
            out.append(pixel[2])
            pos = at
        out.append(html[pos:])
        return "".join(out), index
    finally:
        free(ed.v)
        free(buf)


cdef str _open_token(const unsigned char* k, bytes head):
    cdef Py_ssize_t hl = PyBytes_GET_SIZE(head)
    cdef unsigned char* raw = <unsigned char*>malloc(hl + 17)
    if raw == NULL:
        raise MemoryError()
    try:
        raw[0] = 111
        memcpy(raw + 1, PyBytes_AS_STRING(head), hl)
        return _token(k, raw, hl + 1)
    finally:
        free(raw)


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


cdef bint _lower_is(int kind, void* data, Py_ssize_t start, Py_ssize_t end, const char* word, Py_ssize_t m):
    cdef Py_ssize_t t
    if end - start != m:
        return False
    for t in range(m):
        if _low(PyUnicode_READ(kind, data, start + t)) != <Py_UCS4>(<unsigned char>word[t]):
            return False
    return True


cdef inline Py_ssize_t _next_anchor(int kind, void* data, Py_ssize_t n, Py_ssize_t start):
    """Index of the next `<` followed by `a` or `A` at or after `start`, or -1. Every `<` is a candidate, as in the
    twin's scan from `<` to `<` (1-byte strings: memchr for `<` and a test of the next byte)."""
    cdef const unsigned char* p
    cdef const unsigned char* hit
    cdef Py_UCS4 c
    if kind == 1:
        p = <const unsigned char*>data
        while start < n - 1:
            hit = <const unsigned char*>memchr(p + start, 60, <size_t>(n - 1 - start))
            if hit == NULL:
                return -1
            start = hit - p
            if (p[start + 1] | 32) == 97:
                return start
            start += 1
        return -1
    while start < n - 1:
        if PyUnicode_READ(kind, data, start) == 60:
            c = PyUnicode_READ(kind, data, start + 1)
            if c == 97 or c == 65:
                return start
        start += 1
    return -1


cdef inline bint _tag_follows(Py_UCS4 c):
    return _ws(c) or c == 47 or c == 62


cdef struct _Edits:
    Py_ssize_t* v  # triples: start, end, 1 for an href value / 0 for a ses:no-track attribute
    Py_ssize_t n
    Py_ssize_t cap


cdef int _push(_Edits* ed, Py_ssize_t a, Py_ssize_t b, Py_ssize_t h) except -1:
    cdef Py_ssize_t cap
    cdef Py_ssize_t* grown
    if ed.n + 3 > ed.cap:
        cap = ed.cap * 2 if ed.cap else 48
        grown = <Py_ssize_t*>realloc(ed.v, cap * sizeof(Py_ssize_t))
        if grown == NULL:
            raise MemoryError()
        ed.v = grown
        ed.cap = cap
    ed.v[ed.n] = a
    ed.v[ed.n + 1] = b
    ed.v[ed.n + 2] = h
    ed.n += 3
    return 0


cdef int _scan(int kind, void* data, Py_ssize_t n, _Edits* ed) except -1:
    """The edits of the anchors (the twin's `anchors`) into `ed`, without making objects."""
    cdef Py_ssize_t i, j, k, ws, name_start, name_end, vs, ve, close, hs, he, mark, removed
    cdef Py_UCS4 q, ch
    cdef bint closed
    i = _next_anchor(kind, data, n, 0)
    while 0 <= i < n - 2:
        if not _tag_follows(PyUnicode_READ(kind, data, i + 2)):
            i = _next_anchor(kind, data, n, i + 1)
            continue
        j = i + 2
        hs = -1
        he = -1
        mark = ed.n
        removed = 0
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
            if _lower_is(kind, data, name_start, name_end, b"ses:no-track", 12):
                _push(ed, ws, j, 0)
                removed += 1
            elif hs < 0 and vs >= 0 and _lower_is(kind, data, name_start, name_end, b"href", 4):
                hs = vs
                he = ve
        if not closed:
            ed.n = mark  # the unclosed anchor's removals go too: the scan stops
            break
        if removed == 0 and hs >= 0:
            _push(ed, hs, he, 1)
        i = _next_anchor(kind, data, n, j + 1)
    return 0


def anchors(str html):
    """The edits of `html`'s anchors (see the twin's docstring)."""
    cdef _Edits ed
    cdef list out = []
    cdef Py_ssize_t e
    ed.v = NULL
    ed.n = 0
    ed.cap = 0
    try:
        _scan(PyUnicode_KIND(html), PyUnicode_DATA(html), len(html), &ed)
        for e in range(0, ed.n, 3):
            if ed.v[e + 2]:
                out.append((ed.v[e], ed.v[e + 1], html[ed.v[e]:ed.v[e + 1]]))
            else:
                out.append((ed.v[e], ed.v[e + 1], None))
        return out
    finally:
        free(ed.v)
