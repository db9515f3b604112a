"""The registry of operation handlers.

A handler is `async def handler(call: Call) -> <output payload shape> | None`, registered for one operation name
with `@operation("GetApp")`. `needs` names the `Services` attributes it calls; when any is None in a deployment,
the operation is not served there. `app=True` (the default for paths with {application-id}) makes the server
answer NotFoundException before the handler runs when the application does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.api.services import Services


class Call:
    """One decoded request: path and query members by model member name, and the decoded body payload."""

    __slots__ = ("body", "params", "request_id", "services")

    def __init__(self, services: Services, params: dict[str, Any], body: Any, request_id: str) -> None:
        self.services = services
        self.params = params
        self.body = body
        self.request_id = request_id

    @property
    def app_id(self) -> str:
        return str(self.params["ApplicationId"])


Handler = Callable[[Call], Awaitable[Any]]


class Operation:
    __slots__ = ("check_app", "handler", "name", "needs")

    def __init__(self, name: str, handler: Handler, needs: tuple[str, ...], check_app: bool) -> None:
        self.name = name
        self.handler = handler
        self.needs = needs
        self.check_app = check_app

    def available(self, services: Services) -> bool:
        return all(getattr(services, n) is not None for n in self.needs)


HANDLERS: dict[str, Operation] = {}


def operation(name: str, *, needs: tuple[str, ...] = (), check_app: bool = True) -> Callable[[Handler], Handler]:
    """Register `handler` for the Pinpoint operation `name` (a key of models.OPERATIONS)."""

    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"operation {name} registered twice")
        HANDLERS[name] = Operation(name, handler, needs, check_app)
        return handler

    return register


def load_handlers() -> dict[str, Operation]:
    """Import every handler module (registration happens at import) and return the registry."""
    from gateway.api import (  # noqa: F401
        apps,
        channels,
        endpoints,
        events,
        jobs,
        messaging,
        segments,
        tags,
        templates,
    )

    return HANDLERS
