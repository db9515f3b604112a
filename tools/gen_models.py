"""Generate gateway/models.py from botocore's pinpoint 2016-12-01 service model.

Every structure in the model becomes a msgspec Struct whose attribute names are exactly the model's member
names, so a JSON body written for Pinpoint decodes unchanged and our responses encode with Pinpoint's names.
Required members have no default (msgspec reports them by name); enums become Literal types (msgspec reports
the bad value and its path). Run: python tools/gen_models.py > gateway/models.py
"""

from __future__ import annotations

import gzip
import json
import keyword
import os
import sys

import botocore

PRIMITIVES = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "double": "float",
    "boolean": "bool",
    "blob": "bytes",
    "timestamp": "str",
}


def load_model() -> dict:
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "pinpoint", "2016-12-01", "service-2.json.gz")
    with gzip.open(path) as f:
        return json.load(f)


def type_of(shapes: dict, name: str) -> str:
    s = shapes[name]
    t = s["type"]
    if t == "structure":
        return name
    if t == "list":
        return f"list[{type_of(shapes, s['member']['shape'])}]"
    if t == "map":
        return f"dict[str, {type_of(shapes, s['value']['shape'])}]"
    if t == "string" and "enum" in s:
        return name
    return PRIMITIVES[t]


def main() -> None:
    m = load_model()
    shapes = m["shapes"]
    out = [
        '"""Pinpoint\'s shapes as msgspec Structs, generated from botocore\'s pinpoint 2016-12-01 model.',
        "",
        "Do not edit: regenerate with `python tools/gen_models.py > gateway/models.py`. Attribute names are the",
        "model's member names so JSON round-trips unchanged; required members have no default.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "from __future__ import annotations",
        "",
        "from typing import Literal, TypeAlias",
        "",
        "import msgspec",
        "",
        "",
        "class Shape(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):",
        '    """Base of every generated shape: keyword-only, absent members omitted when encoded."""',
        "",
        "",
    ]
    enums = {k: v for k, v in shapes.items() if v["type"] == "string" and "enum" in v}
    for name, s in sorted(enums.items()):
        vals = ", ".join(repr(v) for v in s["enum"])
        out.append(f"{name}: TypeAlias = Literal[{vals}]")
    out.append("")
    out.append("")
    for name, s in shapes.items():
        if s["type"] != "structure":
            continue
        required = set(s.get("required", []))
        out.append(f"class {name}(Shape, kw_only=True, gc=False):")
        members = s.get("members", {})
        if not members:
            out.append("    pass")
        for mname, mdef in members.items():
            py = mname if not keyword.iskeyword(mname) else mname + "_"
            t = type_of(shapes, mdef["shape"])
            if mname in required:
                out.append(f"    {py}: {t}")
            else:
                out.append(f"    {py}: {t} | None = None")
        out.append("")
        out.append("")
    ops = []
    for name, op in sorted(m["operations"].items()):
        http = op["http"]
        ops.append(
            f"    {name!r}: ({http['method']!r}, {http['requestUri']!r}, {op.get('input', {}).get('shape')!r}, "
            f"{op.get('output', {}).get('shape')!r}, {http.get('responseCode', 200)}),"
        )
    out.append("# operation name -> (method, path, input shape, output shape, success status)")
    out.append("OPERATIONS: dict[str, tuple[str, str, str | None, str | None, int]] = {")
    out.extend(ops)
    out.append("}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
