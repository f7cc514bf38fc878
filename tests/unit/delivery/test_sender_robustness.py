"""Nothing a receiver answers escapes the sender (SPEC §15): each malformed answer, a hang-up, a
stall or a trickle ends that attempt alone as a retryable failure that names the fault, and the
time guard's `may_start` is asked when an attempt really starts, after its wait for a slot.

The receivers are real sockets on 127.0.0.1 (tests/hostile_receiver.py, tests/receiver.py); faults
inside the client are injected by wrapping the real transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hostile_receiver import HostileReceiver
from tests.receiver import Receiver
from webhook_resend.delivery.deliverer import classify
from webhook_resend.delivery.sender import Attempt, HttpSender, default_transport

# A token in the query string, as receivers' URLs often carry: it must never reach an error text.
TOKEN = "tok_3f9a1c"
JSON = {"content-type": "application/json"}

# path → what its error must say (a prefix, then a word of the parser's own message)
MALFORMED = {
    "/no-colon": ("invalid HTTP answer: ", "header"),
    "/huge-header": ("invalid HTTP answer: ", "8190"),
    "/bad-status": ("invalid HTTP answer: ", "status"),
    "/broken-chunked": ("invalid HTTP answer: ", "chunk"),
    "/short-body": ("invalid HTTP answer: ", "payload"),
    "/not-http": ("invalid HTTP answer: ", "status"),
    "/bad-length": ("invalid HTTP answer: ", "Content-Length"),
    "/close": ("connection failed: ", "disconnected"),
}


@pytest.fixture
def hostile() -> Iterator[HostileReceiver]:
    server = HostileReceiver().start()
    try:
        yield server
    finally:
        server.stop()


def _sender(timeout: float = 5.0, concurrency: int = 100, transport: Any = None) -> HttpSender:
    return HttpSender(
        timeout,
        concurrency=concurrency,
        transport_factory=transport or (lambda: default_transport(True)),
        allow_private=True,
    )


def _send_all(sender: HttpSender, urls: list[str]) -> list[Attempt]:
    async def run() -> list[Attempt]:
        async with sender:
            return list(await asyncio.gather(*(sender.send("POST", url, JSON, b"{}") for url in urls)))

    return asyncio.run(run())


@pytest.mark.parametrize("path", sorted(MALFORMED))
def test_sender_malformed_answer_is_a_retryable_failure_that_names_it(
    hostile: HostileReceiver, path: str
) -> None:
    [attempt] = _send_all(_sender(), [f"{hostile.url}{path}?token={TOKEN}"])

    prefix, word = MALFORMED[path]
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith(prefix), attempt.error
    assert word.lower() in attempt.error.lower(), attempt.error
    assert classify(attempt) == "retry"
    assert len(attempt.error) <= 300
    assert TOKEN not in attempt.error
    assert "\n" not in attempt.error
    assert hostile.requests[path] == 1


def test_sender_malformed_answers_do_not_touch_the_good_attempts_beside_them(
    hostile: HostileReceiver, receiver: Receiver
) -> None:
    hostile_urls = [f"{hostile.url}{path}" for path in sorted(MALFORMED)]
    good_urls = [f"{receiver.url}/good/{n}" for n in range(10)]

    attempts = _send_all(_sender(), hostile_urls + good_urls)

    assert [a.status_code for a in attempts[len(hostile_urls) :]] == [200] * len(good_urls)
    assert all(a.status_code is None and a.error for a in attempts[: len(hostile_urls)])
    assert sorted(r.path for r in receiver.requests) == sorted(f"/good/{n}" for n in range(10))
    assert {path: hostile.requests[path] for path in MALFORMED} == dict.fromkeys(MALFORMED, 1)


@pytest.mark.parametrize("path", ["/trickle-head", "/trickle-body", "/slow"])
def test_sender_deadline_bounds_a_receiver_that_stalls_or_trickles(
    hostile: HostileReceiver, path: str
) -> None:
    """The trickling receivers send a byte every 0.2 s for 40 s: a timer per read would never fire.
    The one deadline of the attempt covers connecting, sending and reading together."""
    started = time.monotonic()
    [attempt] = _send_all(_sender(timeout=0.5), [f"{hostile.url}{path}"])
    elapsed = time.monotonic() - started

    assert (attempt.status_code, attempt.error) == (None, "timed out after 0.5 s")
    assert classify(attempt) == "retry"
    assert 400 <= attempt.latency_ms < 3000
    assert elapsed < 5.0  # the receiver would have gone on for 40 s (10 s for /slow)


class FailingTransport(httpx.AsyncBaseTransport):
    """The real transport, except that requests to a path containing `/explode` raise `error`."""

    def __init__(self, error: Exception) -> None:
        self._inner = default_transport(True)
        self._error = error

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/explode" in request.url.path:
            raise self._error
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ValueError(f"cannot decode the answer of http://127.0.0.1:1/explode?token={TOKEN}"),
            "unexpected error: ValueError: cannot decode the answer of <url>",
        ),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "unexpected error: UnicodeDecodeError: ",
        ),
        (KeyError(), "unexpected error: KeyError"),
    ],
)
def test_sender_unexpected_transport_error_ends_that_attempt_alone(
    receiver: Receiver, error: Exception, expected: str
) -> None:
    sender = _sender(transport=lambda: FailingTransport(error))

    explode, good = _send_all(sender, [f"{receiver.url}/explode?token={TOKEN}", f"{receiver.url}/good"])

    assert explode.status_code is None
    assert explode.error is not None
    assert explode.error.startswith(expected), explode.error
    assert TOKEN not in explode.error
    assert classify(explode) == "retry"
    assert good.status_code == 200
    assert [r.path for r in receiver.requests] == ["/good"]


def test_sender_cancellation_is_not_taken_for_a_failed_attempt(hostile: HostileReceiver) -> None:
    async def run() -> bool:
        async with _sender(timeout=5.0) as sender:
            task = asyncio.create_task(sender.send("POST", f"{hostile.url}/slow", JSON, b"{}"))
            await asyncio.sleep(0.2)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False

    assert asyncio.run(run()) is True


class SignallingTransport(httpx.AsyncBaseTransport):
    """The real transport, calling `on_request` as each request goes out."""

    def __init__(self, on_request: Any) -> None:
        self._inner = default_transport(True)
        self._on_request = on_request

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._on_request()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_sender_asks_may_start_once_a_slot_is_free(receiver: Receiver) -> None:
    """Given one slot and three attempts queued for it, when the time runs out while the first is
    on the wire, then the two that waited are not started: `may_start` is asked after the wait,
    not before it (when the time was still there)."""
    time_left = {"seconds": 60.0}
    asked: list[float] = []

    def may_start() -> bool:
        asked.append(time_left["seconds"])
        return time_left["seconds"] >= 13.0

    def time_runs_out() -> None:
        time_left["seconds"] = 5.0

    sender = _sender(concurrency=1, transport=lambda: SignallingTransport(time_runs_out))

    async def run() -> list[Attempt | None]:
        async with sender:
            return list(
                await asyncio.gather(
                    *(
                        sender.send("POST", f"{receiver.url}/hook/{n}", JSON, b"{}", may_start=may_start)
                        for n in range(3)
                    )
                )
            )

    first, second, third = asyncio.run(run())

    assert first is not None
    assert first.status_code == 200
    assert (second, third) == (None, None)
    assert asked == [60.0, 5.0, 5.0]
    assert [r.path for r in receiver.requests] == ["/hook/0"]


def test_sender_without_may_start_sends_every_attempt(receiver: Receiver) -> None:
    attempts = _send_all(_sender(concurrency=1), [f"{receiver.url}/hook/{n}" for n in range(3)])

    assert [a.status_code for a in attempts] == [200, 200, 200]
    assert len(receiver.requests) == 3
