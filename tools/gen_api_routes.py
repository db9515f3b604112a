"""Generate gateway/api/_routes.py, the HTTP binding of every Pinpoint operation, from botocore's model.

For each of the 122 operations: method, path template, success status, the uri and querystring members
(wire name, member name, type, required), the body payload member and its shape, and the output payload member.
The server reads this table at import time, so it never loads botocore's 1 MB model at startup.
Run: python tools/gen_api_routes.py > gateway/api/_routes.py
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import botocore


def load_model() -> dict:
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "pinpoint", "2016-12-01", "service-2.json.gz")
    with gzip.open(path) as f:
        return json.load(f)


def main() -> None:
    m = load_model()
    shapes = m["shapes"]
    out = [
        '"""HTTP binding of every Pinpoint operation, generated from botocore\'s pinpoint 2016-12-01 model.',
        "",
        "Do not edit: regenerate with `python tools/gen_api_routes.py > gateway/api/_routes.py`.",
        "Param = (wire name, member name, model type, required); Payload = (member name, shape name, required).",
        '"""',
        "",
        "# ruff: noqa: E501",
        "from __future__ import annotations",
        "",
        "Param = tuple[str, str, str, bool]",
        "Payload = tuple[str, str, bool]",
        "",
        "# name -> (method, path, status, uri params, query params, body payload, output payload)",
        "BINDINGS: dict[str, tuple[str, str, int, tuple[Param, ...], tuple[Param, ...], Payload | None, "
        "Payload | None]] = {",
    ]
    for name, op in sorted(m["operations"].items()):
        http = op["http"]
        inp = shapes[op["input"]["shape"]]
        req = set(inp.get("required", []))
        uri: list[tuple[str, str, str, bool]] = []
        query: list[tuple[str, str, str, bool]] = []
        body = None
        for mname, mdef in inp.get("members", {}).items():
            loc = mdef.get("location")
            t = shapes[mdef["shape"]]["type"]
            if loc == "uri":
                uri.append((mdef["locationName"], mname, t, True))
            elif loc == "querystring":
                query.append((mdef["locationName"], mname, t, mname in req))
            elif loc is None:
                if inp.get("payload") != mname:
                    raise SystemExit(f"{name}: body member {mname} is not the payload")
                body = (mname, mdef["shape"], mname in req)
            else:
                raise SystemExit(f"{name}: unsupported location {loc}")
        output = None
        if "output" in op:
            o = shapes[op["output"]["shape"]]
            pm = o["payload"]
            output = (pm, o["members"][pm]["shape"], True)
        out.append(
            f"    {name!r}: ({http['method']!r}, {http['requestUri']!r}, {http.get('responseCode', 200)}, "
            f"{tuple(uri)!r}, {tuple(query)!r}, {body!r}, {output!r}),"
        )
    out.append("}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
