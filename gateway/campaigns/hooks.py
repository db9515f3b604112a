"""CampaignHook: an https webhook the runner calls with each batch of a run's recipients before sending them.

Which hook: the campaign's own `Hook` when it names a WebUrl, else the application's default
(ApplicationSettings.CampaignHook), as Pinpoint does. Gateway runs no AWS Lambda: a LambdaFunctionName is refused
when the campaign or the settings are written (`check_hook`).

The runner POSTs each chunk of recipients in batches of at most `BATCH` (50) endpoints, in the event shape
Pinpoint gives a campaign hook's Lambda function (developer guide, "Customizing segments with AWS Lambda"):

    {"MessageConfiguration": {...the treatment's...}, "ApplicationId": ..., "CampaignId": ..., "TreatmentId": "0",
     "ActivityId": ..., "ScheduledTime": "...", "Endpoints": {"<id>": {<endpoint>}, ...}}

signed, guarded and timed out by gateway/channels/webhook.py.

* Mode FILTER (the default): the answer is the Endpoints to send to, a JSON object `{"<id>": {<endpoint>}}` (or
  the whole event with its `Endpoints` member, as a Lambda returning its modified event does). Endpoints the hook
  leaves out are not messaged (run metric `HOOK_FILTERED`); an endpoint it returns that was not in the batch is
  ignored (a hook cannot add recipients); an endpoint it changed is sent with the attributes it returned: its
  `Attributes` and `User.UserAttributes` reach the message as per-endpoint Substitutions (`changes`).
* Mode DELIVERY (deprecated in Pinpoint, where a Lambda delivered the message): the hook delivers; the gateway
  sends nothing itself and records each endpoint's outcome (event `_campaign.hook_delivered`, metric
  `HOOK_DELIVERED`).

A batch whose call fails is tried again, up to `hook_attempts` tries with doubling backoff, when the failure is
transient (connection failure, 408, 429, 5xx; for FILTER also no answer within the timeout; a DELIVERY call that
may have been received is not repeated); a 4xx or a FILTER answer that is not an object of endpoints is not. Then
it is counted: its endpoints are not messaged, the run metric
`HOOK_FAILURE` counts them and an event `_campaign.hook_failure` names the reason, one per endpoint. The run goes
on with the next batch: a failing hook never stalls a run and never drops recipients silently.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import msgspec

from gateway import models
from gateway.channels.custom import endpoint_payload
from gateway.channels.webhook import WebhookClient
from gateway.errors import DeliveryError, MaybeSent

BATCH: Final = 50
FILTERED: Final = "HOOK_FILTERED"
FAILED: Final = "HOOK_FAILURE"
DELIVERED: Final = "HOOK_DELIVERED"
EVENT_FAILURE: Final = "_campaign.hook_failure"
EVENT_DELIVERED: Final = "_campaign.hook_delivered"


class HookError(ValueError):
    """A hook setting that cannot be honoured; the message names the member's problem."""


def check_hook(hook: models.CampaignHook) -> None:
    """A hook Gateway can call: no Lambda function, an https WebUrl. Empty members mean "none" (an empty hook is
    how the settings' default is removed, and how a campaign opts out of it)."""
    if hook.LambdaFunctionName:
        raise HookError("LambdaFunctionName: Gateway runs no AWS Lambda functions: give the hook as WebUrl (https)")
    if hook.WebUrl:
        parts = urlsplit(hook.WebUrl)
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in hook.WebUrl):
            raise HookError("WebUrl: must be an https URL")


def effective_hook(campaign: models.CampaignHook | None, app: models.CampaignHook | None) -> models.CampaignHook | None:
    """The hook a run calls: the campaign's when it names a WebUrl; else the application's; None when neither."""
    if campaign is not None and campaign.WebUrl:
        return campaign
    if app is not None and app.WebUrl:
        return app
    return None


def event_payload(messages: models.MessageConfiguration | None, *, app: str, campaign_id: str, treatment_id: int,
                  activity_id: str, scheduled_time: str, endpoints: Mapping[str, dict[str, Any]]) -> bytes:
    """The body of one hook call (module doc)."""
    return json.dumps({
        "MessageConfiguration": msgspec.to_builtins(messages) if messages is not None else {},
        "ApplicationId": app,
        "CampaignId": campaign_id,
        "TreatmentId": str(treatment_id),
        "ActivityId": activity_id,
        "ScheduledTime": scheduled_time,
        "Endpoints": endpoints,
    }, separators=(",", ":")).encode()


def filter_answer(body: bytes, sent: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The endpoints a FILTER hook kept, from its answer; ValueError when the answer is not an object of endpoints."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the hook's answer is not JSON") from None
    if isinstance(value, dict) and isinstance(value.get("Endpoints"), dict):
        value = value["Endpoints"]
    if not isinstance(value, dict):
        raise ValueError("the hook's answer is not a JSON object of endpoints")
    kept: dict[str, dict[str, Any]] = {}
    for eid, doc in value.items():
        if eid not in sent:
            continue  # a hook removes or changes endpoints; it cannot add recipients
        if not isinstance(doc, dict):
            raise ValueError(f"the hook's endpoint {eid[:64]!r} is not a JSON object")
        kept[eid] = doc
    return kept


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """Substitutions carrying the attributes a FILTER hook changed (`Attributes.<name>`, `User.UserAttributes.<name>`
    as templates name them); None when it changed none."""
    subs: dict[str, list[str]] = {}
    for path, old, new in (("Attributes", before.get("Attributes"), after.get("Attributes")),
                           ("User.UserAttributes", (before.get("User") or {}).get("UserAttributes"),
                            (after.get("User") or {}).get("UserAttributes") if isinstance(after.get("User"), dict)
                            else None)):
        if not isinstance(new, dict):
            continue
        for name, values in new.items():
            if not isinstance(values, list) or (isinstance(old, dict) and old.get(name) == values):
                continue
            subs[f"{path}.{name}"] = [str(v) for v in values]
    return subs or None


class BatchResult(NamedTuple):
    """One hook batch: the endpoints to send (FILTER) with their substitutions, or why the batch failed."""

    kept: dict[str, dict[str, list[str]] | None]
    error: str | None


class HookCaller:
    """Calls one run's hook batch by batch with retries (module doc). `sleep` waits between tries (tests)."""

    def __init__(self, client: WebhookClient, *, attempts: int, backoff_s: float,
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.client = client
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    async def call(self, hook: models.CampaignHook, body_for: Callable[[Mapping[str, dict[str, Any]]], bytes],
                   endpoints: Mapping[str, models.EndpointResponse]) -> BatchResult:
        """Call the hook with one batch (`endpoints` by id, at most BATCH); FILTER's kept endpoints with their
        substitutions, DELIVERY's endpoints as delivered, or the error after the last try."""
        assert hook.WebUrl
        docs = {eid: endpoint_payload(ep) for eid, ep in endpoints.items()}
        body = body_for(docs)
        error = "not called"
        for attempt in range(1, self.attempts + 1):
            try:
                answer = await self.client.post(hook.WebUrl, body)
            except DeliveryError as exc:
                error = exc.message
                # a FILTER call that may have been received is asked again (it sends nothing); a DELIVERY one is not
                again = exc.retryable or (isinstance(exc, MaybeSent) and hook.Mode != "DELIVERY")
                if not again or attempt == self.attempts:
                    break
                await self.sleep(max(exc.retry_after or 0.0, self.backoff_s * 2 ** (attempt - 1)))
                continue
            if hook.Mode == "DELIVERY":
                return BatchResult(dict.fromkeys(docs), None)
            try:
                kept = filter_answer(answer, docs)
            except ValueError as exc:
                error = str(exc)
                break  # the same hook answers the same way: no retry
            return BatchResult({eid: changes(docs[eid], doc) for eid, doc in kept.items()}, None)
        return BatchResult({}, f"{error} (after {attempt} attempt{'s' if attempt > 1 else ''})")


def batches(ids: Sequence[str], size: int = BATCH) -> list[Sequence[str]]:
    """`ids` in hook batches."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]
