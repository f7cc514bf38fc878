"""A local SQS endpoint for benchmarks: a threaded HTTP server in its own process on 127.0.0.1
that speaks SQS's JSON protocol (what botocore sends today: `POST /` with
`X-Amz-Target: AmazonSQS.<Operation>` and an `application/x-amz-json-1.0` body).

    from sqs_endpoint import SqsEndpoint

    with SqsEndpoint(latency_ms=15) as sqs:   # started here, stopped on leaving
        os.environ["AWS_ENDPOINT_URL_SQS"] = sqs.url  # every botocore SQS client made now goes there
        ...
        stats = sqs.stats()  # calls by operation, entries, payload bytes, billed requests, peak in flight

Every request is answered `latency_ms` after it arrived (time.sleep in the request's own thread,
so concurrent calls overlap as they do against SQS). SendMessageBatch answers every entry
`Successful` with a MessageId and the MD5 of its body (the digest SQS returns and SDKs may check);
SendMessage, ChangeMessageVisibilityBatch and DeleteMessageBatch answer likewise; any other
operation gets SQS's JSON error. Connections are kept alive (HTTP/1.1), as SQS keeps them.

What SQS would bill is counted as SQS bills it: one request per call, and one more for every
further 64 KB of the call's payload (message bodies and attributes).

The server runs in a child process (multiprocessing "spawn"), so its CPU is never counted in the
caller's `time.process_time()`. It binds an ephemeral port on 127.0.0.1 only and exits on
`stop()`, on SIGTERM, or by itself when its parent process disappears. Plain HTTP: the TLS a
real client pays for is not in any figure measured against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import math
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
BILLED_CHUNK = 64 * 1024
CONTROL = "/__bench/"  # the bench's own requests (stats, reset, kept entries): never counted


class SqsEndpoint:
    """Starts the server process on entering, stops it on leaving."""

    def __init__(self, latency_ms: float = 15.0) -> None:
        self.latency_ms = latency_ms
        self.url = ""
        self._process: Any = None
        self._port = 0

    def __enter__(self) -> SqsEndpoint:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_serve, args=(self.latency_ms, child_end, os.getpid()), name="bench-sqs", daemon=True
        )
        self._process.start()
        child_end.close()
        try:
            if not parent_end.poll(READY_TIMEOUT_S):
                raise RuntimeError(f"SQS endpoint did not start within {READY_TIMEOUT_S:g} s")
            self._port = int(parent_end.recv())
        except BaseException:
            self.stop()
            raise
        finally:
            parent_end.close()
        self.url = f"http://{HOST}:{self._port}"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.is_alive():
            process.terminate()
        process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join(STOP_TIMEOUT_S)
        self._process = None

    # -- the bench's side channel -----------------------------------------------------------------
    def _control(self, what: str, body: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection(HOST, self._port, timeout=30)
        try:
            connection.request("POST", CONTROL + what, body=json.dumps(body or {}))
            response = connection.getresponse()
            return json.loads(response.read())
        finally:
            connection.close()

    def stats(self) -> dict[str, Any]:
        """Calls by operation, entries, payload bytes, billed requests and the peak of calls in
        flight since the last reset."""
        return self._control("stats")

    def reset(self, *, keep: bool = False) -> None:
        """Counts back to zero; with `keep`, every SendMessageBatch's entries are kept from now on."""
        self._control("reset", {"keep": keep})

    def kept_batches(self) -> list[list[dict[str, Any]]]:
        """The entries of every SendMessageBatch since the last `reset(keep=True)`, call by call."""
        return self._control("kept")


# -- the server (child process) -------------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keep = False
        self.clear()

    def clear(self) -> None:
        self.calls: Counter[str] = Counter()
        self.entries = 0
        self.payload_bytes = 0
        self.billed = 0
        self.in_flight = 0
        self.peak = 0
        self.kept: list[list[dict[str, Any]]] = []


def _payload_size(entry: dict[str, Any]) -> int:
    """What SQS counts toward a message's size: its body and its attributes (names, types, values)."""
    size = len(str(entry.get("MessageBody", "")).encode())
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        size += len(str(attribute.get("StringValue", "")).encode())
        size += len(str(attribute.get("BinaryValue", "")).encode())
    return size


def _successful(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": entry["Id"],
        "MessageId": str(uuid.uuid4()),
        "MD5OfMessageBody": hashlib.md5(str(entry["MessageBody"]).encode()).hexdigest(),  # noqa: S324 (SQS's digest)
    }


def _handler_class(latency_s: float, state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as SQS does
        # The answer goes out at once: with Nagle's algorithm, its body would wait for the
        # client's delayed acknowledgement of its headers.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, status: int, answer: Any) -> None:
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            arrived = time.perf_counter()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith(CONTROL):
                self._send(200, self._control(self.path.removeprefix(CONTROL), raw))
                return
            operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
            request = json.loads(raw or b"{}")
            entries = request.get("Entries") or []
            with state.lock:
                state.calls[operation] += 1
                state.in_flight += 1
                state.peak = max(state.peak, state.in_flight)
            try:
                status, answer = 200, self._answer(operation, request, entries)
                time.sleep(max(0.0, latency_s - (time.perf_counter() - arrived)))
                self._send(status, answer)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, operation: str, request: dict[str, Any], entries: list[Any]) -> dict[str, Any]:
            if operation == "SendMessageBatch":
                payload = sum(_payload_size(e) for e in entries)
                with state.lock:
                    state.entries += len(entries)
                    state.payload_bytes += payload
                    state.billed += max(1, math.ceil(payload / BILLED_CHUNK))
                    if state.keep:
                        state.kept.append(entries)
                return {"Successful": [_successful(e) for e in entries], "Failed": []}
            if operation == "SendMessage":
                payload = _payload_size(request)
                with state.lock:
                    state.entries += 1
                    state.payload_bytes += payload
                    state.billed += max(1, math.ceil(payload / BILLED_CHUNK))
                digest = _successful({"Id": "0", "MessageBody": request.get("MessageBody", "")})
                return {"MessageId": digest["MessageId"], "MD5OfMessageBody": digest["MD5OfMessageBody"]}
            if operation in ("ChangeMessageVisibilityBatch", "DeleteMessageBatch"):
                with state.lock:
                    state.entries += len(entries)
                    state.billed += 1
                return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}
            with state.lock:
                state.billed += 1
            return {}  # ChangeMessageVisibility, DeleteMessage: an empty answer

        def _control(self, what: str, raw: bytes) -> Any:
            with state.lock:
                if what == "stats":
                    return {
                        "calls": dict(state.calls),
                        "entries": state.entries,
                        "payload_bytes": state.payload_bytes,
                        "billed_requests": state.billed,
                        "peak_in_flight": state.peak,
                        "server_cpu_s": time.process_time(),
                    }
                if what == "reset":
                    state.clear()
                    state.keep = bool(json.loads(raw or b"{}").get("keep"))
                    return {}
                if what == "kept":
                    return state.kept
            return {"error": f"unknown control {what!r}"}

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _serve(latency_ms: float, conn: Connection, parent_pid: int) -> None:
    """Child process entry point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    server = _Server((HOST, 0), _handler_class(latency_ms / 1000, _State()))
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)

    def orphan_watch() -> None:
        while not stopping.wait(1.0):
            if os.getppid() != parent_pid:
                stop()

    threading.Thread(target=orphan_watch, daemon=True).start()
    with contextlib.suppress(OSError):
        conn.send(server.server_address[1])
    conn.close()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
