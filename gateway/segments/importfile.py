"""Parse Pinpoint import files (sans-I/O): CSV with dotted-path headers, or newline-delimited JSON, one endpoint
per row, into EndpointBatchItem values or per-row errors.

CSV rules (Pinpoint's): the header row names attribute paths (`ChannelType,Address,Location.Country,
Attributes.Interests,User.UserId`...); a multi-valued custom field repeats its column; a file whose only column
is `User.UserId` lists user ids, several per line when separated by spaces. EndpointStatus and EffectiveDate are
not importable: those columns are ignored and reported once as a job-level note. A row without Id gets a stable
id derived from (ChannelType, Address), so importing the same file twice updates instead of duplicating.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.models import EndpointBatchItem

_NS = uuid.UUID("6f1c3c8e-3f0a-4d1e-9a59-5b0d0c1f4b21")
SCALARS = {"Address", "ChannelType", "Id", "OptOut", "RequestId"}
DEMOGRAPHIC = {"AppVersion", "Locale", "Make", "Model", "ModelVersion", "Platform", "PlatformVersion", "Timezone"}
LOCATION = {"City", "Country", "Latitude", "Longitude", "PostalCode", "Region"}
NOT_IMPORTABLE = {"EndpointStatus", "EffectiveDate"}
_convert_opts: dict[str, Any] = {"strict": False}


@dataclass
class Parsed:
    """One row: `item` when it parsed, else `error`; `user_ids` for user-id-only rows."""

    line: int
    item: EndpointBatchItem | None = None
    user_ids: list[str] = field(default_factory=list)
    error: str | None = None


def stable_id(channel: str, address: str) -> str:
    return uuid.uuid5(_NS, f"{channel}\x00{address}").hex


def _finish(line: int, obj: dict[str, Any]) -> Parsed:
    try:
        item = msgspec.convert(obj, EndpointBatchItem, **_convert_opts)
    except msgspec.ValidationError as exc:
        return Parsed(line, error=str(exc))
    if not item.Id:
        if not item.Address or not item.ChannelType:
            if item.User is not None and item.User.UserId and set(obj) == {"User"} and not item.User.UserAttributes:
                return Parsed(line, user_ids=[item.User.UserId])
            return Parsed(line, error="a new endpoint needs Address and ChannelType (or give Id to update one)")
        item = msgspec.structs.replace(item, Id=stable_id(item.ChannelType, item.Address))
    return Parsed(line, item=item)


def _set_path(obj: dict[str, Any], path: str, value: str) -> str | None:
    parts = path.split(".")
    head = parts[0]
    if head in SCALARS and len(parts) == 1:
        obj[head] = value
    elif head == "Attributes" and len(parts) >= 2:
        obj.setdefault("Attributes", {}).setdefault(".".join(parts[1:]), []).append(value)
    elif head == "Metrics" and len(parts) >= 2:
        try:
            obj.setdefault("Metrics", {})[".".join(parts[1:])] = float(value)
        except ValueError:
            return f"{path}: {value[:40]!r} is not a number"
    elif head == "Demographic" and len(parts) == 2 and parts[1] in DEMOGRAPHIC:
        obj.setdefault("Demographic", {})[parts[1]] = value
    elif head == "Location" and len(parts) == 2 and parts[1] in LOCATION:
        if parts[1] in ("Latitude", "Longitude"):
            try:
                obj.setdefault("Location", {})[parts[1]] = float(value)
            except ValueError:
                return f"{path}: {value[:40]!r} is not a number"
        else:
            obj.setdefault("Location", {})[parts[1]] = value
    elif head == "User" and len(parts) == 2 and parts[1] == "UserId":
        obj.setdefault("User", {})["UserId"] = value
    elif head == "User" and len(parts) >= 3 and parts[1] == "UserAttributes":
        user = obj.setdefault("User", {})
        user.setdefault("UserAttributes", {}).setdefault(".".join(parts[2:]), []).append(value)
    else:
        return f"unknown column {path!r}"
    return None


def parse_csv(text: str, notes: list[str]) -> Iterator[Parsed]:
    """Rows of a CSV import file (header = dotted paths). Job-level notes (ignored columns) go to `notes`."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    bad = [h for h in header if h not in NOT_IMPORTABLE and _set_path({}, h, "0") is not None]
    if bad:
        yield Parsed(1, error=f"header: {'; '.join(_set_path({}, h, '0') or '' for h in bad)}")
        return
    for h in header:
        if h in NOT_IMPORTABLE:
            notes.append(f"column {h} is not importable and was ignored")
    users_only = header == ["User.UserId"]
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if users_only:
            yield Parsed(line, user_ids=[u for c in row for u in c.split()])
            continue
        if len(row) > len(header):
            yield Parsed(line, error=f"{len(row)} fields but the header names {len(header)}")
            continue
        obj: dict[str, Any] = {}
        err = None
        for h, value in zip(header, row, strict=False):
            if value == "" or h in NOT_IMPORTABLE:
                continue
            err = _set_path(obj, h, value)
            if err:
                break
        yield Parsed(line, error=err) if err else _finish(line, obj)


def parse_json_lines(text: str, notes: list[str]) -> Iterator[Parsed]:
    """Rows of a newline-delimited JSON import file (one endpoint object per line)."""
    warned: set[str] = set()
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            yield Parsed(n, error=f"invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield Parsed(n, error="each line must be a JSON object")
            continue
        for k in NOT_IMPORTABLE & set(obj):
            if k not in warned:
                warned.add(k)
                notes.append(f"field {k} is not importable and was ignored")
            del obj[k]
        for k in ("ApplicationId", "CohortId", "CreationDate"):  # present in export files; derived on write
            obj.pop(k, None)
        unknown = sorted(set(obj) - set(EndpointBatchItem.__struct_fields__))
        if unknown:
            yield Parsed(n, error=f"unknown field(s) {', '.join(unknown)}")
            continue
        yield _finish(n, obj)
