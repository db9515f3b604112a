# cython: language_level=3, boundscheck=False, wraparound=False
"""Link tracking's hot path, compiled: SipHash-2-4-128, token encoding, the anchor scanner, the one-pass rewrite,
and the per-message signer and bound rewriter the send path calls. Behaviour is identical to the twin
gateway/_fast/_track_py.py, which documents the rules; tests run both.

Where the time goes (benchmarks/bench_tracking.py): the rewrite writes its output straight into one new str and
allocates nothing else for a usual email (stack buffers, heap only past them); the click prefix a message's tokens
share is MACed and base64-encoded once (_Prefix); MACs are computed two at a time with interleaved rounds
(gw_sip_final2), since one SipHash chain is latency-bound; base64 goes by 12-bit pairs from 8-byte loads."""

import html as htmllib

cimport cython

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy


cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define GW_LITTLE_ENDIAN 1
    #else
    #define GW_LITTLE_ENDIAN 0
    #endif
    """
    const bint _LITTLE_ENDIAN "GW_LITTLE_ENDIAN"


cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    unsigned char* PyUnicode_1BYTE_DATA(object)
    bint Py_UNICODE_ISSPACE(Py_UCS4 ch)
    bint PyUnicode_IS_ASCII(object)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* SipHash-2-4-128 with its state exposed, so a message prefix shared by many tokens is absorbed once. */
    typedef struct { uint64_t v0, v1, v2, v3; } gw_sip_t;
    #define GW_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
    #define GW_ROUND do { \
        v0 += v1; v1 = GW_ROTL(v1, 13); v1 ^= v0; v0 = GW_ROTL(v0, 32); \
        v2 += v3; v3 = GW_ROTL(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = GW_ROTL(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = GW_ROTL(v1, 17); v1 ^= v2; v2 = GW_ROTL(v2, 32); } while (0)
    static inline uint64_t gw_le64(const unsigned char* p) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        uint64_t w; memcpy(&w, p, 8); return w;
    #else
        return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
               ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
    #endif
    }
    static inline void gw_put64(unsigned char* p, uint64_t w) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(p, &w, 8);
    #else
        int t;
        for (t = 0; t < 8; t++) p[t] = (unsigned char)(w >> (8 * t));
    #endif
    }
    static void gw_sip_init(gw_sip_t* s, const unsigned char* key) {
        uint64_t k0 = gw_le64(key), k1 = gw_le64(key + 8);
        s->v0 = k0 ^ 0x736F6D6570736575ULL;
        s->v1 = k1 ^ 0x646F72616E646F6DULL ^ 0xEE;
        s->v2 = k0 ^ 0x6C7967656E657261ULL;
        s->v3 = k1 ^ 0x7465646279746573ULL;
    }
    /* Absorbs the n / 8 whole blocks of m[0:n]. */
    static void gw_sip_blocks(gw_sip_t* s, const unsigned char* m, Py_ssize_t n) {
        uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3, w;
        const unsigned char* end = m + (n - n % 8);
        for (; m < end; m += 8) {
            w = gw_le64(m);
            v3 ^= w; GW_ROUND; GW_ROUND; v0 ^= w;
        }
        s->v0 = v0; s->v1 = v1; s->v2 = v2; s->v3 = v3;
    }
    /* The last block of a message of `total` bytes whose tail after its whole blocks is in m[0:n]: the tail's
       bytes and the length byte. */
    static inline uint64_t gw_last(const unsigned char* m, Py_ssize_t n, Py_ssize_t total) {
        uint64_t b = ((uint64_t)(total & 0xFF)) << 56;
        m += n - n % 8;
        switch (n % 8) {
            case 7: b |= (uint64_t)m[6] << 48; /* fall through */
            case 6: b |= (uint64_t)m[5] << 40; /* fall through */
            case 5: b |= (uint64_t)m[4] << 32; /* fall through */
            case 4: b |= (uint64_t)m[3] << 24; /* fall through */
            case 3: b |= (uint64_t)m[2] << 16; /* fall through */
            case 2: b |= (uint64_t)m[1] << 8; /* fall through */
            case 1: b |= (uint64_t)m[0]; /* fall through */
            default: break;
        }
        return b;
    }
    /* The 128-bit tag of a message of `total` bytes: its first total - n bytes (a multiple of 8) absorbed in *s,
       its last n bytes m[0:n]. *s is not changed. */
    static void gw_sip_final(const gw_sip_t* s, const unsigned char* m, Py_ssize_t n, Py_ssize_t total,
                             unsigned char* out) {
        gw_sip_t t = *s;
        uint64_t v0, v1, v2, v3, b = gw_last(m, n, total);
        gw_sip_blocks(&t, m, n);
        v0 = t.v0; v1 = t.v1; v2 = t.v2; v3 = t.v3;
        v3 ^= b; GW_ROUND; GW_ROUND; v0 ^= b;
        v2 ^= 0xEE; GW_ROUND; GW_ROUND; GW_ROUND; GW_ROUND;
        gw_put64(out, v0 ^ v1 ^ v2 ^ v3);
        v1 ^= 0xDD; GW_ROUND; GW_ROUND; GW_ROUND; GW_ROUND;
        gw_put64(out + 8, v0 ^ v1 ^ v2 ^ v3);
    }
    #define GW_ROUND_OF(v0, v1, v2, v3) do { \
        v0 += v1; v1 = GW_ROTL(v1, 13); v1 ^= v0; v0 = GW_ROTL(v0, 32); \
        v2 += v3; v3 = GW_ROTL(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = GW_ROTL(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = GW_ROTL(v1, 17); v1 ^= v2; v2 = GW_ROTL(v2, 32); } while (0)
    #define GW_ROUND2 do { GW_ROUND_OF(a0, a1, a2, a3); GW_ROUND_OF(b0, b1, b2, b3); } while (0)
    /* Two gw_sip_final at once, their rounds interleaved: SipHash is a chain of dependent additions and
       rotations, so one tag leaves most of the core idle; two independent chains fill it. Same results. */
    static void gw_sip_final2(const gw_sip_t* s1, const unsigned char* m1, Py_ssize_t n1, Py_ssize_t total1,
                              unsigned char* out1, const gw_sip_t* s2, const unsigned char* m2, Py_ssize_t n2,
                              Py_ssize_t total2, unsigned char* out2) {
        gw_sip_t t1 = *s1, t2 = *s2;
        uint64_t a0, a1, a2, a3, b0, b1, b2, b3, wa, wb;
        Py_ssize_t both = (n1 < n2 ? n1 : n2) / 8 * 8, i;
        a0 = t1.v0; a1 = t1.v1; a2 = t1.v2; a3 = t1.v3;
        b0 = t2.v0; b1 = t2.v1; b2 = t2.v2; b3 = t2.v3;
        for (i = 0; i < both; i += 8) {
            wa = gw_le64(m1 + i); wb = gw_le64(m2 + i);
            a3 ^= wa; b3 ^= wb; GW_ROUND2; GW_ROUND2; a0 ^= wa; b0 ^= wb;
        }
        t1.v0 = a0; t1.v1 = a1; t1.v2 = a2; t1.v3 = a3;
        t2.v0 = b0; t2.v1 = b1; t2.v2 = b2; t2.v3 = b3;
        gw_sip_blocks(&t1, m1 + both, n1 - both);  /* the longer one's own blocks */
        gw_sip_blocks(&t2, m2 + both, n2 - both);
        a0 = t1.v0; a1 = t1.v1; a2 = t1.v2; a3 = t1.v3;
        b0 = t2.v0; b1 = t2.v1; b2 = t2.v2; b3 = t2.v3;
        wa = gw_last(m1, n1, total1); wb = gw_last(m2, n2, total2);
        a3 ^= wa; b3 ^= wb; GW_ROUND2; GW_ROUND2; a0 ^= wa; b0 ^= wb;
        a2 ^= 0xEE; b2 ^= 0xEE; GW_ROUND2; GW_ROUND2; GW_ROUND2; GW_ROUND2;
        gw_put64(out1, a0 ^ a1 ^ a2 ^ a3); gw_put64(out2, b0 ^ b1 ^ b2 ^ b3);
        a1 ^= 0xDD; b1 ^= 0xDD; GW_ROUND2; GW_ROUND2; GW_ROUND2; GW_ROUND2;
        gw_put64(out1 + 8, a0 ^ a1 ^ a2 ^ a3); gw_put64(out2 + 8, b0 ^ b1 ^ b2 ^ b3);
    }
    static void gw_sip128(const unsigned char* key, const unsigned char* m, Py_ssize_t n, unsigned char* out) {
        gw_sip_t s;
        gw_sip_init(&s, key);
        gw_sip_final(&s, m, n, n, out);
    }
    static const unsigned char gw_b64[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* The two characters of every 12-bit value: a 3-byte group is two lookups and two 2-byte stores. */
    static unsigned char gw_b64pair[4096][2];
    #if defined(__GNUC__) && defined(__x86_64__)
    #include <tmmintrin.h>
    #define GW_HAVE_SSSE3_B64 1
    static int gw_ssse3 = 0;
    /* 12 bytes to 16 characters per step with SSSE3 (W. Mula's and D. Lemire's byte shuffle and multiply-shift;
       the URL-safe alphabet through the offset table): a token's base64 was a third of the rewrite's instructions
       by table lookups. Reads raw[i : i + 16] while that is inside raw[0:total]; returns the bytes consumed
       (a multiple of 12) and the characters written are 4/3 of that. */
    __attribute__((target("ssse3")))
    static Py_ssize_t gw_b64_ssse3(const unsigned char* raw, Py_ssize_t total, unsigned char* dst) {
        const __m128i shuf = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
        const __m128i m0 = _mm_set1_epi32(0x0fc0fc00), k0 = _mm_set1_epi32(0x04000040);
        const __m128i m1 = _mm_set1_epi32(0x003f03f0), k1 = _mm_set1_epi32(0x01000010);
        const __m128i c51 = _mm_set1_epi8(51), c26 = _mm_set1_epi8(26), c13 = _mm_set1_epi8(13);
        const __m128i shift = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                            '0' - 52, '0' - 52, '0' - 52, '0' - 52, '-' - 62, '_' - 63, 'A', 0, 0);
        Py_ssize_t i = 0;
        for (; i + 16 <= total; i += 12, dst += 16) {
            __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(raw + i)), shuf);
            __m128i idx = _mm_or_si128(_mm_mulhi_epu16(_mm_and_si128(in, m0), k0),
                                       _mm_mullo_epi16(_mm_and_si128(in, m1), k1));
            __m128i r = _mm_subs_epu8(idx, c51);
            r = _mm_or_si128(r, _mm_and_si128(_mm_cmpgt_epi8(c26, idx), c13));
            _mm_storeu_si128((__m128i*)dst, _mm_add_epi8(_mm_shuffle_epi8(shift, r), idx));
        }
        return i;
    }
    #endif
    static void gw_b64_init(void) {
        int i;
        for (i = 0; i < 4096; i++) { gw_b64pair[i][0] = gw_b64[i >> 6]; gw_b64pair[i][1] = gw_b64[i & 63]; }
    #if defined(GW_HAVE_SSSE3_B64)
        __builtin_cpu_init();
        gw_ssse3 = __builtin_cpu_supports("ssse3") ? 1 : 0;
    #endif
    }
    /* Unpadded URL-safe base64 of raw[0:total] into dst; returns the characters written. */
    static Py_ssize_t gw_b64_into(const unsigned char* raw, Py_ssize_t total, unsigned char* dst) {
        Py_ssize_t i = 0, full = total - total % 3;
        unsigned char* o = dst;
        uint32_t w;
    #if defined(GW_HAVE_SSSE3_B64)
        if (gw_ssse3 && total >= 16) {
            i = gw_b64_ssse3(raw, total, dst);
            o += i / 3 * 4;
        }
    #endif
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* two groups per 8-byte load while 8 bytes are there to read, then one per 4-byte load */
        uint64_t x;
        for (; i + 6 <= full && i + 8 <= total; i += 6, o += 8) {
            memcpy(&x, raw + i, 8);
            x = __builtin_bswap64(x);
            w = (uint32_t)(x >> 40);
            memcpy(o, gw_b64pair[w >> 12], 2);
            memcpy(o + 2, gw_b64pair[w & 0xFFF], 2);
            w = (uint32_t)(x >> 16) & 0xFFFFFF;
            memcpy(o + 4, gw_b64pair[w >> 12], 2);
            memcpy(o + 6, gw_b64pair[w & 0xFFF], 2);
        }
        for (; i < full && i + 4 <= total; i += 3, o += 4) {
            memcpy(&w, raw + i, 4);
            w = __builtin_bswap32(w) >> 8;
            memcpy(o, gw_b64pair[w >> 12], 2);
            memcpy(o + 2, gw_b64pair[w & 0xFFF], 2);
        }
    #endif
        for (; i < full; i += 3, o += 4) {
            w = ((uint32_t)raw[i] << 16) | ((uint32_t)raw[i + 1] << 8) | raw[i + 2];
            memcpy(o, gw_b64pair[w >> 12], 2);
            memcpy(o + 2, gw_b64pair[w & 0xFFF], 2);
        }
        raw += i;
        if (total % 3 == 1) {
            w = (uint32_t)raw[0] << 16;
            o[0] = gw_b64[w >> 18]; o[1] = gw_b64[(w >> 12) & 63];
            o += 2;
        } else if (total % 3 == 2) {
            w = ((uint32_t)raw[0] << 16) | ((uint32_t)raw[1] << 8);
            o[0] = gw_b64[w >> 18]; o[1] = gw_b64[(w >> 12) & 63]; o[2] = gw_b64[(w >> 6) & 63];
            o += 3;
        }
        return o - dst;
    }
    """
    ctypedef struct gw_sip_t:
        pass
    void gw_sip_init(gw_sip_t* s, const unsigned char* key) noexcept nogil
    void gw_sip_blocks(gw_sip_t* s, const unsigned char* m, Py_ssize_t n) noexcept nogil
    void gw_sip_final(const gw_sip_t* s, const unsigned char* m, Py_ssize_t n, Py_ssize_t total,
                      unsigned char* out) noexcept nogil
    void gw_sip128(const unsigned char* key, const unsigned char* m, Py_ssize_t n, unsigned char* out) noexcept nogil
    void gw_sip_final2(const gw_sip_t* s1, const unsigned char* m1, Py_ssize_t n1, Py_ssize_t total1,
                       unsigned char* out1, const gw_sip_t* s2, const unsigned char* m2, Py_ssize_t n2,
                       Py_ssize_t total2, unsigned char* out2) noexcept nogil
    Py_ssize_t gw_b64_into(const unsigned char* raw, Py_ssize_t total, unsigned char* dst) noexcept nogil
    void gw_b64_init() noexcept nogil


gw_b64_init()


cdef inline void _sip128(const unsigned char* key, const unsigned char* m, Py_ssize_t n,
                         unsigned char* out) noexcept nogil:
    gw_sip128(key, m, n, out)


cdef inline Py_ssize_t _b64_into(const unsigned char* raw, Py_ssize_t total, unsigned char* dst) noexcept nogil:
    return gw_b64_into(raw, total, dst)



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
    bint heap  # p is malloc'd (else a caller's stack buffer: an email's usual needs cost no allocation)


cdef unsigned char* _reserve(_Arena* ar, Py_ssize_t size) except NULL:
    """Room for `size` more bytes at ar.p + ar.n (the pointer is valid until the next _reserve)."""
    cdef Py_ssize_t cap
    cdef unsigned char* grown
    if ar.n + size > ar.cap:
        cap = max(ar.cap * 2, ar.n + size + 256)
        grown = <unsigned char*>(realloc(ar.p, cap) if ar.heap else malloc(cap))
        if grown == NULL:
            raise MemoryError()
        if not ar.heap and ar.n:
            memcpy(grown, ar.p, ar.n)
        ar.p = grown
        ar.cap = cap
        ar.heap = True
    return ar.p + ar.n


cdef Py_ssize_t _head_into(unsigned char* dst, unsigned char kind, const unsigned char* head,
                           Py_ssize_t hl) noexcept:
    dst[0] = kind
    memcpy(dst + 1, head, hl)
    return hl + 1


cdef struct _Prefix:
    # The part every click token of a message starts with ("c" head SEP), done once per message: the SipHash state
    # after its whole 8-byte blocks, and the base64 of its whole 3-byte groups. A link's token then costs its own
    # bytes only (index SEP url): what the signer adds per link on the send path.
    gw_sip_t state
    Py_ssize_t mac_done  # bytes absorbed in `state` (a multiple of 8)
    Py_ssize_t b64_done  # bytes encoded in `b64` (a multiple of 3)
    unsigned char* b64  # NULL until the first link; `small` when that holds it, else malloc'd
    unsigned char small[160]


cdef int _prefix_init(_Prefix* pre, const unsigned char* key, const unsigned char* p, Py_ssize_t n) except -1:
    pre.mac_done = n - n % 8
    pre.b64_done = n - n % 3
    gw_sip_init(&pre.state, key)
    gw_sip_blocks(&pre.state, p, pre.mac_done)
    pre.b64 = &pre.small[0] if pre.b64_done // 3 * 4 <= 160 else <unsigned char*>malloc(pre.b64_done // 3 * 4 + 1)
    if pre.b64 == NULL:
        raise MemoryError()
    gw_b64_into(p, pre.b64_done, pre.b64)
    return 0


cdef inline void _mac_args(_Edits* ops, Py_ssize_t e, _Arena* ar, _Prefix* pre, const gw_sip_t* fresh,
                           const gw_sip_t** st, unsigned char** m, Py_ssize_t* n, Py_ssize_t* total) noexcept:
    """What gw_sip_final needs for op e's token: a click continues the message's prefix state, the pixel starts
    from the key's. The MAC goes right after the body."""
    cdef Py_ssize_t skip = pre.mac_done if ops.v[e + 2] == 1 else 0
    if ops.v[e + 2] == 1:
        st[0] = &pre.state
    else:
        st[0] = fresh
    m[0] = ar.p + ops.v[e] + skip
    n[0] = ops.v[e + 1] - skip
    total[0] = ops.v[e + 1]


cdef str _assemble(str html, _Edits* ops, tuple objs, _Arena* ar, const unsigned char* k, _Prefix* pre):
    """The pieces joined: op (a, b, 0) is html[a:b]; (a, b, 1) the token of the arena's body at a, b bytes long
    (a click: its MAC from the message's prefix state); (a, b, 3) the same for the pixel (MAC from scratch);
    (a, 0, 2) objs[a]. ASCII html and pieces: tokens encoded straight into the one new str; else a join."""
    cdef Py_ssize_t e, total = 0, o = 0, ln, pend = -1, n1, n2, t1, t2
    cdef unsigned char* dst
    cdef unsigned char* m1
    cdef unsigned char* m2
    cdef const gw_sip_t* s1
    cdef const gw_sip_t* s2
    cdef gw_sip_t fresh
    cdef const unsigned char* src = <const unsigned char*>PyUnicode_DATA(html)
    cdef str piece
    cdef bint ascii = PyUnicode_IS_ASCII(html)
    for piece in objs:  # click_prefix is None when only the pixel is added
        ascii = ascii and (piece is None or PyUnicode_IS_ASCII(piece))
    if not ascii:
        parts = []
        for e in range(0, ops.n, 3):
            if ops.v[e + 2] == 0:
                parts.append(html[ops.v[e]:ops.v[e + 1]])
            elif ops.v[e + 2] == 1 or ops.v[e + 2] == 3:
                parts.append(_token(k, ar.p + ops.v[e], ops.v[e + 1]))
            else:
                parts.append(objs[ops.v[e]])
        return "".join(parts)
    gw_sip_init(&fresh, k)
    for e in range(0, ops.n, 3):
        if ops.v[e + 2] == 0:
            total += ops.v[e + 1] - ops.v[e]
        elif ops.v[e + 2] == 1 or ops.v[e + 2] == 3:
            total += ((ops.v[e + 1] + 16) * 4 + 2) // 3
            if pend < 0:
                pend = e
            else:  # the MACs two at a time (gw_sip_final2), then the text
                _mac_args(ops, pend, ar, pre, &fresh, &s1, &m1, &n1, &t1)
                _mac_args(ops, e, ar, pre, &fresh, &s2, &m2, &n2, &t2)
                gw_sip_final2(s1, m1, n1, t1, m1 + n1, s2, m2, n2, t2, m2 + n2)
                pend = -1
        else:
            total += len(<str>objs[ops.v[e]])
    if pend >= 0:
        _mac_args(ops, pend, ar, pre, &fresh, &s1, &m1, &n1, &t1)
        gw_sip_final(s1, m1, n1, t1, m1 + n1)
    result = PyUnicode_New(total, 127)
    dst = PyUnicode_1BYTE_DATA(result)
    for e in range(0, ops.n, 3):
        if ops.v[e + 2] == 0:
            ln = ops.v[e + 1] - ops.v[e]
            memcpy(dst + o, src + ops.v[e], ln)
            o += ln
        elif ops.v[e + 2] == 1:  # MAC done above: the prefix's base64, then the rest's
            ln = pre.b64_done // 3 * 4
            memcpy(dst + o, pre.b64, ln)
            o += ln + gw_b64_into(ar.p + ops.v[e] + pre.b64_done, ops.v[e + 1] + 16 - pre.b64_done, dst + o + ln)
        elif ops.v[e + 2] == 3:
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
    cdef Py_ssize_t count = 0
    out = _track(html, key, <const unsigned char*>PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head), click_prefix,
                 skip_prefix, pixel_at, (click_prefix, pixel_before, pixel_after), &count)
    return out, count


cdef str _track(str html, bytes key, const unsigned char* head, Py_ssize_t hl, object click_prefix, str skip_prefix,
                Py_ssize_t pixel_at, tuple objs, Py_ssize_t* count):
    """`track` without its result tuple: the tracked html; the number of tracked links goes to `count`. `objs`:
    (click_prefix, pixel_before, pixel_after), made once by a Rewriter."""
    cdef _Edits ed
    cdef _Edits ops
    cdef _Arena ar
    cdef Py_ssize_t ed_buf[96]
    cdef Py_ssize_t ops_buf[96]
    cdef unsigned char ar_buf[2048]
    cdef _Prefix pre
    cdef Py_ssize_t n = len(html), pos = 0, at = pixel_at, start, end, index = 0, e, m, bl = 0, bod
    cdef const unsigned char* k
    cdef unsigned char* w
    cdef str url
    cdef bytes enc
    _key16(key)
    k = <const unsigned char*>PyBytes_AS_STRING(key)
    if at > n:
        raise ValueError("pixel_at is past the end")
    if at < 0 and click_prefix is None:
        return html
    ed.v = ed_buf
    ed.n = 0
    ed.cap = 96
    ed.heap = False
    ops.v = ops_buf
    ops.n = 0
    ops.cap = 96
    ops.heap = False
    ar.p = ar_buf
    ar.n = 0
    ar.cap = 2048
    ar.heap = False
    pre.b64 = NULL
    try:
        if click_prefix is not None:
            _scan_str(html, &ed)
        if ed.n == 0 and at < 0:
            return html
        for e in range(0, ed.n, 3):
            start = ed.v[e]
            end = ed.v[e + 1]
            m = -3
            if ed.v[e + 2]:  # an href: "c" head SEP index SEP url, then 16 bytes for the MAC
                w = _reserve(&ar, hl + 40 + (end - start) + 16)
                bl = _head_into(w, 99, head, hl)
                w[bl] = 31
                bl += 1
                if pre.b64 == NULL:
                    _prefix_init(&pre, k, w, bl)
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
                _pixel(&ops, &ar, head, hl)
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
            _pixel(&ops, &ar, head, hl)
            pos = at
        _push(&ops, pos, n, 0)
        count[0] = index
        return _assemble(html, &ops, objs, &ar, k, &pre)
    finally:
        if pre.b64 != &pre.small[0]:
            free(pre.b64)
        if ed.heap:
            free(ed.v)
        if ops.heap:
            free(ops.v)
        if ar.heap:
            free(ar.p)


cdef int _pixel(_Edits* ops, _Arena* ar, const unsigned char* head, Py_ssize_t hl) except -1:
    cdef unsigned char* w = _reserve(ar, hl + 17)
    _head_into(w, 111, head, hl)
    _push(ops, 1, 0, 2)
    _push(ops, ar.n, hl + 1, 3)
    _push(ops, 2, 0, 2)
    ar.n += hl + 17
    return 0


cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    #if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
    #include <immintrin.h>
    #define GW_HAVE_AVX2_PATH 1
    /* 32 bytes at a time where the CPU has AVX2 (checked once, at import); else the SSE2 loop below. */
    __attribute__((target("avx2")))
    static Py_ssize_t gw_next_anchor_avx2(const unsigned char* p, Py_ssize_t n, Py_ssize_t start) {
        const __m256i lt = _mm256_set1_epi8('<'), a = _mm256_set1_epi8('a'), bit = _mm256_set1_epi8(0x20);
        while (start + 33 <= n) {
            __m256i x = _mm256_loadu_si256((const __m256i*)(p + start));
            __m256i y = _mm256_or_si256(_mm256_loadu_si256((const __m256i*)(p + start + 1)), bit);
            unsigned int m = (unsigned int)_mm256_movemask_epi8(
                _mm256_and_si256(_mm256_cmpeq_epi8(x, lt), _mm256_cmpeq_epi8(y, a)));
            if (m) return start + __builtin_ctz(m);
            start += 32;
        }
        return -2 - start;  /* not found before `start`: the caller goes on from there */
    }
    static int gw_avx2 = -1;
    #endif
    /* Index of the next '<' followed by 'a' or 'A' at or after `start` in p[0:n], or -1. */
    static Py_ssize_t gw_next_anchor1(const unsigned char* p, Py_ssize_t n, Py_ssize_t start) {
    #if defined(GW_HAVE_AVX2_PATH)
        if (gw_avx2 < 0) { __builtin_cpu_init(); gw_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0; }
        if (gw_avx2) {
            Py_ssize_t r = gw_next_anchor_avx2(p, n, start);
            if (r >= 0) return r;
            start = -2 - r;
        }
    #endif
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


cdef inline bint _is_href(const uchar_t* d, Py_ssize_t start, Py_ssize_t end) noexcept:
    """d[start:end] is `href` in any case (1-byte strings: one 4-byte compare, every letter's case bit set)."""
    cdef unsigned int w
    if uchar_t is Py_UCS1:
        if end - start != 4:
            return False
        memcpy(&w, d + start, 4)
        return (w | 0x20202020u) == ((<unsigned int>104) | (<unsigned int>114 << 8) | (<unsigned int>101 << 16) |
                                     (<unsigned int>102 << 24)) if _LITTLE_ENDIAN else _lower_is(d, start, end, b"href", 4)
    return _lower_is(d, start, end, b"href", 4)


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
    bint heap  # v is malloc'd (else a caller's stack buffer)


cdef inline int _push(_Edits* ed, Py_ssize_t a, Py_ssize_t b, Py_ssize_t h) except -1:
    cdef Py_ssize_t cap
    cdef Py_ssize_t* grown
    if ed.n + 3 > ed.cap:
        cap = ed.cap * 2 if ed.cap else 48
        grown = <Py_ssize_t*>(realloc(ed.v, cap * sizeof(Py_ssize_t)) if ed.heap else malloc(cap * sizeof(Py_ssize_t)))
        if grown == NULL:
            raise MemoryError()
        if not ed.heap and ed.n:
            memcpy(grown, ed.v, ed.n * sizeof(Py_ssize_t))
        ed.v = grown
        ed.cap = cap
        ed.heap = True
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
            elif hs < 0 and vs >= 0 and _is_href(d, name_start, name_end):
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
    cdef Py_ssize_t t, m, o
    cdef Py_UCS4 c
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
    return _url_verdict(out, o, skip)


cdef Py_ssize_t _fast_url_ascii(const unsigned char* d, Py_ssize_t start, Py_ssize_t end, str skip,
                                unsigned char* out) noexcept:
    """_fast_url for ASCII html: the value copied in spans between `&amp;`s (memchr, memcpy), not per character."""
    cdef Py_ssize_t o = 0, ln
    cdef const unsigned char* hit
    while start < end and Py_UNICODE_ISSPACE(d[start]):
        start += 1
    while end > start and Py_UNICODE_ISSPACE(d[end - 1]):
        end -= 1
    if end - start < 7:
        return -1
    while True:
        hit = <const unsigned char*>memchr(d + start, 38, <size_t>(end - start))
        ln = (end if hit == NULL else hit - d) - start
        memcpy(out + o, d + start, ln)
        o += ln
        if hit == NULL:
            break
        start += ln
        if start + 4 < end and d[start + 1] == 97 and d[start + 2] == 109 and d[start + 3] == 112 and d[start + 4] == 59:
            out[o] = 38
            o += 1
            start += 5
        else:
            return -1
    return _url_verdict(out, o, skip)


cdef inline Py_ssize_t _url_verdict(unsigned char* out, Py_ssize_t m, str skip) noexcept:
    """The decoded value out[0:m]: its length when it is a tracked http(s) URL, -2 when not tracked, -1 when too
    short to tell here."""
    cdef Py_ssize_t t, sl
    cdef int sk
    cdef void* sd
    if m < 7:
        return -1
    if (out[0] | 32) != 104 or (out[1] | 32) != 116 or (out[2] | 32) != 116 or (out[3] | 32) != 112:
        return -2
    if m >= 8 and (out[4] | 32) == 115 and out[5] == 58 and out[6] == 47 and out[7] == 47:
        pass
    elif not (out[4] == 58 and out[5] == 47 and out[6] == 47):
        return -2
    sl = len(skip)
    if 0 < sl <= m and PyUnicode_IS_ASCII(skip):
        return -2 if memcmp(out, PyUnicode_DATA(skip), sl) == 0 else m
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
    if PyUnicode_IS_ASCII(html):
        return _fast_url_ascii(<const unsigned char*>data, start, end, skip, out)
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
    ed.heap = True
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


# ------------------------------------------------------------------ per-message signers and the bound rewrite

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_Find


cdef str _signed(str kid, bytes key, unsigned char kind, bytes head, bytes tail):
    """kid "." token(key, kind head tail)."""
    cdef Py_ssize_t hl = PyBytes_GET_SIZE(head), tl = PyBytes_GET_SIZE(tail)
    cdef unsigned char* raw = <unsigned char*>malloc(1 + hl + tl + 16)
    if raw == NULL:
        raise MemoryError()
    try:
        raw[0] = kind
        memcpy(raw + 1, PyBytes_AS_STRING(head), hl)
        memcpy(raw + 1 + hl, PyBytes_AS_STRING(tail), tl)
        return kid + "." + _token(<const unsigned char*>PyBytes_AS_STRING(key), raw, 1 + hl + tl)
    finally:
        free(raw)


@cython.no_gc
cdef class MessageSigner:
    """Makes the tokens of one message (see the twin). Compiled: one is made per email on the send path; not
    tracked by the garbage collector (str and bytes fields only: it can be in no cycle), like the Struct it was."""

    cdef readonly str kid
    cdef readonly bytes key
    cdef readonly bytes head

    def __init__(self, str kid, bytes key, bytes head):
        self.kid = kid
        self.key = _key16(key)
        self.head = head

    def open(self):
        return _signed(self.kid, self.key, 111, self.head, b"")

    def click(self, link, str url):
        return _signed(self.kid, self.key, 99, self.head, f"\x1f{link}\x1f{url}".encode())

    def unsubscribe(self, str address):
        return _signed(self.kid, self.key, 117, self.head, ("\x1f" + address).encode())


cdef bytes _utf8(str s):
    if PyUnicode_IS_ASCII(s):
        return None
    return s.encode()


cdef class SignerBase:
    """The signing key's id and token key; `message` makes one message's signer (see the twin)."""

    cdef readonly str kid
    cdef bytes _token_key

    def __init__(self, str kid, bytes token_key):
        self.kid = kid
        self._token_key = _key16(token_key)

    def message(self, str app, str message_id, str endpoint_id):
        """The signer of one message's tokens; ValueError when an id holds U+001F."""
        cdef bytes ea, em, ee, head
        cdef Py_ssize_t la, lm, le
        cdef char* w
        cdef MessageSigner m
        if "\x1f" in app or "\x1f" in message_id or "\x1f" in endpoint_id:
            raise ValueError("a tracked message's ids must not contain U+001F")
        ea = _utf8(app)
        em = _utf8(message_id)
        ee = _utf8(endpoint_id)
        la = len(app) if ea is None else len(ea)
        lm = len(message_id) if em is None else len(em)
        le = len(endpoint_id) if ee is None else len(ee)
        head = PyBytes_FromStringAndSize(NULL, la + lm + le + 3)
        w = PyBytes_AS_STRING(head)
        w[0] = 31
        memcpy(w + 1, PyUnicode_DATA(app) if ea is None else <void*>PyBytes_AS_STRING(ea), la)
        w[1 + la] = 31
        memcpy(w + 2 + la, PyUnicode_DATA(message_id) if em is None else <void*>PyBytes_AS_STRING(em), lm)
        w[2 + la + lm] = 31
        memcpy(w + 3 + la + lm, PyUnicode_DATA(endpoint_id) if ee is None else <void*>PyBytes_AS_STRING(ee), le)
        m = MessageSigner.__new__(MessageSigner)
        m.kid = self.kid
        m.key = self._token_key
        m.head = head
        return m


cdef extern from "string.h":
    void* memrchr(const void* s, int c, size_t n) nogil


cdef Py_ssize_t _last_body_end(str html):
    """html.rfind("</body>"): for 1-byte strings by memrchr from `<` to `<` backwards (an email ends with it, so a
    few steps), else PyUnicode_Find."""
    cdef const unsigned char* d
    cdef const unsigned char* hit
    cdef Py_ssize_t end = len(html) - 6  # a match starts before this
    if PyUnicode_KIND(html) != 1:
        return PyUnicode_Find(html, "</body>", 0, len(html), -1)
    d = <const unsigned char*>PyUnicode_DATA(html)
    while end > 0:
        hit = <const unsigned char*>memrchr(d, 60, <size_t>end)
        if hit == NULL:
            return -1
        if memcmp(hit, b"</body>", 7) == 0:
            return hit - d
        end = hit - d
    return -1


cdef class Rewriter:
    """One process's rewrite with its URL prefixes bound (see the twin)."""

    cdef object _click
    cdef str _skip
    cdef object _before
    cdef str _after
    cdef object _locate
    cdef tuple _objs  # what _track joins in: made once, not per email

    def __init__(self, click_prefix, str skip_prefix, pixel_before, str pixel_after, locate):
        self._click = click_prefix
        self._skip = skip_prefix
        self._before = pixel_before
        self._after = pixel_after
        self._locate = locate
        self._objs = (click_prefix, pixel_before, pixel_after) if pixel_before is not None else (click_prefix, "", "")

    cdef str _run(self, str html, signer, Py_ssize_t* count):
        cdef bytes key, head
        if type(signer) is MessageSigner:
            key = (<MessageSigner>signer).key
            head = (<MessageSigner>signer).head
        else:
            key = signer.key
            head = signer.head
        return self._run_head(html, key, <const unsigned char*>PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head), count)

    cdef str _run_head(self, str html, bytes key, const unsigned char* head, Py_ssize_t hl, Py_ssize_t* count):
        cdef Py_ssize_t at = -1
        if self._before is None:
            return _track(html, key, head, hl, self._click, self._skip, -1, self._objs, count)
        at = _last_body_end(html)
        if at < 0:
            at = self._locate(html)
        return _track(html, key, head, hl, self._click, self._skip, at, self._objs, count)

    def message_html(self, str html, SignerBase signer, str app, str message_id, str endpoint_id):
        """`html` tracked with the tokens of `signer.message(app, message_id, endpoint_id)`, that signer not made:
        for ASCII ids (the usual ones) the message's head is written on the stack, so the send path's tracking is
        one C call that allocates nothing but its result."""
        cdef unsigned char buf[256]
        cdef Py_ssize_t count = 0, la, lm, le
        if (PyUnicode_IS_ASCII(app) and PyUnicode_IS_ASCII(message_id) and PyUnicode_IS_ASCII(endpoint_id)):
            la = len(app)
            lm = len(message_id)
            le = len(endpoint_id)
            if la + lm + le + 3 <= 256:
                buf[0] = 31
                memcpy(buf + 1, PyUnicode_DATA(app), la)
                buf[1 + la] = 31
                memcpy(buf + 2 + la, PyUnicode_DATA(message_id), lm)
                buf[2 + la + lm] = 31
                memcpy(buf + 3 + la + lm, PyUnicode_DATA(endpoint_id), le)
                # U+001F in an id would shift the fields after it: refused as `message` refuses it
                if memchr(buf + 1, 31, la) == NULL and memchr(buf + 2 + la, 31, lm) == NULL and \
                        memchr(buf + 3 + la + lm, 31, le) == NULL:
                    return self._run_head(html, signer._token_key, buf, la + lm + le + 3, &count)
        return self._run(html, signer.message(app, message_id, endpoint_id), &count)

    def __call__(self, str html, signer):
        """`html` tracked with `signer`'s tokens, and the number of tracked links."""
        cdef Py_ssize_t count = 0
        out = self._run(html, signer, &count)
        return out, count

    def html(self, str html, signer):
        """`html` tracked with `signer`'s tokens."""
        cdef Py_ssize_t count = 0
        return self._run(html, signer, &count)
