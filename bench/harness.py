"""What every part of the benchmark suite shares: a safe offline environment, the stack on moto
(built from template.yaml as tests/conftest.py builds it), botocore call meters, the stubbed SQS
client, API Gateway v2 events, and the row format run.py prints.

Nothing here reaches beyond 127.0.0.1: moto answers every AWS call in-process, and SQS is never
timed through moto (a stub stands in for the client and counts the calls).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
BENCH = Path(__file__).resolve().parent

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# Whatever could send a request somewhere else than moto or the local receiver.
UNSAFE_ENV_PREFIXES = ("AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
UNSAFE_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_LAMBDA_FUNCTION_NAME")

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


def offline_env() -> None:
    """Dummy credentials and region; no endpoint, profile or proxy that could lead elsewhere."""
    for name in list(os.environ):
        if name.upper().startswith(UNSAFE_ENV_PREFIXES) or name in UNSAFE_ENV:
            del os.environ[name]
    os.environ.update(DUMMY_AWS)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    for path in (str(LAYER), str(ROOT), str(BENCH)):
        if path not in sys.path:
            sys.path.insert(0, path)


# -- rows of the table ----------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table; `key` is the figure's name in bench-results.json."""

    key: str
    value: float
    unit: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class PartResult:
    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row, *, figure: bool = True) -> Row:
        self.rows.append(row)
        if figure:
            self.figures[row.key] = row.value
        return row

    def to_json(self) -> str:
        return json.dumps(
            {"figures": self.figures, "rows": [asdict(r) for r in self.rows], "notes": self.notes}
        )


def settle() -> None:
    """Collect, then move every object alive into the permanent generation (gc.freeze): the
    collector then no longer walks moto's tables and botocore's models, which live in this process
    but not in a Lambda's, each time the code measured next triggers a full collection."""
    gc.collect()
    gc.freeze()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# -- the stack on moto ----------------------------------------------------------------------------
@dataclass
class MotoStack:
    stack: Any  # devstack.resources.Stack
    invokers: Any  # devstack.lambdas.Invokers
    dynamodb: Any  # the client clients.store() uses
    sqs_stub: StubSqs

    def store(self) -> Any:
        from webhook_resend.aws import clients

        return clients.store()

    def handler(self, logical_id: str) -> tuple[Any, Any]:
        """The function's handler (imported now: a cold start outside any timing) and a context."""
        invoker = self.invokers[logical_id]
        return invoker.load(), invoker.new_context()


MOTO_SERVER = """\
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
server.start()
print("moto-port", server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def _moto_server() -> Iterator[None]:
    """moto in a process of its own on 127.0.0.1, every boto3 client pointed at it: this process
    then holds what a Lambda holds, not moto's tables and the garbage of its deep copies (which
    the collector would walk in the measured code)."""
    # Our own interpreter and snippet, nothing from outside.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", MOTO_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = 0
        for line in process.stdout or []:  # moto says a word of its own first
            if line.startswith("moto-port "):
                port = int(line.split()[1])
                break
        if not port:
            raise RuntimeError("moto server did not start")
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        yield
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def moto_stack(
    env: dict[str, str] | None = None, sqs_latency_s: float = 0.0, *, out_of_process: bool = False
) -> Iterator[MotoStack]:
    """Every resource of template.yaml on moto, the functions' environment set (as
    tests/conftest.py's `stack` fixture does), and the SQS client of `webhook_resend.aws.clients`
    replaced by a stub.
    moto runs in this process (mock_aws), or with `out_of_process` in a server process of its own."""
    offline_env()
    from moto import mock_aws

    with _moto_server() if out_of_process else mock_aws():
        from devstack.cfn import load_template
        from devstack.lambdas import Invokers
        from devstack.resources import create_resources
        from webhook_resend.aws import clients

        built = create_resources(load_template(ROOT / "template.yaml"))
        os.environ.update({**built.environment(), "ADMIN_TOKEN": "bench-admin-token", **(env or {})})
        clients.reset()
        stub = StubSqs(sqs_latency_s)
        real_client = clients.boto_client

        # The SQS client every function gets from the client factory is the stub; DynamoDB stays on moto.
        @functools.cache
        def boto_client(service: str, *, validate: bool = True) -> Any:
            return stub if service == "sqs" else real_client(service, validate=validate)

        with mock.patch.object(clients, "boto_client", boto_client):
            invokers = Invokers.from_stack(built)
            try:
                yield MotoStack(built, invokers, boto_client("dynamodb"), stub)
            finally:
                invokers.close()
                clients.reset()


# -- the stubbed SQS client -----------------------------------------------------------------------
class StubSqs:
    """An SQS client that answers every call after a fixed latency, all entries successful.

    Thread-safe: it counts calls, messages and the most calls ever in flight at once.
    """

    def __init__(self, latency_s: float = 0.015) -> None:
        self.latency_s = latency_s
        self.calls: Counter[str] = Counter()
        self.messages = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.busy_s = 0.0  # sum of the calls' durations
        self.first_start: float | None = None
        self.last_end: float | None = None
        self.bodies: list[str] = []
        self.keep_bodies = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages = self.in_flight = self.peak_in_flight = 0
            self.busy_s = 0.0
            self.first_start = self.last_end = None
            self.bodies = []

    def _enter(self, name: str, count: int) -> float:
        started = time.perf_counter()
        with self._lock:
            self.calls[name] += 1
            self.messages += count
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if self.first_start is None:
                self.first_start = started
        return started

    def _leave(self, started: float) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        ended = time.perf_counter()
        with self._lock:
            self.in_flight -= 1
            self.busy_s += ended - started
            self.last_end = ended if self.last_end is None else max(self.last_end, ended)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        started = self._enter("SendMessageBatch", len(Entries))
        if self.keep_bodies:
            with self._lock:
                self.bodies.extend(e["MessageBody"] for e in Entries)
        try:
            return {
                # Cheap ids: the stub's own CPU must not weigh on what it times.
                "Successful": [
                    {"Id": e["Id"], "MessageId": f"m-{e['Id']}", "MD5OfMessageBody": ""} for e in Entries
                ],
                "Failed": [],
            }
        finally:
            self._leave(started)

    def send_message(self, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, Any]:
        started = self._enter("SendMessage", 1)
        try:
            return {"MessageId": "m-0", "MD5OfMessageBody": ""}
        finally:
            self._leave(started)

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        started = self._enter("ChangeMessageVisibilityBatch", 0)
        try:
            return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}
        finally:
            self._leave(started)


# -- botocore call meters -------------------------------------------------------------------------
class CallMeter:
    """Counts a client's calls by operation and times them (wall and process CPU) between the
    botocore events `before-call` and `after-call`: sending the request (here: moto's whole work)
    and parsing the response. `before-parse` splits the two, so the parsing, which a real
    DynamoDB client does as well, can be told apart from moto. Parameter validation and
    serialisation come before `before-call` and count as the caller's own CPU.

    process_time is process-wide: the CPU of other threads running during a call is included.
    """

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.write_items = 0  # items written, transactions and batches counted per item
        self.wall_s = self.cpu_s = 0.0  # whole calls (before-call to after-call)
        self.parse_wall_s = self.parse_cpu_s = 0.0  # of which botocore parsing the answers
        self.enabled = True
        self._local = threading.local()
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        tag = f"bench-meter-{id(self)}"
        events.register(f"before-call.{service}", self._before, unique_id=f"{tag}-before")
        events.register(f"before-parse.{service}", self._parse, unique_id=f"{tag}-parse")
        events.register(f"after-call.{service}", self._after, unique_id=f"{tag}-after")
        events.register(f"after-call-error.{service}", self._after, unique_id=f"{tag}-error")

    def reset(self) -> None:
        self.calls.clear()
        self.write_items = 0
        self.wall_s = self.cpu_s = self.parse_wall_s = self.parse_cpu_s = 0.0

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPS)

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in READ_OPS)

    @property
    def moto_wall_s(self) -> float:
        return self.wall_s - self.parse_wall_s

    @property
    def moto_cpu_s(self) -> float:
        return self.cpu_s - self.parse_cpu_s

    def _stack(self) -> list[list[float]]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def _before(self, model: Any, params: Any = None, **_: Any) -> None:
        if not self.enabled:
            return
        # The clock starts first: counting a write's items parses its request body, which is the
        # meter's work, not the caller's (it then falls inside the call, which is taken out).
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        self._stack().append([now_wall, now_cpu, now_wall, now_cpu])  # start, parse start
        self.calls[model.name] += 1
        if model.name in WRITE_OPS:
            self.write_items += _items_written(model.name, (params or {}).get("body"))

    def _parse(self, **_: Any) -> None:
        stack = self._stack()
        if stack:  # the last attempt's parsing (botocore may retry)
            stack[-1][2], stack[-1][3] = time.perf_counter(), time.process_time()

    def _after(self, **_: Any) -> None:
        stack = self._stack()
        if not self.enabled or not stack:
            return
        wall0, cpu0, parse_wall0, parse_cpu0 = stack.pop()
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall_s += wall - wall0
        self.cpu_s += cpu - cpu0
        if parse_wall0 > wall0:
            self.parse_wall_s += wall - parse_wall0
            self.parse_cpu_s += cpu - parse_cpu0


def _items_written(operation: str, body: Any) -> int:
    if operation not in ("BatchWriteItem", "TransactWriteItems"):
        return 1
    try:
        request = json.loads(body) if isinstance(body, (bytes, str)) else {}
    except ValueError:
        return 1
    if operation == "TransactWriteItems":
        return len(request.get("TransactItems", []))
    return sum(len(v) for v in request.get("RequestItems", {}).values())


# -- events ---------------------------------------------------------------------------------------
def http_event(
    method: str,
    path: str,
    tenant_id: str,
    *,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, past the authorizer (which resolved `tenant_id`)."""
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": "bench.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench",
            **({"content-type": "application/json"} if body is not None else {}),
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "authorizer": {"lambda": {"tenant_id": tenant_id}},
        },
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def new_tenant_id() -> str:
    return "tn" + uuid.uuid4().hex[:24]


# -- spans: where the time goes ---------------------------------------------------------------------
class Spans:
    """Wall and CPU spent inside wrapped functions, the time inside a meter's calls taken out.

    Wrap with `spans.wrap(name, function)` (sync) or `spans.wrap_async(name, function)`. Nested
    spans are not subtracted from their parents: the caller does that arithmetic.
    """

    def __init__(self, meter: CallMeter | None = None) -> None:
        self.meter = meter
        self.wall: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()

    def _mark(self) -> tuple[float, float, float, float]:
        meter = self.meter
        return (
            time.perf_counter(),
            time.process_time(),
            meter.moto_wall_s if meter else 0.0,
            meter.cpu_s if meter else 0.0,
        )

    def _add(self, name: str, start: tuple[float, float, float, float]) -> None:
        end = self._mark()
        self.wall[name] += (end[0] - start[0]) - (end[2] - start[2])
        self.cpu[name] += (end[1] - start[1]) - (end[3] - start[3])

    def wrap(self, name: str, function: Any) -> Any:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            start = self._mark()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(name, start)

        return run

    def wrap_async(self, name: str, function: Any) -> Any:
        @functools.wraps(function)
        async def run(*args: Any, **kwargs: Any) -> Any:
            start = self._mark()
            try:
                return await function(*args, **kwargs)
            finally:
                self._add(name, start)

        return run
