"""Template executor, pure-Python twin of `_render.pyx` (identical output; see gateway/templates/opcodes.py).

Runs a compiled program against a context of JSON-like data (dict, list, str, int, float, bool, None). Values are
reached only by dict/list indexing — never attributes — and converted to text exactly as handlebars.js does
(`String(value)`, JS number formatting, arrays joined with ","), then HTML-escaped like `escapeExpression`.

`Renderer(program, limits).render(context)` (or `render(program, context, limits)`): `limits` is
`(max_output_chars, max_steps, max_partial_depth, error_class)`; a step is one loop iteration or one partial call.
Exceeding a limit raises `error_class`.

Budget: a value helper is called as `fn(args, hash, budget)`, where `budget` is the most characters it may return:
what is left of the output limit, and no more than what is left of the render's helper work allowance
(`WORK_FACTOR` x the output limit: every character a helper or predicate receives in a string argument or returns
counts). A helper checks its result size against `budget` *before* it builds the result; the executor checks again
after it returns. So no template, however nested (`replace` of `replace`, padding, `join`, many arguments, helpers
inside `#each`), allocates much more than the output limit or does more than linear work in it.
"""

from __future__ import annotations

import math
from typing import Any

_EACH_LIMIT = 15  # opcodes.EACH_LIMIT
#: Deepest run-time nesting of blocks and partial calls (keeps both executors far from Python's recursion limit).
_MAX_NESTING = 200
#: Deepest list nesting a value may have to be converted to text or compared (JSON from msgspec nests up to ~1000
#: deep; recursing that far overflows the C stack in the compiled twin and Python's recursion limit in this one).
MAX_VALUE_DEPTH = 100
#: Helper work allowance of one render, as a multiple of its output limit (see the module docstring).
WORK_FACTOR = 4


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


def _list_str(v: Any, depth: int) -> str:
    """`Array.prototype.join` of JavaScript: items joined with ",", null as empty, nested lists flattened."""
    if depth >= MAX_VALUE_DEPTH:
        raise RecursionError(f"a value nests lists more than {MAX_VALUE_DEPTH} deep")
    parts = []
    for x in v:
        if x is None:
            parts.append("")
        elif isinstance(x, (list, tuple)):
            parts.append(_list_str(x, depth + 1))
        else:
            parts.append(to_str(x))
    return ",".join(parts)


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
    if len(key) > 18:  # beyond any length (and int() of a long digit string is slow or refused)
        return 1 << 62
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
        "err", "fresh", "mark", "max_depth", "max_out", "max_steps", "max_work", "nesting", "out", "partial_depth",
        "root", "size", "steps", "work",
    )

    def __init__(self, root: Any, limits: tuple[int, int, int, type]) -> None:
        self.out: list[str] = []
        self.root = root
        self.steps = 0
        self.mark = 0
        self.size = 0
        self.fresh = 0
        self.work = 0
        self.partial_depth = 0
        self.nesting = 0
        self.max_out = limits[0]
        self.max_steps = limits[1]
        self.max_depth = limits[2]
        self.err = limits[3]
        self.max_work = WORK_FACTOR * limits[0]

    def sync(self) -> None:
        """Bring `size` (characters rendered so far) up to date with `out`; raise when it exceeds the limit.

        `size` counts `out[:mark]`; each piece is counted once, so checking often costs nothing extra. Called at
        every loop step and partial call, before every helper call and before an indented partial is indented.
        (Every value appended to the output is also summed in `fresh` as it is appended: all of them end in the
        output, so `fresh` over the limit is output over the limit, found before straight-line code piles up
        copies of a long value, or the final join builds them.)
        """
        out = self.out
        n = len(out)
        size = self.size
        for i in range(self.mark, n):
            size += len(out[i])
        self.size = size
        self.mark = n
        if size > self.max_out:
            raise self.err(f"rendered output exceeds {self.max_out} characters")

    def step(self) -> None:
        """Called once per loop iteration and partial call: counts steps and output size so far."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.err(f"template exceeded {self.max_steps} loop iterations and partial calls")
        self.sync()

    def charge(self, args: list[Any], h: Any) -> None:
        """Count a helper's or predicate's inputs (string lengths, item counts) against the work allowance."""
        w = self.work
        for a in args:
            t = type(a)
            if t is str or t is list or t is dict or t is tuple:
                w += len(a)
        if h is not None:
            for a in h.values():
                t = type(a)
                if t is str or t is list or t is dict or t is tuple:
                    w += len(a)
        self.work = w
        if w > self.max_work:
            raise self.err(f"helpers handled more than {self.max_work} characters in one render")

    def budget(self, args: list[Any], h: Any) -> int:
        """Charge a value helper's inputs and return how many characters it may produce."""
        self.charge(args, h)
        self.sync()
        room = self.max_out - self.size
        left = self.max_work - self.work
        return left if left < room else room


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
    try:
        _run(st, program, (context, None), None, None, None)
    except RecursionError:
        raise st.err("values or blocks nested too deeply to render") from None
    # No need to measure before joining: of the pieces since the last `sync`, the values are at most `fresh` and the
    # literal text at most one pass over the program, so the join allocates a bounded amount.
    out = st.out
    result = out[0] if len(out) == 1 else "".join(out)
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
                s = escape(v) if op[2] else v
            else:
                s = to_str(v)
                if op[2]:
                    s = escape(s)
            out.append(s)
            st.fresh += len(s)
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
            st.fresh += len(s)
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
        # Render into a list of its own, then indent every line. `size` keeps counting the whole output, and the
        # indented text is measured before it is built (an indent on every one of many short lines multiplies).
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
            if ends:  # the empty line after the last line break is not indented
                text = indent + text[: len(text) - 1].replace("\n", "\n" + indent) + "\n"
            else:
                text = indent + text.replace("\n", "\n" + indent)
        saved.append(text)
        st.size = base + len(text)
        st.mark = len(saved)
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
        h = _hash(st, e[3], frame, data, bp, partials)
        budget = st.budget(args, h)
        v = e[1](args, h, budget)
        if type(v) is str:
            n = len(v)
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
