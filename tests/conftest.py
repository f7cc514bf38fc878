"""Fixtures every test shares: no test may reach a real AWS account."""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.cfn import Template, load_template
from devstack.gateway import Gateway, HttpRequest
from devstack.lambdas import Invokers
from devstack.resources import Stack, create_resources, overrides_from_env
from tests.receiver import Receiver

_DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and nothing that points boto3 at a real account."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ):
            monkeypatch.delenv(name, raising=False)
    for name, value in _DUMMY_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(aws_credentials: None, boto_session: boto3.Session) -> Iterator[None]:
    """Every AWS call of the test answered in-process by moto.

    moto's mock sets boto3's default session aside (boto3.DEFAULT_SESSION = None) so that the
    test's clients come from a new one, which loads every service model again: 85 ms for
    DynamoDB's, the larger part of each test's setup. Inside the mock the default session is the
    tests' one (its credentials the dummy ones, as every test has them), whose models are loaded
    once per process; the mock puts boto3's own back when it stops."""
    with mock_aws():
        boto3.DEFAULT_SESSION = boto_session
        yield


# ---------------------------------------------------------------------------------------------
# The deployed handlers, in-process on moto, behind the emulated HTTP API (no sockets)
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "admin-token-for-tests"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Requests through the emulated API Gateway (routes and authorizer from template.yaml)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def request(
        self,
        method: str,
        target: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        if basic is not None:
            sent["authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        raw = b""
        if json_body is not None:
            raw = json.dumps(json_body).encode()
            sent.setdefault("content-type", "application/json")
        elif body is not None:
            raw = body.encode() if isinstance(body, str) else body
        answer = self._gateway.handle(HttpRequest(method, target, list(sent.items()), raw))
        return Reply(answer.status, {k.lower(): v for k, v in answer.headers}, answer.body)

    def create_tenant(self, name: str = "acme") -> dict[str, Any]:
        reply = self.request("POST", "/admin/tenants", json_body={"name": name}, token=ADMIN_TOKEN)
        assert reply.status == 201, reply.body
        return reply.json


@dataclass
class LocalAws:
    """What the SQS event source needs of a running stack (duck-types devstack's LocalStack)."""

    stack: Stack
    invokers: Invokers
    aws_endpoint: str | None = None

    def invoke(self, logical_id: str, event: Any) -> Any:
        return self.invokers.invoke(logical_id, event)


@pytest.fixture
def local_env() -> dict[str, str]:
    """Overrides of the stack's environment; a test may change them before using `stack`."""
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "2"}


@functools.cache
def _template() -> Template:
    """template.yaml, parsed once per process (each stack gets a copy of its own)."""
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One boto3 session for every test's stack: its clients are created once (moto's mock
    intercepts them whichever test they serve)."""
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def stack(
    aws: None, monkeypatch: pytest.MonkeyPatch, local_env: dict[str, str], boto_session: boto3.Session
) -> Iterator[LocalAws]:
    """Every resource of template.yaml on moto, the functions' environment set, handlers loaded.

    The handlers' modules stay imported from one test to the next, as in a warm container; the
    settings, the handlers' clients and everything built from them are new for each test
    (`clients.reset`), so a test that patches a client cannot leak into the next.
    """
    from webhook_resend.aws import clients

    template = copy.deepcopy(_template())
    overrides = overrides_from_env(template, local_env)
    built = create_resources(template, session=boto_session, parameter_overrides=overrides)
    for name, value in {**built.environment(), "ADMIN_TOKEN": ADMIN_TOKEN, **local_env}.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    try:
        yield LocalAws(built, Invokers.from_stack(built))
    finally:
        clients.reset()


@pytest.fixture
def api(stack: LocalAws) -> Api:
    return Api(Gateway.from_stack(stack.stack, stack.invoke))


@pytest.fixture
def tenant(api: Api) -> dict[str, Any]:
    """A tenant's one-time credentials: tenant_id, login, password, token, callback_secret."""
    return api.create_tenant("acme")


@pytest.fixture
def other_tenant(api: Api) -> dict[str, Any]:
    return api.create_tenant("globex")


@pytest.fixture
def token(tenant: dict[str, Any]) -> str:
    return str(tenant["token"])


@pytest.fixture
def sqs(stack: LocalAws) -> Any:
    """The test's own SQS client (never one a handler uses, where faults are injected)."""
    return boto3.client("sqs")


@pytest.fixture
def queue(stack: LocalAws) -> str:
    return str(stack.stack.ref("DeliveryQueue"))


@pytest.fixture
def sqs_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """`advance(seconds)`: moves moto's SQS clock forward (visibility timeouts, delays)."""
    import moto.sqs.models as models

    offset = {"seconds": 0.0}
    real_time, real_millis = models.unix_time, models.unix_time_millis
    monkeypatch.setattr(models, "unix_time", lambda *a: real_time(*a) + offset["seconds"])
    monkeypatch.setattr(models, "unix_time_millis", lambda *a: real_millis(*a) + offset["seconds"] * 1000)

    def advance(seconds: float) -> None:
        offset["seconds"] += seconds

    return advance


@pytest.fixture
def deliveries(stack: LocalAws) -> Callable[..., int]:
    """`deliveries()` runs the delivery function over what is queued, the way Lambda's SQS event
    source does (batches, partial failures, visibility), until the queue is empty or `rounds`
    polls found nothing; it answers the number of messages handled."""
    from devstack.sqs import SqsEventSource, mappings_of

    # No batching window: a test pumps what is queued now, and waiting for more only slows it.
    sources = [
        SqsEventSource(stack, dataclasses.replace(mapping, window_seconds=0), wait_seconds=0)
        for mapping in mappings_of(stack.stack)
    ]

    def run(rounds: int = 3, max_polls: int = 200) -> int:
        handled = idle = 0
        for _ in range(max_polls):
            count = sum(source.poll_once() for source in sources)
            handled += count
            idle = 0 if count else idle + 1
            if idle >= rounds:
                break
        return handled

    return run


# ---------------------------------------------------------------------------------------------
# A real webhook receiver on loopback (tests/receiver.py)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url(path: str = "/hook") -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
