"""What every part of the benchmark suite shares: a safe offline environment, the stack on moto
(built from template.yaml as tests/conftest.py builds it), botocore call meters, the stubbed SQS
client, API Gateway v2 events, and the row format run.py prints.

Nothing here reaches beyond 127.0.0.1: moto answers DynamoDB (in this process, or in a server
process of its own), and SQS is never timed through moto: a stub stands in for the client, or a
real botocore client talks to bench/sqs_endpoint.py.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import statistics
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


def paired_ratio(subject: list[float], baseline: list[float]) -> float:
    """The median of the rounds' ratios: round i's subject over round i's baseline, the two run
    back to back (in alternating order). A change in the machine's load during the part then
    moves both sides of each ratio alike, where a ratio of the two medians can pair a quiet
    run of one side with a busy run of the other."""
    if len(subject) != len(baseline) or not subject:
        raise ValueError(f"{len(subject)} subject runs for {len(baseline)} baseline runs")
    return statistics.median(s / b for s, b in zip(subject, baseline, strict=True))


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
    moto_pid: int | None = None  # moto's server process, when it runs out of process

    def moto_cpu_s(self) -> float:
        """CPU seconds moto's server process has used so far (nan when moto is in this process)."""
        return process_cpu_s(self.moto_pid) if self.moto_pid else math.nan

    def wait_moto_idle(self, timeout_s: float = 3.0) -> None:
        """Until moto's process stops using CPU (its deep copies are collected after it answers):
        on 2 cores, its work would otherwise run beside whatever is measured next."""
        if not self.moto_pid:
            return
        deadline = time.perf_counter() + timeout_s
        before = self.moto_cpu_s()
        while time.perf_counter() < deadline:
            time.sleep(0.03)
            now = self.moto_cpu_s()
            if not now - before > 0.002:  # under 7 % of a core, or unreadable
                return
            before = now

    def store(self) -> Any:
        from webhook_resend.aws import clients

        return clients.store()

    def handler(self, logical_id: str) -> tuple[Any, Any]:
        """The function's handler (imported now: a cold start outside any timing) and a context."""
        invoker = self.invokers[logical_id]
        return invoker.load(), invoker.new_context()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


@contextlib.contextmanager
def _moto_server(*, patched: bool = False) -> Iterator[int]:
    """moto in a process of its own on 127.0.0.1 (devstack.aws.MotoProcess), every boto3 client
    pointed at it: this process then holds what a Lambda holds, not moto's tables and the garbage
    of its deep copies (which the collector would walk in the measured code). With `patched`, the
    local stack's moto (`devstack.aws.MotoServer` with its layers and its DynamoDB requests taken
    one at a time); else moto's own server as released. Yields its process id."""
    from devstack.aws import MotoProcess

    server = MotoProcess(released=not patched)
    server.start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = "http://{}:{}".format(*server.get_host_and_port())
        yield server.pid or 0
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        server.stop()


@contextlib.contextmanager
def moto_stack(
    env: dict[str, str] | None = None,
    sqs_latency_s: float = 0.0,
    *,
    out_of_process: bool = False,
    sqs_endpoint: str | None = None,
    patched_moto: bool = False,
) -> Iterator[MotoStack]:
    """Every resource of template.yaml on moto, the functions' environment set (as
    tests/conftest.py's `stack` fixture does), and the SQS client of `webhook_resend.aws.clients`
    replaced by a stub, or with `sqs_endpoint` (bench/sqs_endpoint.py; moto out of process) a
    real botocore client sent there (AWS_ENDPOINT_URL_SQS, set once the queues exist on moto).
    moto runs in this process (mock_aws), or with `out_of_process` in a server process of its own:
    moto as released, or with `patched_moto` the local stack's (devstack.aws.MotoServer)."""
    if patched_moto and not out_of_process:
        raise ValueError("the patched moto is the local stack's server: it needs moto out of process")
    if sqs_endpoint and not out_of_process:
        raise ValueError("an SQS endpoint needs moto out of process (mock_aws would see its calls)")
    offline_env()
    from moto import mock_aws

    with _moto_server(patched=patched_moto) if out_of_process else mock_aws() as moto:
        from devstack.cfn import load_template
        from devstack.lambdas import Invokers
        from devstack.resources import create_resources
        from webhook_resend.aws import clients

        built = create_resources(load_template(ROOT / "template.yaml"))
        os.environ.update({**built.environment(), "ADMIN_TOKEN": "bench-admin-token", **(env or {})})
        if sqs_endpoint:
            os.environ["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
        clients.reset()
        stub = StubSqs(sqs_latency_s)
        real_client = clients.boto_client

        # The SQS client every function gets from the client factory is the stub (or the real
        # client sent to `sqs_endpoint`); DynamoDB stays on moto.
        @functools.cache
        def boto_client(service: str, *, validate: bool = True) -> Any:
            if service == "sqs" and not sqs_endpoint:
                return stub
            return real_client(service, validate=validate)

        with mock.patch.object(clients, "boto_client", boto_client):
            invokers = Invokers.from_stack(built)
            try:
                pid = moto if isinstance(moto, int) else None
                yield MotoStack(built, invokers, boto_client("dynamodb"), stub, pid)
            finally:
                invokers.close()
                clients.reset()
                os.environ.pop("AWS_ENDPOINT_URL_SQS", None)


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
    """Counts a client's calls by operation and times them with botocore's events:

    * `wall_s`, `cpu_s`, `cpu_by_op`: `provide-client-params` to `after-call`, the whole call:
      endpoint resolution, validation, serialisation, signing, the HTTP exchange, parsing;
    * `parse_cpu_s`: of that, botocore parsing the answers (`before-parse` to `after-call`);
    * `moto_wall_s`: `before-send` to `before-parse`, attempt by attempt: the time the endpoint
      took to answer (moto's work, in this process or in its own, and the loopback round trip).
      It is the only time a figure may remove as "moto's answer time": signing, sending and
      parsing stay the caller's, as they are a deployed function's.

    With `keep`, every call's request (its JSON body) and parsed answer are kept in `exchanges`,
    for capacity units (bench/capacity.py). process_time is process-wide: the CPU of other
    threads running during a call is included in `cpu_s`.
    """

    def __init__(self, client: Any, *, keep: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.write_items = 0  # items written (with `keep`), transactions and batches counted per item
        self.wall_s = self.cpu_s = 0.0
        self.moto_wall_s = 0.0
        self.parse_cpu_s = 0.0  # of cpu_s: botocore parsing the answers (before-parse to after-call)
        self.cpu_by_op: Counter[str] = Counter()
        self.enabled = True
        self.keep = keep
        self.exchanges: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self._local = threading.local()
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        tag = f"bench-meter-{id(self)}"
        events.register(f"provide-client-params.{service}", self._start, unique_id=f"{tag}-start")
        events.register(f"before-call.{service}", self._before, unique_id=f"{tag}-before")
        # First: moto's own before-send handler answers in-process moto's calls, and its work must
        # fall inside the window.
        events.register_first(f"before-send.{service}", self._send, unique_id=f"{tag}-send")
        events.register(f"before-parse.{service}", self._parse, unique_id=f"{tag}-parse")
        events.register(f"after-call.{service}", self._after, unique_id=f"{tag}-after")
        events.register(f"after-call-error.{service}", self._after, unique_id=f"{tag}-error")

    def reset(self) -> None:
        self.calls.clear()
        self.write_items = 0
        self.wall_s = self.cpu_s = self.moto_wall_s = self.parse_cpu_s = 0.0
        self.cpu_by_op.clear()
        self.exchanges = []

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPS)

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in READ_OPS)

    def _stack(self) -> list[list[Any]]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def _start(self, model: Any = None, **_: Any) -> None:
        # One call at a time per thread (botocore calls do not nest): a call that failed before
        # sending (a parameter refused) leaves nothing behind for the next one.
        if self.enabled:
            self._local.stack = [[time.perf_counter(), time.process_time(), None, None, None]]

    def _before(self, model: Any, params: Any = None, **_: Any) -> None:
        stack = self._stack()
        if not self.enabled or not stack:
            return
        self.calls[model.name] += 1
        if self.keep:  # only a kept call's body is parsed: the parsing is counted in the call
            stack[-1][3] = request = _json_body((params or {}).get("body"))
            if model.name in WRITE_OPS:
                self.write_items += _items_written(model.name, request)

    def _send(self, **_: Any) -> None:
        stack = self._stack()
        if stack:
            stack[-1][2] = time.perf_counter()

    def _parse(self, **_: Any) -> None:
        stack = self._stack()
        if stack and stack[-1][2] is not None:
            self.moto_wall_s += time.perf_counter() - stack[-1][2]
            stack[-1][2] = None
        if stack:  # the last attempt's parsing (botocore may retry)
            stack[-1][4] = time.process_time()

    def _after(self, model: Any = None, parsed: Any = None, **_: Any) -> None:
        stack = self._stack()
        if not self.enabled or not stack:
            return
        wall0, cpu0, _, request, parse0 = stack.pop()
        cpu = time.process_time()
        self.wall_s += time.perf_counter() - wall0
        self.cpu_s += cpu - cpu0
        self.cpu_by_op[model.name if model is not None else "?"] += cpu - cpu0
        if parse0 is not None:
            self.parse_cpu_s += cpu - parse0
        if self.keep and model is not None:
            self.exchanges.append((model.name, request or {}, parsed if isinstance(parsed, dict) else {}))


def _json_body(body: Any) -> dict[str, Any] | None:
    try:
        return json.loads(body) if isinstance(body, (bytes, str)) and body else None
    except ValueError:
        return None


def _items_written(operation: str, request: dict[str, Any] | None) -> int:
    if operation not in ("BatchWriteItem", "TransactWriteItems") or request is None:
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
    """Wall and CPU spent inside wrapped functions; the meters' `moto_wall_s` (moto's answer time)
    is taken out of the wall, nothing out of the CPU (with moto in a process of its own, the
    process CPU inside a DynamoDB call is the client's work, which a deployed function pays).

    Wrap with `spans.wrap(name, function)` (sync) or `spans.wrap_async(name, function)`. Nested
    spans are not subtracted from their parents: the caller does that arithmetic.
    """

    def __init__(self, *meters: CallMeter) -> None:
        self.meters = meters
        self.wall: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()

    def _mark(self) -> tuple[float, float, float]:
        return (time.perf_counter(), time.process_time(), sum(m.moto_wall_s for m in self.meters))

    def _add(self, name: str, start: tuple[float, float, float]) -> None:
        end = self._mark()
        self.wall[name] += (end[0] - start[0]) - (end[2] - start[2])
        self.cpu[name] += end[1] - start[1]

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


def received(body: str, now_ms: str | None = None) -> dict[str, Any]:
    """An SQS message as Lambda's event source hands it over (received once, now)."""
    import base64
    import uuid

    now_ms = now_ms or str(int(time.time() * 1000))
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
    }
