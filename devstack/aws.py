"""moto as the local stack's AWS, over HTTP, with DynamoDB's per-request atomicity.

moto's server handles each request on its own thread, and its DynamoDB backend changes items in
place: an UpdateItem applies its actions one after another (`ADD delivered :3, pending :-3` is
two steps), and TransactWriteItems writes its items one by one and rolls back a failed
transaction by putting back a copy of the whole table taken before it started. A request running
meanwhile can therefore read half an update (a job with `delivered` counted and `pending` not yet
taken down), or have its own write undone by another request's rollback. DynamoDB itself makes
each item write atomic and isolates transactions.

`MotoServer` gives the local stack that atomicity: it runs moto's own server with DynamoDB
requests taken one at a time. Other services (SQS long polls in particular) are not serialized.
Its DynamoDB also answers a Query in time that grows with what the Query reads, and backs up only
the items a TransactWriteItems touches (`devstack.dynamodb_index`), where moto sorts the whole
table for every Query page and copies it for every transaction, and every request skips moto's
listing of its own package directory and of the response class's methods
(`devstack.moto_dispatch`, which also remembers each host's backend), DynamoDB's answers skip
moto's generic walk of every attribute value (`devstack.dynamodb_json`), condition expressions
are tokenised and parsed once per text (`devstack.dynamodb_expressions`), SQS's answers take a
walk worked out once per answer shape (`devstack.sqs_json`), and connections stay open between
requests (`_KeepAliveRequestHandler`).
Unless `verbose`, it does not log a line per request either (werkzeug's default): those lines
would bury everything else `make run` and the tests print.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from devstack import dynamodb_expressions, dynamodb_index, dynamodb_json, moto_dispatch, sqs_index, sqs_json

# The local stack's layers over moto, installed together by a fast MotoServer.
LAYERS = (dynamodb_index, sqs_index, moto_dispatch, dynamodb_json, dynamodb_expressions, sqs_json)

# The X-Amz-Target of every DynamoDB (and DynamoDB Streams) call: "DynamoDB_20120810.UpdateItem"
_DYNAMODB_TARGET = "DynamoDB"


class OneDynamoDBRequestAtATime:
    """WSGI middleware: DynamoDB requests run under one lock, their whole answer produced
    inside it; every other request goes straight through."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _KeepAliveRequestHandler(_QuietRequestHandler):
    """`_QuietRequestHandler` that keeps its connection open between requests.

    werkzeug's development server closes every connection after one answer (it cannot tell
    where an unread body ends), so every boto3 call to moto paid a new TCP connection on both
    sides and a new server thread, and werkzeug's drain of the closed socket (a selector made,
    registered and closed per request): a sixth of moto's busy time while the local stack
    selected 20,000 items. A request whose body has a Content-Length (every one boto3 makes)
    is read whole before the application sees it, so its end is known; its answer is written
    with a Content-Length in one send (headers and body: no Nagle wait between them), and the
    connection stays open for the client's next request. Anything else (a chunked body, HTTP/1.0,
    `Connection: close`, `Expect: 100-continue`) takes werkzeug's own path, which closes."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "0" if self.command in ("GET", "HEAD", "DELETE") else "")
        if (
            self.request_version != "HTTP/1.1"
            or not length.isdigit()
            or "Transfer-Encoding" in self.headers
            or "Expect" in self.headers
            or self.headers.get("Connection", "").lower() == "close"
        ):
            super().run_wsgi()
            return
        body = self.rfile.read(int(length))
        if len(body) != int(length):  # the client went away mid-body
            self.close_connection = True
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        self.environ = environ
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers]

        try:
            answer = self.server.app(environ, start_response)
            try:
                data = b"".join(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        except Exception:  # what werkzeug's own path answers: a 500, the traceback logged
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            data = b"".join(Response("Internal Server Error", status=500)(environ, start_response))
        status, headers = started
        lines = [
            f"{self.protocol_version} {status}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
        ]
        has_length = False
        for key, value in headers:
            if key.lower() == "content-length":
                has_length = True
            lines.append(f"{key}: {value}")
        if not has_length and self.command != "HEAD":
            lines.append(f"Content-Length: {len(data)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else data))
        self.close_connection = False


class MotoServer(ThreadedMotoServer):
    """`ThreadedMotoServer` with its application wrapped in `OneDynamoDBRequestAtATime`, and
    quiet unless `verbose`. With `fast` (the default) moto's DynamoDB gets
    `devstack.dynamodb_index`; without, moto is as released (the bench's baseline). The patch is
    process-wide: one process runs stacks of one kind at a time."""

    def __init__(self, *args: Any, fast: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = fast

    def _app(self) -> Callable[..., Iterable[bytes]]:
        for layer in LAYERS:
            if self.fast:
                layer.install()
            else:
                layer.uninstall()
        return OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))

    def _handler(self) -> type[MotoRequestHandler]:
        if self._verbose:
            return MotoRequestHandler
        return _KeepAliveRequestHandler if self.fast else _QuietRequestHandler

    def _server_entry(self) -> None:
        # ThreadedMotoServer._server_entry (moto 5.2.5, pinned), with the application and the
        # handler chosen: moto has no hook for either.
        app = self._app()
        self._server = make_server(
            self._ip_address, self._port, app, threaded=True, request_handler=self._handler()
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class ReleasedMotoServer(MotoServer):
    """moto's own server as released (no layers, no DynamoDB lock), but for its connections,
    which stay open between requests (`_KeepAliveRequestHandler`), as AWS's endpoints keep them
    and boto3 reuses them: with werkzeug's handler every boto3 call paid for a new TCP connection,
    which a deployed function does not. The benchmarks' baselines and subjects run against it."""

    def _app(self) -> Callable[..., Iterable[bytes]]:
        return DomainDispatcherApplication(create_backend_app)

    def _handler(self) -> type[MotoRequestHandler]:
        return _KeepAliveRequestHandler


# The child's program: a moto server until its standard input closes (the parent stopping it, or
# dying: a parent killed outright closes the pipe too), then out at once. Its kinds: "fast" (a
# MotoServer with the layers), "slow" (a MotoServer without), "released" (moto's own server,
# without the DynamoDB lock either, its connections kept open: the benchmarks' moto as released).
_CHILD = """\
import logging, os, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "released":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    from devstack.aws import ReleasedMotoServer
    server = ReleasedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
else:
    from devstack.aws import MotoServer
    server = MotoServer(ip_address="127.0.0.1", port=0, verbose=False, fast=sys.argv[2] == "fast")
server.start()
print("moto-port", server.get_host_and_port()[1], flush=True)
try:
    sys.stdin.read()
except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent stops the stack
    pass
os._exit(0)
"""
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 3.0


class MotoProcess:
    """A `MotoServer` in a process of its own, with the same `start`, `get_host_and_port` and
    `stop`: moto's work (its models, its serialising, werkzeug) runs beside the stack's functions
    and pollers on another core instead of taking turns with them for one interpreter lock, and
    its patches (`fast`) never touch the parent's own moto, if it has one (tests)."""

    def __init__(self, *, fast: bool = True, released: bool = False) -> None:
        """`fast`: with the layers; `released`: moto's own server, as released (no layers, no
        DynamoDB lock), which only the benchmarks' baselines want."""
        self.kind = "released" if released else "fast" if fast else "slow"
        self._process: subprocess.Popen[str] | None = None
        self._port = 0

    def start(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        # Our own interpreter and program, nothing from outside.
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _CHILD, root, self.kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found: list[int] = []
        ready = threading.Event()
        out = self._process.stdout

        def read_port() -> None:
            # Whatever the child prints after its port is read too (and dropped): a pipe left
            # unread would block the child once its buffer is full.
            if out is not None:
                with out:  # closed at the child's end
                    for line in out:
                        if not found and line.startswith("moto-port "):
                            found.append(int(line.split()[1]))
                            ready.set()
            ready.set()  # the child is gone (without saying its port, if `found` is empty)

        threading.Thread(target=read_port, daemon=True).start()
        ready.wait(START_TIMEOUT_SECONDS)
        if not found:
            self.stop()
            raise RuntimeError(f"moto did not start within {START_TIMEOUT_SECONDS:g} s")
        self._port = found[0]

    def get_host_and_port(self) -> tuple[str, int]:
        if not self._port:
            raise RuntimeError("start() first")
        return "127.0.0.1", self._port

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        process, self._process, self._port = self._process, None, 0
        if process is None:
            return
        if process.stdin:
            with contextlib.suppress(OSError):  # a child that died first: the pipe is broken
                process.stdin.close()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)
