"""An OpenAPI 3.1 description of the API, generated from the same table and shapes the server uses.

Built once, on the first GET /openapi.json (about a tenth of a second), then served from memory.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from gateway import models
from gateway.api import errors
from gateway.api.routing import ROUTES

# status -> error type of every ApiError the server answers, from the classes that raise them
_ERRORS = {str(cls.status): cls.code for cls in sorted(errors.ApiError.__subclasses__(), key=lambda c: c.status)}
_TYPES = {"string": "string", "boolean": "boolean", "timestamp": "string", "list": "array"}


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    shapes = sorted({r.body[1] for r in ROUTES.values() if r.body} | {r.output[1] for r in ROUTES.values() if r.output})
    types = [getattr(models, s) for s in shapes] + [models.MessageBody]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(ROUTES.values(), key=lambda r: r.template):
        params: list[dict[str, Any]] = []
        for seg in route.template.split("/"):
            if seg.startswith("{"):
                params.append({"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}})
        for wire, member, kind, required in route.query:
            schema: dict[str, Any] = {"type": _TYPES.get(kind, "string")}
            if kind == "list":
                schema["items"] = {"type": "string"}
            if kind == "timestamp":
                schema["format"] = "date-time"
            params.append({"name": wire, "in": "query", "required": required, "schema": schema, "description": member})
        op: dict[str, Any] = {"operationId": route.name, "parameters": params, "security": [{"sigv4": []}]}
        if route.body:
            op["requestBody"] = {
                "required": route.body[2],
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.body[1]}"}}},
            }
        responses: dict[str, Any] = {}
        if route.output:
            responses[str(route.status)] = {
                "description": route.output[0],
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.output[1]}"}}},
            }
        else:
            responses[str(route.status)] = {"description": "No content"}
        for status, code in _ERRORS.items():
            responses[status] = {
                "description": code,
                "headers": {"x-amzn-ErrorType": {"schema": {"type": "string", "enum": [code]}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MessageBody"}}},
            }
        op["responses"] = responses
        paths.setdefault(route.template, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gateway: Amazon Pinpoint REST API (pinpoint 2016-12-01)",
            "version": "2016-12-01",
            "description": "Requests are signed with AWS Signature Version 4, service name mobiletargeting.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
    }


@functools.cache
def openapi_json() -> bytes:
    return msgspec.json.encode(build())
