"""Parse Pinpoint import files (sans-I/O): CSV with dotted-path headers, or newline-delimited JSON, one endpoint
per row, into EndpointBatchItem values or per-row errors.

CSV rules (Pinpoint's): the header row names attribute paths (`ChannelType,Address,Location.Country,
Attributes.Interests,User.UserId`...); a multi-valued custom field repeats its column; a file whose only column
is `User.UserId` lists user ids, several per line when separated by spaces. EndpointStatus and EffectiveDate are
not importable: those columns are ignored and reported once as a job-level note. A row without Id gets a stable
id derived from (ChannelType, Address), so importing the same file twice updates instead of duplicating.

Errors never quote the source: they name lines, columns and Pinpoint's own field names, never a value, header
text, key or attribute name read from the file (a job pointed at a file that is not an endpoint list must not
become a way to read it). `redact` applies the same rule to messages from elsewhere (msgspec, the endpoint
rules) before they reach a job's Failures.
"""

from __future__ import annotations

import csv
import io
import re
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
CSV_PATHS = (
    "Id, Address, ChannelType, OptOut, RequestId, Attributes.<name>, Metrics.<name>, Demographic.<field>, "
    "Location.<field>, User.UserId, User.UserAttributes.<name>"
)
FIELDS = ", ".join(sorted(EndpointBatchItem.__struct_fields__))
# a repr()-quoted value, and the name part of `Attributes.<name>...: reason` in the endpoint rules' messages (up to
# the last ": ", since a name may hold anything)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|" r'"(?:[^"\\]|\\.)*"', re.S)
_NAMED = re.compile(r"\b((?:User\.)?UserAttributes|Attributes|Metrics)\..*?(?=(?:\[\d+\])?: [^:]*$)", re.S)


def redact(message: str) -> str:
    """`message` without anything it quotes from the data: repr()-quoted values become `…` and attribute or
    metric names `<name>`."""
    return _NAMED.sub(r"\1.<name>", _QUOTED.sub("…", message))


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
        return Parsed(line, error=redact(str(exc)))
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
            return "Metrics values must be numbers"
    elif head == "Demographic" and len(parts) == 2 and parts[1] in DEMOGRAPHIC:
        obj.setdefault("Demographic", {})[parts[1]] = value
    elif head == "Location" and len(parts) == 2 and parts[1] in LOCATION:
        if parts[1] in ("Latitude", "Longitude"):
            try:
                obj.setdefault("Location", {})[parts[1]] = float(value)
            except ValueError:
                return f"Location.{parts[1]} must be a number"
        else:
            obj.setdefault("Location", {})[parts[1]] = value
    elif head == "User" and len(parts) == 2 and parts[1] == "UserId":
        obj.setdefault("User", {})["UserId"] = value
    elif head == "User" and len(parts) >= 3 and parts[1] == "UserAttributes":
        user = obj.setdefault("User", {})
        user.setdefault("UserAttributes", {}).setdefault(".".join(parts[2:]), []).append(value)
    else:
        return "not an importable attribute path"
    return None


def parse_csv(text: str, notes: list[str]) -> Iterator[Parsed]:
    """Rows of a CSV import file (header = dotted paths). Job-level notes (ignored columns) go to `notes`. A file
    that is not CSV ends at its first unreadable line, reported as that line's error."""
    reader = csv.reader(io.StringIO(text))
    try:
        yield from _csv_rows(reader, notes)
    except csv.Error as exc:  # csv's messages name the rule broken, never the data
        yield Parsed(max(reader.line_num, 1), error=f"not valid CSV ({exc})")


def _csv_rows(reader: Any, notes: list[str]) -> Iterator[Parsed]:
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    bad = [str(i) for i, h in enumerate(header, 1) if h not in NOT_IMPORTABLE and _set_path({}, h, "0") is not None]
    if bad:
        cols = f"column {bad[0]} is" if len(bad) == 1 else f"columns {', '.join(bad[:20])} are"
        yield Parsed(1, error=f"header: {cols} not an importable attribute path (the paths are {CSV_PATHS})")
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
        for col, (h, value) in enumerate(zip(header, row, strict=False), 1):
            if value == "" or h in NOT_IMPORTABLE:
                continue
            err = _set_path(obj, h, value)
            if err:
                err = f"column {col}: {err}"
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
            yield Parsed(n, error=f"not valid JSON ({exc})")  # msgspec names the byte offset, not the data
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
            what = "an unknown field" if len(unknown) == 1 else f"{len(unknown)} unknown fields"
            yield Parsed(n, error=f"{what} (an endpoint's fields are {FIELDS})")
            continue
        yield _finish(n, obj)
