"""Template executor, pure-Python twin of `_render.pyx` (identical output; see gateway/templates/opcodes.py).

Runs a compiled program against a context of JSON-like data (dict, list, str, int, float, bool, None). Values are
reached only by dict/list indexing — never attributes — and converted to text exactly as handlebars.js does
(`String(value)`, JS number formatting, arrays joined with ","), then HTML-escaped like `escapeExpression`.

`Renderer(program, limits).render(context)` (or `render(program, context, limits)`): `limits` is
`(max_output_chars, max_steps, max_partial_depth, error_class)`; a step is one loop iteration or one partial call.
Exceeding a limit raises `error_class`.
"""

from __future__ import annotations

import math
from typing import Any

_EACH_LIMIT = 15  # opcodes.EACH_LIMIT
#: Deepest run-time nesting of blocks and partial calls (keeps both executors far from Python's recursion limit).
_MAX_NESTING = 200


def js_num(f: float) -> str:
    """`String(number)` of JavaScript (ECMA-262 Number::toString)."""
    if f != f:
        return "NaN"
    if f == math.inf:
        return "Infinity"
    if f == -math.inf:
        return "-Infinity"
    if f == 0:
        return "0"
    if f.is_integer() and -9007199254740992.0 <= f <= 9007199254740992.0:
        return str(int(f))
    if (1e-4 <= f < 1e16 or -1e16 < f <= -1e-4) and not f.is_integer():
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


def to_str(v: Any) -> str:
    """JavaScript `String(v)` for JSON values; None (null/undefined) is the empty string, as handlebars renders it."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        if -9007199254740992 <= v <= 9007199254740992:
            return str(v)
        return js_num(float(v))
    if t is float:
        return js_num(v)
    if t is list or t is tuple:
        return ",".join([_array_item(x) for x in v])
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return to_str(int(v))
    if isinstance(v, float):
        return js_num(float(v))
    if isinstance(v, (list, tuple)):
        return ",".join([_array_item(x) for x in v])
    return "[object Object]"


def _array_item(x: Any) -> str:
    return "" if x is None else to_str(x)


def escape(s: str) -> str:
    """handlebars.js `escapeExpression` on a string: & < > " ' ` = become entities."""
    if (
        "&" in s or "<" in s or ">" in s or '"' in s or "'" in s or "`" in s or "=" in s
    ):
        return (
            s.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("'", "&#x27;")
            .replace("`", "&#x60;")
            .replace("=", "&#x3D;")
        )
    return s


def capitalize_words(s: str) -> str:
    """Upper-case the first character of every word (words are separated by space, tab, CR, LF, VT, FF)."""
    parts: list[str] | None = None
    start = 0
    prev_ws = True
    for i, ch in enumerate(s):
        if ch in " \t\n\r\x0b\x0c":
            prev_ws = True
            continue
        if prev_ws:
            up = ch.upper()
            if up != ch:
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


def _index(key: str) -> int:
    """The array index a property name denotes in JavaScript (canonical non-negative integer), else -1."""
    if not key or not key.isdigit() or not key.isascii():
        return -1
    if len(key) > 1 and key[0] == "0":
        return -1
    return int(key)


def prop(obj: Any, key: Any) -> Any:
    """handlebars.js `lookupProperty`: own properties of JSON values only. Never touches Python attributes."""
    if type(key) is not str:
        key = to_str(key)
    t = type(obj)
    if t is dict:
        return obj.get(key)
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


def _utf16_len(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def js_keys(d: dict[Any, Any]) -> list[Any]:
    """`Object.keys` order: array-index keys ascending first, then the others in insertion order."""
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


def falsy(v: Any) -> bool:
    """JavaScript `!v` for JSON values."""
    if v is None or v is False:
        return True
    t = type(v)
    if t is str:
        return not v
    if t is int:
        return bool(v == 0)
    if t is float:
        return bool(v == 0 or v != v)
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v == 0 or v != v
    if isinstance(v, str):
        return not v
    return False


def is_empty(v: Any) -> bool:
    """handlebars.js `Utils.isEmpty`: falsy but not 0, or an empty array."""
    t = type(v)
    if t is list or t is tuple:
        return len(v) == 0
    if falsy(v):
        return not ((t is int or t is float) and v == 0)
    return False


def _same(a: Any, b: Any) -> bool:
    """`a == b` as handlebars' `context != depths[0]` test uses it (identity for objects, value for scalars)."""
    if a is b:
        return True
    ta = type(a)
    if ta is dict or ta is list or type(b) is dict or type(b) is list:
        return False
    return ta is type(b) and a == b


class _State:
    __slots__ = (
        "err", "mark", "max_depth", "max_out", "max_steps", "nesting", "out", "partial_depth", "root", "size", "steps",
    )

    def __init__(self, root: Any, limits: tuple[int, int, int, type]) -> None:
        self.out: list[str] = []
        self.root = root
        self.steps = 0
        self.mark = 0
        self.size = 0
        self.partial_depth = 0
        self.nesting = 0
        self.max_out = limits[0]
        self.max_steps = limits[1]
        self.max_depth = limits[2]
        self.err = limits[3]

    def step(self) -> None:
        """Called once per loop iteration and partial call: counts steps and output size so far."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.err(f"template exceeded {self.max_steps} loop iterations and partial calls")
        out = self.out
        n = len(out)
        size = self.size
        for i in range(self.mark, n):
            size += len(out[i])
        self.size = size
        self.mark = n
        if size > self.max_out:
            raise self.err(f"rendered output exceeds {self.max_out} characters")


class Renderer:
    """A program bound to its limits; `render(context)` is what `Program.render` calls."""

    __slots__ = ("limits", "program")

    def __init__(self, program: tuple[Any, ...], limits: tuple[int, int, int, type]) -> None:
        self.program = program
        self.limits = limits

    def render(self, context: Any) -> str:
        return render(self.program, context, self.limits)


def render(program: tuple[Any, ...], context: Any, limits: tuple[int, int, int, type]) -> str:
    """Render `program` with `context` as the root; returns the text."""
    st = _State(context, limits)
    _run(st, program, (context, None), None, None, None)
    if len(st.out) == 1:
        result = st.out[0]
    else:
        result = "".join(st.out)
    if len(result) > st.max_out:
        raise st.err(f"rendered output exceeds {st.max_out} characters")
    return result


def _run(st: _State, program: tuple[Any, ...], frame: tuple[Any, Any], data: Any, bp: Any, partials: Any) -> None:
    st.nesting += 1
    if st.nesting > _MAX_NESTING:
        raise st.err(f"rendering nested deeper than {_MAX_NESTING} blocks and partials")
    try:
        _run_body(st, program, frame, data, bp, partials)
    finally:
        st.nesting -= 1


def _run_body(
    st: _State, program: tuple[Any, ...], frame: tuple[Any, Any], data: Any, bp: Any, partials: Any
) -> None:
    out = st.out
    ctx = frame[0]
    for op in program:
        if type(op) is str:
            out.append(op)
            continue
        code = op[0]
        if code == 1:  # S_OUT1
            if type(ctx) is dict:
                v = ctx.get(op[1])
            else:
                v = prop(ctx, op[1])
            if v is None:
                continue
            if type(v) is str:
                out.append(escape(v) if op[2] else v)
            else:
                s = to_str(v)
                out.append(escape(s) if op[2] else s)
        elif code == 2:  # S_OUT
            v = _eval(st, op[1], frame, data, bp, partials)
            if v is None:
                continue
            s = v if type(v) is str else to_str(v)
            out.append(escape(s) if op[2] else s)
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
            if op[1](args, _hash(st, op[3], frame, data, bp, partials)):
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


#: handlebars.js' `container.nullContext`: what a block helper passes on as `this` when the context is null.
_NULL_CONTEXT: dict[str, Any] = {}


def _nc(frame: tuple[Any, Any]) -> tuple[Any, Any]:
    """The frame a block renders with "this": a null context becomes an empty object (handlebars.js quirk)."""
    if frame[0] is None:
        return (_NULL_CONTEXT, frame[1])
    return frame


def _push(frame: tuple[Any, Any], v: Any) -> tuple[Any, Any]:
    if _same(v, frame[0]):
        return frame
    return (v, frame)


def _each(
    st: _State, v: Any, program: tuple[Any, ...], inverse: tuple[Any, ...], nbp: int, uses_data: bool,
    frame: tuple[Any, Any], data: Any, bp: Any, partials: Any,
) -> None:
    t = type(v)
    if uses_data and data is None:
        data = {"root": st.root}
    d = data
    if t is list or t is tuple:
        n = len(v)
        if n > _EACH_LIMIT:
            n = _EACH_LIMIT
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
        if n > _EACH_LIMIT:
            n = _EACH_LIMIT
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


def _partial(st: _State, op: tuple[Any, ...], frame: tuple[Any, Any], data: Any, bp: Any, partials: Any) -> None:
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
        saved = st.out
        saved_mark = st.mark
        st.out = []
        st.mark = 0
        _run(st, body, (ctx, None), data, None, partials)
        text = "".join(st.out)
        st.out = saved
        st.mark = saved_mark
        lines = text.split("\n")
        last = len(lines) - 1
        for i in range(len(lines)):
            if not lines[i] and i == last:
                break
            lines[i] = indent + lines[i]
        saved.append("\n".join(lines))
    else:
        _run(st, body, (ctx, None), data, None, partials)
    st.partial_depth -= 1


def _hash(st: _State, h: Any, frame: tuple[Any, Any], data: Any, bp: Any, partials: Any) -> Any:
    if h is None:
        return None
    return {k: _eval(st, e, frame, data, bp, partials) for k, e in h}


def _eval(st: _State, e: tuple[Any, ...], frame: tuple[Any, Any], data: Any, bp: Any, partials: Any) -> Any:
    code = e[0]
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
            v = prop(v, part)
        return v
    if code == 20:  # X_LIT
        return e[1]
    if code == 24:  # X_CALL
        args = [_eval(st, a, frame, data, bp, partials) for a in e[2]]
        return e[1](args, _hash(st, e[3], frame, data, bp, partials))
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
        if e[1](args, h):
            return h.get("yes", True) if h is not None and "yes" in h else True
        return h.get("no", False) if h is not None and "no" in h else False
    if code == 26:  # X_OR_TEXT
        v = _eval(st, e[1], frame, data, bp, partials)
        return e[2] if v is None else v
    raise st.err(f"bad expression code {code}")
