"""The types handler modules register their operations with. A leaf: it imports no handler module.

A handler is `async def handler(call: Call) -> <output payload shape> | None`. Each handler module makes its own
`registry = Registry()` and registers with `@registry.operation("GetApp")`; gateway/api/handlers.py lists the
modules and merges their registries. `needs` names the `Services` attributes a handler calls; when any is None in
a deployment, the operation is not served there. `check_app=True` (the default for paths with {application-id})
makes the server answer NotFoundException before the handler runs when the application does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
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


class Registry:
    """The operations one handler module serves, by Pinpoint operation name."""

    def __init__(self) -> None:
        self.operations: dict[str, Operation] = {}

    def operation(
        self, name: str, *, needs: tuple[str, ...] = (), check_app: bool = True
    ) -> Callable[[Handler], Handler]:
        """Register `handler` for the Pinpoint operation `name` (a key of models.OPERATIONS)."""

        def register(handler: Handler) -> Handler:
            if name in self.operations:
                raise RuntimeError(f"operation {name} registered twice")
            self.operations[name] = Operation(name, handler, needs, check_app)
            return handler

        return register


def merge(registries: Iterable[Registry]) -> dict[str, Operation]:
    """Every registry's operations in one table; RuntimeError naming an operation two modules register."""
    merged: dict[str, Operation] = {}
    for registry in registries:
        for name, op in registry.operations.items():
            if name in merged:
                raise RuntimeError(f"operation {name} registered twice")
            merged[name] = op
    return merged
