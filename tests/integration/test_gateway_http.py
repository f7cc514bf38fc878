"""devstack.gateway over real HTTP: a throwaway template with a fake authorizer and a fake route
function, served on a free port and called with urllib."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.cfn import load_template
from devstack.gateway import MAX_BODY_BYTES, Gateway
from devstack.lambdas import Invokers
from devstack.resources import create_resources

TEMPLATE = """
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Fake
        Authorizers:
          Fake:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: auth/
      Handler: fake_authorizer.handler
  RouteFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: routes/
      Handler: fake_routes.handler
      Timeout: 7
      Events:
        Item:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: "/items/{id}", Method: GET }
        Echo:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /echo, Method: POST, Auth: { Authorizer: NONE } }
        Public:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /public, Method: GET, Auth: { Authorizer: NONE } }
        Boom:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /boom, Method: GET, Auth: { Authorizer: NONE } }
"""

FAKE_AUTHORIZER = """
def handler(event, context):
    if event["headers"].get("authorization") == "Bearer good":
        return {"isAuthorized": True, "context": {"tenant_id": "t1"}}
    return {"isAuthorized": False}
"""

FAKE_ROUTES = """
import json


def handler(event, context):
    if event["rawPath"] == "/boom":
        raise RuntimeError("boom")
    if event["rawPath"] == "/echo":
        return {
            "statusCode": 200,
            "headers": {"content-type": event["headers"].get("content-type", "application/octet-stream")},
            "body": event.get("body", ""),
            "isBase64Encoded": event["isBase64Encoded"],
        }
    seen = {
        "routeKey": event["routeKey"],
        "pathParameters": event.get("pathParameters"),
        "authorizer": event["requestContext"].get("authorizer"),
        "function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(seen)}
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers.items()), error.read())


@pytest.fixture
def gateway_url(aws: None, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for folder, module, source in (
        ("auth", "fake_authorizer", FAKE_AUTHORIZER),
        ("routes", "fake_routes", FAKE_ROUTES),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{module}.py").write_text(textwrap.dedent(source))
    stack = create_resources(load_template(tmp_path / "template.yaml"), stack_name="gateway-test")
    invokers = Invokers.from_stack(stack)
    gateway = Gateway.from_stack(stack, invokers.invoke, port=0).start()
    try:
        yield gateway.url
    finally:
        gateway.stop()
        invokers.close()


def test_gateway_passes_the_authorizer_context_to_the_route(gateway_url: str) -> None:
    answer = call(f"{gateway_url}/items/42", headers={"Authorization": "Bearer good"})

    assert answer.status == 200
    assert answer.json() == {
        "routeKey": "GET /items/{id}",
        "pathParameters": {"id": "42"},
        "authorizer": {"lambda": {"tenant_id": "t1"}},
        "function": "RouteFunction",
        "remaining_ms": pytest.approx(7000, abs=2000),
    }


def test_gateway_denied_request_is_403(gateway_url: str) -> None:
    answer = call(f"{gateway_url}/items/42", headers={"Authorization": "Bearer bad"})

    assert answer.status == 403
    assert answer.json() == {"message": "Forbidden"}


def test_gateway_route_with_authorizer_none_skips_the_authorizer(gateway_url: str) -> None:
    # Given no credentials at all, which the fake authorizer would deny
    answer = call(f"{gateway_url}/public")

    assert answer.status == 200
    assert answer.json()["authorizer"] is None


def test_gateway_unknown_route_is_404(gateway_url: str) -> None:
    answer = call(f"{gateway_url}/nowhere", headers={"Authorization": "Bearer good"})

    assert answer.status == 404
    assert answer.json() == {"message": "Not Found"}


def test_gateway_wrong_method_without_default_route_is_404(gateway_url: str) -> None:
    answer = call(f"{gateway_url}/public", method="DELETE")

    assert answer.status == 404


def test_gateway_round_trips_a_binary_body(gateway_url: str) -> None:
    payload = bytes(range(256)) * 4

    answer = call(
        f"{gateway_url}/echo",
        method="POST",
        body=payload,
        headers={"Content-Type": "application/octet-stream"},
    )

    assert answer.status == 200
    assert answer.body == payload


def test_gateway_round_trips_a_json_body(gateway_url: str) -> None:
    payload = json.dumps({"name": "démo", "n": [1, 2]}).encode()

    answer = call(
        f"{gateway_url}/echo", method="POST", body=payload, headers={"Content-Type": "application/json"}
    )

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.body == payload


def test_gateway_rejects_a_body_over_10_mb_with_413(gateway_url: str) -> None:
    answer = call(
        f"{gateway_url}/echo",
        method="POST",
        body=b"x" * (MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
    )

    assert answer.status == 413
    assert answer.json() == {"message": "Request Entity Too Large"}


def test_gateway_handler_exception_is_500(gateway_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    answer = call(f"{gateway_url}/boom")

    assert answer.status == 500
    assert answer.json() == {"message": "Internal Server Error"}
    assert "RuntimeError: boom" in capfd.readouterr().err
