"""HTTP plumbing shared by every API function: the resolver, error mapping, limits and tenancy.

Domain errors map to status codes here and only here. Every error answers
`{"errors": [{"field", "message"}]}`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from webhook_resend.errors import (
    ConflictError,
    FieldProblem,
    InvalidInputError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    QueueingError,
    UnauthorizedError,
    WebhookResendError,
)

MAX_BODY_BYTES = 1024 * 1024

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


def error_response(error: WebhookResendError) -> Response[Any]:
    status = next(code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls))
    headers = {"Allow": ", ".join(error.allowed)} if isinstance(error, MethodNotAllowedError) else {}
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Basic realm="webhook-resend", Bearer'
    return json_response(status, {"errors": [p.as_dict() for p in error.problems]}, headers)


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
        problems.append(
            FieldProblem(_field_of(tuple(error.get("loc", ()))), message.removeprefix("Value error, "))
        )
    return problems


def body_size(event: Any) -> int:
    body = event.body or ""
    if event.is_base64_encoded:
        return len(base64.b64decode(body))
    return len(body.encode())


def _limit_body(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    if body_size(app.current_event) > MAX_BODY_BYTES:
        return error_response(
            PayloadTooLargeError(FieldProblem("body", f"is over {MAX_BODY_BYTES} bytes (1 MB)"))
        )
    return next_middleware(app)


_FORM = "application/x-www-form-urlencoded"


def as_json_request(event: dict[str, Any]) -> dict[str, Any]:
    """The event with a JSON body declared as JSON.

    The API takes JSON whatever the declared type: `curl -d '{...}'` sends it as a form, and
    API Gateway then base64-encodes it. Such a body is decoded and its type set to JSON, so the
    validation reads it as the JSON it is (or answers that it is not valid JSON).
    """
    headers = event.get("headers") or {}
    content_type = str(headers.get("content-type", "")).strip().lower()
    if not event.get("body") or (content_type and not content_type.startswith(_FORM)):
        return event
    body = event["body"]
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode()
        except (ValueError, UnicodeDecodeError):
            return event
    return {
        **event,
        "body": body,
        "isBase64Encoded": False,
        "headers": {**headers, "content-type": "application/json"},
    }


class JsonApiResolver(APIGatewayHttpResolver):
    def resolve(self, event: dict, context: Any) -> dict[str, Any]:
        return super().resolve(as_json_request(event), context)


def build_resolver() -> APIGatewayHttpResolver:
    """A resolver with validation, the body limit, and every error mapped to its status."""
    app = JsonApiResolver(enable_validation=True)
    app.use(middlewares=[_limit_body])

    @app.exception_handler(WebhookResendError)
    def _domain_error(error: WebhookResendError) -> Response:
        return error_response(error)

    @app.exception_handler(QueueingError)
    def _not_queued(error: QueueingError) -> Response:
        message = (
            f"could not queue {error.refused} of {error.queued + error.refused} pairs; "
            f"job {error.job_id} counts the {error.queued} that were queued. Try again later."
        )
        body = {
            "errors": [{"field": None, "message": message}],
            "resend_id": error.job_id,
            "total_queued": error.queued,
        }
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return error_response(InvalidInputError(validation_problems(list(error.errors()))))

    @app.not_found
    def _unmatched(_: PowertoolsNotFoundError) -> Response:
        method = app.current_event.http_method.upper()
        path = app.current_event.path
        # Powertools keeps its routes in these lists; a path that exists under another method is a
        # 405 with Allow, not a 404.
        allowed = sorted(
            {route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(path)}
        )
        if allowed:
            return error_response(
                MethodNotAllowedError(FieldProblem("method", f"{method} is not allowed here"), allowed)
            )
        return error_response(NotFoundError(FieldProblem("path", f"no route {method} {path}")))

    return app


def require_tenant(app: BaseRouter) -> str:
    """The tenant the authorizer resolved, or UnauthorizedError (the authorizer never denies)."""
    context = app.current_event.request_context.authorizer.get_lambda
    tenant_id = context.get("tenant_id") if isinstance(context, dict) else None
    if not tenant_id:
        raise UnauthorizedError(FieldProblem("authorization", "missing or invalid credentials"))
    return str(tenant_id)


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
