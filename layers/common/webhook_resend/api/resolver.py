"""HTTP plumbing shared by every API function: the resolver, error mapping, limits and tenancy.

Domain errors map to status codes here and only here. Every error answers
`{"errors": [{"field", "message"}]}`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend.aws.dynamodb import StoreBusyError
from webhook_resend.errors import (
    ConflictError,
    FieldProblem,
    InvalidInputError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    QueueingError,
    SelectionNotStartedError,
    UnauthorizedError,
    WebhookResendError,
)
from webhook_resend.models import dataforseo
from webhook_resend.observability import logger

MAX_BODY_BYTES = 1024 * 1024
DATAFORSEO_PATH = "/v3/appendix/webhook_resend"


def dataforseo_unavailable() -> dict[str, Any]:
    """DataForSEO's envelope for "try again": its clients read status_code, not HTTP status."""
    return dataforseo.envelope((50000, "Internal Error. Nothing was queued; try again."), time.perf_counter())


STATUS_BY_ERROR: dict[type[WebhookResendError], HTTPStatus] = {
    InvalidInputError: HTTPStatus.UNPROCESSABLE_ENTITY,
    NotFoundError: HTTPStatus.NOT_FOUND,
    UnauthorizedError: HTTPStatus.UNAUTHORIZED,
    PayloadTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    MethodNotAllowedError: HTTPStatus.METHOD_NOT_ALLOWED,
    ConflictError: HTTPStatus.CONFLICT,
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers or {},
    )


def _error_headers(error: WebhookResendError) -> dict[str, str]:
    headers = {"Allow": ", ".join(error.allowed)} if isinstance(error, MethodNotAllowedError) else {}
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Basic realm="webhook-resend", Bearer'
    return headers


def error_response(error: WebhookResendError) -> Response[Any]:
    status = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls))
    return json_response(status, {"errors": [p.as_dict() for p in error.problems]}, _error_headers(error))


def _field_of(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def validation_problems(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    problems = []
    for error in errors:
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "json_invalid":
            message = "is not valid JSON"
        elif error.get("type") == "extra_forbidden":
            message = "is not a known field"
        field = "body" if error.get("type") == "json_invalid" else _field_of(tuple(error.get("loc", ())))
        problems.append(FieldProblem(field, message.removeprefix("Value error, ")))
    return problems


def body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4  # close enough for a limit: no need to decode megabytes
    return len(body.encode())


def proxy_error(error: WebhookResendError) -> dict[str, Any]:
    """An error as the proxy response dict, for answers given before the resolver runs."""
    return proxy_response(
        int(next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls))),
        {"errors": [p.as_dict() for p in error.problems]},
        _error_headers(error),
    )


def proxy_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def authorizer_tenant(event: dict[str, Any]) -> str | None:
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    tenant_id = context.get("tenant_id") if isinstance(context, dict) else None
    return str(tenant_id) if tenant_id else None


def tenant_guard(event: dict[str, Any]) -> dict[str, Any] | None:
    """401 unless the authorizer resolved a tenant."""
    if authorizer_tenant(event):
        return None
    return proxy_error(UnauthorizedError(FieldProblem("authorization", "missing or invalid credentials")))


def as_json_request(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event with its body as JSON text, declared as JSON; None when the body is not text.

    The API takes JSON whatever the declared type: `curl -d '{...}'` declares a form, and API
    Gateway then base64-encodes the body. Such a body is decoded and declared JSON, so the
    validation reads it as the JSON it is (or answers that it is not valid JSON).
    """
    if not event.get("body"):
        return event
    headers = event.get("headers") or {}
    body = event["body"]
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    return {
        **event,
        "body": body,
        "isBase64Encoded": False,
        "headers": {**headers, "content-type": "application/json"},
    }


Guard = Callable[[dict[str, Any]], dict[str, Any] | None]


class JsonApiResolver(APIGatewayHttpResolver):
    """Powertools' resolver, with what must happen before its request validation: the body
    limit (413), the guard (401), and JSON bodies read as JSON.

    Powertools validates a request before any middleware runs, so without this a request with
    no credentials and a bad body would get a 422 that reveals the route's schema, not a 401.
    """

    def __init__(self, *, guard: Guard | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    def methods_of(self, path: str) -> set[str]:
        """The methods the routes of `path` take; none for an unknown path.

        Powertools keeps its routes in these lists (there is no public lookup)."""
        return {
            route.method for route in self._static_routes + self._dynamic_routes if route.rule.match(path)
        }

    def resolve(self, event: dict, context: Any) -> dict[str, Any]:
        if body_size(event) > MAX_BODY_BYTES:
            return proxy_error(
                PayloadTooLargeError(FieldProblem("body", f"is over {MAX_BODY_BYTES} bytes (1 MB)"))
            )
        path = ((event.get("requestContext") or {}).get("http") or {}).get("path") or event.get("rawPath", "")
        # Unknown paths get their 404 unguarded.
        if self._guard is not None and self.methods_of(path):
            refused = self._guard(event)
            if refused is not None:
                return refused
        readable = as_json_request(event)
        if readable is None:
            return proxy_error(InvalidInputError(FieldProblem("body", "is not UTF-8 text; send JSON")))
        return super().resolve(readable, context)


def build_resolver(guard: Guard | None = tenant_guard) -> APIGatewayHttpResolver:
    """A resolver with validation, the body limit, the guard, and every error mapped to its status."""
    app = JsonApiResolver(guard=guard, enable_validation=True)

    @app.exception_handler(WebhookResendError)
    def _domain_error(error: WebhookResendError) -> Response:
        return error_response(error)

    @app.exception_handler(QueueingError)
    def _not_queued(error: QueueingError) -> Response:
        if isinstance(error, SelectionNotStartedError):
            message = (
                f"the selection of job {error.job_id} could not start (SQS did not take its first "
                f"step): the job counts the {error.queued} pairs that were queued and selects nothing more"
            )
            body = {
                "errors": [{"field": None, "message": message + ". Try again later."}],
                "resend_id": error.job_id,
                "total_queued": error.queued + error.ended,
            }
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "5"})
        message = (
            f"could not queue {error.refused} of {error.queued + error.refused} pairs; "
            f"job {error.job_id} counts the {error.queued} that were queued"
        )
        if error.ended:
            message += (
                f" and {error.ended} that SQS may have taken without answering, recorded failed "
                "so that they are never sent"
            )
        body = {
            "errors": [{"field": None, "message": message + ". Try again later."}],
            "resend_id": error.job_id,
            "total_queued": error.queued + error.ended,
        }
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "5"})

    @app.exception_handler([ClientError, BotoCoreError, StoreBusyError])
    def _aws_unavailable(error: Exception) -> Response:
        # Throttling or an outage of DynamoDB/SQS after botocore's own retries (or keys a batch
        # read left unprocessed through its own): nothing was half-done (writes come before
        # queueing), so the client may simply try again.
        code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
        logger.warning("AWS call failed", extra={"error": code or type(error).__name__})
        problem = FieldProblem("service", "the service is busy; try again shortly")
        if app.current_event.path == DATAFORSEO_PATH:
            body: Any = dataforseo_unavailable()
        else:
            body = {"errors": [problem.as_dict()]}
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return error_response(InvalidInputError(validation_problems(list(error.errors()))))

    @app.not_found
    def _unmatched(_: PowertoolsNotFoundError) -> Response:
        method = app.current_event.http_method.upper()
        path = app.current_event.path
        # A path that exists under another method is a 405 with Allow, not a 404.
        allowed = sorted(app.methods_of(path))
        if allowed:
            return error_response(
                MethodNotAllowedError(FieldProblem("method", f"{method} is not allowed here"), allowed)
            )
        return error_response(NotFoundError(FieldProblem("path", f"no route {method} {path}")))

    return app


def require_tenant(app: BaseRouter) -> str:
    """The tenant the authorizer resolved (the guard answered 401 already when there is none)."""
    tenant_id = authorizer_tenant(app.current_event.raw_event)
    if not tenant_id:
        raise UnauthorizedError(FieldProblem("authorization", "missing or invalid credentials"))
    return tenant_id


def query_or_body(app: BaseRouter, decode_query: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Parameters from the JSON body when there is one, else from the query string.

    Both at once is refused, so a query string can never silently widen a body's selection.
    """
    event = app.current_event
    raw_query = event.raw_query_string if hasattr(event, "raw_query_string") else ""
    raw_body = event.decoded_body if event.body else ""
    params: dict[str, Any] = {}
    if raw_body and raw_body.strip():
        try:
            params = json.loads(raw_body)
        except ValueError:
            raise InvalidInputError(FieldProblem("body", "is not valid JSON")) from None
        if not isinstance(params, dict):
            raise InvalidInputError(FieldProblem("body", "must be a JSON object"))
        if raw_query:
            raise InvalidInputError(
                FieldProblem(
                    "query", "send the parameters either as a JSON body or as a query string, not both"
                )
            )
        return params
    if raw_query:
        return decode_query(raw_query)
    return params
