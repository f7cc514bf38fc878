"""A small client of the webhook-resend API over urllib: one method per route the CLI uses.

Every answer is JSON. A 4xx/5xx raises `ApiError` with the decoded body, a server that cannot be
reached raises `ConnectionFailedError`; neither ever carries a token. Redirects are not followed,
because urllib would send the `Authorization` header on to wherever the redirect points.
"""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from webhook_resend_cli import __version__

DEFAULT_TIMEOUT_SECONDS = 30.0
DELIVERY_PAGE_MAX = 1000  # the API's largest page of `/resends/{id}/deliveries`
JOB_PAGE_MAX = 1000  # the API's largest page of `/resends`
USER_AGENT = f"webhook-resend-cli/{__version__}"


class CliError(Exception):
    """Anything that ends a command with exit code 1 and a message on stderr."""


class MissingTokenError(CliError):
    """A route needs a credential the configuration does not have."""


class InvalidUrlError(CliError, ValueError):
    """The configured URL is not an http(s) URL."""


class ConnectionFailedError(CliError):
    """The server could not be reached at all: refused, unknown host, timed out."""


class ApiError(CliError):
    """The API answered an error status; `document` is its JSON body (or None)."""

    def __init__(self, status: int, document: Any, text: str = "") -> None:
        self.status = status
        self.document = document
        self.text = text
        super().__init__(f"HTTP {status}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


def base_url(url: str) -> str:
    """The API's base URL without a trailing slash; InvalidUrlError unless it is http(s)://host."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an invalid port or IPv6 literal
        valid = False
    if not valid:
        raise InvalidUrlError(f"--url {shown_url(url)!r} is not an http:// or https:// URL")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def shown_url(url: str) -> str:
    """The URL as it may be printed: without any user:password@ part."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2]
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _path_id(value: str) -> str:
    # An id is one path segment: `status ../admin/tenants` must not reach another route.
    return urllib.parse.quote(value, safe="")


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


class ApiClient:
    """The API at `url`; `token` for tenant routes, `admin_token` for `/admin` routes."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        admin_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = base_url(url)
        self._token = token
        self._admin_token = admin_token
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:  # never shows the tokens
        return f"ApiClient({shown_url(self.url)!r})"

    # -- routes ---------------------------------------------------------------------------------
    def create_tenant(self, name: str) -> dict[str, Any]:
        return self._call("POST", "/admin/tenants", body={"name": name}, admin=True)

    def create_resend(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/resends", body=body, headers=headers)

    def get_resend(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/resends/{_path_id(job_id)}")

    def control_resend(self, job_id: str, move: str) -> dict[str, Any]:
        """Pause, resume or cancel a job (POST /resends/{id}/pause|resume|cancel): the job."""
        return self._call("POST", f"/resends/{_path_id(job_id)}/{move}")

    def list_resends(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        return self._call("GET", "/resends", query={"status": status, "limit": limit, "cursor": cursor})

    def iter_resends(
        self, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The tenant's jobs, newest first (at most `limit`), following `next_cursor`."""
        remaining = limit
        cursor: str | None = None
        while remaining is None or remaining > 0:
            size = JOB_PAGE_MAX if remaining is None else min(remaining, JOB_PAGE_MAX)
            page = self.list_resends(status=status, limit=size, cursor=cursor)
            jobs = list(page.get("data") or [])[:size]
            yield from jobs
            if remaining is not None:
                remaining -= len(jobs)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def list_deliveries(
        self, job_id: str, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        query = {"status": status, "limit": limit, "cursor": cursor}
        return self._call("GET", f"/resends/{_path_id(job_id)}/deliveries", query=query)

    def iter_deliveries(
        self, job_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every delivery record of the job (at most `limit`), following `next_cursor`."""
        remaining = limit
        cursor: str | None = None
        while remaining is None or remaining > 0:
            size = DELIVERY_PAGE_MAX if remaining is None else min(remaining, DELIVERY_PAGE_MAX)
            page = self.list_deliveries(job_id, status=status, limit=size, cursor=cursor)
            records = list(page.get("data") or [])[:size]
            yield from records
            if remaining is not None:
                remaining -= len(records)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- content items (issue 19) ---------------------------------------------------------------
    def put_content_item(self, item_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/content_items/{_path_id(item_id)}", body=body)

    def put_content_items(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """`PUT /content_items`: up to 100 items, each with its id; answered item by item."""
        return self._call("PUT", "/content_items", body=items)

    def target_digest(self) -> str:
        """Which API and tenant this client writes to, with the token only as a digest."""
        token_digest = hashlib.sha256((self._token or "").encode()).hexdigest()[:16]
        return f"{shown_url(self.url)} {token_digest}"

    # -- settings (issue 15) --------------------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        return self._call("GET", "/settings")

    def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "/settings", body=settings)

    # -- transport ------------------------------------------------------------------------------
    def _credential(self, admin: bool) -> str:
        if admin:
            if not self._admin_token:
                raise MissingTokenError(
                    "no admin token: set WEBHOOK_RESEND_ADMIN_TOKEN or pass --admin-token"
                )
            return self._admin_token
        if not self._token:
            raise MissingTokenError("no token: set WEBHOOK_RESEND_TOKEN or pass --token")
        return self._token

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
    ) -> Any:
        sent = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {self._credential(admin)}",
            **(headers or {}),
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        target = self.url + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(target, data=data, headers=sent, method=method)  # noqa: S310
        try:
            # The scheme was checked by base_url: only http(s) reaches urlopen.
            with self._opener.open(request, timeout=self._timeout) as answer:
                return _decode(answer.read())
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            raise ApiError(error.code, _decode(raw), raw[:500].decode("utf-8", "replace")) from None
        except urllib.error.URLError as error:
            raise ConnectionFailedError(self._unreachable(error.reason)) from None
        except (TimeoutError, ConnectionError) as error:
            raise ConnectionFailedError(self._unreachable(error)) from None

    def _unreachable(self, reason: object) -> str:
        where = shown_url(self.url)
        if isinstance(reason, ConnectionRefusedError):
            return (
                f"cannot connect to {where}: connection refused "
                "(is the service running? set --url or WEBHOOK_RESEND_URL)"
            )
        if isinstance(reason, TimeoutError):
            return f"no answer from {where} within {self._timeout:g} s"
        if isinstance(reason, socket.gaierror):
            return f"cannot resolve the host of {where}"
        return f"cannot reach {where}: {reason}"
