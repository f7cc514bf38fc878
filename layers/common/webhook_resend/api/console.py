"""The console (SPEC §14): its static files, served as they are with the headers that keep it safe.

The files live beside the console function (`functions/console/static/`) and are read once per
container. Only a file of that folder, named exactly, is served: a request names an asset, never a
path, so nothing outside the folder can be reached. Every answer carries a strict
Content-Security-Policy (scripts and styles from this origin only, no inline script or style, no
eval, no framing), `nosniff` and the asset's own content type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Short and revalidated: a deploy's new files are taken at once.
    "Cache-Control": "no-cache",
}
METHODS = ("GET", "HEAD")


class Assets:
    """The console's files, by name, read once: name -> (content type, text)."""

    def __init__(self, directory: Path) -> None:
        self.files: dict[str, tuple[str, str]] = {}
        for path in sorted(directory.iterdir()):
            content_type = CONTENT_TYPES.get(path.suffix)
            if path.is_file() and content_type is not None:
                self.files[path.name] = (content_type, path.read_text(encoding="utf-8"))
        if INDEX not in self.files:
            raise FileNotFoundError(f"{directory} holds no {INDEX}")

    def answer(self, method: str, path: str) -> dict[str, Any]:
        """The proxy response (payload format 2.0) to `method path`."""
        name = _asset_name(path)
        found = self.files.get(name) if name is not None else None
        if found is None:
            return _error(404, "path", f"no console file at {path}")
        if method.upper() not in METHODS:
            return _error(
                405, "method", f"{method.upper()} is not allowed here", {"Allow": ", ".join(METHODS)}
            )
        content_type, text = found
        return {
            "statusCode": 200,
            "headers": {**SECURITY_HEADERS, "Content-Type": content_type},
            "body": "" if method.upper() == "HEAD" else text,
            "isBase64Encoded": False,
        }


def _asset_name(path: str) -> str | None:
    """`/console` and `/console/` are the page; `/console/<name>` a file; anything else nothing."""
    if path in ("/console", "/console/"):
        return INDEX
    prefix = "/console/"
    if not path.startswith(prefix):
        return None
    name = path[len(prefix) :]
    return name if name and "/" not in name and not name.startswith(".") else None


def _error(status: int, field: str, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**SECURITY_HEADERS, "Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"errors": [{"field": field, "message": message}]}),
        "isBase64Encoded": False,
    }


def request_line(event: dict[str, Any]) -> tuple[str, str]:
    """(method, path) of a payload format 2.0 event."""
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or "GET"), str(http.get("path") or event.get("rawPath") or "/")
