"""The HTTP sender's client and transport: no cookie carried from one receiver to the next, the
request arrives as sent through the lean aiohttp transport, and one deadline bounds an attempt.

A local HTTP server on 127.0.0.1 records what it gets; the sender runs with private addresses
allowed, since that server is loopback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from webhook_resend.sender import HttpSender, default_transport, refusal


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """Answers 200 with `Set-Cookie: session=secret`, after `delay` seconds; records requests."""

    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Server:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                time.sleep(server.delay)
                self.send_response(200)
                self.send_header("set-cookie", "session=secret; Path=/")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server().start()
    yield running
    running.stop()


def _sender(timeout: float = 5.0) -> HttpSender:
    return HttpSender(timeout, transport_factory=lambda: default_transport(True), allow_private=True)


def test_sender_never_sends_a_cookie_a_receiver_set(server: Server) -> None:
    async def run() -> list[int | None]:
        async with _sender() as sender:
            first = await sender.send("POST", f"{server.url}/a", {"content-type": "application/json"}, b"{}")
            second = await sender.send("POST", f"{server.url}/b", {"content-type": "application/json"}, b"{}")
        return [first.status_code, second.status_code]

    assert asyncio.run(run()) == [200, 200]
    assert [s.path for s in server.seen] == ["/a", "/b"]
    assert all("cookie" not in {k.lower() for k in s.headers} for s in server.seen)


def test_plain_httpx_client_would_have_sent_the_cookie(server: Server) -> None:
    """The control for the test above: the server's cookie is one httpx keeps by default."""

    async def run() -> None:
        async with httpx.AsyncClient(transport=default_transport(True)) as client:
            await client.post(f"{server.url}/a", content=b"{}")
            await client.post(f"{server.url}/b", content=b"{}")

    asyncio.run(run())
    assert {k.lower(): v for k, v in server.seen[1].headers.items()}.get("cookie") == "session=secret"


def test_lean_transport_delivers_method_path_headers_and_body_as_sent(server: Server) -> None:
    body = b'{"id":"msg_1","payload":{"n":1}}'
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1,c2lnbmF0dXJl",
        "x-webhook-resend-id": "job-1",
    }

    async def run() -> tuple[Any, Any]:
        async with _sender() as sender:
            post = await sender.send("POST", f"{server.url}/hook?token=a%20b", headers, body)
            get = await sender.send(
                "GET", f"{server.url}/ping?id=1&tag=x", {"x-webhook-resend-id": "j"}, None
            )
        return post, get

    post, get = asyncio.run(run())
    assert (post.status_code, post.error, post.body) == (200, None, "ok")
    assert (get.status_code, get.error) == (200, None)
    sent, pinged = server.seen
    assert (sent.method, sent.path, sent.body) == ("POST", "/hook?token=a%20b", body)
    received = {k.lower(): v for k, v in sent.headers.items()}
    assert {k: received.get(k) for k in headers} == headers
    assert received["content-length"] == str(len(body))
    assert received["user-agent"].startswith("webhook-resend/")
    assert (pinged.method, pinged.path, pinged.body) == ("GET", "/ping?id=1&tag=x", b"")


def test_one_deadline_bounds_the_whole_attempt(server: Server) -> None:
    server.delay = 3.0

    async def run() -> Any:
        async with _sender(timeout=0.3) as sender:
            return await sender.send("POST", f"{server.url}/slow", {}, b"{}")

    started = time.perf_counter()
    attempt = asyncio.run(run())
    assert attempt.status_code is None
    assert attempt.error == "timed out after 0.3 s"
    assert 250 <= attempt.latency_ms < 2000
    assert time.perf_counter() - started < 2.5


def test_refusal_is_remembered_per_url_and_setting() -> None:
    refusal.cache_clear()
    assert refusal("http://127.0.0.1/hook", False) is not None
    assert refusal("http://127.0.0.1/hook", True) is None
    assert refusal("http://127.0.0.1/hook", False) is not None
    assert refusal.cache_info().hits == 1
