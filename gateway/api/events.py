"""Events: PutEvents (app events recorded as Pinpoint event records) and the event-stream configuration
(PutEventStream, GetEventStream, DeleteEventStream).

PutEvents checks the whole request against Pinpoint's event-ingestion quotas (at most 100 events per request),
then judges each endpoint and each event on its own, as Pinpoint does: an invalid event gets a 400
EventItemResponse naming its problem while the valid ones are recorded (202). Every accepted event is appended
to the events stream (`gateway:events`, fields `app`, `event_type` and `record`, the JSON record in Pinpoint's
streaming format) in one pipelined round trip; the in-app SDK's `_inapp.message_displayed` events are also counted
toward the in-app caps GetInAppMessages applies (campaigns/inapp.py). The endpoint data sent with a batch is written through the
EndpointService. While a recommender configuration names `gateway:builtin`, events whose Attributes name an item
(`recommenders.item_attribute`) also feed the built-in recommender, in the same pipeline (docs/recommenders.md).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import msgspec

from gateway import errors as gw
from gateway import models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.eventdest import targets
from gateway.eventdest.runner import attach, detach
from gateway.kpi.rollup import Tally
from gateway.recommenders.builtin import Interaction

registry = Registry()
operation = registry.operation

MAX_EVENTS_PER_REQUEST = 100
MAX_EVENT_TYPE = 50
MAX_ATTRIBUTES = 40
MAX_METRICS = 40
MAX_KEY = 50
MAX_ATTRIBUTE_VALUE = 200
MAX_ID = 128

_encode = msgspec.json.Encoder().encode


def iso_ms(value: str, field: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 timestamp (UTC when it has no offset)."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} {value[:40]!r} is not an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def check_event(event: models.Event) -> None:
    """Raise ValueError naming the member of an event that breaks Pinpoint's rules."""
    if not 1 <= len(event.EventType) <= MAX_EVENT_TYPE:
        raise ValueError(f"EventType must be 1 to {MAX_EVENT_TYPE} characters")
    iso_ms(event.Timestamp, "Timestamp")
    if event.Attributes:
        if len(event.Attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"Attributes: at most {MAX_ATTRIBUTES} per event, got {len(event.Attributes)}")
        for k, v in event.Attributes.items():
            if not 1 <= len(k) <= MAX_KEY:
                raise ValueError(f"Attributes: key {k[:60]!r} must be 1 to {MAX_KEY} characters")
            if len(v) > MAX_ATTRIBUTE_VALUE:
                raise ValueError(f"Attributes.{k}: value exceeds {MAX_ATTRIBUTE_VALUE} characters")
    if event.Metrics:
        if len(event.Metrics) > MAX_METRICS:
            raise ValueError(f"Metrics: at most {MAX_METRICS} per event, got {len(event.Metrics)}")
        for k, m in event.Metrics.items():
            if not 1 <= len(k) <= MAX_KEY:
                raise ValueError(f"Metrics: key {k[:60]!r} must be 1 to {MAX_KEY} characters")
            if not math.isfinite(m):
                raise ValueError(f"Metrics.{k} must be a finite number")
    if event.Session is not None:
        if not event.Session.Id:
            raise ValueError("Session.Id must not be empty")
        iso_ms(event.Session.StartTimestamp, "Session.StartTimestamp")
        if event.Session.StopTimestamp is not None:
            iso_ms(event.Session.StopTimestamp, "Session.StopTimestamp")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != {}}


def event_record(
    app_id: str, endpoint_id: str, endpoint: models.PublicEndpoint, event: models.Event, arrival_ms: int, account: str
) -> dict[str, Any]:
    """An app event in Pinpoint's event-stream record format (event_version 3.0)."""
    demo = endpoint.Demographic or models.EndpointDemographic()
    session: dict[str, Any] = {}
    if event.Session is not None:
        s = event.Session
        session = _drop_none({
            "session_id": s.Id,
            "start_timestamp": iso_ms(s.StartTimestamp, "Session.StartTimestamp"),
            "stop_timestamp": iso_ms(s.StopTimestamp, "Session.StopTimestamp") if s.StopTimestamp else None,
            "duration": s.Duration,
        })
    return {
        "event_type": event.EventType,
        "event_timestamp": iso_ms(event.Timestamp, "Timestamp"),
        "arrival_timestamp": arrival_ms,
        "event_version": "3.0",
        "application": _drop_none({
            "app_id": app_id,
            "package_name": event.AppPackageName,
            "title": event.AppTitle,
            "version_code": event.AppVersionCode,
            "version_name": demo.AppVersion,
            "sdk": _drop_none({"name": event.SdkName, "version": event.ClientSdkVersion}),
        }),
        "client": {"client_id": endpoint_id},
        "device": _drop_none({
            "locale": _drop_none({"code": demo.Locale}),
            "make": demo.Make,
            "model": demo.Model,
            "platform": _drop_none({"name": demo.Platform, "version": demo.PlatformVersion}),
        }),
        "session": session,
        "attributes": event.Attributes or {},
        "metrics": event.Metrics or {},
        "endpoint": msgspec.to_builtins(endpoint),
        "awsAccountId": account,
    }


def _has_data(endpoint: models.PublicEndpoint) -> bool:
    return any(getattr(endpoint, f) is not None for f in endpoint.__struct_fields__)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID and "{" not in value and "}" not in value


@operation("PutEvents")
async def put_events(call: Call) -> models.EventsResponse:
    req: models.EventsRequest = call.body
    total = sum(len(b.Events) for b in req.BatchItem.values())
    if total > MAX_EVENTS_PER_REQUEST:
        raise BadRequest(f"EventsRequest.BatchItem: at most {MAX_EVENTS_PER_REQUEST} events per request, got {total}")
    services = call.services
    arrival = int(time.time() * 1000)
    records: list[tuple[str, bytes]] = []
    tally = Tally()  # the KPI rollups of these events (an engagement event type counts as the engine's would)
    results: dict[str, models.ItemResponse] = {}
    in_app: dict[str, dict[str, models.Event]] = {}  # the in-app SDK's display events, counted toward in-app caps
    # the built-in recommender learns from events naming an item, only while it is configured (a cached check)
    recommenders = services.recommenders if services.recommenders is not None and \
        await services.recommenders.learning() else None
    interactions: list[Interaction] = []
    for endpoint_id, batch in req.BatchItem.items():
        if not _valid_id(endpoint_id):
            results[endpoint_id] = models.ItemResponse(
                EndpointItemResponse=models.EndpointItemResponse(StatusCode=400, Message="Invalid endpoint id")
            )
            continue
        endpoint_item = models.EndpointItemResponse(StatusCode=202, Message="Accepted")
        if _has_data(batch.Endpoint):
            if services.endpoints is None:
                endpoint_item = models.EndpointItemResponse(
                    StatusCode=400, Message="Endpoint not stored: this deployment has no endpoint store"
                )
            else:
                update = msgspec.convert(msgspec.to_builtins(batch.Endpoint), models.EndpointRequest)
                try:
                    await services.endpoints.update_endpoint(call.app_id, endpoint_id, update)
                except gw.InvalidRequest as exc:
                    endpoint_item = models.EndpointItemResponse(StatusCode=400, Message=str(exc))
        items: dict[str, models.EventItemResponse] = {}
        for event_id, event in batch.Events.items():
            try:
                if not _valid_id(event_id):
                    raise ValueError("Invalid event id")
                check_event(event)
            except ValueError as exc:
                items[event_id] = models.EventItemResponse(StatusCode=400, Message=str(exc))
                continue
            record = event_record(
                call.app_id, endpoint_id, batch.Endpoint, event, arrival, services.settings.account_id
            )
            records.append((event.EventType, _encode(record)))
            if recommenders is not None and (item := recommenders.item_of(event)) is not None:
                user = batch.Endpoint.User.UserId if batch.Endpoint.User is not None else None
                interactions.append((endpoint_id, user, item))
            tally.add_record(record)
            if event.EventType.startswith("_inapp."):
                in_app.setdefault(endpoint_id, {})[event_id] = event
            items[event_id] = models.EventItemResponse(StatusCode=202, Message="Accepted")
        results[endpoint_id] = models.ItemResponse(EndpointItemResponse=endpoint_item, EventsItemResponse=items)
    if records:
        pipe = services.apps.redis.pipeline(transaction=False)
        for event_type, record_json in records:
            # the events stream contract (gateway/events.py): app and event_type beside the record, for filtering
            pipe.xadd(services.settings.events_key, {"app": call.app_id, "event_type": event_type, "record": record_json})
        if recommenders is not None and interactions:
            await recommenders.stage_events(pipe, call.app_id, interactions)
        await pipe.execute()
        if services.roller is not None:
            await services.roller.write(tally)
    if services.campaigns is not None:
        for endpoint_id, events in in_app.items():
            await services.campaigns.record_in_app_events(call.app_id, endpoint_id, events)
    return models.EventsResponse(Results=results)


@operation("PutEventStream")
async def put_event_stream(call: Call) -> models.EventStream:
    req: models.WriteEventStream = call.body
    events_key = call.services.settings.events_key
    try:
        dest = targets.parse(req.DestinationStreamArn, events_key=events_key)
    except ValueError as exc:
        raise BadRequest(f"WriteEventStream.DestinationStreamArn {exc}, got {req.DestinationStreamArn[:120]!r}") from None
    try:
        targets.check_role(dest, req.RoleArn)
    except ValueError as exc:
        raise BadRequest(f"WriteEventStream.RoleArn {exc}, got {req.RoleArn[:120]!r}") from None
    apps = call.services.apps
    previous = await apps.get_event_stream(call.app_id)
    stream = await apps.put_event_stream(call.app_id, req)
    # the destination's cursor starts here: records written from now on are delivered (gateway/eventdest/runner.py)
    await attach(apps.redis, events_key, call.app_id, req.DestinationStreamArn,
                 previous.DestinationStreamArn if previous is not None else None)
    return stream


@operation("GetEventStream")
async def get_event_stream(call: Call) -> models.EventStream:
    stream = await call.services.apps.get_event_stream(call.app_id)
    if stream is None:
        raise NotFound(f"Application {call.app_id} has no event stream")
    return stream


@operation("DeleteEventStream")
async def delete_event_stream(call: Call) -> models.EventStream:
    apps = call.services.apps
    stream = await apps.delete_event_stream(call.app_id)
    if stream is None:
        raise NotFound(f"Application {call.app_id} has no event stream")
    await detach(apps.redis, call.services.settings.events_key, call.app_id, stream.DestinationStreamArn)
    return stream
