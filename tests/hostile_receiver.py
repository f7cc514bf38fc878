"""A hostile webhook receiver on loopback: each path answers in a way an HTTP client's parser
must survive (SPEC §15). Shared by the sender's unit tests and the deliver handler's
integration tests.

Every connection is served by its own thread and ends within `MAX_SECONDS` (or at `stop()`), so a
test that forgets to wait can never hang on it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Callable

MAX_SECONDS = 10.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _answer(raw: bytes) -> Callable[[socket.socket, threading.Event], None]:
    def send(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(raw)

    return send


def _close(conn: socket.socket, stopping: threading.Event) -> None:
    """Read the request, then hang up without a byte of answer."""


def _late(head: bytes, rest: bytes) -> Callable[[socket.socket, threading.Event], None]:
    """Send `head`, then `rest` a moment later: the client has begun reading the body by then."""

    def send(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(head)
        if not stopping.wait(0.1):
            conn.sendall(rest)

    return send


def _slow(conn: socket.socket, stopping: threading.Event) -> None:
    """Answer well, but only after `MAX_SECONDS` (longer than any attempt's timeout in a test)."""
    if not stopping.wait(MAX_SECONDS - 1):
        conn.sendall(OK)


def _trickle(head: bytes, body: bytes) -> Callable[[socket.socket, threading.Event], None]:
    """Send `head` at once, then `body` one byte every 0.2 s (each byte resets a per-read timer)."""

    def send(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(head)
        for byte in body:
            if stopping.wait(0.2):
                return
            conn.sendall(bytes([byte]))

    return send


# path → what the receiver does once it has read the request
BEHAVIOURS: dict[str, Callable[[socket.socket, threading.Event], None]] = {
    "/ok": _answer(OK),
    "/no-colon": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nthis header has no colon\r\n\r\nok"),
    "/huge-header": _answer(
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 70_000 + b"\r\nContent-Length: 2\r\n\r\nok"
    ),
    "/bad-status": _answer(b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\nok"),
    "/broken-chunked": _answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-a-size\r\nhello\r\n0\r\n\r\n"
    ),
    "/broken-chunked-late": _late(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"zz-not-a-size\r\nhello\r\n0\r\n\r\n"
    ),
    # Fewer bytes than Content-Length says, then the connection is closed.
    "/short-body": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"),
    "/not-http": _answer(b"\x00\xff\xfe\x16\x03 this is not HTTP at all \x80\x81\r\n\r\n"),
    "/close": _close,
    "/bad-length": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok"),
    "/slow": _slow,
    # A status line, then one header byte at a time: the answer's head never ends.
    "/trickle-head": _trickle(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 200),
    # A whole head, then a body of 200 bytes one byte at a time.
    "/trickle-body": _trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", b"b" * 200),
}


def _read_request(conn: socket.socket) -> str | None:
    """The request's path, its head and body read (Content-Length), or None if it never came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0].split(" ")[1].partition("?")[0]


class HostileReceiver:
    """`url + path` for each path of BEHAVIOURS; `requests[path]` counts the requests it read.

    Each connection serves one request and is then closed, so one answer cannot leak into the
    next request on a reused connection.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(MAX_SECONDS)
                try:
                    path = _read_request(conn)
                    if path is None:
                        return
                    with receiver._lock:
                        receiver.requests[path] += 1
                    BEHAVIOURS.get(path, BEHAVIOURS["/ok"])(conn, receiver._stopping)
                except OSError:
                    pass  # the client gave up (its timeout): nothing more to do

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            # A batch connects to every path at once: the default backlog of 5 drops connections,
            # which the client's SYN retry then takes a second to resend.
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HostileReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
