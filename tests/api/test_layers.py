"""The API's layers: stores raise errors rooted in gateway.errors, answered once by their root; stores whose shape
is the protocol's are registered as they are; the handler modules are listed in one place and nothing imports
uphill into them (registry.py is a leaf, no import circle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway import errors as gw
from gateway import models, phone
from gateway.api import errors as api_errors
from gateway.api.handlers import HANDLERS, MODULES
from gateway.api.server import services_from_config
from gateway.config import GatewayConfig
from gateway.credentials import CredentialKeyError, InvalidChannelRequest
from gateway.endpoints.rules import EndpointValidationError
from gateway.endpoints.store import EndpointNotFound, EndpointStore
from gateway.otp import OtpError
from gateway.phone import InvalidPhoneNumber
from gateway.segments.definition import SegmentNotFound, SegmentValidationError
from gateway.segments.jobs import JobNotFound
from gateway.templates import TemplateError
from gateway.templates.store import InvalidTemplate, TemplateExists, TemplateNotFound, TemplateVersionError

ROOT = Path(__file__).resolve().parents[2]

# every store error the API can meet -> (its gateway root, the API error the client gets)
STORE_ERRORS: list[tuple[type[gw.GatewayError], type[gw.GatewayError], type[api_errors.ApiError]]] = [
    (EndpointNotFound, gw.NotFound, api_errors.NotFound),
    (EndpointValidationError, gw.InvalidRequest, api_errors.BadRequest),
    (SegmentNotFound, gw.NotFound, api_errors.NotFound),
    (SegmentValidationError, gw.InvalidRequest, api_errors.BadRequest),
    (JobNotFound, gw.NotFound, api_errors.NotFound),
    (TemplateNotFound, gw.NotFound, api_errors.NotFound),
    (TemplateExists, gw.InvalidRequest, api_errors.BadRequest),  # Pinpoint documents no 409 for Create*Template
    (TemplateVersionError, gw.InvalidRequest, api_errors.BadRequest),
    (OtpError, gw.InvalidRequest, api_errors.BadRequest),
    (InvalidPhoneNumber, gw.InvalidRequest, api_errors.BadRequest),
    (InvalidChannelRequest, gw.InvalidRequest, api_errors.BadRequest),
    (CredentialKeyError, gw.Forbidden, api_errors.Forbidden),
]
ROOTS = (gw.NotFound, gw.InvalidRequest, gw.Conflict, gw.Forbidden)


@pytest.mark.parametrize(("error", "root", "answer"), STORE_ERRORS, ids=lambda v: getattr(v, "__name__", ""))
def test_each_store_error_is_answered_by_its_one_root_with_its_message(
    error: type[gw.GatewayError], root: type[gw.GatewayError], answer: type[api_errors.ApiError]
) -> None:
    assert [r for r in ROOTS if issubclass(error, r)] == [root]
    exc = error("user 'u1' has no endpoints in application 'a1'")
    mapped = api_errors.from_store_error(exc)
    assert type(mapped) is answer and mapped.message == "user 'u1' has no endpoints in application 'a1'"


def test_an_unrooted_gateway_error_is_not_answered_as_a_client_error() -> None:
    assert api_errors.from_store_error(gw.DecodeError("bad entry")) is None


def test_template_refusals_name_the_request_shape_as_the_adapter_did() -> None:
    part = InvalidTemplate("SMS", "Body: unknown helper 'upperr'", 2, 11)
    assert str(part) == "Invalid SMSTemplateRequest.Body: line 2, column 11: unknown helper 'upperr'"
    assert (part.reason, part.line, part.column) == ("Body: unknown helper 'upperr'", 2, 11)
    quota = InvalidTemplate("PUSH", "APNS.Body is 4001 characters long")
    assert str(quota) == "Invalid PushNotificationTemplateRequest: APNS.Body is 4001 characters long"
    positioned = InvalidTemplate("EMAIL", "an email template has at most 15 headers", 3, 1)
    assert str(positioned) == "Invalid EmailTemplateRequest: line 3, column 1: an email template has at most 15 headers"
    assert isinstance(part, TemplateError) and isinstance(part, gw.InvalidRequest)


def test_stores_with_the_protocols_shape_are_registered_as_they_are() -> None:
    services = services_from_config(GatewayConfig(), aioredis.Redis(), environ={})  # never connected
    assert isinstance(services.endpoints, EndpointStore)
    assert services.phone is phone
    assert services.phone.validate(models.NumberValidateRequest(PhoneNumber="+14155550100")).CountryCodeIso2 == "US"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every gateway module `path` imports anywhere (top level, inside functions, under TYPE_CHECKING)."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return (found & modules) - {name}


def _graph() -> dict[str, set[str]]:
    paths = {_module(p): p for p in (ROOT / "gateway").rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_no_api_module_is_in_an_import_circle() -> None:
    graph = _graph()
    circular = sorted(m for m in graph if m.startswith("gateway.api") and _reaches(graph, m, m))
    assert circular == []


def test_handler_modules_are_listed_in_one_place_and_registry_is_a_leaf() -> None:
    graph = _graph()
    handler_modules = {m.__name__ for m in MODULES}
    # every module that registers operations is listed, and only the listing imports it
    registering = {_module(p) for p in (ROOT / "gateway" / "api").glob("*.py") if "\nregistry = Registry()" in p.read_text()}
    assert registering == handler_modules
    for handler in handler_modules:
        assert {m for m, deps in graph.items() if handler in deps} == {"gateway.api.handlers"}, handler
    assert not any(_reaches(graph, "gateway.api.registry", h) for h in handler_modules)
    assert set(HANDLERS) == {name for m in MODULES for name in m.registry.operations}
    # and in a fresh interpreter, importing the registry alone loads no handler module
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, gateway.api.registry; print(*sorted(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert "gateway.api.registry" in loaded and not handler_modules & set(loaded)
