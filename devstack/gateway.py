"""An API Gateway HTTP API (payload format 2.0) in front of the local functions.

The routes are the functions' `HttpApi` events, the authorizers the API's `Auth` section, so the
handlers receive the very events the deployed API would send them and their answers are mapped
back to HTTP by the same rules. Routing, event building, authorizer decisions and response
mapping are pure functions (tested without sockets); `Gateway` adds the invocations and
`http.server` around them.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from devstack.resources import FunctionSpec, HttpApiSpec, Stack

log = logging.getLogger(__name__)

# API Gateway's payload quota for HTTP APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A request body up to this size is read and thrown away before answering 413, so the client
# gets the answer instead of a reset connection; beyond it the connection is simply closed.
_DRAIN_LIMIT = 64 * 1024 * 1024
DEFAULT_STAGE = "$default"
DEFAULT_ROUTE_KEY = "$default"
# Media types API Gateway passes as text; every other body arrives base64-encoded.
_TEXT_MEDIA_TYPES = ("application/json", "application/xml", "application/javascript", "application/yaml")

InvokeFunction = Callable[[str, dict[str, Any]], Any]


class GatewayError(Exception):
    """A request API Gateway itself answers, without (or after) invoking a function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidResponseError(ValueError):
    """A function answered with something API Gateway cannot turn into an HTTP response."""


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------
def _segments(path: str) -> tuple[str, ...]:
    return () if path in ("", "/") else tuple(path[1:].split("/"))


def _variable(segment: str) -> str | None:
    if segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1]
    return None


@dataclass(frozen=True)
class Route:
    """One route of the API: `GET /tasks/{id}`, `ANY /webhooks` or `$default`."""

    method: str
    path: str | None
    function: str
    authorizer: str | None = None
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _segments(self.path) if self.path is not None else ())

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE_KEY if self.path is None else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        return self.path is None

    @property
    def is_greedy(self) -> bool:
        return bool(self.segments) and (_variable(self.segments[-1]) or "").endswith("+")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def match_route(route: Route, method: str, path: str) -> dict[str, str] | None:
    """The path parameters if `route` takes `method path`, else None (`$default` takes nothing here)."""
    if route.is_default or route.method not in ("ANY", method.upper()):
        return None
    requested = _segments(path)
    pattern = route.segments[:-1] if route.is_greedy else route.segments
    if route.is_greedy:
        if len(requested) <= len(pattern):
            return None
    elif len(requested) != len(pattern):
        return None
    parameters: dict[str, str] = {}
    for expected, actual in zip(pattern, requested, strict=False):
        name = _variable(expected)
        if name is None:
            if expected != actual:
                return None
        elif not actual:
            return None
        else:
            parameters[name] = actual
    if route.is_greedy:
        rest = "/".join(requested[len(pattern) :])
        if not rest:
            return None
        parameters[(_variable(route.segments[-1]) or "")[:-1]] = rest
    return parameters


def _specificity(route: Route) -> tuple[Any, ...]:
    # Lower sorts first. Whole-path routes beat greedy ones (the longer greedy prefix first),
    # then segment by segment a static segment beats a variable, then a method beats ANY.
    fixed = route.segments[:-1] if route.is_greedy else route.segments
    per_segment = tuple(0 if _variable(segment) is None else 1 for segment in fixed)
    greedy_rank = (1, -len(fixed)) if route.is_greedy else (0, 0)
    return (*greedy_rank, per_segment, route.method == "ANY")


def select_route(routes: Iterable[Route], method: str, path: str) -> RouteMatch | None:
    """The route API Gateway would pick for `method path`, or None (a 404)."""
    routes = list(routes)
    candidates = []
    for route in routes:
        parameters = match_route(route, method, path)
        if parameters is not None:
            candidates.append((_specificity(route), route, parameters))
    if candidates:
        _, route, parameters = min(candidates, key=lambda candidate: candidate[0])
        return RouteMatch(route, parameters)
    for route in routes:
        if route.is_default:
            return RouteMatch(route, {})
    return None


def routes_for_api(functions: Iterable[FunctionSpec], api: HttpApiSpec | None) -> list[Route]:
    """The routes of one HTTP API: every `HttpApi` event attached to it, with its authorizer."""
    default_authorizer = api.auth.get("DefaultAuthorizer") if api else None
    routes: dict[str, Route] = {}
    for spec in functions:
        for name, event in spec.events_of_type("HttpApi").items():
            props = event.get("Properties") or {}
            api_id = props.get("ApiId")
            # An event without ApiId belongs to SAM's implicit API, not to a declared one.
            if api is not None and (api_id != api.api_id if api_id is not None else not api.implicit):
                continue
            authorizer = (props.get("Auth") or {}).get("Authorizer", default_authorizer)
            path = props.get("Path")
            method = str(props.get("Method") or "ANY").upper()
            route = Route(
                method=method if path is not None else "ANY",
                path=path,
                function=spec.logical_id,
                authorizer=None if authorizer in (None, "NONE") else authorizer,
            )
            if route.route_key in routes:
                raise ValueError(f"route {route.route_key} is defined twice ({spec.logical_id}.{name})")
            routes[route.route_key] = route
    return list(routes.values())


# ---------------------------------------------------------------------------------------------
# Requests and events
# ---------------------------------------------------------------------------------------------
@dataclass
class HttpRequest:
    """An HTTP request as the gateway received it."""

    method: str
    target: str  # path and query string, as on the request line
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        # HTTP APIs hand functions the path percent-decoded (rawPath included); routes match it.
        return unquote(self.target.partition("?")[0]) or "/"

    @property
    def raw_query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


def event_headers(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Headers as payload 2.0 carries them: lower-case names, repeats comma-joined; cookies apart."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    return merged, cookies


def query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded query parameters, repeated keys comma-joined."""
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    return parameters


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    media_type = content_type.split(";")[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """The event's `body` and `isBase64Encoded`: text as is, anything else in base64."""
    if not body:
        return None, False
    if _is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def new_request_id() -> str:
    """An id shaped like API Gateway's (`JKJaXmPLvHcESHA=`)."""
    return base64.b64encode(os.urandom(11)).decode("ascii")


@dataclass(frozen=True)
class ApiContext:
    """What the events say about the API itself."""

    api_id: str = "local"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    stage: str = DEFAULT_STAGE


def request_context(
    request: HttpRequest,
    route_key: str,
    api: ApiContext,
    *,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    domain_name = request.header("host") or "localhost"
    return {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0],
        "http": {
            "method": request.method.upper(),
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }


def _common_event(request: HttpRequest, match: RouteMatch, context: dict[str, Any]) -> dict[str, Any]:
    headers, cookies = event_headers(request.headers)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    parameters = query_parameters(request.raw_query)
    if parameters:
        event["queryStringParameters"] = parameters
    event["requestContext"] = context
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    return event


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    api: ApiContext,
    *,
    authorizer_context: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event the route's function receives."""
    context = request_context(
        request,
        match.route.route_key,
        api,
        request_id=request_id or new_request_id(),
        now=now or datetime.now(UTC),
    )
    if authorizer_context is not None:
        context = {**context, "authorizer": {"lambda": dict(authorizer_context)}}
    event = _common_event(request, match, context)
    body, is_base64 = encode_body(request.body, request.header("content-type"))
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


# ---------------------------------------------------------------------------------------------
# Authorizers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LambdaAuthorizer:
    """A Lambda REQUEST authorizer of the API (SAM's `Auth.Authorizers.<name>`)."""

    name: str
    function: str
    simple_responses: bool = True
    identity_sources: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any], function: str) -> LambdaAuthorizer:
        version = str(config.get("AuthorizerPayloadFormatVersion", "2.0"))
        if version != "2.0":
            raise ValueError(f"authorizer {name}: payload format {version} is not emulated (use 2.0)")
        identity = config.get("Identity") or {}
        sources = [f"$request.header.{header}" for header in identity.get("Headers") or []]
        sources += [f"$request.querystring.{name}" for name in identity.get("QueryStrings") or []]
        return cls(name, function, bool(config.get("EnableSimpleResponses", False)), tuple(sources))


def identity_values(authorizer: LambdaAuthorizer, request: HttpRequest) -> list[str] | None:
    """The identity sources' values, or None when one is missing (API Gateway's 401)."""
    values: list[str] = []
    query = query_parameters(request.raw_query)
    for source in authorizer.identity_sources:
        kind, _, name = source.removeprefix("$request.").partition(".")
        value = request.header(name) if kind == "header" else query.get(name)
        if not value:
            return None
        values.append(value)
    return values


def route_arn(request: HttpRequest, api: ApiContext) -> str:
    return (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage}/"
        f"{request.method.upper()}{request.raw_path}"
    )


def build_authorizer_event(
    request: HttpRequest,
    match: RouteMatch,
    api: ApiContext,
    authorizer: LambdaAuthorizer,
    *,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 REQUEST event a Lambda authorizer receives."""
    context = request_context(
        request,
        match.route.route_key,
        api,
        request_id=request_id or new_request_id(),
        now=now or datetime.now(UTC),
    )
    event = {"version": "2.0", "type": "REQUEST", "routeArn": route_arn(request, api)}
    if authorizer.identity_sources:
        event["identitySource"] = identity_values(authorizer, request) or []
    event.update(_common_event(request, match, context))
    return event


def _policy_allows(policy: Mapping[str, Any], arn: str) -> bool:
    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    verdicts = []
    for statement in statements:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources):
            verdicts.append(statement.get("Effect"))
    return "Allow" in verdicts and "Deny" not in verdicts


def authorizer_decision(result: Any, authorizer: LambdaAuthorizer, arn: str) -> tuple[bool, dict[str, Any]]:
    """Whether the authorizer's answer lets the request through, and the context it passes on."""
    if not isinstance(result, Mapping):
        raise InvalidResponseError(f"authorizer {authorizer.name} returned {type(result).__name__}")
    context = result.get("context") or {}
    if not isinstance(context, Mapping):
        raise InvalidResponseError(f"authorizer {authorizer.name}: context is not an object")
    if authorizer.simple_responses and "isAuthorized" in result:
        if not isinstance(result["isAuthorized"], bool):
            raise InvalidResponseError(f"authorizer {authorizer.name}: isAuthorized is not a boolean")
        return result["isAuthorized"], dict(context)
    if "policyDocument" in result:
        return _policy_allows(result["policyDocument"], arn), dict(context)
    raise InvalidResponseError(f"authorizer {authorizer.name} answered neither isAuthorized nor a policy")


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------
@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def json_response(status: int, document: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(document).encode())


def gateway_response(status: int, message: str) -> HttpResponse:
    """An answer API Gateway gives itself: `{"message": "..."}`."""
    return json_response(status, {"message": message})


def map_result(result: Any) -> HttpResponse:
    """A function's return value as HTTP, by payload format 2.0's rules."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        # Anything without a statusCode is the body of a 200 JSON answer.
        try:
            return json_response(200, result)
        except (TypeError, ValueError) as error:
            raise InvalidResponseError(f"result is not JSON: {error}") from error
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise InvalidResponseError(f"statusCode {result['statusCode']!r} is not a number") from None
    if not 100 <= status <= 599:
        raise InvalidResponseError(f"statusCode {status} is not an HTTP status")
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise InvalidResponseError(f"body is {type(body).__name__}, not a string")
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(body)
    else:
        payload = body.encode("utf-8")
    return HttpResponse(status, headers, payload)


# ---------------------------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------------------------
class Gateway:
    """The HTTP API: routes requests to functions through the authorizers, over real HTTP."""

    def __init__(
        self,
        routes: Iterable[Route],
        invoke: InvokeFunction,
        *,
        authorizers: Mapping[str, LambdaAuthorizer] | None = None,
        api: ApiContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.routes = list(routes)
        self.authorizers = dict(authorizers or {})
        for route in self.routes:
            if route.authorizer is not None and route.authorizer not in self.authorizers:
                raise ValueError(f"route {route.route_key}: no Lambda authorizer {route.authorizer}")
        self.invoke = invoke
        self.api = api or ApiContext()
        self.host = host
        self.access_log = access_log
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_stack(
        cls,
        stack: Stack,
        invoke: InvokeFunction,
        *,
        api_logical_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> Gateway:
        """The gateway of the stack's HTTP API; `invoke(logical_id, event)` runs a function."""
        api = stack.http_api(api_logical_id)
        authorizers = {}
        for name, config in ((api.auth.get("Authorizers") if api else None) or {}).items():
            if "FunctionArn" not in config:
                continue  # a JWT authorizer: routes that use it fail below, loudly
            function = stack.function_by_arn(str(config["FunctionArn"])).logical_id
            authorizers[name] = LambdaAuthorizer.from_config(name, config, function)
        context = ApiContext(
            api_id=api.api_id if api else "local", account_id=stack.account_id, region=stack.region
        )
        return cls(
            routes_for_api(stack.functions(), api),
            invoke,
            authorizers=authorizers,
            api=context,
            host=host,
            port=port,
            access_log=access_log,
        )

    # -- requests -------------------------------------------------------------------------------
    def handle(self, request: HttpRequest) -> HttpResponse:
        """The answer to one request (what the HTTP server sends back)."""
        request_id = new_request_id()
        try:
            response = self._route(request, request_id)
        except GatewayError as error:
            response = gateway_response(error.status, error.message)
        except Exception:
            # Straight to stderr, as Lambda's runtime writes a failed invocation to its log,
            # whatever logging configuration the host process has.
            print(f"[ERROR] {request.method} {request.target} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            response = gateway_response(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _route(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > MAX_BODY_BYTES:
            raise GatewayError(413, "Request Entity Too Large")
        match = select_route(self.routes, request.method, request.raw_path)
        if match is None:
            raise GatewayError(404, "Not Found")
        now = datetime.now(UTC)
        authorizer_context = None
        if match.route.authorizer is not None:
            authorizer_context = self._authorize(request, match, request_id, now)
        event = build_event(
            request, match, self.api, authorizer_context=authorizer_context, request_id=request_id, now=now
        )
        return map_result(self.invoke(match.route.function, event))

    def _authorize(
        self, request: HttpRequest, match: RouteMatch, request_id: str, now: datetime
    ) -> dict[str, Any]:
        authorizer = self.authorizers[match.route.authorizer or ""]
        if identity_values(authorizer, request) is None:
            raise GatewayError(401, "Unauthorized")
        event = build_authorizer_event(request, match, self.api, authorizer, request_id=request_id, now=now)
        allowed, context = authorizer_decision(
            self.invoke(authorizer.function, event), authorizer, event["routeArn"]
        )
        if not allowed:
            raise GatewayError(403, "Forbidden")
        return context

    # -- server ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Gateway:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="devstack-gateway",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep their threads waiting for a request.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devstack-gateway"
    sys_version = ""
    timeout = 30  # seconds an idle keep-alive connection is kept
    server: _Server

    def handle_expect_100(self) -> bool:
        if self._content_length() > MAX_BODY_BYTES:
            self._send(gateway_response(413, "Request Entity Too Large"), close=True)
            return False
        return super().handle_expect_100()

    def _content_length(self) -> int:
        try:
            return int(self.headers.get("content-length") or 0)
        except ValueError:
            return -1

    def _read_body(self) -> bytes | HttpResponse:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        length = self._content_length()
        if length < 0:
            return gateway_response(400, "Bad Request")
        if length > MAX_BODY_BYTES:
            self._discard(length)
            return gateway_response(413, "Request Entity Too Large")
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _read_chunked(self) -> bytes | HttpResponse:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                return gateway_response(400, "Bad Request")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                self.close_connection = True
                return gateway_response(413, "Request Entity Too Large")
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _handle(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if isinstance(body, HttpResponse):
            response = body
            response.headers.append(("apigw-requestid", new_request_id()))
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=[*self.headers.items(), *self._forwarding_headers()],
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            response = self.server.gateway.handle(request)
        self._send(response, close=self.close_connection)
        if self.server.gateway.access_log:
            elapsed = (time.monotonic() - started) * 1000
            log.info('"%s %s" %d %.1fms', self.command, self.path, response.status, elapsed)

    def _forwarding_headers(self) -> list[tuple[str, str]]:
        # What API Gateway adds in front of every integration.
        trace = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        return [
            ("x-forwarded-for", self.client_address[0]),
            ("x-forwarded-port", str(self.server.server_address[1])),
            ("x-forwarded-proto", "http"),
            ("x-amzn-trace-id", trace),
        ]

    def _send(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if close:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The access log (when on) is written by _handle; http.server's own lines are noise.
        return

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle
    # API Gateway forwards any method to ANY routes; the function answers 405 for these.
    do_TRACE = do_CONNECT = do_PROPFIND = do_QUERY = _handle
