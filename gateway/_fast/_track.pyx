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
    bint PyUnicode_IS_ASCII(object)


cdef inline uint64_t _rotl(uint64_t x, int b) noexcept nogil:
    return (x << b) | (x >> (64 - b))


cdef inline uint64_t _le64(const unsigned char* p) noexcept nogil:
    cdef uint64_t r = 0
    cdef int t
    for t in range(7, -1, -1):
        r = (r << 8) | p[t]
    return r


cdef inline void _rounds(uint64_t* v, int count) noexcept nogil:
    """`count` SipRounds over the state v[0..3]."""
    cdef int r
    for r in range(count):
        v[0] += v[1]; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
        v[2] += v[3]; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
        v[0] += v[3]; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
        v[2] += v[1]; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)


cdef void _sip128(const unsigned char* key, const unsigned char* m, Py_ssize_t n, unsigned char* out) noexcept nogil:
    cdef uint64_t k0 = _le64(key), k1 = _le64(key + 8)
    cdef uint64_t v[4]
    cdef uint64_t b, w
    cdef Py_ssize_t i, end = n - n % 8
    cdef int t
    v[0] = k0 ^ 0x736F6D6570736575ULL
    v[1] = k1 ^ 0x646F72616E646F6DULL ^ 0xEE
    v[2] = k0 ^ 0x6C7967656E657261ULL
    v[3] = k1 ^ 0x7465646279746573ULL
    for i in range(0, end, 8):
        w = _le64(m + i)
        v[3] ^= w
        _rounds(v, 2)
        v[0] ^= w
    b = (<uint64_t>(n & 0xFF)) << 56
    for t in range(n - end):
        b |= (<uint64_t>m[end + t]) << (8 * t)
    v[3] ^= b
    _rounds(v, 2)
    v[0] ^= b
    v[2] ^= 0xEE
    _rounds(v, 4)
    w = v[0] ^ v[1] ^ v[2] ^ v[3]
    for t in range(8):
        out[t] = <unsigned char>(w >> (8 * t))
    v[1] ^= 0xDD
    _rounds(v, 4)
    w = v[0] ^ v[1] ^ v[2] ^ v[3]
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
    cdef Py_ssize_t total = n + 16, outlen = (total * 4 + 2) // 3
    _sip128(key, raw, n, raw + n)
    result = PyUnicode_New(outlen, 127)
    _b64_into(raw, total, PyUnicode_1BYTE_DATA(result))
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


cdef Py_ssize_t _digits(Py_ssize_t v, unsigned char* out) noexcept:
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


cdef struct _Arena:
    unsigned char* p  # token bodies, each followed by 16 bytes for its MAC
    Py_ssize_t n
    Py_ssize_t cap


cdef unsigned char* _reserve(_Arena* ar, Py_ssize_t size) except NULL:
    """Room for `size` more bytes at ar.p + ar.n (the pointer is valid until the next _reserve)."""
    cdef Py_ssize_t cap
    cdef unsigned char* grown
    if ar.n + size > ar.cap:
        cap = max(ar.cap * 2, ar.n + size + 256)
        grown = <unsigned char*>realloc(ar.p, cap)
        if grown == NULL:
            raise MemoryError()
        ar.p = grown
        ar.cap = cap
    return ar.p + ar.n


cdef Py_ssize_t _b64_into(unsigned char* raw, Py_ssize_t total, unsigned char* dst) noexcept:
    cdef Py_ssize_t i = 0, o = 0
    cdef unsigned int w
    while i + 3 <= total:
        w = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2]
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]
        dst[o + 2] = _B64[(w >> 6) & 63]; dst[o + 3] = _B64[w & 63]
        o += 4
        i += 3
    if total - i == 1:
        w = raw[i] << 16
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]
        o += 2
    elif total - i == 2:
        w = (raw[i] << 16) | (raw[i + 1] << 8)
        dst[o] = _B64[(w >> 18) & 63]; dst[o + 1] = _B64[(w >> 12) & 63]; dst[o + 2] = _B64[(w >> 6) & 63]
        o += 3
    return o


cdef Py_ssize_t _head_into(unsigned char* dst, unsigned char kind, bytes head) noexcept:
    cdef Py_ssize_t hl = PyBytes_GET_SIZE(head)
    dst[0] = kind
    memcpy(dst + 1, PyBytes_AS_STRING(head), hl)
    return hl + 1


cdef str _assemble(str html, _Edits* ops, tuple objs, _Arena* ar, const unsigned char* k):
    """The pieces joined: op (a, b, 0) is html[a:b]; (a, b, 1) the token of the arena's body at a, b bytes long;
    (a, 0, 2) objs[a]. ASCII html and pieces: tokens encoded straight into the one new str; else a join."""
    cdef Py_ssize_t e, total = 0, o = 0, ln
    cdef unsigned char* dst
    cdef const unsigned char* src = <const unsigned char*>PyUnicode_DATA(html)
    cdef str piece
    cdef bint ascii = PyUnicode_IS_ASCII(html)
    for piece in objs:
        ascii = ascii and PyUnicode_IS_ASCII(piece)
    if not ascii:
        parts = []
        for e in range(0, ops.n, 3):
            if ops.v[e + 2] == 0:
                parts.append(html[ops.v[e]:ops.v[e + 1]])
            elif ops.v[e + 2] == 1:
                parts.append(_token(k, ar.p + ops.v[e], ops.v[e + 1]))
            else:
                parts.append(objs[ops.v[e]])
        return "".join(parts)
    for e in range(0, ops.n, 3):
        if ops.v[e + 2] == 0:
            total += ops.v[e + 1] - ops.v[e]
        elif ops.v[e + 2] == 1:
            total += ((ops.v[e + 1] + 16) * 4 + 2) // 3
        else:
            total += len(<str>objs[ops.v[e]])
    result = PyUnicode_New(total, 127)
    dst = PyUnicode_1BYTE_DATA(result)
    for e in range(0, ops.n, 3):
        if ops.v[e + 2] == 0:
            ln = ops.v[e + 1] - ops.v[e]
            memcpy(dst + o, src + ops.v[e], ln)
            o += ln
        elif ops.v[e + 2] == 1:
            _sip128(k, ar.p + ops.v[e], ops.v[e + 1], ar.p + ops.v[e] + ops.v[e + 1])
            o += _b64_into(ar.p + ops.v[e], ops.v[e + 1] + 16, dst + o)
        else:
            piece = objs[ops.v[e]]
            ln = len(piece)
            memcpy(dst + o, PyUnicode_DATA(piece), ln)
            o += ln
    return result


def track(str html, bytes key, bytes head, click_prefix, str skip_prefix, Py_ssize_t pixel_at, str pixel_before,
          str pixel_after):
    """`html` with its links tracked and the open pixel added (see the twin's docstring)."""
    cdef _Edits ed
    cdef _Edits ops
    cdef _Arena ar
    cdef tuple objs
    cdef Py_ssize_t n = len(html), pos = 0, at = pixel_at, start, end, index = 0, e, hl, m, bl = 0, bod
    cdef const unsigned char* k
    cdef unsigned char* w
    cdef str url
    cdef bytes enc
    _key16(key)
    k = <const unsigned char*>PyBytes_AS_STRING(key)
    if at > n:
        raise ValueError("pixel_at is past the end")
    if at < 0 and click_prefix is None:
        return html, 0
    hl = PyBytes_GET_SIZE(head)
    ed.v = NULL
    ed.n = ed.cap = 0
    ops.v = NULL
    ops.n = ops.cap = 0
    ar.p = NULL
    ar.n = ar.cap = 0
    try:
        if click_prefix is not None:
            _scan_str(html, &ed)
        if ed.n == 0 and at < 0:
            return html, 0
        objs = (click_prefix, pixel_before, pixel_after)
        for e in range(0, ed.n, 3):
            start = ed.v[e]
            end = ed.v[e + 1]
            m = -3
            if ed.v[e + 2]:  # an href: "c" head SEP index SEP url, then 16 bytes for the MAC
                w = _reserve(&ar, hl + 40 + (end - start) + 16)
                bl = _head_into(w, 99, head)
                w[bl] = 31
                bl += 1
                bl += _digits(index, w + bl)
                w[bl] = 31
                bl += 1
                m = _fast_url_str(html, start, end, skip_prefix, w + bl)
                if m == -2:
                    continue
                if m == -1:
                    url = tracked_url(html[start:end])
                    if url is None or (skip_prefix and url.startswith(skip_prefix)):
                        continue
                    enc = url.encode()
                    m = len(enc)
                    w = _reserve(&ar, bl + m + 16)
                    memcpy(w + bl, PyBytes_AS_STRING(enc), m)
                bod = ar.n
                ar.n += bl + m + 16
            if pos <= at <= start:
                _push(&ops, pos, at, 0)
                _pixel(&ops, &ar, head)
                pos = at
                at = -1
            elif start < at < end:  # not a real end tag: inside an attribute
                at = n
            _push(&ops, pos, start, 0)
            if m >= 0:
                _push(&ops, 0, 0, 2)
                _push(&ops, bod, bl + m, 1)
                index += 1
            pos = end
        if at >= 0:
            _push(&ops, pos, at, 0)
            _pixel(&ops, &ar, head)
            pos = at
        _push(&ops, pos, n, 0)
        return _assemble(html, &ops, objs, &ar, k), index
    finally:
        free(ed.v)
        free(ops.v)
        free(ar.p)


cdef int _pixel(_Edits* ops, _Arena* ar, bytes head) except -1:
    cdef Py_ssize_t hl = PyBytes_GET_SIZE(head)
    cdef unsigned char* w = _reserve(ar, hl + 17)
    _head_into(w, 111, head)
    _push(ops, 1, 0, 2)
    _push(ops, ar.n, hl + 1, 1)
    _push(ops, 2, 0, 2)
    ar.n += hl + 17
    return 0


cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* Index of the next '<' followed by 'a' or 'A' at or after `start` in p[0:n], or -1. */
    static Py_ssize_t gw_next_anchor1(const unsigned char* p, Py_ssize_t n, Py_ssize_t start) {
    #if defined(__SSE2__)
        const __m128i lt = _mm_set1_epi8('<'), a = _mm_set1_epi8('a'), bit = _mm_set1_epi8(0x20);
        while (start + 17 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i*)(p + start));
            __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i*)(p + start + 1)), bit);
            int m = _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(y, a)));
            if (m) return start + __builtin_ctz(m);
            start += 16;
        }
    #endif
        while (start < n - 1) {
            const unsigned char* hit = memchr(p + start, '<', (size_t)(n - 1 - start));
            if (hit == NULL) return -1;
            start = hit - p;
            if ((p[start + 1] | 32) == 'a') return start;
            start++;
        }
        return -1;
    }
    """
    Py_ssize_t gw_next_anchor1(const unsigned char* p, Py_ssize_t n, Py_ssize_t start) nogil


ctypedef unsigned char Py_UCS1
ctypedef unsigned short Py_UCS2

ctypedef fused uchar_t:
    Py_UCS1
    Py_UCS2
    Py_UCS4


cdef inline Py_ssize_t _find(const uchar_t* d, Py_ssize_t n, Py_UCS4 c, Py_ssize_t start) noexcept:
    """Index of `c` at or after `start`, or -1 (memchr for 1-byte strings)."""
    cdef const char* hit
    if start >= n:
        return -1
    if uchar_t is Py_UCS1:
        hit = <const char*>memchr(<const char*>d + start, <int>c, <size_t>(n - start))
        return -1 if hit == NULL else hit - <const char*>d
    while start < n:
        if d[start] == c:
            return start
        start += 1
    return -1


cdef inline bint _ws(Py_UCS4 c) noexcept:
    return c == 32 or c == 9 or c == 10 or c == 13 or c == 12


cdef inline Py_UCS4 _low(Py_UCS4 c) noexcept:
    if 65 <= c <= 90:
        return <Py_UCS4>(<unsigned int>c + 32)
    return c


cdef inline bint _lower_is(const uchar_t* d, Py_ssize_t start, Py_ssize_t end, const char* word, Py_ssize_t m) noexcept:
    cdef Py_ssize_t t
    if end - start != m:
        return False
    for t in range(m):
        if _low(d[start + t]) != <Py_UCS4>(<unsigned char>word[t]):
            return False
    return True


cdef inline Py_ssize_t _next_anchor(const uchar_t* d, Py_ssize_t n, Py_ssize_t start) noexcept:
    """Index of the next `<` followed by `a` or `A` at or after `start`, or -1. Every `<` is a candidate, as in the
    twin's scan from `<` to `<` (1-byte strings: 16 bytes at a time)."""
    cdef Py_UCS4 c
    if uchar_t is Py_UCS1:
        return gw_next_anchor1(d, n, start)
    while start < n - 1:
        if d[start] == 60:
            c = d[start + 1]
            if c == 97 or c == 65:
                return start
        start += 1
    return -1


cdef inline bint _tag_follows(Py_UCS4 c) noexcept:
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


cdef int _scan(const uchar_t* d, Py_ssize_t n, _Edits* ed) except -1:
    """The edits of the anchors (the twin's `anchors`) into `ed`, without making objects."""
    cdef Py_ssize_t i, j, k, ws, name_start, name_end, vs, ve, close, hs, he, mark, removed
    cdef Py_UCS4 q, ch
    cdef bint closed
    i = _next_anchor(d, n, 0)
    while 0 <= i < n - 2:
        if not _tag_follows(d[i + 2]):
            i = _next_anchor(d, n, i + 1)
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
                ch = d[j]
                if not (_ws(ch) or ch == 47):
                    break
                j += 1
            if j >= n:
                break
            if d[j] == 62:
                closed = True
                break
            name_start = j
            j += 1
            while j < n:
                ch = d[j]
                if _ws(ch) or ch == 47 or ch == 62 or ch == 61:
                    break
                j += 1
            name_end = j
            k = j
            while k < n and _ws(d[k]):
                k += 1
            vs = -1
            ve = -1
            if k < n and d[k] == 61:
                k += 1
                while k < n and _ws(d[k]):
                    k += 1
                if k >= n:
                    break
                q = d[k]
                if q == 34 or q == 39:
                    close = _find(d, n, q, k + 1)
                    if close < 0:
                        break
                    vs = k + 1
                    ve = close
                    j = close + 1
                else:
                    vs = k
                    while k < n:
                        ch = d[k]
                        if _ws(ch) or ch == 62:
                            break
                        k += 1
                    ve = k
                    j = k
            else:
                j = name_end
            if _lower_is(d, name_start, name_end, b"ses:no-track", 12):
                _push(ed, ws, j, 0)
                removed += 1
            elif hs < 0 and vs >= 0 and _lower_is(d, name_start, name_end, b"href", 4):
                hs = vs
                he = ve
        if not closed:
            ed.n = mark  # the unclosed anchor's removals go too: the scan stops
            break
        if removed == 0 and hs >= 0:
            _push(ed, hs, he, 1)
        i = _next_anchor(d, n, j + 1)
    return 0


cdef int _scan_str(str html, _Edits* ed) except -1:
    cdef int kind = PyUnicode_KIND(html)
    cdef void* data = PyUnicode_DATA(html)
    if kind == 1:
        return _scan(<const Py_UCS1*>data, len(html), ed)
    if kind == 2:
        return _scan(<const Py_UCS2*>data, len(html), ed)
    return _scan(<const Py_UCS4*>data, len(html), ed)


cdef Py_ssize_t _fast_url(const uchar_t* d, Py_ssize_t start, Py_ssize_t end, str skip, unsigned char* out):
    """The common case of tracked_url, without making objects: the href value d[start:end] stripped, an http(s)
    URL (scheme in any case), all ASCII, `&amp;` its only entity (decoded). Writes it to `out` and returns its length; -2 when it is not
    tracked (not http(s), or starting with `skip`); -1 when it is not that case (the caller then does exactly what
    tracked_url does)."""
    cdef Py_ssize_t t, m, sl, o
    cdef Py_UCS4 c
    cdef int sk
    cdef void* sd
    while start < end and Py_UNICODE_ISSPACE(d[start]):
        start += 1
    while end > start and Py_UNICODE_ISSPACE(d[end - 1]):
        end -= 1
    m = end - start
    if m < 7:
        return -1
    o = 0
    t = start
    while t < end:
        c = d[t]
        if c == 38:  # `&amp;` is `&`; any other entity: the general path
            if t + 4 < end and d[t + 1] == 97 and d[t + 2] == 109 and d[t + 3] == 112 and d[t + 4] == 59:
                t += 4
            else:
                return -1
        elif c >= 128:  # non-ASCII: the general path
            return -1
        out[o] = <unsigned char>c
        o += 1
        t += 1
    m = o
    if m < 7:
        return -1
    if (out[0] | 32) != 104 or (out[1] | 32) != 116 or (out[2] | 32) != 116 or (out[3] | 32) != 112:
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


cdef Py_ssize_t _fast_url_str(str html, Py_ssize_t start, Py_ssize_t end, str skip, unsigned char* out):
    cdef int kind = PyUnicode_KIND(html)
    cdef void* data = PyUnicode_DATA(html)
    if kind == 1:
        return _fast_url(<const Py_UCS1*>data, start, end, skip, out)
    if kind == 2:
        return _fast_url(<const Py_UCS2*>data, start, end, skip, out)
    return _fast_url(<const Py_UCS4*>data, start, end, skip, out)


def anchors(str html):
    """The edits of `html`'s anchors (see the twin's docstring)."""
    cdef _Edits ed
    cdef list out = []
    cdef Py_ssize_t e
    ed.v = NULL
    ed.n = 0
    ed.cap = 0
    try:
        _scan_str(html, &ed)
        for e in range(0, ed.n, 3):
            if ed.v[e + 2]:
                out.append((ed.v[e], ed.v[e + 1], html[ed.v[e]:ed.v[e + 1]]))
            else:
                out.append((ed.v[e], ed.v[e + 1], None))
        return out
    finally:
        free(ed.v)
