"""Message templates: HTTP handlers over `Services.templates` (a TemplateService). Templates are not scoped to
an application, as in Pinpoint."""

from __future__ import annotations

from typing import Any

from gateway import models
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.api.services import TemplateKind, TemplateService
from gateway.api.validation import page_size
from gateway.templates.store import LATEST, TemplateVersionError, version_number

registry = Registry()
operation = registry.operation

# Operation suffix -> template kind; the path segment is the suffix in lower case.
KINDS: dict[str, TemplateKind] = {"Email": "EMAIL", "Sms": "SMS", "Voice": "VOICE", "Push": "PUSH", "InApp": "INAPP"}
_BY_PATH: dict[str, TemplateKind] = {s.lower(): k for s, k in KINDS.items()}
_NEEDS = ("templates",)
MAX_NAME = 128


def _svc(call: Call) -> TemplateService:
    assert call.services.templates is not None
    return call.services.templates


def _name(call: Call) -> str:
    name: str = call.params["TemplateName"]
    if not 1 <= len(name) <= MAX_NAME or not all(c.isalnum() or c in "-_" for c in name):
        raise BadRequest(f"template-name must be 1 to {MAX_NAME} letters, digits, hyphens or underscores")
    return name


def _path_kind(call: Call) -> TemplateKind:
    raw: str = call.params["TemplateType"]
    kind = _BY_PATH.get(raw.lower())
    if kind is None:
        raise BadRequest(f"template-type must be one of {', '.join(_BY_PATH)}, got {raw[:40]!r}")
    return kind


def _update_version(create_new_version: bool, version: str | None) -> str | None:
    """The `version` query parameter of an Update*Template, refused (naming the parameters as they are on the
    wire) when Pinpoint refuses it: together with create-new-version=true, or not a version number. Whether it is
    the latest version is the store's check, made atomically with the write."""
    if version is None:
        return None
    if create_new_version:
        raise BadRequest("version must not be given when create-new-version is true: a new version gets the next "
                         "identifier, and version names the latest existing version an update overwrites")
    try:
        version_number(version)
    except TemplateVersionError:
        raise BadRequest(f"version must be a positive integer (a version identifier), got {version[:40]!r}") from None
    return version


def _active_version(req: models.TemplateActiveVersionRequest) -> str:
    """TemplateActiveVersionRequest.Version: `latest` (Pinpoint's documented value for the latest version) or a
    version number."""
    if not req.Version:
        raise BadRequest("TemplateActiveVersionRequest.Version is required")
    if req.Version != LATEST:
        try:
            version_number(req.Version)
        except TemplateVersionError:
            raise BadRequest(f"TemplateActiveVersionRequest.Version must be {LATEST!r} or a version identifier (a "
                             f"positive integer), got {req.Version[:40]!r}") from None
    return req.Version


def _register(suffix: str, kind: TemplateKind) -> None:
    async def create(call: Call) -> models.CreateTemplateMessageBody:
        arn = await _svc(call).create_template(_name(call), kind, call.body)
        return models.CreateTemplateMessageBody(Arn=arn, Message="Created", RequestID=call.request_id)

    async def get(call: Call) -> Any:
        doc = await _svc(call).get_template(_name(call), kind, call.params.get("Version"))
        if doc is None:
            raise NotFound(f"Template {call.params['TemplateName']} ({kind}) not found")
        return doc

    async def update(call: Call) -> models.MessageBody:
        create_new_version = bool(call.params.get("CreateNewVersion", False))
        version = _update_version(create_new_version, call.params.get("Version"))
        await _svc(call).update_template(_name(call), kind, call.body, create_new_version, version)
        return models.MessageBody(Message="Accepted", RequestID=call.request_id)

    async def delete(call: Call) -> models.MessageBody:
        if not await _svc(call).delete_template(_name(call), kind, call.params.get("Version")):
            raise NotFound(f"Template {call.params['TemplateName']} ({kind}) not found")
        return models.MessageBody(Message="Accepted", RequestID=call.request_id)

    operation(f"Create{suffix}Template", needs=_NEEDS)(create)
    operation(f"Get{suffix}Template", needs=_NEEDS)(get)
    operation(f"Update{suffix}Template", needs=_NEEDS)(update)
    operation(f"Delete{suffix}Template", needs=_NEEDS)(delete)


for _suffix, _kind in KINDS.items():
    _register(_suffix, _kind)


@operation("ListTemplates", needs=_NEEDS)
async def list_templates(call: Call) -> models.TemplatesResponse:
    raw = call.params.get("TemplateType")
    kind: TemplateKind | None = None
    if raw is not None:
        kind = _BY_PATH.get(raw.lower())
        if kind is None:
            raise BadRequest(f"template-type must be one of {', '.join(KINDS.values())}, got {raw[:40]!r}")
    return await _svc(call).list_templates(
        page_size(call.params), call.params.get("NextToken"), call.params.get("Prefix"), kind
    )


@operation("ListTemplateVersions", needs=_NEEDS)
async def list_template_versions(call: Call) -> models.TemplateVersionsResponse:
    out = await _svc(call).list_template_versions(
        _name(call), _path_kind(call), page_size(call.params), call.params.get("NextToken")
    )
    if out is None:
        raise NotFound(f"Template {call.params['TemplateName']} not found")
    return out


@operation("UpdateTemplateActiveVersion", needs=_NEEDS)
async def update_active_version(call: Call) -> models.MessageBody:
    version = _active_version(call.body)
    await _svc(call).set_active_version(_name(call), _path_kind(call), version)
    return models.MessageBody(Message="Accepted", RequestID=call.request_id)
