"""The journey store's errors, each under one root of gateway.errors (the API answers them once)."""

from __future__ import annotations

from gateway.errors import InvalidRequest, NotFound


class JourneyValidationError(InvalidRequest):
    """A WriteJourneyRequest member breaks Pinpoint's rules, or a state change is not allowed; the message names the
    member (BadRequestException)."""


class JourneyNotFound(NotFound):
    """No such journey in the application (NotFoundException)."""
