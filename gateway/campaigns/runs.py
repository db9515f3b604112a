"""Campaign runs: which run is due, the order a run's recipients are sent in, and the run records' keys and shapes.
Pure except for the key names (no I/O, no clock: callers pass `now`).

Keys, all under the application's hash tag (one cluster slot with the campaign itself, so every transaction and
script over them is slot-local), besides the global set of applications with campaigns:
- `gw:camp:apps`: set of application ids that have (or had) campaigns; the schedulers walk it. Only ever used by
  single-key commands (SADD, SMEMBERS, SREM).
- `gw:{app}:camp:due`: zset campaign id -> the instant (ms) its next run, or the next wave of a local-time run,
  is due. A paused, finished or deleted campaign is not in it.
- `gw:{app}:camp:<id>` (the campaign's hash, see store.py) also holds the run state: `paused` (0/1, of the latest
  version), `done` (the number of the last finished run), `active` (the number of the run in progress),
  `status` (EXECUTING, PENDING_NEXT_RUN or COMPLETED once a run has started).
- `gw:{app}:camp:<id>:runs`: zset run number -> its scheduled start (ms), for GetCampaignActivities.
- `gw:{app}:camp:<id>:run:<n>`: hash of run n: `start`, `end`, `scheduled`, `state`, and per treatment T
  `t<T>:cursor` (the sort key of the last recipient enqueued), `t<T>:sent` (recipients enqueued), `t<T>:total`
  (recipients planned), `t<T>:metrics` (run metrics JSON), `t<T>:limit:<REASON>` (recipients a limit stopped:
  DAILY_CAP, CAMPAIGN_CAP, EXPIRED; counted with the cursor, limits.py);
  `t<T>:m:<REASON>` (endpoints not messaged for a reason decided while sending: a hook filtered them out, failed
  or delivered them, counted with the cursor; and an event-triggered campaign's open-ended run 0 counts all its
  run metrics one by one there, listener.py).
- `gw:{app}:camp:<id>:lease`: the run lease (SET NX PX), its value the fencing token from `gw:{app}:camp:fence`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Final

from gateway import keys, models, redisconn
from gateway.campaigns.plan import Recipient
from gateway.campaigns.schedule import Run, next_run, run_at
from gateway.models import Schedule

APPS_KEY: Final = "gw:camp:apps"
_first: Final = itemgetter(0)
#: A run record's `state` (Pinpoint's activity states; PAUSED is answered for a RUNNING run of a paused campaign).
RUNNING: Final = "RUNNING"
COMPLETED: Final = "COMPLETED"


def due_key(app: str) -> str:
    return keys.app_key(app, "camp", "due")


def runs_key(app: str, campaign_id: str) -> str:
    return keys.app_key(app, "camp", campaign_id, "runs")


def run_key(app: str, campaign_id: str, number: int) -> str:
    return keys.app_key(app, "camp", campaign_id, "run", str(number))


def lease_key(app: str, campaign_id: str) -> str:
    return keys.app_key(app, "camp", campaign_id, "lease")


def fence_key(app: str) -> str:
    return keys.app_key(app, "camp", "fence")


def limit_field(treatment_id: int, reason: str) -> str:
    """The run record's field counting the recipients of treatment `treatment_id` that limit `reason` stopped."""
    return f"t{treatment_id}:limit:{reason}"


def sent_metric(treatment_id: int, reason: str) -> str:
    """The run record's field counting endpoints of treatment `treatment_id` not messaged for `reason` while the
    run was sent (a hook's; planning's reasons are in `t<T>:metrics`)."""
    return f"t{treatment_id}:m:{reason}"


def text(value: bytes | str | None) -> str | None:
    """A reply as text (redisconn.text), None (a missing key or field) kept."""
    return None if value is None else redisconn.text(value)


def number(value: bytes | str | None) -> int | None:
    """A reply as an int, None kept (`done`, `active` of the campaign's hash)."""
    return None if value is None else int(value)


def record(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A run record (HGETALL of run_key) as text."""
    return {redisconn.text(k): redisconn.text(v) for k, v in raw.items()}


def member(value: object) -> str:
    """A sorted-set member as text (redis-py types ZRANGE's replies loosely)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def activity_id(campaign_id: str, number: int, treatment_id: int) -> str:
    """The id of one treatment's activity in run `number`: derived, so a worker taking a run over uses the same
    id (and events of the run carry one campaign_activity_id whoever sent them)."""
    return hashlib.blake2b(f"{campaign_id}:{number}:{treatment_id}".encode(), digest_size=16).hexdigest()


def due_run(schedule: Schedule, created: dt.datetime, done: int | None, now: dt.datetime) -> Run | None:
    """The run to start after run `done` (None: no run finished yet): the next in number, unless runs were missed
    while no scheduler ran (a recurring campaign then runs the latest one whose start has passed, once, instead of
    every missed one). May start in the future (the caller waits for it); None when no run is left."""
    candidate = run_at(schedule, created, 0 if done is None else done + 1)
    if candidate is None or candidate.start >= now:
        return candidate
    upcoming = next_run(schedule, created, now)
    latest_passed = (upcoming.number - 1) if upcoming is not None else None
    if latest_passed is not None and latest_passed > candidate.number:
        return run_at(schedule, created, latest_passed)
    return candidate


def sort_key(recipient: Recipient) -> str:
    """A recipient's place in a run, as text that sorts like (delivery time, endpoint id): the run sends in this
    order, and its cursor is the key of the last recipient enqueued."""
    return f"{ms(recipient.at):015d}:{recipient.endpoint_id}"


def pending(recipients: Iterable[Recipient], cursor: str | None) -> list[tuple[str, Recipient]]:
    """The recipients after `cursor`, in run order, with their sort keys (sort_key's; the time's part is made once
    per distinct delivery time: a run has few)."""
    listed = recipients if isinstance(recipients, list) else list(recipients)
    # by the datetime's id: planning hands out one object per delivery time, and most runs have only one
    times = {id(r.at): r.at for r in listed}
    keyed: list[tuple[str, Recipient]]
    if len(times) == 1:
        (at,) = times.values()
        prefix = f"{ms(at):015d}:"
        keyed = [(prefix + r.endpoint_id, r) for r in listed]
    else:
        prefixes = {i: f"{ms(at):015d}:" for i, at in times.items()}
        keyed = [(prefixes[id(r.at)] + r.endpoint_id, r) for r in listed]
    keyed.sort(key=_first)
    return keyed if cursor is None else keyed[bisect.bisect_right(keyed, cursor, key=_first):]


def due_count(keyed: Sequence[tuple[str, Recipient]], horizon: dt.datetime) -> int:
    """How many of `pending`'s recipients, from the start, are due at `horizon` (delivery time at or before it):
    found by the sort keys, looking at delivery times only within the horizon's millisecond."""
    mark = f"{ms(horizon):015d}"
    end = bisect.bisect_left(keyed, mark + ";", key=_first)  # ';' sorts after ':': past every key of that ms
    n = end
    while n > 0 and keyed[n - 1][0].startswith(mark):
        n -= 1
    while n < end and keyed[n][1].at <= horizon:
        n += 1
    return n


def activities(
    app: str, campaign_id: str, numbers: Sequence[int], records: Sequence[dict[str, str]], treatment_ids: Sequence[int],
    *, paused: bool,
) -> list[models.ActivityResponse]:
    """GetCampaignActivities' items from run records (newest run first), one per treatment and run."""
    out: list[models.ActivityResponse] = []
    for number, record in zip(numbers, records, strict=True):
        state = record.get("state", RUNNING)
        if state == RUNNING and paused:
            state = "PAUSED"
        for tid in treatment_ids:
            metrics = json.loads(record.get(f"t{tid}:metrics", "{}"))
            for prefix in (limit_field(tid, ""), f"t{tid}:m:"):
                for field, count in record.items():
                    if field.startswith(prefix):
                        metrics[field[len(prefix):]] = metrics.get(field[len(prefix):], 0) + int(count)
            out.append(models.ActivityResponse(
                ApplicationId=app,
                CampaignId=campaign_id,
                Id=activity_id(campaign_id, number, tid),
                TreatmentId=str(tid),
                State=state,
                Result="SUCCESS" if state == COMPLETED else None,
                ScheduledStart=record.get("scheduled"),
                Start=record.get("start"),
                End=record.get("end"),
                TotalEndpointCount=int(record.get(f"t{tid}:total", "0")),
                SuccessfulEndpointCount=int(record.get(f"t{tid}:sent", "0")),
                ExecutionMetrics={k: str(v) for k, v in metrics.items()} or None,
            ))
    return out
