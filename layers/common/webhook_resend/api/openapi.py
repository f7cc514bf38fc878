"""The OpenAPI document of the whole API, generated into `openapi.json` beside this module.

The routes live in several functions, each with its own resolver; this module includes every
router into one resolver that is only used to describe them, and adds what Powertools cannot see
from the signatures: the error answers every route can give, the query parameters read by hand,
and the two authentication schemes. `make openapi` writes the document; the admin function
serves the committed file (`GET /openapi.json`) without importing any router, and a test fails
when the file drifts from the routes.

    python -m webhook_resend.api.openapi [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBase, HTTPBearer

from webhook_resend.api.routes import (
    admin,
    bulk,
    content_items,
    dataforseo,
    native_resends,
    resend_status,
    schedules,
    settings,
    tasks,
    webhooks,
)

DOCUMENT_PATH = Path(__file__).resolve().parent / "openapi.json"
ROUTERS = (
    admin,
    content_items,
    tasks,
    webhooks,
    schedules,
    bulk,
    native_resends,
    dataforseo,
    resend_status,
    settings,
)

TITLE = "webhook-resend"
VERSION = "0.1.0"

_ERROR_BODY = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": ["string", "null"]}, "message": {"type": "string"}},
            },
        }
    },
}
_ERRORS = {
    "401": "Missing or wrong credentials",
    "404": "No such record for this tenant",
    "405": "Method not allowed on this path",
    "413": "Body over 1 MB",
    "422": "Invalid input: the errors name each field",
}
_QUEUEING = {
    "409": "A request with this Idempotency-Key is still running",
    "503": "Some pairs could not be queued; the job counts what was queued",
}
# GET /resends?status=: every status a job document may show.
_JOB_STATUSES = ["selecting", "running", "completed", "rejected", "paused", "cancelled"]
_CONTROL_PATHS = ("/resends/{id}/pause", "/resends/{id}/resume", "/resends/{id}/cancel")
_RESEND_PATHS = ("/content_items/bulk/webhooks", "/resends", "/v3/appendix/webhook_resend")
# Success statuses that differ from Powertools' default 200 (PUT creates or replaces).
_SUCCESS = {
    ("post", "/admin/tenants"): ["201"],
    ("post", "/webhooks"): ["201"],
    ("post", "/schedules"): ["201"],
    ("post", "/resends"): ["202", "200"],
    ("put", "/content_items/{id}"): ["201", "200"],
    ("put", "/tasks/{id}"): ["201", "200"],
    ("put", "/webhooks/{id}"): ["201", "200"],
}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _filter_parameters() -> list[dict[str, Any]]:
    def style(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "style": "deepObject",
            "explode": True,
            "schema": schema,
        }

    condition = {
        "type": "object",
        "properties": {"eq": {"type": "string"}, "in": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": False,
    }
    time_condition = {
        "type": "object",
        "properties": {op: {"type": "string", "format": "date-time"} for op in ("gt", "gte", "lt", "lte")},
        "additionalProperties": False,
    }
    found = [style(f, condition) for f in ("id", "model", "workflow_stage", "locales", "tags")]
    found += [style(f, time_condition) for f in ("created_on", "changed_on", "publish_on")]
    found += [
        {"name": "skip", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    ]
    return found


def _complete(document: dict[str, Any]) -> dict[str, Any]:
    document.setdefault("components", {}).setdefault("schemas", {})["Errors"] = _ERROR_BODY
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # Powertools' own validation-error shape is not ours
            success = responses.pop("200", {"description": "OK"})
            codes = ["204"] if method == "delete" else _SUCCESS.get((method, path), ["200"])
            for code in codes:
                responses[code] = {"description": "No content"} if code == "204" else success
            wanted = dict(_ERRORS)
            if path == "/admin/tenants":
                operation["security"] = [{"admin": []}]
            if path in _RESEND_PATHS and (method, path) != ("get", "/resends"):
                wanted.update(_QUEUEING)
            if (method, path) == ("post", "/schedules"):
                wanted["409"] = "A schedule of this name exists"
            if path in _CONTROL_PATHS:
                wanted["409"] = "The job's status does not allow this move (the message names it)"
                wanted["503"] = "The job moved but its message was not queued: send the request again"
            for code, description in wanted.items():
                responses.setdefault(code, {"description": description, "content": error_ref})
            if path == "/content_items" and method == "get":
                operation["parameters"] = [*operation.get("parameters", []), *_filter_parameters()]
            if path == "/content_items/bulk/webhooks":
                event = _query("event", {"type": "string"})
                operation["parameters"] = [*operation.get("parameters", []), event, *_filter_parameters()]
            if path == "/resends/{id}/deliveries" or (method, path) == ("get", "/resends"):
                statuses = (
                    _JOB_STATUSES
                    if path == "/resends"
                    else ["pending", "retrying", "delivered", "failed", "cancelled"]
                )
                operation["parameters"] = [
                    *operation.get("parameters", []),
                    {"name": "status", "in": "query", "required": False, "schema": {"enum": statuses}},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                ]
            if path == "/settings/events":
                operation["parameters"] = [
                    *operation.get("parameters", []),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                ]
    return document


def document() -> dict[str, Any]:
    """The document, built from the routers as they are now."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for module in ROUTERS:
        app.include_router(module.router)
    schema = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Resend webhook events: DataForSEO- and Prepr-compatible, native jobs, schedules.",
        security_schemes={
            "basic": HTTPBase(scheme="basic", description="login:password (DataForSEO clients)"),
            "bearer": HTTPBearer(description="the tenant's token (Prepr clients)"),
            "admin": HTTPBearer(description="the operator's admin token"),
        },
        security=[{"basic": []}, {"bearer": []}],
    )
    return _complete(json.loads(schema))


def rendered() -> str:
    """The document as the committed file holds it."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = rendered()
    if "--check" in argv:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
        if current != text:
            print(f"{DOCUMENT_PATH} differs from the routes: run make openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
