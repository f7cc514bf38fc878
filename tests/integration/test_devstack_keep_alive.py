"""devstack.aws: the local stack's moto server keeps a connection open between requests
(werkzeug's development server closes every one), and falls back to werkzeug's own path, which
closes, for whatever it cannot frame (chunked bodies, `Connection: close`, HTTP/1.0)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wsgi import get_input_stream

from devstack.aws import MotoServer, ReleasedMotoServer, _KeepAliveRequestHandler

SQS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], http.client.HTTPConnection]]:
    """Serves a WSGI app with the keep-alive handler; answers a connection to it."""
    servers: list[Any] = []

    def start(app: Any) -> http.client.HTTPConnection:
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_KeepAliveRequestHandler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = get_input_stream(environ).read()  # as werkzeug's Request reads it (moto's too)
    start_response("200 OK", [("Content-Type", "text/plain")])  # no Content-Length: the handler adds it
    return [b"got ", body]


def test_keep_alive_answers_requests_one_after_another_on_one_connection(serve: Any) -> None:
    connection = serve(echo)
    ports = []
    for body in (b"one", b"two", b""):
        connection.request("POST", "/", body=body)
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b"got " + body)
        assert answer.getheader("Content-Length") == str(4 + len(body))
        assert not answer.will_close
        ports.append(connection.sock.getsockname()[1])
    assert len(set(ports)) == 1, ports


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Connection": "close"}, "the client asks to close"),
        ({"Transfer-Encoding": "chunked"}, "a chunked body has no length to read up front"),
    ],
)
def test_keep_alive_leaves_to_werkzeug_what_it_cannot_frame_and_closes(
    serve: Any, headers: dict[str, str], why: str
) -> None:
    connection = serve(echo)
    chunked = "Transfer-Encoding" in headers
    connection.request(
        "POST", "/", body=iter([b"abc"]) if chunked else b"abc", headers=headers, encode_chunked=chunked
    )
    answer = connection.getresponse()
    assert (answer.status, answer.read()) == (200, b"got abc"), why
    assert answer.will_close, why


def test_keep_alive_answers_an_application_error_with_a_500_and_keeps_serving(serve: Any) -> None:
    calls = []

    def fails_once(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return echo(environ, start_response)

    connection = serve(fails_once)
    connection.request("POST", "/", body=b"x")
    answer = connection.getresponse()
    assert answer.status == 500
    assert b"boom" not in answer.read()
    connection.request("POST", "/", body=b"y")
    answer = connection.getresponse()
    assert (answer.status, answer.read()) == (200, b"got y")


@pytest.mark.parametrize("kind", [MotoServer, ReleasedMotoServer])
def test_moto_server_answers_sqs_calls_on_one_connection(kind: type[Any]) -> None:
    # The local stack's moto and the benchmarks' moto as released alike
    server = kind(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        connection = http.client.HTTPConnection(*server.get_host_and_port(), timeout=10)
        headers = {
            "Authorization": SQS_AUTH,
            "Content-Type": "application/x-amz-json-1.0",
        }
        answers = []
        for target, body in (
            ("CreateQueue", {"QueueName": f"keep-alive-{kind.__name__}"}),
            ("GetQueueUrl", {"QueueName": f"keep-alive-{kind.__name__}"}),
        ):
            connection.request(
                "POST", "/", body=json.dumps(body), headers={**headers, "X-Amz-Target": f"AmazonSQS.{target}"}
            )
            answer = connection.getresponse()
            assert answer.status == 200
            assert not answer.will_close
            answers.append(json.loads(answer.read()))
        assert answers[0]["QueueUrl"] == answers[1]["QueueUrl"]
        assert answers[0]["QueueUrl"].endswith(f"/keep-alive-{kind.__name__}")
    finally:
        server.stop()
