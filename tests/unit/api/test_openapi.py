"""The committed OpenAPI document (`api/openapi.json`) is what the routes describe now, and the
admin function serves it without importing the other functions' routes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from webhook_resend.api import openapi

PROJECT = Path(__file__).resolve().parents[3]


def test_openapi_committed_document_matches_the_routes() -> None:
    committed = json.loads(openapi.DOCUMENT_PATH.read_text())

    assert committed == openapi.document(), "api/openapi.json drifted from the routes: run make openapi"


def test_openapi_committed_document_is_rendered_as_make_openapi_writes_it() -> None:
    assert openapi.DOCUMENT_PATH.read_text() == openapi.rendered()


def test_openapi_document_describes_every_function_route() -> None:
    paths = openapi.document()["paths"]

    assert {
        "/admin/tenants",
        "/content_items",
        "/content_items/bulk/webhooks",
        "/resends",
        "/resends/{id}",
        "/resends/{id}/deliveries",
        "/schedules",
        "/v3/appendix/webhook_resend",
        "/webhooks/{id}",
    } <= set(paths)


def test_openapi_admin_function_imports_no_other_functions_routes() -> None:
    # A fresh interpreter, as a cold start: import the admin entry module, list what it loaded.
    code = (
        "import sys, admin; "
        "print('\\n'.join(m for m in sys.modules if m.startswith('webhook_resend.api.routes.')))"
    )
    loaded = subprocess.run(  # noqa: S603 - our interpreter, our snippet
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{PROJECT / 'functions' / 'admin'}:{PROJECT / 'layers' / 'common'}"},
    ).stdout.split()

    assert loaded == ["webhook_resend.api.routes.admin"]
