"""devstack.gateway without sockets: route selection, the v2 events, authorizer answers and the
mapping of a function's result back to HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack.gateway import (
    ApiContext,
    HttpRequest,
    InvalidResponseError,
    LambdaAuthorizer,
    Route,
    RouteMatch,
    authorizer_decision,
    build_authorizer_event,
    build_event,
    map_result,
    routes_for_api,
    select_route,
)
from devstack.resources import FunctionSpec, HttpApiSpec
from webhook_resend.api.console import CONTENT_SECURITY_POLICY, Assets

ROOT = Path(__file__).resolve().parents[3]

API = ApiContext(api_id="abc123", account_id="111122223333", region="us-east-1")
NOW = datetime(2024, 3, 12, 19, 3, 58, 123000, tzinfo=UTC)

ROUTES = [
    Route("GET", "/tasks/{id}", "GetTask"),
    Route("ANY", "/tasks/{id}", "AnyTask"),
    Route("GET", "/tasks/special", "SpecialTask"),
    Route("ANY", "/files/{proxy+}", "Files"),
    Route("ANY", "/{proxy+}", "Everything"),
    Route("ANY", "/webhooks", "Webhooks"),
    Route("ANY", None, "Fallback"),
]


def chosen(method: str, path: str, routes: list[Route] = ROUTES) -> str | None:
    match = select_route(routes, method, path)
    return match.route.function if match else None


# -- route selection -------------------------------------------------------------------------------
def test_select_route_prefers_the_exact_method_over_any() -> None:
    assert chosen("GET", "/tasks/42") == "GetTask"


def test_select_route_falls_back_to_any_for_other_methods() -> None:
    assert chosen("DELETE", "/tasks/42") == "AnyTask"


def test_select_route_prefers_a_static_segment_over_a_variable() -> None:
    assert chosen("GET", "/tasks/special") == "SpecialTask"


def test_select_route_prefers_a_whole_path_match_over_a_greedy_variable() -> None:
    assert chosen("POST", "/webhooks") == "Webhooks"


def test_select_route_prefers_the_longer_greedy_prefix() -> None:
    assert chosen("GET", "/files/a/b.txt") == "Files"


def test_select_route_greedy_variable_catches_what_nothing_else_does() -> None:
    assert chosen("PATCH", "/anything/at/all") == "Everything"


def test_select_route_uses_default_only_when_nothing_matches() -> None:
    routes = [Route("GET", "/webhooks", "Webhooks"), Route("ANY", None, "Fallback")]

    assert chosen("GET", "/webhooks", routes) == "Webhooks"
    assert chosen("POST", "/webhooks", routes) == "Fallback"
    assert chosen("GET", "/unknown", routes) == "Fallback"


def test_select_route_without_default_answers_none() -> None:
    assert select_route([Route("GET", "/webhooks", "Webhooks")], "GET", "/nope") is None


def test_select_route_greedy_variable_needs_at_least_one_segment() -> None:
    routes = [Route("ANY", "/files/{proxy+}", "Files")]

    assert select_route(routes, "GET", "/files") is None
    assert select_route(routes, "GET", "/files/") is None


def test_select_route_extracts_path_parameters() -> None:
    match = select_route(
        [Route("GET", "/tenants/{tenant}/tasks/{id}", "Task")], "GET", "/tenants/t1/tasks/42"
    )

    assert match is not None
    assert match.path_parameters == {"tenant": "t1", "id": "42"}


def test_select_route_extracts_the_greedy_remainder() -> None:
    match = select_route(ROUTES, "GET", "/files/a/b/c.txt")

    assert match is not None
    assert match.path_parameters == {"proxy": "a/b/c.txt"}


def test_select_route_variable_does_not_match_an_empty_segment() -> None:
    assert select_route([Route("GET", "/tasks/{id}", "Task")], "GET", "/tasks/") is None


# -- routes from the template ----------------------------------------------------------------------
def function(logical_id: str, events: dict) -> FunctionSpec:
    return FunctionSpec(
        logical_id=logical_id,
        function_name=logical_id,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}",
        code_uri=Path("/nowhere"),
        handler="app.handler",
        timeout=3,
        memory=128,
        environment={},
        events=events,
        layers=[],
        layer_paths=[],
    )


def http_event(**properties: object) -> dict:
    return {"Type": "HttpApi", "Properties": {"ApiId": "abc123", **properties}}


def test_routes_for_api_applies_default_authorizer_and_none() -> None:
    api = HttpApiSpec("HttpApi", "abc123", {"Auth": {"DefaultAuthorizer": "Tenant"}})
    functions = [
        function(
            "Fn",
            {
                "Get": http_event(Path="/items/{id}", Method="get"),
                "Open": http_event(Path="/health", Method="GET", Auth={"Authorizer": "NONE"}),
                "Fallback": http_event(Auth={"Authorizer": "NONE"}),
                "Poll": {"Type": "SQS", "Properties": {"Queue": "arn:queue"}},
            },
        )
    ]

    routes = {route.route_key: route for route in routes_for_api(functions, api)}

    assert set(routes) == {"GET /items/{id}", "GET /health", "$default"}
    assert routes["GET /items/{id}"].authorizer == "Tenant"
    assert routes["GET /health"].authorizer is None
    assert routes["$default"].authorizer is None


def test_routes_for_api_skips_events_of_another_api() -> None:
    api = HttpApiSpec("HttpApi", "abc123", {})
    functions = [function("Fn", {"Other": {"Type": "HttpApi", "Properties": {"ApiId": "zzz", "Path": "/x"}}})]

    assert routes_for_api(functions, api) == []


def test_routes_for_api_rejects_a_route_defined_twice() -> None:
    api = HttpApiSpec("HttpApi", "abc123", {})
    functions = [
        function("A", {"One": http_event(Path="/x", Method="GET")}),
        function("B", {"Two": http_event(Path="/x", Method="GET")}),
    ]

    with pytest.raises(ValueError, match="GET /x"):
        routes_for_api(functions, api)


# -- the route's event ------------------------------------------------------------------------------
def request(**changes: object) -> HttpRequest:
    values: dict = {
        "method": "POST",
        "target": "/tasks/42?b=2&a=1&a=3",
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("User-Agent", "curl/8"),
            ("Content-Type", "application/json"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "s=1; theme=dark"),
        ],
        "body": b'{"hello": "world"}',
        "source_ip": "10.0.0.7",
    }
    values.update(changes)
    return HttpRequest(**values)


MATCH = RouteMatch(Route("POST", "/tasks/{id}", "Fn"), {"id": "42"})


def test_build_event_has_the_payload_2_0_shape() -> None:
    event = build_event(request(), MATCH, API, request_id="req-1", now=NOW)

    assert event == {
        "version": "2.0",
        "routeKey": "POST /tasks/{id}",
        "rawPath": "/tasks/42",
        "rawQueryString": "b=2&a=1&a=3",
        "cookies": ["s=1", "theme=dark"],
        "headers": {
            "host": "127.0.0.1:3000",
            "user-agent": "curl/8",
            "content-type": "application/json",
            "x-multi": "one,two",
        },
        "queryStringParameters": {"b": "2", "a": "1,3"},
        "requestContext": {
            "accountId": "111122223333",
            "apiId": "abc123",
            "domainName": "127.0.0.1:3000",
            "domainPrefix": "127",
            "http": {
                "method": "POST",
                "path": "/tasks/42",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "POST /tasks/{id}",
            "stage": "$default",
            "time": "12/Mar/2024:19:03:58 +0000",
            "timeEpoch": 1710270238123,
        },
        "pathParameters": {"id": "42"},
        "body": '{"hello": "world"}',
        "isBase64Encoded": False,
    }


def test_build_event_leaves_out_empty_query_path_parameters_cookies_and_body() -> None:
    bare = request(method="GET", target="/webhooks", headers=[("Host", "h")], body=b"")
    match = RouteMatch(Route("GET", "/webhooks", "Fn"), {})

    event = build_event(bare, match, API, now=NOW)

    assert {"queryStringParameters", "pathParameters", "cookies", "body"}.isdisjoint(event)
    assert event["isBase64Encoded"] is False
    assert event["rawQueryString"] == ""


def test_build_event_default_route_key() -> None:
    event = build_event(request(), RouteMatch(Route("ANY", None, "Fn"), {}), API, now=NOW)

    assert event["routeKey"] == "$default"
    assert event["requestContext"]["routeKey"] == "$default"


def test_build_event_puts_authorizer_context_under_lambda() -> None:
    event = build_event(request(), MATCH, API, authorizer_context={"tenant_id": "t1"}, now=NOW)

    assert event["requestContext"]["authorizer"] == {"lambda": {"tenant_id": "t1"}}


def test_build_event_base64_encodes_a_binary_content_type() -> None:
    binary = request(headers=[("Content-Type", "application/octet-stream")], body=b"abc")

    event = build_event(binary, MATCH, API, now=NOW)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"abc"


def test_build_event_base64_encodes_a_body_that_is_not_utf8() -> None:
    event = build_event(
        request(headers=[("Content-Type", "text/plain")], body=b"\xff\xfe"), MATCH, API, now=NOW
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_build_event_decodes_the_path_and_its_parameters() -> None:
    encoded = request(target="/tasks/a%20b")
    match = select_route([Route("POST", "/tasks/{id}", "Fn")], "POST", encoded.raw_path)
    assert match is not None

    event = build_event(encoded, match, API, now=NOW)

    assert event["rawPath"] == "/tasks/a b"
    assert event["pathParameters"] == {"id": "a b"}


# -- authorizers -------------------------------------------------------------------------------------
AUTHORIZER = LambdaAuthorizer("Tenant", "AuthFn", simple_responses=True)


def test_build_authorizer_event_is_a_v2_request_event() -> None:
    event = build_authorizer_event(request(), MATCH, API, AUTHORIZER, request_id="req-1", now=NOW)

    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["routeArn"] == "arn:aws:execute-api:us-east-1:111122223333:abc123/$default/POST/tasks/42"
    assert event["routeKey"] == "POST /tasks/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3"}
    assert event["requestContext"]["requestId"] == "req-1"
    assert "body" not in event


def test_build_authorizer_event_lists_identity_source_values() -> None:
    authorizer = LambdaAuthorizer("Tenant", "AuthFn", identity_sources=("$request.header.Authorization",))

    event = build_authorizer_event(
        request(headers=[("Authorization", "Bearer t")]), MATCH, API, authorizer, now=NOW
    )

    assert event["identitySource"] == ["Bearer t"]


def test_authorizer_decision_simple_response_allows_with_context() -> None:
    allowed, context = authorizer_decision(
        {"isAuthorized": True, "context": {"tenant_id": "t1"}}, AUTHORIZER, "arn"
    )

    assert allowed is True
    assert context == {"tenant_id": "t1"}


def test_authorizer_decision_simple_response_denies() -> None:
    assert authorizer_decision({"isAuthorized": False}, AUTHORIZER, "arn") == (False, {})


def test_authorizer_decision_reads_an_iam_policy() -> None:
    policy_authorizer = LambdaAuthorizer("Tenant", "AuthFn", simple_responses=False)
    arn = "arn:aws:execute-api:us-east-1:1:abc/$default/GET/tasks/1"
    answer = {
        "principalId": "t1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}
            ],
        },
        "context": {"tenant_id": "t1"},
    }

    assert authorizer_decision(answer, policy_authorizer, arn) == (True, {"tenant_id": "t1"})


def test_authorizer_decision_rejects_a_malformed_answer() -> None:
    with pytest.raises(InvalidResponseError):
        authorizer_decision({"isAuthorized": "yes"}, AUTHORIZER, "arn")


# -- responses ---------------------------------------------------------------------------------------
def test_map_result_uses_status_headers_cookies_and_body() -> None:
    response = map_result(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-One": "1"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": '{"id": "x"}',
        }
    )

    assert response.status == 201
    assert response.headers == [
        ("Content-Type", "application/json"),
        ("X-One", "1"),
        ("X-Many", "a"),
        ("X-Many", "b"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2"),
    ]
    assert response.body == b'{"id": "x"}'


def test_map_result_passes_the_consoles_headers_through() -> None:
    # The console's security headers reach the browser as the function set them.
    answer = Assets(ROOT / "functions" / "console" / "static").answer("GET", "/console/console.js")

    response = map_result(answer)

    assert response.status == 200
    assert response.header("content-security-policy") == CONTENT_SECURITY_POLICY
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("content-type") == "text/javascript; charset=utf-8"
    assert response.body.decode() == answer["body"]


def test_map_result_decodes_a_base64_body() -> None:
    response = map_result(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )

    assert response.body == b"\x00\x01"


def test_map_result_without_status_code_is_a_200_json_answer() -> None:
    response = map_result({"hello": "world"})

    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == {"hello": "world"}


def test_map_result_of_a_string_is_its_json() -> None:
    assert map_result("ok").body == b'"ok"'


def test_map_result_rejects_a_body_that_is_not_a_string() -> None:
    with pytest.raises(InvalidResponseError):
        map_result({"statusCode": 200, "body": {"not": "serialised"}})


def test_map_result_rejects_a_status_code_that_is_not_a_number() -> None:
    with pytest.raises(InvalidResponseError):
        map_result({"statusCode": "ok"})
