"""The HTTP sender's client and transport: no cookie carried from one receiver to the next, the
request arrives as sent through the lean aiohttp transport, and one deadline bounds an attempt.

The shared receiver (tests/receiver.py, on 127.0.0.1) records what it gets; the sender runs with
private addresses allowed, since that receiver is loopback.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.receiver import Receiver
from webhook_resend.delivery import sender as sender_module
from webhook_resend.delivery.sender import ContainerLoop, HttpSender, default_transport, refusal

SETS_A_COOKIE = (200, {"set-cookie": "session=secret; Path=/"})
JSON = {"content-type": "application/json"}


def _sender(timeout: float = 5.0) -> HttpSender:
    return HttpSender(timeout, transport_factory=lambda: default_transport(True), allow_private=True)


def test_sender_never_sends_a_cookie_a_receiver_set(receiver: Receiver) -> None:
    receiver.script("/a", [SETS_A_COOKIE])

    async def run() -> list[int | None]:
        async with _sender() as sender:
            first = await sender.send("POST", f"{receiver.url}/a", JSON, b"{}")
            second = await sender.send("POST", f"{receiver.url}/b", JSON, b"{}")
        return [first.status_code, second.status_code]

    assert asyncio.run(run()) == [200, 200]
    assert [r.path for r in receiver.requests] == ["/a", "/b"]
    assert all("cookie" not in r.headers for r in receiver.requests)


def test_plain_httpx_client_would_have_sent_the_cookie(receiver: Receiver) -> None:
    """The control for the test above: the receiver's cookie is one httpx keeps by default."""
    receiver.script("/a", [SETS_A_COOKIE])

    async def run() -> None:
        async with httpx.AsyncClient(transport=default_transport(True)) as client:
            await client.post(f"{receiver.url}/a", content=b"{}")
            await client.post(f"{receiver.url}/b", content=b"{}")

    asyncio.run(run())
    assert receiver.requests[1].headers.get("cookie") == "session=secret"


def test_lean_transport_delivers_method_path_headers_and_body_as_sent(receiver: Receiver) -> None:
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
            post = await sender.send("POST", f"{receiver.url}/hook?token=a%20b", headers, body)
            get = await sender.send(
                "GET", f"{receiver.url}/ping?id=1&tag=x", {"x-webhook-resend-id": "j"}, None
            )
            empty = await sender.send("POST", f"{receiver.url}/empty", {}, b"")
        return post, get, empty

    post, get, empty = asyncio.run(run())
    assert (post.status_code, post.error, post.body) == (200, None, "received")
    assert (get.status_code, get.error) == (200, None)
    assert (empty.status_code, empty.error) == (200, None)
    sent, pinged, emptied = receiver.requests
    assert (sent.method, sent.path, sent.query, sent.body) == ("POST", "/hook", "token=a%20b", body)
    assert {k: sent.headers.get(k) for k in headers} == headers
    # Host and Content-Length are not in the request the sender builds: aiohttp adds them.
    assert sent.headers["host"] == receiver.url.removeprefix("http://")
    assert sent.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in sent.headers
    assert sent.headers["user-agent"].startswith("webhook-resend/")
    assert (pinged.method, pinged.path, pinged.query, pinged.body) == ("GET", "/ping", "id=1&tag=x", b"")
    assert "content-length" not in pinged.headers
    assert "transfer-encoding" not in pinged.headers
    assert (emptied.method, emptied.body, emptied.headers["content-length"]) == ("POST", b"", "0")


def test_one_deadline_bounds_the_whole_attempt(receiver: Receiver) -> None:
    receiver.hold_seconds = 3.0
    receiver.script("/slow", ["timeout"])

    async def run() -> Any:
        async with _sender(timeout=0.3) as sender:
            return await sender.send("POST", f"{receiver.url}/slow", {}, b"{}")

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


# -- one loop and one sender per container (ContainerLoop, KeptSender) ------------------------------
def _post(loop: ContainerLoop, url: str) -> tuple[HttpSender, int | None]:
    async def batch() -> tuple[HttpSender, int | None]:
        async with loop.sender() as sender:
            attempt = await sender.send("POST", url, JSON, b"{}")
        return sender, attempt.status_code

    return loop.run(batch())


def test_container_loop_reuses_its_sender_and_connection_across_batches(receiver: Receiver) -> None:
    loop = ContainerLoop(_sender)
    first, first_status = _post(loop, f"{receiver.url}/a")
    second, second_status = _post(loop, f"{receiver.url}/b")
    loop.close()

    assert (first_status, second_status) == (200, 200)
    assert second is first
    assert receiver.requests[0].peer == receiver.requests[1].peer  # one connection for both batches
    assert first._client is None  # closed with the loop


def test_container_loop_after_a_failed_batch_starts_afresh(receiver: Receiver) -> None:
    loop = ContainerLoop(_sender)
    late: list[str] = []

    async def failing() -> None:
        async with loop.sender() as sender:
            await sender.send("POST", f"{receiver.url}/a", JSON, b"{}")

            async def straggler() -> None:
                await asyncio.sleep(0.05)
                late.append("ran")

            asyncio.get_running_loop().create_task(straggler())
            raise RuntimeError("the batch broke")

    with pytest.raises(RuntimeError, match="the batch broke"):
        loop.run(failing())
    after, status = _post(loop, f"{receiver.url}/b")
    time.sleep(0.1)
    loop.close()

    assert status == 200
    assert late == []  # the failed batch's leftover task was cancelled, not run in the next batch
    assert receiver.requests[0].peer != receiver.requests[1].peer  # a new sender, a new connection
    assert after._client is None


def test_kept_sender_never_reuses_a_connection_idle_past_the_keepalive_bound(
    receiver: Receiver, monkeypatch: Any
) -> None:
    monkeypatch.setattr(sender_module, "KEEPALIVE_SECONDS", 0.2)
    loop = ContainerLoop(_sender)
    _post(loop, f"{receiver.url}/a")
    _post(loop, f"{receiver.url}/b")
    time.sleep(0.4)
    _post(loop, f"{receiver.url}/c")
    loop.close()

    ports = [r.peer for r in receiver.requests]
    assert ports[0] == ports[1]
    assert ports[2] != ports[1]


def test_aiohttp_imported_by_the_sender_loads_no_ca_store_of_its_own() -> None:
    """In a fresh interpreter (aiohttp not yet imported): aiohttp's default verifying context is
    the sender's own, its non-verifying one holds no certificates, and `ssl` is left as it was."""
    layer = str(Path(sender_module.__file__).resolve().parents[2])
    probe = (
        "import ssl, sys\n"
        f"sys.path.insert(0, {layer!r})\n"
        "from webhook_resend.delivery import sender\n"
        "assert 'aiohttp' not in sys.modules\n"
        "sender.default_transport(True)\n"
        "import aiohttp.connector as c\n"
        "verified = c._SSL_CONTEXT_VERIFIED\n"
        "print(verified is sender._tls(), verified.verify_mode == ssl.CERT_REQUIRED,\n"
        "      c._SSL_CONTEXT_UNVERIFIED.cert_store_stats()['x509'], c._SSL_CONTEXT_UNVERIFIED.verify_mode,\n"
        "      ssl.create_default_context().cert_store_stats()['x509'] > 0,\n"
        "      'set_default_verify_paths' in ssl.SSLContext.__dict__)\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "True", "0", str(int(ssl.CERT_NONE)), "True", "False"]
