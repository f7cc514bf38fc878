"""Secrets and credentials never appear in logs (SPEC §9), nor in answers other than the one-time
creation answer.

One full run goes through every function with real secrets: tenant creation, webhooks with a
chosen and a generated secret, tasks with callbacks, bulk, DataForSEO and native resends (one of
them with SQS failing), wrong credentials, deliveries to a receiver that fails in several ways,
and status reads. Everything logged on the way is captured three ways: the formatted output of
every logging handler's stream (Powertools' logger writes JSON to stdout through one), pytest's
`caplog` records with their extra fields, and `capsys`. The service logger runs at DEBUG, as the
template's `LogLevel: DEBUG` would make it.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_TOKEN, Api, LocalAws, Receiver, Reply, closed_port_url
from webhook_resend.aws import clients
from webhook_resend.catalog.credentials import TOKEN_PREFIX
from webhook_resend.observability import logger as service_logger

EVENT = "content_item.changed"
BULK = "/content_items/bulk/webhooks"
DATAFORSEO = "/v3/appendix/webhook_resend"


@pytest.fixture
def local_env() -> dict[str, str]:
    return {
        "ALLOW_PRIVATE_URLS": "true",
        "RETRY_SCHEDULE": "0,0",
        "DELIVERY_TIMEOUT_SECONDS": "1",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }


class Tee(io.TextIOBase):
    """A stream that keeps a copy of everything written to it."""

    def __init__(self, inner: Any, sink: list[str]) -> None:
        self._inner = inner
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return int(self._inner.write(text))

    def flush(self) -> None:
        self._inner.flush()


@dataclass
class Capture:
    streams: list[str] = field(default_factory=list)
    reader: Callable[[], str] = lambda: ""

    def text(self) -> str:
        return "".join(self.streams) + self.reader()


@pytest.fixture
def capture(
    stack: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Capture]:
    # Every function's entry module imported now, so every logger and handler exists before the
    # streams are tapped.
    for invoker in stack.invokers.values():
        invoker.load()
    service = logging.getLogger(service_logger.name)
    level = service.level
    service.setLevel(logging.DEBUG)
    caplog.set_level(logging.INFO)
    found = Capture()
    loggers = [logging.getLogger()] + [
        item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)
    ]
    for item in loggers:
        for handler in item.handlers:
            # pytest's own handlers (caplog's included) are read through caplog below.
            if type(handler).__module__.startswith("_pytest"):
                continue
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                monkeypatch.setattr(handler, "stream", Tee(handler.stream, found.streams))

    def reader() -> str:
        out, err = capsys.readouterr()
        records = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
        return "\n".join([out, err, caplog.text, records])

    found.reader = reader
    try:
        yield found
    finally:
        service.setLevel(level)


@dataclass
class Run:
    secrets: dict[str, str]
    answers: list[tuple[str, Reply]]  # every answer but the one-time creation answers
    log: str


def _secret_parts(name: str, value: str) -> dict[str, str]:
    """The secret and the part of it that is its random payload."""
    parts = {name: value}
    if value.startswith("whsec_"):
        parts[f"{name} payload"] = value.removeprefix("whsec_")
    return parts


@pytest.fixture
def full_run(api: Api, receiver: Receiver, deliveries: Callable[..., int], capture: Capture) -> Run:
    answers: list[tuple[str, Reply]] = []

    def call(method: str, target: str, *, created: bool = False, **kwargs: Any) -> Reply:
        reply = api.request(method, target, **kwargs)
        if not created:
            answers.append((f"{method} {target}", reply))
        return reply

    receiver.hold_seconds = 1.5
    # Tenant creation (one-time answer)
    created = call("POST", "/admin/tenants", created=True, json_body={"name": "secretive"}, token=ADMIN_TOKEN)
    assert created.status == 201, created.body
    tenant = created.json
    token, login, password = tenant["token"], tenant["login"], tenant["password"]
    basic = (login, password)

    # Webhooks: one with a chosen secret, one with a generated one
    chosen = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    scripts = {"/a": [500, 200], "/b": [400], "/c": [410], "/d": ["reset", 200]}
    for path, script in scripts.items():
        receiver.script(path, script)
    hooks = []
    for n, urls in enumerate(
        [
            [f"{receiver.url}/a", f"{receiver.url}/d"],
            [f"{receiver.url}/b", closed_port_url("/down")],
            [f"{receiver.url}/c"],
        ]
    ):
        body: dict[str, Any] = {"urls": urls, "events": [EVENT]}
        if n == 0:
            body["secret"] = chosen
        reply = call("POST", "/webhooks", created=True, json_body=body, token=token)
        assert reply.status == 201, reply.body
        hooks.append(reply.json)
    generated = [hook["secret"] for hook in hooks[1:]]
    assert hooks[0]["secret"] == chosen

    # Content items and tasks with callbacks
    item_ids = []
    for n in range(3):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:0{n}Z", "payload": {"n": n}}
        assert call("PUT", f"/content_items/{item_id}", json_body=body, token=token).status == 201
        item_ids.append(item_id)
    receiver.script("/ping-fail", [500])
    task_ids = ["11111111-1111-4111-8111-111111111111", "11111111-1111-4111-8111-111111111112"]
    tasks = [
        {
            "api": "serp",
            "tag": "t1",
            "pingback_url": f"{receiver.url}/ping?id=$id&tag=$tag",
            "postback_url": f"{receiver.url}/post?id=$id",
            "postback_data": "advanced",
        },
        {"api": "serp", "pingback_url": f"{receiver.url}/ping-fail?id=$id"},
    ]
    for task_id, data in zip(task_ids, tasks, strict=True):
        reply = call("PUT", f"/tasks/{task_id}", json_body={"data": data, "result": {"ok": 1}}, token=token)
        assert reply.status in (200, 201), reply.body

    # Wrong credentials of every kind
    wrong = {
        "wrong token": f"{TOKEN_PREFIX}{login}_{secrets.token_urlsafe(32)}",
        "wrong password": secrets.token_urlsafe(24),
        "wrong admin token": secrets.token_urlsafe(32),
    }
    assert call("GET", "/webhooks", token=wrong["wrong token"]).status == 401
    assert (
        call(
            "POST", DATAFORSEO, json_body=[{"id": task_ids[0]}], basic=(login, wrong["wrong password"])
        ).status
        == 401
    )
    assert (
        call("POST", "/admin/tenants", json_body={"name": "x"}, token=wrong["wrong admin token"]).status
        == 401
    )

    # Resends: bulk (body, query string, idempotent POST), DataForSEO, native
    selected = [{"in": [h["id"] for h in hooks]}]
    bulk = call("GET", BULK, json_body={"event": EVENT, "webhook_id": selected}, token=token)
    assert bulk.status == 200, bulk.body
    query = f"{BULK}?event={EVENT}&limit=1&webhook_id[0][eq]={hooks[0]['id']}"
    assert call("GET", query, token=token).status == 200
    keyed = call(
        "POST",
        BULK,
        json_body={"event": EVENT, "webhook_id": [{"eq": hooks[2]["id"]}], "limit": 1},
        token=token,
        headers={"Idempotency-Key": "nightly-1"},
    )
    assert keyed.status == 200, keyed.body
    dataforseo = call("POST", DATAFORSEO, json_body=[{"id": t} for t in task_ids], basic=basic)
    assert dataforseo.status == 200, dataforseo.body
    assert call("POST", DATAFORSEO, body="not json", basic=basic).status == 200
    native = call("POST", "/resends", json_body={"event": EVENT, "item_ids": item_ids[:2]}, token=token)
    assert native.status == 202, native.body

    # One bulk resend with SQS failing (warnings logged with their extras)
    sqs = clients.boto_client("sqs")
    real_send = sqs.send_message_batch

    def throttled(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "SendMessageBatch")

    sqs.send_message_batch = throttled
    assert call("GET", BULK, json_body={"event": EVENT, "webhook_id": selected}, token=token).status == 503
    sqs.send_message_batch = real_send

    # Deliveries, failures included, and status reads
    deliveries()
    assert receiver.requests, "nothing was delivered"
    for job_id in (bulk.json["resend_id"], dataforseo.json["resend_id"], native.json["id"]):
        assert call("GET", f"/resends/{job_id}", token=token).status == 200
        assert call("GET", f"/resends/{job_id}/deliveries?limit=100", token=token).status == 200
        assert call("GET", f"/resends/{job_id}/deliveries?status=failed", basic=basic).status == 200
    assert call("GET", "/webhooks", token=token).status == 200
    assert call("GET", f"/webhooks/{hooks[0]['id']}", token=token).status == 200

    found: dict[str, str] = {
        "password": password,
        "token": token,
        "token payload": token.removeprefix(f"{TOKEN_PREFIX}{login}_"),
        "admin token": ADMIN_TOKEN,
        "basic header": base64.b64encode(f"{login}:{password}".encode()).decode(),
        **_secret_parts("webhook secret (chosen)", chosen),
        **_secret_parts("callback secret", tenant["callback_secret"]),
        **wrong,
        "wrong basic header": base64.b64encode(f"{login}:{wrong['wrong password']}".encode()).decode(),
    }
    for n, value in enumerate(generated):
        found.update(_secret_parts(f"webhook secret (generated {n})", value))
    return Run(found, answers, capture.text())


# -- logs ---------------------------------------------------------------------------------------------
def test_secrets_never_appear_in_any_log_line(full_run: Run) -> None:
    # Given a capture that holds the service's own JSON lines, warnings with their extras included,
    # and secrets long enough that finding one is never a coincidence
    assert '"service":"webhook-resend"' in full_run.log.replace(" ", "")
    assert "SendMessageBatch failed" in full_run.log
    assert all(len(value) >= 20 for value in full_run.secrets.values()), full_run.secrets

    # Then none of them is in it
    leaked = sorted(name for name, value in full_run.secrets.items() if value in full_run.log)
    assert leaked == [], f"in the logs: {leaked}"


# -- answers ------------------------------------------------------------------------------------------
def test_secrets_never_appear_in_answers_after_creation(full_run: Run) -> None:
    leaked = sorted(
        (request, name)
        for request, reply in full_run.answers
        for name, value in full_run.secrets.items()
        if value in reply.body.decode("utf-8", "replace") or any(value in v for v in reply.headers.values())
    )

    assert leaked == []


def test_secrets_invalid_webhook_secret_is_not_echoed_in_the_422(
    api: Api, tenant: dict[str, Any], receiver: Receiver, capture: Capture
) -> None:
    # Given a secret that is too short (8 random bytes)
    short = "whsec_" + base64.b64encode(secrets.token_bytes(8)).decode()

    reply = api.request(
        "POST",
        "/webhooks",
        json_body={"urls": [f"{receiver.url}/x"], "events": [EVENT], "secret": short},
        token=tenant["token"],
    )

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["secret"]
    assert short.removeprefix("whsec_") not in reply.body.decode()
    assert short.removeprefix("whsec_") not in capture.text()
