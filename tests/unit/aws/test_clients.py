"""The functions' boto3 clients wait a bounded time for a connection and an answer (SPEC §15: no
AWS error fails a whole batch; a batch never outlives its Lambda)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from webhook_resend.aws import clients


@pytest.mark.parametrize("service", ["dynamodb", "sqs", "scheduler", "secretsmanager"])
@pytest.mark.parametrize("validate", [True, False])
def test_clients_bound_their_waits_and_retry_in_standard_mode(
    service: str, validate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset()
    try:
        config = clients.boto_client(service, validate=validate).meta.config
    finally:
        clients.reset()

    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    assert config.retries == {"mode": "standard", "total_max_attempts": 6}  # the first and 5 retries


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that takes connections and the requests on them, and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def test_a_call_to_an_endpoint_that_never_answers_gives_up_after_the_read_timeout(
    silent_endpoint: str,
) -> None:
    # One attempt of the functions' configuration (botocore's own default would wait 60 s).
    config = clients.client_config().merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
    client = boto3.client(
        "dynamodb",
        endpoint_url=silent_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.describe_limits()
    waited = time.monotonic() - started

    assert clients.READ_TIMEOUT_SECONDS <= waited < clients.READ_TIMEOUT_SECONDS + 3
