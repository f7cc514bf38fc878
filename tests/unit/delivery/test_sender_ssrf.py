"""SSRF at delivery time: the sender refuses forbidden addresses on the address it would connect to.

`HttpSender` runs over `default_transport(allow_private, resolver)`, with a fake aiohttp-style
resolver standing in for DNS. Every TCP connection the transport opens goes through a spy on
`aiohappyeyeballs.start_connection` (what aiohttp's connector calls) that records the addresses
asked for and routes the connection to a real local server, which records every connection it
accepts. So a guard that let an address through would show as a connection to that server, and no
test ever opens a socket to anything but loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohappyeyeballs
import pytest

from webhook_resend.delivery.deliverer import classify
from webhook_resend.delivery.sender import Attempt, HttpSender, default_transport

PUBLIC = "93.184.216.34"  # a public unicast address (never actually connected to: see `spy`)
NAME = "hooks.example.test"

FORBIDDEN = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("10.1.2.3", id="private-10"),
    pytest.param("172.16.0.1", id="private-172.16"),
    pytest.param("192.168.1.1", id="private-192.168"),
    pytest.param("169.254.169.254", id="metadata"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("224.0.0.1", id="multicast"),
    pytest.param("0.0.0.0", id="unspecified"),  # noqa: S104 - an address under test, not a bind
    pytest.param("240.0.0.1", id="reserved"),
    pytest.param("::1", id="loopback-v6"),
    pytest.param("fd00::1", id="ula-v6"),
    pytest.param("fe80::1", id="link-local-v6"),
    pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("::ffff:169.254.169.254", id="mapped-metadata"),
]


# -- a local server that records connections, and the connection spy ---------------------------------
@dataclass
class Server:
    """HTTP on 127.0.0.1: counts accepted connections and requests, answers `status`/`headers`."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                with server._lock:
                    server.connections += 1
                super().setup()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with server._lock:
                    server.requests.append(f"{self.command} {self.path}")
                body = b"ok"
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice, once per test.
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_port)

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch, server: Server) -> list[list[str]]:
    """Every connection attempt of the transport, as the list of addresses it was to try.

    Whatever address is asked for, the socket is connected to the local server instead: nothing
    leaves loopback, and anything the guard lets through is counted by `server`.
    """
    attempts: list[list[str]] = []
    real = aiohappyeyeballs.start_connection

    async def spy(addr_infos: list[Any], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append([str(info[4][0]) for info in addr_infos])
        local = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", server.port))]
        return await real(local, *args, **kwargs)

    monkeypatch.setattr(aiohappyeyeballs, "start_connection", spy)
    return attempts


class FakeResolver:
    """aiohttp's resolver interface, answering from a dict (names it does not know do not resolve)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.answers.get(host, [])
        ]

    async def close(self) -> None:
        pass


def send(url: str, resolver: Any, *, allow_private: bool = False, method: str = "POST") -> Attempt:
    async def run() -> Attempt:
        async with HttpSender(
            2,
            transport_factory=lambda: default_transport(allow_private, resolver),
            allow_private=allow_private,
        ) as sender:
            return await sender.send(method, url, {"content-type": "application/json"}, b"{}")

    return asyncio.run(run())


def names(error: str | None, address: str) -> bool:
    """Whether the error names the address (as written, or in Python's canonical spelling)."""
    assert error is not None
    return address in error or str(ipaddress.ip_address(address)) in error


def url_for(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/hook"


# -- a name that resolves to a forbidden address --------------------------------------------------------
@pytest.mark.parametrize("address", FORBIDDEN)
def test_sender_refuses_a_name_resolving_to_a_forbidden_address(
    address: str, server: Server, connects: list[list[str]]
) -> None:
    # Given a public-looking name whose DNS answer is a forbidden address
    resolver = FakeResolver({NAME: [address]})

    # When a delivery is attempted
    attempt = send(f"http://{NAME}:{server.port}/hook", resolver)

    # Then it is refused for good, naming the address, and nothing was connected to
    assert attempt.permanent is True
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert names(attempt.error, address), attempt.error
    assert resolver.asked == [NAME]
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize("address", FORBIDDEN)
def test_sender_refuses_a_literal_forbidden_address(
    address: str, server: Server, connects: list[list[str]]
) -> None:
    resolver = FakeResolver({})

    attempt = send(url_for(address, server.port), resolver)

    assert attempt.permanent is True
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert names(attempt.error, address), attempt.error
    # A literal address never reaches a resolver: it is refused before any I/O.
    assert resolver.asked == []
    assert connects == []
    assert server.connections == 0


def test_sender_refuses_a_literal_link_local_address_with_a_zone(
    server: Server, connects: list[list[str]]
) -> None:
    attempt = send(f"http://[fe80::1%25eth0]:{server.port}/hook", FakeResolver({}))

    assert attempt.permanent is True
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "127.1", "017700000001", "0x7f000001"])
def test_sender_refuses_loopback_in_a_legacy_numeric_form_for_good(
    host: str, server: Server, connects: list[list[str]]
) -> None:
    # Given loopback written the way inet_aton reads it (decimal, short, octal, hex)
    # When a delivery is attempted in deployed mode, through the real system resolver
    attempt = send(f"http://{host}:{server.port}/hook", None)

    # Then nothing connects, and the attempt is refused for good rather than retried for hours
    assert connects == []
    assert server.connections == 0
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert attempt.permanent is True
    assert classify(attempt) == "failed"


def test_sender_refuses_localhost_through_the_system_resolver(
    server: Server, connects: list[list[str]]
) -> None:
    attempt = send(f"http://localhost:{server.port}/hook", None)

    assert attempt.permanent is True
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert connects == []
    assert server.connections == 0


def test_sender_refuses_a_name_that_does_not_resolve_without_connecting(
    server: Server, connects: list[list[str]]
) -> None:
    attempt = send(f"http://{NAME}:{server.port}/hook", FakeResolver({}))

    assert attempt.status_code is None
    assert attempt.error is not None
    assert connects == []
    assert server.connections == 0


# -- names with several answers ------------------------------------------------------------------------
def test_sender_refuses_a_name_whose_answers_are_all_forbidden(
    server: Server, connects: list[list[str]]
) -> None:
    resolver = FakeResolver({NAME: ["10.0.0.1", "127.0.0.1"]})

    attempt = send(f"http://{NAME}:{server.port}/hook", resolver)

    assert attempt.permanent is True
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert "10.0.0.1" in attempt.error
    assert "127.0.0.1" in attempt.error
    assert connects == []
    assert server.connections == 0


def test_sender_with_private_urls_allowed_reaches_a_name_with_private_answers(
    server: Server, connects: list[list[str]]
) -> None:
    # Given local mode, and the same name answering only private addresses
    resolver = FakeResolver({NAME: ["10.0.0.1", "127.0.0.1"]})

    # When a delivery is attempted
    attempt = send(f"http://{NAME}:{server.port}/hook", resolver, allow_private=True)

    # Then the transport used the given resolver and the request reached the server
    assert resolver.asked == [NAME]
    assert attempt.error is None, attempt.error
    assert attempt.status_code == 200
    assert server.requests == ["POST /hook"]
    assert connects
    assert set(connects[0]) <= {"10.0.0.1", "127.0.0.1"}


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([PUBLIC, "127.0.0.1"], id="public-first"),
        pytest.param(["127.0.0.1", "169.254.169.254", PUBLIC, "::1"], id="public-among-private"),
    ],
)
def test_sender_connects_only_to_the_public_answer_of_a_mixed_name(
    answers: list[str], server: Server, connects: list[list[str]]
) -> None:
    # Given a name answering public and private addresses (as a DNS rebinding attack would)
    resolver = FakeResolver({NAME: answers})

    # When a delivery is attempted
    attempt = send(f"http://{NAME}:{server.port}/hook", resolver)

    # Then only the public address was ever handed to the connection, and the request went out
    assert connects == [[PUBLIC]]
    assert attempt.error is None, attempt.error
    assert attempt.status_code == 200
    assert server.requests == ["POST /hook"]


# -- what is never followed or attempted ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.test/hook",
        "file:///etc/passwd",
        "gopher://hooks.example.test:70/_x",
        "dict://hooks.example.test:11211/stat",
        "javascript:alert(1)",
        "hooks.example.test/hook",
    ],
)
def test_sender_refuses_non_http_schemes(url: str, server: Server, connects: list[list[str]]) -> None:
    resolver = FakeResolver({"hooks.example.test": [PUBLIC]})

    attempt = send(url, resolver)

    assert attempt.permanent is True
    assert attempt.error is not None
    assert attempt.error.startswith("refused"), attempt.error
    assert "http" in attempt.error
    assert resolver.asked == []
    assert connects == []
    assert server.connections == 0


def test_sender_does_not_follow_a_redirect(server: Server, connects: list[list[str]]) -> None:
    # Given a public receiver answering 302 to a metadata URL
    server.status = 302
    server.headers = {"location": "http://169.254.169.254/latest/meta-data/"}
    resolver = FakeResolver({NAME: [PUBLIC]})

    # When a delivery is attempted
    attempt = send(f"http://{NAME}:{server.port}/hook", resolver)

    # Then the 302 is the attempt's answer, and only the one request was made
    assert attempt.status_code == 302
    assert attempt.error is None
    assert server.requests == ["POST /hook"]
    assert connects == [[PUBLIC]]
    assert classify(attempt) == "failed"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sender_does_not_follow_a_redirect_in_local_mode(server: Server, method: str) -> None:
    server.status = 307
    server.headers = {"location": "/elsewhere"}

    attempt = send(f"http://127.0.0.1:{server.port}/hook", None, allow_private=True, method=method)

    assert attempt.status_code == 307
    assert server.requests == [f"{method} /hook"]


# -- what a refusal means for the delivery -------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://{NAME}/hook", id="resolved"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="literal"),
        pytest.param("ftp://hooks.example.test/hook", id="scheme"),
    ],
)
def test_classify_of_a_refused_attempt_is_failed_without_retry(url: str, connects: list[list[str]]) -> None:
    attempt = send(url, FakeResolver({NAME: ["169.254.169.254"]}))

    assert attempt.permanent is True
    assert classify(attempt) == "failed"
    assert connects == []
