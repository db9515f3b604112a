# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Template executor, compiled (twin of `_render_py.py`; identical output, proven by tests/conformance).

See `_render_py.py` for the semantics; this file types the hot loop (statements, one-segment lookups, escaping)
and keeps the cold paths (number formatting, string indexing, key ordering) line for line the same.
"""

import math

cimport cython
from libc.math cimport floor, isinf
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.list cimport PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow


cdef extern from "Python.h":
    int PyUnicode_KIND(object s)
    void* PyUnicode_DATA(object s)
    int PyUnicode_1BYTE_KIND

cdef enum:
    EACH_LIMIT = 15  # opcodes.EACH_LIMIT
    MAX_NESTING = 200  # deepest run-time nesting of blocks and partial calls
    _MAX_VALUE_DEPTH = 100
    _WORK_FACTOR = 4

#: See `_render_py.py`: deepest list nesting of a value, and the helper work allowance per output character.
MAX_VALUE_DEPTH = _MAX_VALUE_DEPTH
WORK_FACTOR = _WORK_FACTOR


cpdef str js_num(double f):
    """`String(number)` of JavaScript (ECMA-262 Number::toString)."""
    cdef long long as_int
    if f != f:
        return "NaN"
    if isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if f == floor(f) and -9007199254740992.0 <= f <= 9007199254740992.0:
        as_int = <long long>f
        return f"{as_int}"
    if (1e-4 <= f < 1e16 or -1e16 < f <= -1e-4) and f != floor(f):
        return repr(f)  # Python's repr and JavaScript agree on plain (non-exponent) shortest forms
    sign = "-" if f < 0 else ""
    s = repr(abs(f))
    mant, _, exp = s.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    if fp == "0":
        fp = ""
    digits_all = ip + fp
    point = len(ip) + e
    stripped = digits_all.lstrip("0")
    point -= len(digits_all) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    n = point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e1 = n - 1
    es = ("+" if e1 >= 0 else "-") + str(abs(e1))
    if k == 1:
        return sign + digits + "e" + es
    return sign + digits[0] + "." + digits[1:] + "e" + es


cpdef str to_str(object v):
    """JavaScript `String(v)` for JSON values; None (null/undefined) is the empty string."""
    t = type(v)
    if t is str:
        return <str>v
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    cdef int overflow = 0
    cdef long long as_int
    if t is int:
        as_int = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0 and -9007199254740992 <= as_int <= 9007199254740992:
            return f"{as_int}"
        return js_num(float(v))
    if t is float:
        return js_num(v)
    if t is list or t is tuple:
        return _list_str(v, 0)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return to_str(int(v))
    if isinstance(v, float):
        return js_num(float(v))
    if isinstance(v, (list, tuple)):
        return _list_str(v, 0)
    return "[object Object]"


cdef str _list_str(object v, int depth):
    if depth >= _MAX_VALUE_DEPTH:  # bounded: this recursion runs on the C stack
        raise RecursionError(f"a value nests lists more than {_MAX_VALUE_DEPTH} deep")
    cdef list parts = []
    for x in v:
        if x is None:
            parts.append("")
        elif isinstance(x, (list, tuple)):
            parts.append(_list_str(x, depth + 1))
        else:
            parts.append(to_str(x))
    return ",".join(parts)


cpdef str escape(str s):
    """handlebars.js `escapeExpression` on a string: & < > " ' ` = become entities."""
    cdef Py_ssize_t i, n = len(s), first = -1, start
    cdef Py_UCS4 ch
    cdef const unsigned char* p1
    cdef unsigned char c1
    if PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND:  # Latin-1 text (most values): scan the bytes directly
        p1 = <const unsigned char*>PyUnicode_DATA(s)
        for i in range(n):
            c1 = p1[i]
            if c1 < 97 and (c1 == 38 or c1 == 60 or c1 == 62 or c1 == 34 or c1 == 39 or c1 == 61) or c1 == 96:
                first = i
                break
    else:
        for i in range(n):
            ch = s[i]
            if ch == u'&' or ch == u'<' or ch == u'>' or ch == u'"' or ch == u"'" or ch == u'`' or ch == u'=':
                first = i
                break
    if first < 0:
        return s
    cdef list parts = [s[:first]]
    start = first
    for i in range(first, n):
        ch = s[i]
        if ch == u'&':
            ent = "&amp;"
        elif ch == u'<':
            ent = "&lt;"
        elif ch == u'>':
            ent = "&gt;"
        elif ch == u'"':
            ent = "&quot;"
        elif ch == u"'":
            ent = "&#x27;"
        elif ch == u'`':
            ent = "&#x60;"
        elif ch == u'=':
            ent = "&#x3D;"
        else:
            continue
        if i > start:
            parts.append(s[start:i])
        parts.append(ent)
        start = i + 1
    if start < n:
        parts.append(s[start:])
    return "".join(parts)


cpdef str capitalize_words(str s):
    """Upper-case the first character of every word (words are separated by space, tab, CR, LF, VT, FF)."""
    cdef Py_ssize_t i, start = 0, n = len(s)
    cdef Py_UCS4 ch
    cdef bint prev_ws = True
    cdef list parts = None
    for i in range(n):
        ch = s[i]
        if ch == u' ' or ch == u'\t' or ch == u'\n' or ch == u'\r' or ch == u'\x0b' or ch == u'\x0c':
            prev_ws = True
            continue
        if prev_ws:
            one = s[i]
            up = one.upper()
            if up != one:
                if parts is None:
                    parts = []
                parts.append(s[start:i])
                parts.append(up)
                start = i + 1
        prev_ws = False
    if parts is None:
        return s
    parts.append(s[start:])
    return "".join(parts)


cdef long _index(str key):
    if not key or not key.isdigit() or not key.isascii():
        return -1
    if len(key) > 1 and key[0] == "0":
        return -1
    if len(key) > 18:
        return 1 << 62
    return int(key)


cpdef object prop(object obj, object key):
    """handlebars.js `lookupProperty`: own properties of JSON values only. Never touches Python attributes."""
    cdef long i
    if type(key) is not str:
        key = to_str(key)
    t = type(obj)
    if t is dict:
        return (<dict>obj).get(key)
    if t is list or t is tuple:
        if key == "length":
            return len(obj)
        i = _index(key)
        if 0 <= i < len(obj):
            return obj[i]
        return None
    if t is str:
        if key == "length":
            return _utf16_len(obj)
        i = _index(key)
        if i >= 0:
            if obj.isascii():
                return obj[i] if i < len(obj) else None
            units = obj.encode("utf-16-le")
            if 2 * i + 2 <= len(units):
                return units[2 * i : 2 * i + 2].decode("utf-16-le", "surrogatepass")
        return None
    if isinstance(obj, dict):
        return dict.get(obj, key)
    return None


cdef Py_ssize_t _utf16_len(str s):
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def js_keys(dict d):
    """`Object.keys` order: array-index keys ascending first, then the others in insertion order."""
    cdef long i
    keys = list(d)
    for k in keys:
        if type(k) is str and k and k[0].isdigit():
            break
    else:
        return keys
    ints = []
    others = []
    for k in keys:
        i = _index(k) if type(k) is str else -1
        if 0 <= i < 4294967295:
            ints.append((i, k))
        else:
            others.append(k)
    ints.sort()
    return [k for _, k in ints] + others


cpdef bint falsy(object v):
    """JavaScript `!v` for JSON values."""
    if v is None or v is False:
        return True
    t = type(v)
    if t is str:
        return not v
    if t is int:
        return v == 0
    if t is float:
        return v == 0 or v != v
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v == 0 or v != v
    if isinstance(v, str):
        return not v
    return False


cpdef bint is_empty(object v):
    """handlebars.js `Utils.isEmpty`: falsy but not 0, or an empty array."""
    t = type(v)
    if t is list or t is tuple:
        return len(v) == 0
    if falsy(v):
        return not ((t is int or t is float) and v == 0)
    return False


cdef inline bint _same(object a, object b):
    if a is b:
        return True
    ta = type(a)
    if ta is dict or ta is list or type(b) is dict or type(b) is list:
        return False
    return ta is type(b) and a == b


@cython.final
cdef class _State:
    cdef public list out
    cdef object root
    cdef long steps
    cdef Py_ssize_t mark
    cdef Py_ssize_t size
    cdef Py_ssize_t fresh
    cdef Py_ssize_t work
    cdef long partial_depth
    cdef long nesting
    cdef Py_ssize_t max_out
    cdef Py_ssize_t max_work
    cdef long max_steps
    cdef long max_depth
    cdef object err

    cdef int sync(self) except -1:
        cdef Py_ssize_t i, n, size
        out = self.out
        n = len(out)
        size = self.size
        for i in range(self.mark, n):
            size += len(<str>out[i])
        self.size = size
        self.mark = n
        if size > self.max_out:
            raise self.err(f"rendered output exceeds {self.max_out} characters")
        return 0

    cdef int step(self) except -1:
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.err(f"template exceeded {self.max_steps} loop iterations and partial calls")
        return self.sync()

    cdef int charge(self, list args, object h) except -1:
        cdef Py_ssize_t w = self.work
        for a in args:
            w += _size(a)
        if h is not None:
            for a in (<dict>h).values():
                w += _size(a)
        self.work = w
        if w > self.max_work:
            raise self.err(f"helpers handled more than {self.max_work} characters in one render")
        return 0

    cdef Py_ssize_t budget(self, list args, object h) except -1:
        cdef Py_ssize_t room, left
        self.charge(args, h)
        self.sync()
        room = self.max_out - self.size
        left = self.max_work - self.work
        return left if left < room else room


cdef inline Py_ssize_t _size(object a):
    """What a helper argument counts toward the work allowance: its length if a string, list or object, else 0."""
    t = type(a)
    if t is str:
        return len(<str>a)
    if t is list:
        return len(<list>a)
    if t is dict:
        return len(<dict>a)
    if t is tuple:
        return len(<tuple>a)
    return 0


@cython.final
cdef class Renderer:
    """A program bound to its limits; `render(context)` is what `Program.render` calls."""
    cdef readonly tuple program
    cdef readonly tuple limits
    cdef Py_ssize_t max_out
    cdef long max_steps
    cdef long max_depth
    cdef object err

    def __init__(self, tuple program, tuple limits):
        self.program = program
        self.limits = limits
        self.max_out = limits[0]
        self.max_steps = limits[1]
        self.max_depth = limits[2]
        self.err = limits[3]

    def render(self, context):
        cdef _State st = _State.__new__(_State)
        st.out = []
        st.root = context
        st.max_out = self.max_out
        st.max_steps = self.max_steps
        st.max_depth = self.max_depth
        st.err = self.err
        st.max_work = _WORK_FACTOR * self.max_out
        try:
            _run(st, self.program, (context, None), None, None, None)
        except RecursionError:
            raise st.err("values or blocks nested too deeply to render") from None
        out = st.out  # no need to measure before joining: see _render_py.py
        result = out[0] if len(out) == 1 else "".join(out)
        if len(<str>result) > st.max_out:
            raise st.err(f"rendered output exceeds {st.max_out} characters")
        return result


def render(tuple program, object context, tuple limits):
    """Render `program` with `context` as the root; returns the text."""
    return Renderer(program, limits).render(context)


cdef _run(_State st, tuple program, tuple frame, object data, object bp, object partials):
    st.nesting += 1
    if st.nesting > MAX_NESTING:
        raise st.err(f"rendering nested deeper than {MAX_NESTING} blocks and partials")
    try:
        _run_body(st, program, frame, data, bp, partials)
    finally:
        st.nesting -= 1


cdef _run_body(_State st, tuple program, tuple frame, object data, object bp, object partials):
    cdef list out = st.out
    cdef object ctx = frame[0]
    cdef tuple op
    cdef long code
    cdef PyObject* found
    cdef bint include_zero
    for item in program:
        if type(item) is str:
            out.append(item)
            continue
        op = <tuple>item
        code = op[0]
        if code == 1:  # S_OUT1
            if type(ctx) is dict:
                found = PyDict_GetItem(<dict>ctx, op[1])
                if found is NULL:
                    continue
                v = <object>found
            else:
                v = prop(ctx, op[1])
            if v is None:
                continue
            if type(v) is str:
                s = escape(<str>v) if op[2] else v
            else:
                s = to_str(v)
                if op[2]:
                    s = escape(s)
            out.append(s)
            st.fresh += len(<str>s)
            if st.fresh > st.max_out:
                raise st.err(f"rendered output exceeds {st.max_out} characters")
        elif code == 2:  # S_OUT
            v = _eval(st, op[1], frame, data, bp, partials)
            if v is None:
                continue
            s = v if type(v) is str else to_str(v)
            if op[2]:
                s = escape(s)
            out.append(s)
            st.fresh += len(<str>s)
            if st.fresh > st.max_out:
                raise st.err(f"rendered output exceeds {st.max_out} characters")
        elif code == 3:  # S_IF
            v = _eval(st, op[1], frame, data, bp, partials)
            iz = op[4]
            include_zero = False
            if iz is not None:
                include_zero = not falsy(_eval(st, iz, frame, data, bp, partials))
            if (not include_zero and falsy(v)) or is_empty(v):
                _run(st, op[3], _nc(frame), data, bp, partials)
            else:
                _run(st, op[2], _nc(frame), data, bp, partials)
        elif code == 4:  # S_PRED
            args = [_eval(st, a, frame, data, bp, partials) for a in op[2]]
            h = _hash(st, op[3], frame, data, bp, partials)
            st.charge(args, h)
            if op[1](args, h):
                _run(st, op[4], _nc(frame), data, bp, partials)
            else:
                _run(st, op[5], _nc(frame), data, bp, partials)
        elif code == 5:  # S_EACH
            _each(st, _eval(st, op[1], frame, data, bp, partials), op[2], op[3], op[4], op[5], frame, data, bp,
                  partials)
        elif code == 6:  # S_WITH
            v = _eval(st, op[1], frame, data, bp, partials)
            if is_empty(v):
                _run(st, op[3], _nc(frame), data, bp, partials)
            else:
                nbp = (v,) if op[4] else None
                _run(st, op[2], _push(frame, v), data, (nbp, bp) if nbp is not None else bp, partials)
        elif code == 7:  # S_SECTION
            v = _eval(st, op[1], frame, data, bp, partials)
            if v is True:
                _run(st, op[2], _nc(frame), data, bp, partials)
            elif v is None or v is False:
                _run(st, op[3], _nc(frame), data, bp, partials)
            elif type(v) is list or type(v) is tuple:
                if len(v):
                    _each(st, v, op[2], op[3], 0, True, frame, data, bp, partials)
                else:
                    _run(st, op[3], _nc(frame), data, bp, partials)
            else:
                _run(st, op[2], _push(frame, v), data, bp, partials)
        elif code == 8:  # S_PARTIAL
            _partial(st, op, frame, data, bp, partials)
        elif code == 9:  # S_DEFS
            merged = dict(partials) if partials is not None else {}
            merged.update(op[1])
            partials = merged


# handlebars.js' `container.nullContext`: what a block helper passes on as `this` when the context is null.
cdef dict _NULL_CONTEXT = {}


cdef inline tuple _nc(tuple frame):
    if frame[0] is None:
        return (_NULL_CONTEXT, frame[1])
    return frame


cdef inline tuple _push(tuple frame, object v):
    if _same(v, frame[0]):
        return frame
    return (v, frame)


cdef _each(_State st, object v, tuple program, tuple inverse, object nbp, bint uses_data, tuple frame, object data,
           object bp, object partials):
    cdef Py_ssize_t i, n
    t = type(v)
    if uses_data and data is None:
        data = {"root": st.root}
    d = data
    if t is list or t is tuple:
        n = len(v)
        if n > EACH_LIMIT:
            n = EACH_LIMIT
        for i in range(n):
            st.step()
            if uses_data:
                d = dict(data)
                d["_parent"] = data
                d["key"] = i
                d["index"] = i
                d["first"] = i == 0
                d["last"] = i == n - 1
            item = v[i]
            _run(st, program, _push(frame, item), d, ((item, i), bp) if nbp else bp, partials)
        if n == 0:
            _run(st, inverse, _nc(frame), data, bp, partials)
        return
    if t is dict:
        keys = js_keys(v)
        n = len(keys)
        if n > EACH_LIMIT:
            n = EACH_LIMIT
        for i in range(n):
            st.step()
            key = keys[i]
            if uses_data:
                d = dict(data)
                d["_parent"] = data
                d["key"] = key
                d["index"] = i
                d["first"] = i == 0
                d["last"] = i == n - 1
            item = v[key]
            _run(st, program, _push(frame, item), d, ((item, key), bp) if nbp else bp, partials)
        if n == 0:
            _run(st, inverse, _nc(frame), data, bp, partials)
        return
    _run(st, inverse, _nc(frame), data, bp, partials)


cdef _partial(_State st, tuple op, tuple frame, object data, object bp, object partials):
    cdef Py_ssize_t base, lines
    cdef str text
    body = partials.get(op[1]) if partials is not None else None
    if body is None:
        raise st.err(f"partial {op[1]!r} is not defined where it is used")
    st.step()
    if st.partial_depth >= st.max_depth:
        raise st.err(f"partials nested deeper than {st.max_depth} levels")
    ctx = frame[0] if op[2] is None else _eval(st, op[2], frame, data, bp, partials)
    if op[3] is not None:
        merged = dict(ctx) if type(ctx) is dict else {}
        for key, expr in op[3]:
            merged[key] = _eval(st, expr, frame, data, bp, partials)
        ctx = merged
    st.partial_depth += 1
    indent = op[4]
    if indent:
        # See _render_py.py: the whole output stays counted, the indented text is measured before it is built.
        saved = st.out
        st.sync()
        base = st.size
        st.out = []
        st.mark = 0
        _run(st, body, (ctx, None), data, None, partials)
        st.sync()
        text = "".join(st.out)
        st.out = saved
        if text:
            ends = text.endswith("\n")
            lines = text.count("\n") + (0 if ends else 1)
            if base + len(text) + lines * len(indent) > st.max_out:
                raise st.err(f"rendered output exceeds {st.max_out} characters")
            if ends:
                text = indent + text[: len(text) - 1].replace("\n", "\n" + indent) + "\n"
            else:
                text = indent + text.replace("\n", "\n" + indent)
        saved.append(text)
        st.size = base + len(text)
        st.mark = len(saved)
    else:
        _run(st, body, (ctx, None), data, None, partials)
    st.partial_depth -= 1


cdef _hash(_State st, object h, tuple frame, object data, object bp, object partials):
    if h is None:
        return None
    return {k: _eval(st, e, frame, data, bp, partials) for k, e in h}


cdef object _eval(_State st, tuple e, tuple frame, object data, object bp, object partials):
    cdef long code = e[0]
    cdef long depth
    cdef Py_ssize_t budget, n
    if code == 21:  # X_PATH
        depth = e[1]
        f = frame
        while depth > 0 and f is not None:
            f = f[1]
            depth -= 1
        if f is None:
            return None
        v = f[0]
        for part in e[2]:
            if v is None:
                return None
            if type(v) is dict:
                v = (<dict>v).get(part)
            else:
                v = prop(v, part)
        return v
    if code == 20:  # X_LIT
        return e[1]
    if code == 24:  # X_CALL
        args = [_eval(st, a, frame, data, bp, partials) for a in e[2]]
        h = _hash(st, e[3], frame, data, bp, partials)
        budget = st.budget(args, h)
        v = e[1](args, h, budget)
        if type(v) is str:
            n = len(<str>v)
            if n > budget:
                raise st.err(f"helper {e[4]!r} produced {n} characters; this render has {budget} left")
            st.work += n
        return v
    if code == 22:  # X_DATA
        depth = e[1]
        d = data if data is not None else {"root": st.root}
        while depth > 0 and d is not None:
            d = d.get("_parent")
            depth -= 1
        v = d
        for part in e[2]:
            if v is None:
                return None
            v = prop(v, part)
        return v
    if code == 23:  # X_BP
        depth = e[1]
        b = bp
        while depth > 0 and b is not None:
            b = b[1]
            depth -= 1
        if b is None:
            return None
        values = b[0]
        v = values[e[2]] if e[2] < len(values) else None
        for part in e[3]:
            if v is None:
                return None
            v = prop(v, part)
        return v
    if code == 25:  # X_PRED
        args = [_eval(st, a, frame, data, bp, partials) for a in e[2]]
        h = _hash(st, e[3], frame, data, bp, partials)
        st.charge(args, h)
        if e[1](args, h):
            return h.get("yes", True) if h is not None and "yes" in h else True
        return h.get("no", False) if h is not None and "no" in h else False
    if code == 26:  # X_OR_TEXT
        v = _eval(st, e[1], frame, data, bp, partials)
        return e[2] if v is None else v
    raise st.err(f"bad expression code {code}")
