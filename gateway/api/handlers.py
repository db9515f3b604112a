"""Every handler module of the API, listed in this one place, and the operation table built from them.

A new handler module adds itself to `MODULES`; nothing else imports handler modules (registry.py, which they
all import, stays a leaf, so there is no import circle).
"""

from __future__ import annotations

from gateway.api import (
    apps,
    campaigns,
    channels,
    endpoints,
    events,
    jobs,
    journeys,
    kpis,
    messaging,
    recommenders,
    segments,
    tags,
    templates,
)
from gateway.api.registry import Operation, merge

MODULES = (apps, campaigns, channels, endpoints, events, jobs, journeys, kpis, messaging, segments, tags, templates,
           recommenders)

HANDLERS: dict[str, Operation] = merge(module.registry for module in MODULES)


def load_handlers() -> dict[str, Operation]:
    """The operation table: every operation some handler module serves, by Pinpoint operation name."""
    return HANDLERS
