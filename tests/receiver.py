"""A real webhook receiver on loopback, scripted per path: shared by the in-process tests
(tests/conftest.py) and the tests of make run's stack (tests/e2e/conftest.py)."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # when the request arrived (epoch seconds, the receiver's clock)
    peer: int = 0  # the client's port: two requests with the same one came on the same connection


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script.

    `script(path, [500, "timeout", "reset", 200])` answers the requests to `path` in that order
    (the last entry repeats): a status code, `(status, headers)` or `(status, headers, body)`,
    "timeout" (no answer within the client's timeout),
    or "reset" (the connection is closed without an answer). Unscripted paths answer 200.
    """

    def __init__(self, hold_seconds: float = 5.0) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.hold_seconds = hold_seconds
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: the headers and the body leave in two writes; with Nagle on, the body
            # waits for the client to ACK the headers, which it delays (~40 ms a request).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            self.command,
                            path,
                            query,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            arrived,
                            self.client_address[1],
                        )
                    )
                    script = receiver._scripts.get(path) or [200]
                    action = script.pop(0) if len(script) > 1 else script[0]
                if action == "timeout":
                    time.sleep(receiver.hold_seconds)
                    self.close_connection = True
                    return
                if action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                # (status, headers) or (status, headers, body): the body defaults to b"received".
                status, extra, *body_of = action if isinstance(action, tuple) else (action, {})
                payload = body_of[0] if body_of else b"received"
                self.send_response(int(status))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def script(self, path: str, actions: list[Any]) -> None:
        with self._lock:
            self._scripts[path] = list(actions)

    def new_path(self, name: str = "hook") -> str:
        """A path no other test uses (for a receiver shared by a whole session)."""
        return f"/{uuid.uuid4().hex}/{name}"

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
