"""Pinpoint's template helpers (userguide: message-template-helpers), as plain functions of evaluated arguments.

A value helper is `fn(args: list, hash: dict | None, budget: int) -> value`; the executor converts the value to
text and escapes it like any other mustache. A predicate is `pred(args, hash) -> bool`: used as a block it picks the
block or its `{{else}}`, used inline it renders `yes=` (default true) or `no=` (default false), as Pinpoint's
conditional helpers (Handlebars.java's ConditionalHelpers) do. Truthiness of the conditional helpers follows
Handlebars.java `Utils.isEmpty`: null, false, "", 0 and [] are empty.

Templates and data are tenant input, and rendering runs on the event loop. So every helper runs in time linear in
its input (no regular expression that can backtrack on tenant text), and `budget` is the most characters a value
helper may return (what is left of the render's output limit and helper work allowance, see
gateway/_fast/_render_py.py): a helper whose result can be longer than its input computes the result's length first
and raises RenderError, without building it, when it exceeds the budget.

The JavaScript twin used to produce the conformance fixtures is tools/handlebars_oracle/pinpoint_helpers.js; keep
them in step.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
import unicodedata
import uuid as _uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway import _fast

from . import dates
from .errors import RenderError, clip

# The executor's value kernels (compiled when built): helpers convert values exactly as the executor does.
_R = _fast.load("render")
falsy: Callable[[Any], bool] = _R.falsy
is_empty: Callable[[Any], bool] = _R.is_empty
js_num: Callable[[float], str] = _R.js_num
prop: Callable[[Any, Any], Any] = _R.prop
to_str: Callable[[Any], str] = _R.to_str
capitalize_words: Callable[[str], str] = _R.capitalize_words

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Wall clock for {{now}} (seconds since the epoch); tests replace it.
clock: Callable[[], float] = time.time

#: No padding helper may produce more than this many characters (padding widths are user input).
MAX_WIDTH = 1_000_000
#: Deepest nesting `eq`/`neq` compare (as the executor's `to_str` converts): deeper is a RenderError.
MAX_VALUE_DEPTH: int = _R.MAX_VALUE_DEPTH

Args = list[Any]
Hash = dict[str, Any] | None
Helper = Callable[[Args, Hash, int], Any]


def _over(what: str, size: int, budget: int) -> RenderError:
    """The error for a result of `size` characters, refused before it is built, when the render has `budget` left.
    (Callers compare inline, `if size > budget: raise _over(...)`: no extra call when the result fits.)"""
    return RenderError(f"{what} would produce {size} characters; this render has {budget} left")


def _arg(args: Args, i: int, default: Any = None) -> Any:
    """Positional argument i; a missing or null argument takes the default."""
    if i < len(args):
        v = args[i]
        return default if v is None else v
    return default


def _h(hash_: Hash, key: str, default: Any = None) -> Any:
    if hash_ is None:
        return default
    v = hash_.get(key)
    return default if v is None else v


# Unambiguous (each character can be matched one way only), so a failing match backtracks in linear time.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def to_number(v: Any) -> float:
    """JavaScript `Number(v)` for JSON values."""
    t = type(v)
    if t is int or t is float:
        return float(v)
    if v is True:
        return 1.0
    if v is False:
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return 0.0
        try:
            if _DECIMAL.fullmatch(s):
                return float(s)
            if _HEX.fullmatch(s):
                return float(int(s, 16))
        except (ValueError, OverflowError):
            return math.nan
        return math.nan
    if isinstance(v, list):
        if not v:
            return 0.0
        if len(v) == 1:
            return to_number(to_str(v))
    return math.nan


def _int(v: Any, what: str) -> int:
    f = to_number(v)
    if f != f or f in (math.inf, -math.inf):
        raise RenderError(f"{what} must be a number, got {clip(to_str(v))!r}")
    return int(f)


def _jk_empty(v: Any) -> bool:
    """Handlebars.java `Utils.isEmpty`: null, false, empty string, empty list, and the number 0."""
    if v is None or v is False:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v == 0
    if isinstance(v, (str, list)):
        return len(v) == 0
    return False


# -- conditionals --------------------------------------------------------------------------------------------------


def _json_eq(a: Any, b: Any, depth: int = 0) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, (list, dict)) and depth >= MAX_VALUE_DEPTH:
        raise RenderError(f"eq/neq cannot compare values nested more than {MAX_VALUE_DEPTH} deep")
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_eq(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k], depth + 1) for k in a)
    return type(a) is type(b) and a == b


def _cmp(a: Any, b: Any) -> int | None:
    """Compare two numbers or two strings (UTF-16 order, as Java's compareTo); None when not comparable."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        fa, fb = float(a), float(b)
        if fa != fa or fb != fb:
            return None
        return (fa > fb) - (fa < fb)
    if isinstance(a, str) and isinstance(b, str):
        ea, eb = a.encode("utf-16-be", "surrogatepass"), b.encode("utf-16-be", "surrogatepass")
        return (ea > eb) - (ea < eb)
    return None


def pred_eq(args: Args, hash_: Hash) -> bool:
    return _json_eq(_arg(args, 0), _arg(args, 1))


def pred_neq(args: Args, hash_: Hash) -> bool:
    return not _json_eq(_arg(args, 0), _arg(args, 1))


def _ordered(test: Callable[[int], bool]) -> Callable[[Args, Hash], bool]:
    def pred(args: Args, hash_: Hash) -> bool:
        c = _cmp(_arg(args, 0), _arg(args, 1))
        return c is not None and test(c)

    return pred


def pred_and(args: Args, hash_: Hash) -> bool:
    return bool(args) and all(not _jk_empty(a) for a in args)


def pred_or(args: Args, hash_: Hash) -> bool:
    return any(not _jk_empty(a) for a in args)


def pred_not(args: Args, hash_: Hash) -> bool:
    return _jk_empty(_arg(args, 0))


def pred_if(args: Args, hash_: Hash) -> bool:
    """handlebars.js #if truthiness (0 is false unless includeZero=true; [] is false; {} is true)."""
    v = _arg(args, 0)
    include_zero = not falsy(_h(hash_, "includeZero"))
    return not ((not include_zero and falsy(v)) or is_empty(v))


PREDICATES: dict[str, Callable[[Args, Hash], bool]] = {
    "and": pred_and,
    "eq": pred_eq,
    "gt": _ordered(lambda c: c > 0),
    "gte": _ordered(lambda c: c >= 0),
    "lt": _ordered(lambda c: c < 0),
    "lte": _ordered(lambda c: c <= 0),
    "neq": pred_neq,
    "not": pred_not,
    "or": pred_or,
}


# -- strings -------------------------------------------------------------------------------------------------------


def h_abbreviate(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    width = _int(_arg(args, 1, _h(hash_, "width")), "abbreviate's width")
    if width < 4:
        raise RenderError("abbreviate's width must be at least 4 (the ellipsis counts toward it)")
    if len(s) <= width:  # Python strings index code points, as the width counts them
        return s
    return s[: width - 3] + "..."


# Case mapping never shortens a string (one character maps to one to three), so a text longer than the budget is
# refused before it is mapped; the executor checks the mapped length.


def h_capitalize(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(args[0] if args else None)
    if len(s) > budget:
        raise _over("capitalize", len(s), budget)
    if hash_ is not None and not falsy(hash_.get("fully")):
        s = s.lower()
    return capitalize_words(s)


def h_capitalize_first(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    if len(s) > budget:
        raise _over("capitalizeFirst", len(s), budget)
    return s[:1].upper() + s[1:]


def _width(args: Args, hash_: Hash, what: str, size: int, budget: int) -> int:
    """The width argument of a padding helper; refuses one whose result (`size` characters or `width`) is over."""
    raw = _arg(args, 1, _h(hash_, "size"))
    if raw is None:
        raise RenderError(f"{what} needs a width: {{{{{what} value 20}}}} or size=20")
    width = _int(raw, f"{what}'s width")
    if width > MAX_WIDTH:
        raise RenderError(f"{what}'s width {width} exceeds {MAX_WIDTH}")
    if width > budget or size > budget:
        raise _over(what, max(width, size), budget)
    return width


def _pad(pad: str, n: int) -> str:
    if n <= 0:
        return ""
    return (pad * (n // len(pad) + 1))[:n]


def _pad_str(hash_: Hash) -> str:
    p = to_str(_h(hash_, "pad", " "))
    return p or " "


def h_center(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    width = _width(args, hash_, "center", len(s), budget)
    pad = _pad_str(hash_)
    n = width - len(s)
    if n <= 0:
        return s
    left = n // 2
    return _pad(pad, left) + s + _pad(pad, n - left)


def h_ljust(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    return s + _pad(_pad_str(hash_), _width(args, hash_, "ljust", len(s), budget) - len(s))


def h_rjust(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    return _pad(_pad_str(hash_), _width(args, hash_, "rjust", len(s), budget) - len(s)) + s


def h_cut(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    what = to_str(_arg(args, 1, " "))
    return s.replace(what, "") if what else s


def h_replace(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    old = to_str(_arg(args, 1))
    new = to_str(_arg(args, 2))
    if not old:
        return s
    if len(new) > len(old):  # str.count and str.replace search in linear time (CPython's two-way search)
        size = len(s) + s.count(old) * (len(new) - len(old))
        if size > budget:
            raise _over("replace", size, budget)
    return s.replace(old, new)


def h_inflect(args: Args, hash_: Hash, budget: int) -> Any:
    count = _arg(args, 0)
    n = to_number(count)
    word = _arg(args, 2) if (n > 1 or n == 0) else _arg(args, 1)
    word_s = to_str(word)
    if _arg(args, 3, _h(hash_, "includeCount")) is True:
        return to_str(count) + " " + word_s
    return word_s


def h_join(args: Args, hash_: Hash, budget: int) -> Any:
    items = _arg(args, 0)
    sep = to_str(_arg(args, 1, ","))
    prefix = to_str(_h(hash_, "prefix", ""))
    suffix = to_str(_h(hash_, "suffix", ""))
    parts = ["" if x is None else to_str(x) for x in items] if isinstance(items, list) else [to_str(items)]
    # The separator repeats once per item: a long one times a long list is the amplification to refuse.
    size = len(prefix) + len(suffix) + len(sep) * (len(parts) - 1 if parts else 0)
    for part in parts:
        size += len(part)
    if size > budget:
        raise _over("join", size, budget)
    return prefix + sep.join(parts) + suffix


def h_lower(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(args[0] if args else None)
    if len(s) > budget:
        raise _over("lower", len(s), budget)
    return s.lower()


def h_upper(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(args[0] if args else None)
    if len(s) > budget:
        raise _over("upper", len(s), budget)
    return s.upper()


def h_ordinalize(args: Args, hash_: Hash, budget: int) -> Any:
    v = _arg(args, 0)
    f = to_number(v)
    if f != f or f in (math.inf, -math.inf):
        return to_str(v)
    n = int(f)
    a = abs(n)
    if a % 100 in (11, 12, 13):
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(a % 10, "th")
    return str(n) + suffix


_SLUG_DROP = re.compile(r"[^A-Za-z0-9_ \t\n\r\f\v-]")
_SLUG_SEP = re.compile(r"[- \t\n\r\f\v]+")


def h_slugify(args: Args, hash_: Hash, budget: int) -> Any:
    s = unicodedata.normalize("NFD", to_str(_arg(args, 0)))
    s = _SLUG_DROP.sub("", s).strip(" \t\n\r\f\v").lower()
    return _SLUG_SEP.sub("-", s)


def strip_tags(s: str) -> str:
    """Remove `<...>` tags as JavaScript's `s.replace(/<[^>]*>/g, "")` does, in one pass.

    A tag runs from a `<` to the next `>`; a `<` with no `>` after it starts no tag, and neither does any later `<`
    (there is no `>` after those either), so the rest is kept as it is. (The regular expression retried every such
    `<` against the whole rest of the text: quadratic on `<a<a<a...`.)
    """
    parts: list[str] = []
    i = 0
    while True:
        lt = s.find("<", i)
        if lt < 0:
            break
        gt = s.find(">", lt + 1)
        if gt < 0:
            break
        parts.append(s[i:lt])
        i = gt + 1
    if not parts:
        return s
    parts.append(s[i:])
    return "".join(parts)


def h_strip_tags(args: Args, hash_: Hash, budget: int) -> Any:
    return strip_tags(to_str(_arg(args, 0)))


def h_substring(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0))
    n = len(s)
    start = min(max(_int(_arg(args, 1, 0), "substring's start"), 0), n)
    end_raw = _arg(args, 2)
    end = n if end_raw is None else min(max(_int(end_raw, "substring's end"), 0), n)
    return s[start:end] if end > start else ""


def h_yesno(args: Args, hash_: Hash, budget: int) -> Any:
    v = _arg(args, 0)
    if v is None:
        return _h(hash_, "maybe", "maybe")
    return _h(hash_, "no", "no") if _jk_empty(v) else _h(hash_, "yes", "yes")


# -- dates ---------------------------------------------------------------------------------------------------------


def _to_datetime(v: Any, input_format: str | None) -> datetime | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        if v != v or v in (math.inf, -math.inf):
            return None
        try:
            return _EPOCH + timedelta(milliseconds=v)
        except OverflowError:
            return None
    s = to_str(v)
    if input_format:
        return dates.parse_pattern(s, input_format, datetime.fromtimestamp(clock(), UTC).year)
    return dates.parse_iso(s)


def h_date_format(args: Args, hash_: Hash, budget: int) -> Any:
    v = _arg(args, 0)
    pattern = to_str(_h(hash_, "outputFormat", _h(hash_, "format", _arg(args, 1, "medium"))))
    input_format = _h(hash_, "inputFormat")
    dt = _to_datetime(v, to_str(input_format) if input_format is not None else None)
    if dt is None:
        return v  # not a date: rendered unchanged
    try:
        local = dt.astimezone(dates.zone(to_str(_h(hash_, "tz")) or None))
    except (OverflowError, ValueError):  # within a day of year 1 or 9999: not a date we can show
        return v
    return dates.format_date(local, pattern, budget)


def h_now(args: Args, hash_: Hash, budget: int) -> Any:
    pattern = to_str(_arg(args, 0, _h(hash_, "format", "medium")))
    t = clock()
    dt = datetime.fromtimestamp(t, dates.zone(to_str(_h(hash_, "tz")) or None))
    return dates.format_date(dt, pattern, budget)


# -- numbers and encodings -------------------------------------------------------------------------------------------


def _round8(f: float) -> float:
    """Results of the arithmetic helpers keep at most 8 decimals (Pinpoint: divide 5 2.3 → 2.17391304)."""
    if f.is_integer() or f != f or f in (math.inf, -math.inf) or abs(f) >= 1e21:
        return f
    return float(Decimal(f).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP))


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0 or a != a or b != b or a in (math.inf, -math.inf):
        return math.nan
    if b in (math.inf, -math.inf):
        return a
    return math.fmod(a, b)


def _operands(args: Args) -> tuple[float, float]:
    a = args[0] if args else None
    b = args[1] if len(args) > 1 else None
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return float(a), float(b)  # type: ignore[arg-type]
    return to_number(a), to_number(b)


def h_add(args: Args, hash_: Hash, budget: int) -> Any:
    a, b = _operands(args)
    return _round8(a + b)


def h_subtract(args: Args, hash_: Hash, budget: int) -> Any:
    a, b = _operands(args)
    return _round8(a - b)


def h_multiply(args: Args, hash_: Hash, budget: int) -> Any:
    a, b = _operands(args)
    return _round8(a * b)


def h_divide(args: Args, hash_: Hash, budget: int) -> Any:
    a, b = _operands(args)
    return _round8(_div(a, b))


def h_modulo(args: Args, hash_: Hash, budget: int) -> Any:
    a, b = _operands(args)
    return _round8(_mod(a, b))


def _js_round(f: float) -> float:
    if f != f or f in (math.inf, -math.inf):
        return f
    r = math.floor(f)
    return float(r + 1) if f - r >= 0.5 else float(r)


def _unary(op: Callable[[float], float]) -> Helper:
    def helper(args: Args, hash_: Hash, budget: int) -> Any:
        f = to_number(_arg(args, 0))
        if f != f or f in (math.inf, -math.inf):
            return f
        return op(f)

    return helper


def h_encode64(args: Args, hash_: Hash, budget: int) -> Any:
    data = to_str(_arg(args, 0)).encode("utf-8", "surrogatepass")
    size = (len(data) + 2) // 3 * 4
    if size > budget:
        raise _over("encode64", size, budget)
    return base64.b64encode(data).decode("ascii")


_B64_JUNK = re.compile(r"[^A-Za-z0-9+/]")


def h_decode64(args: Args, hash_: Hash, budget: int) -> Any:
    s = to_str(_arg(args, 0)).replace("-", "+").replace("_", "/")
    s = _B64_JUNK.sub("", s.split("=", 1)[0])
    if len(s) % 4 == 1:
        s = s[:-1]
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s).decode("utf-8", "replace")


def _digest(name: str) -> Helper:
    def helper(args: Args, hash_: Hash, budget: int) -> Any:
        return hashlib.new(name, to_str(_arg(args, 0)).encode("utf-8", "surrogatepass")).hexdigest()

    return helper


def h_uuid(args: Args, hash_: Hash, budget: int) -> Any:
    return str(_uuid.uuid4())


def h_lookup(args: Args, hash_: Hash, budget: int) -> Any:
    """handlebars.js' built-in `lookup obj key` (own properties only)."""
    obj = _arg(args, 0)
    return obj if falsy(obj) else prop(obj, _arg(args, 1))


def h_log(args: Args, hash_: Hash, budget: int) -> Any:
    """handlebars.js' built-in `log`: renders nothing. Tenant data is never written to our logs."""
    return None


VALUE_HELPERS: dict[str, Helper] = {
    "abbreviate": h_abbreviate,
    "capitalize": h_capitalize,
    "capitalizeFirst": h_capitalize_first,
    "center": h_center,
    "cut": h_cut,
    "dateFormat": h_date_format,
    "inflect": h_inflect,
    "join": h_join,
    "ljust": h_ljust,
    "lower": h_lower,
    "now": h_now,
    "ordinalize": h_ordinalize,
    "replace": h_replace,
    "rjust": h_rjust,
    "slugify": h_slugify,
    "stripTags": h_strip_tags,
    "substring": h_substring,
    "upper": h_upper,
    "yesno": h_yesno,
    "add": h_add,
    "subtract": h_subtract,
    "multiply": h_multiply,
    "divide": h_divide,
    "modulo": h_modulo,
    "ceiling": _unary(lambda f: float(math.ceil(f))),
    "floor": _unary(lambda f: float(math.floor(f))),
    "round": _unary(_js_round),
    "decode64": h_decode64,
    "encode64": h_encode64,
    "md5": _digest("md5"),
    "sha256": _digest("sha256"),
    "sha512": _digest("sha512"),
    "uuid": h_uuid,
    "lookup": h_lookup,
    "log": h_log,
}

__all__ = ["PREDICATES", "VALUE_HELPERS", "clock", "js_num", "pred_if", "to_str"]
