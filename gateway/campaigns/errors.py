"""The campaign store's errors, each under one root of gateway.errors (the API answers them once)."""

from __future__ import annotations

from gateway.errors import InvalidRequest, NotFound


class CampaignValidationError(InvalidRequest):
    """A WriteCampaignRequest member breaks Pinpoint's rules; the message names the member (BadRequestException)."""


class CampaignNotFound(NotFound):
    """No such campaign (or version) in the application (NotFoundException)."""
