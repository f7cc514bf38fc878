"""The official `dataforseo-client` against `make run`'s stack (a `python -m devstack` subprocess)
over real HTTP, with a receiver that checks each callback the way a DataForSEO integrator's
server would: the pingback's query, the postback's gzip body, and both Standard Webhooks
signatures (SPEC §5.1, §6). Nothing here calls a handler directly.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from dataforseo_client import ApiClient, Configuration
from dataforseo_client.api.appendix_api import AppendixApi
from dataforseo_client.exceptions import UnauthorizedException
from dataforseo_client.models.appendix_webhook_resend_request_info import AppendixWebhookResendRequestInfo
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

pytestmark = pytest.mark.e2e

RESULT = [{"keyword": "marcus rashford", "items": [{"rank_absolute": 1, "title": "Rashford – ë€ 東京"}]}]
TAG = "run 7 & naïve ✓"


# ---------------------------------------------------------------------------------------------
# A receiver that checks what it gets
# ---------------------------------------------------------------------------------------------
@dataclass
class Expected:
    """What a callback path must get: the task, its tag, the tenant's callback secret."""

    task_id: str
    tag: str
    secret: str
    postback_data: str | None = None


@dataclass
class Checked:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    problems: list[str] = field(default_factory=list)
    document: Any = None  # the postback's JSON, decompressed
    signature: str = "unchecked"  # "raw", "decompressed" or why it failed


def _signature(secret: str, headers: dict[str, str], bodies: list[tuple[str, bytes]]) -> str:
    """Which form of the body the official verifier accepts; why none does, otherwise."""
    reasons = []
    for form, body in bodies:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return form
        except (WebhookVerificationError, UnicodeDecodeError) as error:
            reasons.append(f"{form}: {type(error).__name__}: {error}")
    return "; ".join(reasons)


def check(expected: Expected, request: Checked) -> None:
    """A DataForSEO integrator's checks, recorded on the request."""
    params = parse_qs(request.query, keep_blank_values=True)
    if params != {"id": [expected.task_id], "tag": [expected.tag]}:
        request.problems.append(f"query {request.query!r} does not carry the task id and tag")
    if request.method == "GET":
        if request.body:
            request.problems.append("a pingback has a body")
        request.signature = _signature(expected.secret, request.headers, [("raw", b"")])
        return
    if request.headers.get("content-encoding") != "gzip":
        request.problems.append(f"content-encoding is {request.headers.get('content-encoding')!r}")
    try:
        plain = gzip.decompress(request.body)
        request.document = json.loads(plain)
    except (OSError, ValueError) as error:
        request.problems.append(f"the body is not gzip-compressed JSON: {error}")
        request.signature = _signature(expected.secret, request.headers, [("raw", request.body)])
        return
    task = (request.document.get("tasks") or [{}])[0]
    if task.get("id") != expected.task_id:
        request.problems.append(f"tasks[0].id is {task.get('id')!r}")
    if (task.get("data") or {}).get("postback_data") != expected.postback_data:
        request.problems.append("tasks[0].data does not carry postback_data")
    if task.get("result") != RESULT:
        request.problems.append("tasks[0].result is not the stored result")
    request.signature = _signature(
        expected.secret, request.headers, [("raw", request.body), ("decompressed", plain)]
    )


class CheckingReceiver:
    """Answers 200 to every callback and records each with the problems the checks found."""

    def __init__(self) -> None:
        self.requests: list[Checked] = []
        self.expected: dict[str, Expected] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Checked(self.command, path, query, headers, body)
                expected = receiver.expected.get(path)
                if expected is None:
                    request.problems.append("unexpected path")
                else:
                    check(expected, request)
                with receiver._lock:
                    receiver.requests.append(request)
                payload = b"ok"
                self.send_response(200)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def expect(self, name: str, expected: Expected) -> str:
        """A fresh path that checks its callbacks against `expected`."""
        path = f"/{uuid.uuid4().hex}/{name}"
        self.expected[path] = expected
        return path

    def to(self, path: str) -> list[Checked]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> CheckingReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def checking_receiver() -> Iterator[CheckingReceiver]:
    server = CheckingReceiver().start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# The official client and the tasks
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def official(stack: Any) -> Iterator[Callable[..., AppendixApi]]:
    """`official(login, password)`: the DataForSEO client's AppendixApi against the stack."""
    clients: list[ApiClient] = []

    def make(login: str | None = None, password: str | None = None) -> AppendixApi:
        client = ApiClient(Configuration(host=stack.url, username=login, password=password))
        clients.append(client)
        return AppendixApi(client)

    yield make
    for client in clients:
        client.rest_client.pool_manager.clear()


def _appendix(official: Callable[..., AppendixApi], tenant: Any) -> AppendixApi:
    return official(tenant.credentials["login"], tenant.credentials["password"])


def _ids(*task_ids: str) -> list[AppendixWebhookResendRequestInfo]:
    return [AppendixWebhookResendRequestInfo(id=task_id) for task_id in task_ids]


def put_task(tenant: Any, task_id: str, result: Any = RESULT, **data: Any) -> None:
    body = {"data": {"api": "serp", "function": "task_post", "se": "google", "keyword": "rashford", **data}}
    answer = tenant.client.put(f"/tasks/{task_id}", json={**body, "result": result})
    assert answer.status_code == 201, answer.text


@dataclass
class Resent:
    task_id: str
    resend_id: str
    job: dict[str, Any]
    ping: list[Checked]
    post: list[Checked]


@pytest.fixture
def resend_both(
    tenant: Any,
    checking_receiver: CheckingReceiver,
    official: Callable[..., AppendixApi],
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> Callable[[], Resent]:
    """A task with a pingback and a postback, resent with the official client, the job awaited."""

    def run() -> Resent:
        task_id = str(uuid.uuid4())
        secret = tenant.credentials["callback_secret"]
        expected = Expected(task_id, TAG, secret, postback_data="advanced")
        ping = checking_receiver.expect("ping", expected)
        post = checking_receiver.expect("post", expected)
        put_task(
            tenant,
            task_id,
            pingback_url=f"{checking_receiver.url}{ping}?id=$id&tag=$tag",
            postback_url=f"{checking_receiver.url}{post}?id=$id&tag=$tag",
            postback_data="advanced",
            tag=TAG,
        )
        answer = _appendix(official, tenant).webhook_resend(_ids(task_id))
        assert answer.status_code == 20000
        assert answer.tasks is not None
        assert answer.tasks[0] is not None
        assert answer.tasks[0].status_code == 20100
        resend_id = answer.additional_properties["resend_id"]
        job, _ = wait_for_resend(tenant.client, resend_id)
        return Resent(task_id, resend_id, job, checking_receiver.to(ping), checking_receiver.to(post))

    return run


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
def test_official_client_resend_completes_with_both_callbacks_delivered(
    resend_both: Callable[[], Resent],
) -> None:
    resent = resend_both()

    assert resent.job["source"] == "dataforseo"
    assert (resent.job["status"], resent.job["total_queued"]) == ("completed", 1)
    assert (resent.job["delivered"], resent.job["failed"], resent.job["pending"]) == (1, 0, 0)
    assert len(resent.ping) == 1
    assert len(resent.post) == 1


def test_official_client_pingback_is_a_get_with_the_task_id_and_tag_in_the_query(
    resend_both: Callable[[], Resent],
) -> None:
    resent = resend_both()

    [ping] = resent.ping
    assert ping.method == "GET"
    assert ping.problems == []
    assert ping.headers["x-webhook-resend-id"] == resent.resend_id


def test_official_client_pingback_signature_verifies(resend_both: Callable[[], Resent]) -> None:
    resent = resend_both()

    [ping] = resent.ping
    assert ping.signature == "raw"


def test_official_client_postback_is_a_gzip_post_of_the_result(resend_both: Callable[[], Resent]) -> None:
    resent = resend_both()

    [post] = resent.post
    assert post.method == "POST"
    assert post.problems == []
    assert post.document["tasks"][0]["id"] == resent.task_id
    assert post.document["tasks"][0]["result"] == RESULT


def test_official_client_postback_signature_verifies(resend_both: Callable[[], Resent]) -> None:
    # SPEC §6: the standardwebhooks verifier must accept every delivery; a receiver may hand it
    # the raw gzip bytes or (when its server undoes Content-Encoding) the JSON.
    resent = resend_both()

    [post] = resent.post
    assert post.signature in ("raw", "decompressed"), post.signature


def test_official_client_answers_every_per_task_code(
    tenant: Any, create_tenant: Callable[[str], Any], official: Callable[..., AppendixApi]
) -> None:
    created, bare, theirs, unknown = (str(uuid.uuid4()) for _ in range(4))
    put_task(tenant, created, pingback_url="http://127.0.0.1:9/never?id=$id")
    put_task(tenant, bare)
    put_task(create_tenant("globex"), theirs, pingback_url="http://127.0.0.1:9/never")

    answer = _appendix(official, tenant).webhook_resend(_ids(created, bare, theirs, unknown, "nope"))

    assert (answer.status_code, answer.status_message, answer.cost) == (20000, "Ok.", 0)
    assert (answer.tasks_count, answer.tasks_error) == (5, 4)
    assert answer.tasks is not None
    assert [(t.id, t.status_code) for t in answer.tasks if t] == [
        (created, 20100),
        (bare, 40503),
        (theirs, 40400),
        (unknown, 40400),
        ("nope", 40501),
    ]
    assert all(t.path == ["v3", "appendix", "webhook_resend"] and t.result is None for t in answer.tasks if t)


def test_official_client_parses_the_101_tasks_error(
    tenant: Any, official: Callable[..., AppendixApi]
) -> None:
    answer = _appendix(official, tenant).webhook_resend(_ids(*(str(uuid.uuid4()) for _ in range(101))))

    assert answer.status_code == 40006
    assert (answer.tasks_count, answer.tasks or []) == (0, [])


def test_official_client_with_wrong_credentials_raises_unauthorized_with_the_envelope(
    tenant: Any, official: Callable[..., AppendixApi]
) -> None:
    appendix = official(tenant.credentials["login"], "not-the-password")

    with pytest.raises(UnauthorizedException) as raised:
        appendix.webhook_resend(_ids(str(uuid.uuid4())))

    assert raised.value.status == 401
    envelope = json.loads(raised.value.body)
    assert envelope["status_code"] == 40100
    assert envelope["tasks"] == []
