"""The HTTP sender: one attempt of one delivery, with the limits of SPEC §6.

httpx is the API; the transport is httpx-aiohttp's, chosen by measurement (`make bench`): the
default httpx transport spends about 20x the CPU per request under concurrency. Redirects are
never followed, each attempt has a hard deadline, at most 64 KB of a response is read and 1 KB
kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

READ_LIMIT = 64 * 1024
KEEP_LIMIT = 1024
USER_AGENT = "webhook-resend/0.1 (+https://www.standardwebhooks.com)"

# httpx logs every request URL at INFO; a receiver URL may carry a token in its query string.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: a status code, or an error (timeout, refused, reset...)."""

    status_code: int | None
    error: str | None
    latency_ms: int
    retry_after: str | None = None
    body: str = ""
    # True when retrying cannot help (e.g. the URL resolves to a forbidden address).
    permanent: bool = False


def default_transport() -> httpx.AsyncBaseTransport:
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))


class HttpSender:
    """Sends attempts concurrently (bounded) over one client, reused for a whole batch."""

    def __init__(
        self,
        timeout: float,
        concurrency: int = 100,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] = default_transport,
    ) -> None:
        self._timeout = timeout
        self._concurrency = concurrency
        self._transport_factory = transport_factory
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> HttpSender:
        self._client = httpx.AsyncClient(
            transport=self._transport_factory(),
            follow_redirects=False,
            timeout=httpx.Timeout(self._timeout),
            headers={"user-agent": USER_AGENT},
        )
        self._slots = asyncio.Semaphore(self._concurrency)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None

    async def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> Attempt:
        if self._client is None or self._slots is None:
            raise RuntimeError("use `async with HttpSender(...)`")
        async with self._slots:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._attempt(method, url, headers, content, started)
            except TimeoutError:
                return Attempt(None, f"timed out after {self._timeout:g} s", _elapsed(started))
            except httpx.TimeoutException:
                return Attempt(None, f"timed out after {self._timeout:g} s", _elapsed(started))
            except httpx.TransportError as exc:
                return Attempt(None, f"connection failed: {_describe(exc)}", _elapsed(started))

    async def _attempt(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, started: float
    ) -> Attempt:
        client = self._client
        if client is None:
            raise RuntimeError("use `async with HttpSender(...)`")
        async with client.stream(method, url, headers=headers, content=content) as response:
            kept = bytearray()
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if len(kept) < KEEP_LIMIT:
                    kept += chunk[: KEEP_LIMIT - len(kept)]
                if read >= READ_LIMIT:
                    break
            return Attempt(
                status_code=response.status_code,
                error=None,
                latency_ms=_elapsed(started),
                retry_after=response.headers.get("retry-after"),
                body=kept.decode("utf-8", errors="replace"),
            )


def _elapsed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
