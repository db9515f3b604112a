"""A journey's State as Pinpoint's rules move it (pure: the store applies them).

- CreateJourney and UpdateJourney set DRAFT or ACTIVE (validate.check_write_state); UpdateJourneyState sets
  ACTIVE, PAUSED or CANCELLED: ACTIVE -> PAUSED (only a journey with a segment refresh interval, RefreshFrequency,
  as Pinpoint says), PAUSED -> ACTIVE (resume), any state that is not terminal -> CANCELLED.
- COMPLETED, CANCELLED and CLOSED are terminal: no state change and no update after them.
- Once published (ACTIVE or PAUSED) a journey's activities cannot be edited (Activities, StartActivity,
  StartCondition), and it cannot go back to DRAFT.
- An ACTIVE or PAUSED journey whose Schedule.EndTime has passed is reported COMPLETED (it starts nobody any more).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from gateway import models
from gateway.campaigns.schedule import campaign_zone, parse_instant
from gateway.journeys.errors import JourneyValidationError

TERMINAL: Final = frozenset({"COMPLETED", "CANCELLED", "CLOSED"})
PUBLISHED: Final = frozenset({"ACTIVE", "PAUSED"})
#: What UpdateJourneyState accepts.
REQUESTABLE: Final = frozenset({"ACTIVE", "PAUSED", "CANCELLED"})
#: The members of a published journey that cannot change (its activity graph and how participants enter it).
LOCKED: Final = ("Activities", "StartActivity", "StartCondition")


def transition(current: models.State, requested: models.State | None, *, refresh: bool) -> models.State:
    """The state UpdateJourneyState moves a journey in `current` to; JourneyValidationError saying why not.
    `refresh`: the journey has a RefreshFrequency (PAUSED needs one)."""
    member = "JourneyStateRequest.State"
    if requested is None:
        raise JourneyValidationError(f"{member}: is required (ACTIVE, PAUSED or CANCELLED)")
    if requested not in REQUESTABLE:
        raise JourneyValidationError(f"{member}: must be ACTIVE, PAUSED or CANCELLED, got {requested}")
    if current in TERMINAL:
        raise JourneyValidationError(f"{member}: the journey is {current}, which is final; its state cannot change")
    if requested == "CANCELLED":
        return "CANCELLED"
    if requested == "PAUSED":
        if current != "ACTIVE":
            raise JourneyValidationError(f"{member}: only an ACTIVE journey can be paused; this one is {current}")
        if not refresh:
            raise JourneyValidationError(f"{member}: PAUSED only supports journeys with a segment refresh interval "
                                         "(RefreshFrequency)")
        return "PAUSED"
    if current != "PAUSED":
        raise JourneyValidationError(f"{member}: ACTIVE resumes a PAUSED journey; this one is {current} (publish a "
                                     "DRAFT with UpdateJourney State ACTIVE)")
    return "ACTIVE"


def check_update(previous: models.JourneyResponse, request: models.WriteJourneyRequest) -> None:
    """Refuse an UpdateJourney a journey's state does not allow: any after a final state; on a published journey,
    going back to DRAFT or changing a member of LOCKED (the same value again is no change)."""
    current = previous.State or "DRAFT"
    if current in TERMINAL:
        raise JourneyValidationError(f"WriteJourneyRequest: the journey is {current}, which is final; it cannot be "
                                     "updated")
    if current not in PUBLISHED:
        return
    if request.State == "DRAFT":
        raise JourneyValidationError(f"WriteJourneyRequest.State: the journey is {current}; a published journey "
                                     "cannot go back to DRAFT")
    if request.State == "ACTIVE" and current == "PAUSED":
        raise JourneyValidationError("WriteJourneyRequest.State: the journey is PAUSED; resume it with "
                                     "UpdateJourneyState ACTIVE")
    for name in LOCKED:
        value = getattr(request, name)
        if value is not None and value != getattr(previous, name):
            raise JourneyValidationError(f"WriteJourneyRequest.{name}: the journey is {current}; activities cannot "
                                         "be edited once a journey is published (create a new journey instead)")


def reported_state(doc: models.JourneyResponse, now: dt.datetime) -> models.State:
    """The State answered for a stored journey: its stored state, COMPLETED once a published journey's
    Schedule.EndTime has passed."""
    state = doc.State or "DRAFT"
    if state in PUBLISHED and doc.Schedule is not None and doc.Schedule.EndTime is not None:
        try:
            end = parse_instant(doc.Schedule.EndTime, campaign_zone(doc.Schedule.Timezone))
        except ValueError:  # checked at write: a stored one always parses
            return state
        if end <= now:
            return "COMPLETED"
    return state
