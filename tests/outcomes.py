"""What a channel's result means, for channel tests: the engine decides it in `gateway.outcome.decide`."""

from __future__ import annotations

from gateway.channels.base import Family
from gateway.config import RetryConfig
from gateway.errors import DeliveryError
from gateway.outcome import decide


def event(family: Family[object, object], err: DeliveryError) -> str:
    """The event the engine writes for `err` raised by a channel of `family` (first attempt)."""
    return decide(family.events, err, 1, RetryConfig()).event
