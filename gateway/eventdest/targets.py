"""What a DestinationStreamArn names and how records are cut into calls: pure functions, no I/O.

Accepted forms (docs/event-streams.md):

* `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`: Kinesis Data Streams, PutRecords;
* `arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME`: Amazon Data Firehose, PutRecordBatch;
* `https://HOST/PATH`: Gateway's extension, an https webhook receiving signed JSON arrays of records;
* `redis:KEY`: Gateway's extension, another Redis stream on the gateway's Redis (entries like `gateway:events`').
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Literal

import msgspec

Kind = Literal["kinesis", "firehose", "webhook", "redis"]

_AWS_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>kinesis|firehose):(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
    r"(?P<account>\d{12}):(?:stream|deliverystream)/(?P<name>[A-Za-z0-9_.-]{1,64})$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REDIS_KEY = re.compile(r"^[A-Za-z0-9:_.{}-]{1,200}$")
GROUP_PREFIX = "evdest"

# Service limits (AWS API references): Kinesis PutRecords 500 records and 5 MB per call (data plus partition
# keys), 1 MiB per record; Firehose PutRecordBatch 500 records and 4 MiB per call, 1,000 KiB per record.
LIMITS: dict[Kind, tuple[int, int, int]] = {  # (records per call, bytes per call, bytes per record)
    "kinesis": (500, 5_000_000, 1_048_576),
    "firehose": (500, 4 * 1_048_576, 1_024_000),
}


class Destination(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed DestinationStreamArn. `target` is the stream or delivery stream name, the URL or the Redis key."""

    kind: Kind
    spec: str  # the DestinationStreamArn as configured
    target: str
    region: str | None = None
    partition: str | None = None


def parse(spec: str, *, events_key: str = "gateway:events") -> Destination:
    """The destination `spec` names; ValueError saying what is wrong (the API names the member)."""
    m = _AWS_ARN.match(spec)
    if m is not None:
        kind: Kind = "kinesis" if m["service"] == "kinesis" else "firehose"
        if (kind == "kinesis") != (":stream/" in spec):
            raise ValueError(f"a {m['service']} ARN names a {'stream' if kind == 'kinesis' else 'deliverystream'}/")
        return Destination(kind=kind, spec=spec, target=m["name"], region=m["region"], partition=m["partition"])
    if spec.startswith("https://"):
        if len(spec) > 2048 or any(c.isspace() for c in spec):
            raise ValueError("a webhook URL is at most 2,048 characters without spaces")
        return Destination(kind="webhook", spec=spec, target=spec)
    if spec.startswith("redis:"):
        key = spec[len("redis:"):]
        if not _REDIS_KEY.match(key):
            raise ValueError("a Redis destination is redis:KEY, KEY 1 to 200 of A-Z a-z 0-9 : _ . { } -")
        if key == events_key:
            raise ValueError(f"redis:{key} is the events stream itself")
        return Destination(kind="redis", spec=spec, target=key)
    raise ValueError(
        "must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME), a Firehose delivery stream ARN "
        "(arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME), an https:// webhook URL or redis:KEY"
    )


def check_role(dest: Destination, role_arn: str) -> None:
    """ValueError when an AWS destination's RoleArn is not an IAM role ARN (other kinds ignore RoleArn)."""
    if dest.kind in ("kinesis", "firehose") and not _ROLE_ARN.match(role_arn):
        raise ValueError("must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")


def group_name(app: str, spec: str) -> str:
    """The consumer group of `app`'s destination `spec` on the events stream: a new destination starts a new
    cursor, and the group names the app so the runner knows whose records it delivers."""
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return f"{GROUP_PREFIX}:{app}:{digest}"


def group_app(group: str) -> str | None:
    """The application a destination group belongs to, or None for another consumer's group."""
    parts = group.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == GROUP_PREFIX else None


def chunks(sizes: Sequence[int], max_records: int, max_bytes: int) -> list[range]:
    """Cut records of `sizes` bytes (in order) into consecutive calls of at most `max_records` records and
    `max_bytes` bytes; a record over `max_bytes` alone gets a call of its own (the caller refuses it first)."""
    out: list[range] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and (i - start == max_records or total + size > max_bytes):
            out.append(range(start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def failed_positions(results: Sequence[dict[str, object]]) -> list[int]:
    """Positions of the records a PutRecords / PutRecordBatch response reports failed (those with an ErrorCode;
    Kinesis calls the list Records, Firehose RequestResponses: same shape)."""
    return [i for i, r in enumerate(results) if r.get("ErrorCode")]


def next_delay(previous: float, base: float, cap: float) -> float:
    """The wait before the next try of a batch a destination refused (0 before the first retry): doubling."""
    return min(cap, previous * 2 if previous else base)


class _Attrs(msgspec.Struct):
    attributes: dict[str, object] = {}


_dec_attrs = msgspec.json.Decoder(_Attrs).decode


def streamed_by_pinpoint(event_type: str, record: bytes) -> bool:
    """Whether Pinpoint streams this record: everything but transactional push and voice (pinpoint.md §7), i.e.
    `_push.*` and `_VOICE.*` records that carry neither a campaign_id nor a journey_id. Only those two families
    are decoded."""
    if not event_type.startswith(("_push.", "_VOICE.")):
        return True
    try:
        attributes = _dec_attrs(record).attributes
    except msgspec.DecodeError:
        return True  # not ours to judge: deliver it
    return "campaign_id" in attributes or "journey_id" in attributes


def webhook_body(records: Sequence[bytes]) -> bytes:
    """A webhook batch: the JSON array of the records (each already a JSON object)."""
    return b"[" + b",".join(records) + b"]"
