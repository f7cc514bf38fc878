"""End-to-end fixtures: `make run`'s stack as a real subprocess, a real receiver, real HTTP.

The stack is started once per test session, and so once per xdist worker, each on a port of
its own, with a short retry schedule and delivery timeout so retries finish within seconds.
Stopping it with SIGINT (what Ctrl-C sends) and getting exit code 0 is part of what is tested.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.counters import assert_counters_add_up
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_SECONDS = 30.0
STOP_DEADLINE_SECONDS = 5.0  # issue 19: Ctrl-C stops make run within 5 s
BANNER_END = "Ctrl-C to stop."
# What the stack is started with: three retries without delay, one-second attempts; a wait over
# a second is parked, and the waker runs every 5 s (not every minute), so parking is seen quickly.
STACK_ENV = {
    "RETRY_SCHEDULE": "0,0,0",
    "DELIVERY_TIMEOUT_SECONDS": "1",
    "PARK_AFTER_SECONDS": "1",
    "LOCAL_SCHEDULE_EVENT_SECONDS": "5",
}
# Longer than DELIVERY_TIMEOUT_SECONDS, so a "timeout" answer is a timeout for the stack.
RECEIVER_HOLD_SECONDS = 3.0
POLL_INTERVAL_SECONDS = 0.2
RESEND_DEADLINE_SECONDS = 60.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"<{path}: {error}>"
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# The stack, as `make run` starts it
# ---------------------------------------------------------------------------------------------
@dataclass
class RunningStack:
    url: str
    port: int
    admin_token: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def logs(self) -> str:
        return (
            f"--- stdout ({self.stdout_path}) ---\n{tail(self.stdout_path)}\n"
            f"--- stderr ({self.stderr_path}) ---\n{tail(self.stderr_path)}"
        )


def _stop_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM (a clean stop) when the test process dies, so
    a killed test run leaves no stack behind. Elsewhere the teardown's SIGINT is all there is."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_ready(stack: RunningStack) -> None:
    """Until the port answers and the banner (printed after the demo tenant) is complete."""
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"python -m devstack exited with {stack.process.returncode}\n{stack.logs()}")
        if _answers(stack.port) and BANNER_END in stack.stdout:
            return
        time.sleep(0.1)
    pytest.fail(
        f"python -m devstack did not serve {stack.url} within {START_DEADLINE_SECONDS}s\n{stack.logs()}"
    )


def _stop(stack: RunningStack) -> None:
    stack.process.send_signal(signal.SIGINT)
    try:
        code = stack.process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()
        pytest.fail(
            f"python -m devstack did not stop within {STOP_DEADLINE_SECONDS}s of SIGINT\n{stack.logs()}"
        )
    assert code == 0, f"python -m devstack exited with {code} on SIGINT\n{stack.logs()}"


@contextlib.contextmanager
def running_stack(logs: Path, overrides: Mapping[str, str] | None = None) -> Iterator[RunningStack]:
    """`make run` (`PORT=... python -m devstack` from the project root) in a subprocess, with
    STACK_ENV and `overrides` (any template parameter by its UPPER_SNAKE_CASE name), logging
    into `logs`; stopped with SIGINT afterwards."""
    port = free_port()
    admin_token = secrets.token_urlsafe(24)
    env = {**os.environ, **STACK_ENV, **(overrides or {}), "PORT": str(port), "ADMIN_TOKEN": admin_token}
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_stop_with_parent,
        )
    running = RunningStack(f"http://127.0.0.1:{port}", port, admin_token, process, stdout_path, stderr_path)
    try:
        _wait_until_ready(running)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    try:
        yield running
    finally:
        _stop(running)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make run`'s stack with STACK_ENV, shared by the session."""
    with running_stack(tmp_path_factory.mktemp("devstack")) as running:
        yield running


# ---------------------------------------------------------------------------------------------
# HTTP clients and tenants
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    """A client of the API without credentials."""
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        yield client


def tenant_client(stack: RunningStack, name: str) -> httpx.Client:
    """A new tenant's client (its bearer token) on `stack`, the tenant created as an operator
    would; the caller closes it."""
    with httpx.Client(base_url=stack.url, timeout=30) as admin:
        answer = admin.post(
            "/admin/tenants", json={"name": name}, headers={"Authorization": f"Bearer {stack.admin_token}"}
        )
        assert answer.status_code == 201, answer.text
        token = answer.json()["token"]
    return httpx.Client(base_url=stack.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


@dataclass
class Tenant:
    """A tenant's one-time credentials and a client that sends its bearer token."""

    credentials: dict[str, Any]
    client: httpx.Client = field(repr=False)

    @property
    def token(self) -> str:
        return self.credentials["token"]


@pytest.fixture(scope="session")
def create_tenant(stack: RunningStack, http: httpx.Client) -> Iterator[Callable[[str], Tenant]]:
    """`create_tenant(name)`: a new tenant, created as an operator would, with `POST /admin/tenants`
    (session-scoped so module fixtures can use it; every call is a tenant of its own)."""
    clients: list[httpx.Client] = []

    def create(name: str = "acme") -> Tenant:
        answer = http.post(
            "/admin/tenants", json={"name": name}, headers={"Authorization": f"Bearer {stack.admin_token}"}
        )
        assert answer.status_code == 201, answer.text
        credentials = answer.json()
        client = httpx.Client(
            base_url=stack.url, timeout=30, headers={"Authorization": f"Bearer {credentials['token']}"}
        )
        clients.append(client)
        return Tenant(credentials, client)

    yield create
    for client in clients:
        client.close()


@pytest.fixture
def tenant(create_tenant: Callable[[str], Tenant]) -> Tenant:
    return create_tenant("acme")


@pytest.fixture(scope="session")
def wait_for_resend() -> Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]]:
    """`wait_for_resend(client, resend_id)`: poll `GET /resends/{id}` until it is completed; the
    last job document and every one seen on the way, each checked to add up."""

    def wait(
        client: httpx.Client,
        resend_id: str,
        *,
        interval: float = POLL_INTERVAL_SECONDS,
        deadline_seconds: float = RESEND_DEADLINE_SECONDS,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + deadline_seconds
        while True:
            answer = client.get(f"/resends/{resend_id}")
            assert answer.status_code == 200, answer.text
            seen.append(answer.json())
            assert_counters_add_up(seen[-1])
            if seen[-1]["status"] == "completed":
                return seen[-1], seen
            if time.monotonic() >= deadline:
                pytest.fail(f"resend {resend_id} not completed within {deadline_seconds}s: {seen[-1]}")
            time.sleep(interval)

    return wait


# ---------------------------------------------------------------------------------------------
# A real webhook receiver on loopback
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver(hold_seconds=RECEIVER_HOLD_SECONDS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def refused_url() -> Callable[[str], str]:
    """`refused_url(path)`: a loopback URL nothing listens on, so connections are refused."""

    def make(path: str = "/hook") -> str:
        return f"http://127.0.0.1:{free_port()}{path}"

    return make
