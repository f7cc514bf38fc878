"""The HTTP sender: one attempt of one delivery, with the limits of SPEC §6.

httpx is the API; the transport is httpx-aiohttp's, chosen by measurement (`make bench`): the
default httpx transport spends about 20x the CPU per request under concurrency. Redirects are
never followed, each attempt has a hard deadline, at most 64 KB of a response is read and 1 KB
kept.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
import socket
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import httpx

from webhook_resend.settings import Settings
from webhook_resend.urlpolicy import UrlRefusedError, check_syntax, is_forbidden_address

READ_LIMIT = 64 * 1024
KEEP_LIMIT = 1024
# Attempts one sender has on the wire at once (its slots); tests/unit/test_template.py checks
# that a full batch fits the delivery function's timeout with it.
CONCURRENCY = 100
USER_AGENT = "webhook-resend/0.1 (+https://www.standardwebhooks.com)"
# How long a connection may wait idle for its next request (aiohttp's keepalive_timeout, 15 s by
# default): shorter than the 5 s keep-alive many servers have (Node.js's default), since a kept
# sender (KeptSender) carries its connections from one batch to the next.
KEEPALIVE_SECONDS = 4.0
DNS_CACHE_SECONDS = 60
# A request extension of the sender's own: the URL's text as str(request.url) gives it.
URL_TEXT = "webhook_resend.url_text"
T = TypeVar("T")

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


class AddressRefusedError(OSError):
    """The URL's host resolves to an address deliveries may not go to (SSRF guard)."""


class GuardedResolver:
    """The resolver the connection itself uses: it drops every forbidden address a name resolves
    to, and refuses the name when none is left. Because the connector connects only to what this
    returns, a name that changes its answer between a check and the connect (DNS rebinding)
    cannot reach a private address.
    """

    def __init__(self, inner: Any = None) -> None:
        _import_aiohttp()
        from aiohttp.resolver import DefaultResolver

        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[Any]:
        answers = await self._inner.resolve(host, port, family)
        if not answers:
            raise OSError(f"{host} does not resolve")
        allowed = [a for a in answers if not is_forbidden_address(a["host"])]
        if not allowed:
            shown = ", ".join(sorted({a["host"] for a in answers}))
            raise AddressRefusedError(
                f"{host} resolves to {shown}: loopback, private, link-local or reserved"
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing. A receiver's Set-Cookie must never ride along to the
    next receiver on that host (another webhook, maybe another tenant's), and the store's
    bookkeeping (two urllib adapter objects per response) is a third of httpx's own CPU per
    request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None

    def __bool__(self) -> bool:
        return False


class WebhookClient(httpx.AsyncClient):
    """httpx's client, without cookies (see NoCookies)."""

    _no_cookies = NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies


@functools.cache
def lean_transport_class() -> type[httpx.AsyncBaseTransport]:
    """httpx-aiohttp's transport, handing aiohttp the request headers as one list of pairs.

    The library passes httpx's Headers object itself, which aiohttp reads as a mapping: one
    linear lookup per header, each decoding every header again. The rest is the library's (its
    exception mapping and response stream); the options the sender never sets (proxies, an SNI
    override) are left out. Defined on first use: aiohttp takes ~100 ms to import.
    """
    _import_aiohttp()
    import aiohttp
    from httpx_aiohttp import AiohttpTransport
    from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

    class LeanResponseStream(AiohttpResponseStream):
        """The library's response stream, reading the same chunks without an iterator object
        around aiohttp's reads."""

        async def __aiter__(self) -> Any:
            read = self._aiohttp_response.content.read
            with map_aiohttp_exceptions():
                while chunk := await read(self.CHUNK_SIZE):
                    yield chunk

    class LeanAiohttpTransport(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not isinstance(self.client, aiohttp.ClientSession):
                self.client = self.get_client()
            timeout = request.extensions.get("timeout", {})
            try:
                data: Any = request.content or None
            except httpx.RequestNotRead:
                data = request.stream
            with map_aiohttp_exceptions():
                response = await self.client.request(
                    method=request.method,
                    # The sender's requests carry their URL's text (URL_TEXT), rendered once per URL.
                    url=request.extensions.get(URL_TEXT) or str(request.url),
                    # As Headers.multi_items() gives them (lower-case names), decoded as the
                    # sender encoded them, without guessing each header's encoding again.
                    headers=[
                        (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers.raw
                    ],
                    data=data,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=_client_timeout(timeout.get("connect"), timeout.get("read"), timeout.get("pool")),
                ).__aenter__()
            return httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                stream=LeanResponseStream(response),
                request=request,
                extensions={"http_version": b"HTTP/1.1"},
            )

    return LeanAiohttpTransport


@functools.lru_cache(maxsize=16)
def _client_timeout(connect: float | None, read: float | None, pool: float | None) -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


@functools.lru_cache(maxsize=4096)
def _url(text: str) -> tuple[httpx.URL, str]:
    # Parsed once per container: a batch sends to the same few URLs many times (URLs are
    # immutable). With it, its text as httpx renders it (str(url)), which the transport hands
    # aiohttp: rendering it again for every request is ~10 us.
    url = httpx.URL(text)
    return url, str(url)


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms of CPU: once per container, not once per batch.
    return httpx.create_ssl_context()


@functools.cache
def _import_aiohttp() -> None:
    """Import aiohttp without the two CA stores it would load for nothing.

    aiohttp's connector module builds two SSL contexts when it is imported, a verifying one
    (`ssl.create_default_context()`, the system's CA store) and a non-verifying one (which loads
    the same store again): ~23 ms each, a third of aiohttp's import (`make bench`, cold start).
    The sender never uses either: every connector it makes is given `_tls()`. So while aiohttp is
    imported, a bare `ssl.create_default_context()` answers `_tls()` (built first: certifi's
    bundle, which the sender loads anyway) and the non-verifying context loads no store (it
    verifies nothing). Anything in aiohttp that fell back on its default context would thus verify
    against the sender's own bundle. Imports happen on one thread (the import lock); the patch is
    undone before this returns.
    """
    if "aiohttp.connector" in sys.modules:
        return
    tls = _tls()
    real_default = ssl.create_default_context
    own_paths = "set_default_verify_paths" in ssl.SSLContext.__dict__
    real_paths = ssl.SSLContext.set_default_verify_paths

    def default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        return tls if not args and not kwargs else real_default(*args, **kwargs)

    def no_store(self: ssl.SSLContext) -> None:
        if self.verify_mode != ssl.CERT_NONE:
            real_paths(self)

    ssl.create_default_context = default_context  # type: ignore[assignment]
    ssl.SSLContext.set_default_verify_paths = no_store  # type: ignore[method-assign]
    try:
        import aiohttp.connector  # noqa: F401
    finally:
        ssl.create_default_context = real_default
        if own_paths:
            ssl.SSLContext.set_default_verify_paths = real_paths  # type: ignore[method-assign]
        else:
            del ssl.SSLContext.set_default_verify_paths


def default_transport(allow_private: bool = False, resolver: Any = None) -> httpx.AsyncBaseTransport:
    """httpx-aiohttp's transport; unless private addresses are allowed, through GuardedResolver."""
    _import_aiohttp()
    import aiohttp

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    tls = _tls()

    def session() -> aiohttp.ClientSession:
        guard = resolver if allow_private else GuardedResolver(resolver)
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            resolver=guard,
            # Names are looked up again after a minute: a kept sender lives as long as its container.
            ttl_dns_cache=DNS_CACHE_SECONDS,
            ssl=tls,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        return aiohttp.ClientSession(connector=connector)

    return lean_transport_class()(verify=tls, limits=limits, client=session)


@functools.lru_cache(maxsize=4096)
def refusal(url: str, allow_private: bool) -> str | None:
    """Why a URL may not be attempted at all (scheme, or a forbidden literal address), or None.

    Names are checked by GuardedResolver at connect time; a literal address never reaches a
    resolver, so it is checked here.
    """
    try:
        host = check_syntax(url)
    except UrlRefusedError as exc:
        return str(exc)
    if allow_private:
        return None
    try:
        address = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        try:
            # 2130706433, 127.1, 0x7f.1: legacy IPv4 spellings some resolvers still honour.
            socket.inet_aton(host)
        except OSError:
            return None
        return f"{host} is a non-canonical numeric address"
    if is_forbidden_address(address):
        return f"{address} is a loopback, private, link-local or reserved address"
    return None


class HttpSender:
    """Sends attempts concurrently (bounded) over one client, reused for a whole batch."""

    def __init__(
        self,
        timeout: float,
        concurrency: int = CONCURRENCY,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] = default_transport,
        *,
        allow_private: bool = False,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._concurrency = concurrency
        self._transport_factory = transport_factory
        self._client: httpx.AsyncClient | None = None
        self._transport: httpx.AsyncBaseTransport | None = None
        self._defaults: dict[str, str] = {}
        self._timeouts: dict[str, float | None] = {}
        self._slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> HttpSender:
        self._transport = self._transport_factory()
        self._client = WebhookClient(
            transport=self._transport,
            # Nothing from the environment (netrc credentials, CA bundle overrides) reaches a receiver.
            trust_env=False,
            follow_redirects=False,
            # One deadline per attempt, for connecting, sending and reading together: the
            # asyncio.timeout around the exchange (send). Per-phase timers would be set anew for
            # every chunk read, at a CPU cost, and could only say less.
            timeout=httpx.Timeout(None),
            headers={"user-agent": USER_AGENT},
        )
        # What the client would merge into every request: merged once here, since each attempt's
        # request is built directly (Request + send) rather than by the client's build_request.
        self._defaults = dict(self._client.headers.multi_items())
        self._timeouts = self._client.timeout.as_dict()
        self._slots = asyncio.Semaphore(self._concurrency)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = self._transport = None

    @overload
    async def send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None
    ) -> Attempt: ...

    @overload
    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        may_start: Callable[[], bool],
    ) -> Attempt | None: ...

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        may_start: Callable[[], bool] | None = None,
    ) -> Attempt | None:
        """One attempt, within one deadline; None when `may_start`, asked once the attempt holds
        one of the slots (so after any wait for one), says it may not start.

        Whatever goes wrong in the attempt (an answer aiohttp's parser refuses, a decoding or an
        unexpected error in the transport) ends this attempt alone, as a retryable failure: the
        other attempts of the batch run on. Only a cancellation goes through.
        """
        if self._client is None or self._slots is None:
            raise RuntimeError("use `async with HttpSender(...)`")
        refused = refusal(url, self._allow_private)
        if refused:
            return Attempt(None, f"refused: {refused}", 0, permanent=True)
        async with self._slots:
            if may_start is not None and not may_start():
                return None
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._attempt(method, url, headers, content, started)
            except (TimeoutError, httpx.TransportError) as exc:
                return self._failure(exc, started)
            except Exception as exc:  # one attempt's error is that attempt's alone
                return failed_attempt(exc, _elapsed(started))

    def _failure(self, exc: BaseException, started: float) -> Attempt:
        """What went wrong, named by the cause (httpx-aiohttp maps every connection error of
        aiohttp to a ConnectTimeout, so the httpx class alone would say "timeout" for a refused
        connection)."""
        import aiohttp

        elapsed = _elapsed(started)
        guard = _cause(exc, AddressRefusedError)
        if guard is not None:
            return Attempt(None, f"refused: {guard}", elapsed, permanent=True)
        payload = _cause(exc, aiohttp.ClientPayloadError)
        if payload is not None:
            return Attempt(None, f"invalid HTTP answer: {_describe(payload)}", elapsed)
        connection = _cause(exc, aiohttp.ClientConnectorError) or _cause(exc, aiohttp.ServerDisconnectedError)
        if connection is not None:
            return Attempt(None, f"connection failed: {_describe(connection)}", elapsed)
        if isinstance(exc, TimeoutError | httpx.TimeoutException) or _cause(exc, TimeoutError):
            return Attempt(None, f"timed out after {self._timeout:g} s", elapsed)
        return Attempt(None, f"connection failed: {_describe(exc)}", elapsed)

    async def _attempt(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, started: float
    ) -> Attempt:
        transport = self._transport
        if transport is None:
            raise RuntimeError("use `async with HttpSender(...)`")
        # Built from a stream with every header given as bytes: httpx's content path would encode
        # each header and look each up again to add Host and Content-Length, which aiohttp adds
        # on the wire itself.
        parsed, text = _url(url)
        request = httpx.Request(
            method,
            parsed,
            headers=[
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in {**self._defaults, **headers}.items()
            ],
            stream=httpx.ByteStream(content or b""),
            extensions={"timeout": self._timeouts, URL_TEXT: text},
        )
        request.read()  # the body as `request.content`, which the transport hands aiohttp whole
        # Straight to the client's transport: what AsyncClient.send adds around it (an auth flow,
        # a redirect loop, cookie extraction, event hooks, a timer on the response stream) is
        # all configured off here (no auth, no redirects, no cookies, no hooks), and its
        # generators and wrappers cost ~40 us of CPU a request (`make bench`, delivery).
        response = await transport.handle_async_request(request)
        try:
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
                # Only a refusal may ask for a delay (a lookup in httpx's headers decodes them all).
                retry_after=None if response.is_success else response.headers.get("retry-after"),
                body=kept.decode("utf-8", errors="replace"),
            )
        finally:
            await response.aclose()


def _elapsed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def failed_attempt(exc: Exception, elapsed_ms: int = 0) -> Attempt:
    """A retryable failed attempt for an exception the transport let through, named by what it
    is: an answer aiohttp's parser refused (a header without a colon or over its 8,190-byte
    limit, a bad status line or chunk size, bytes that are not HTTP), else the error's type."""
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    refused = _cause(exc, aiohttp.ClientResponseError) or _cause(exc, HttpProcessingError)
    if refused is not None:
        # Their `message` alone: str() of a ClientResponseError ends with the URL, which may carry
        # a token in its query string, and its repr holds the request's headers.
        message = getattr(refused, "message", None)
        return Attempt(None, f"invalid HTTP answer: {_describe(refused, message)}"[:300], elapsed_ms)
    name, text = type(exc).__name__, _describe(exc)
    return Attempt(None, f"unexpected error: {name}{'' if text == name else ': ' + text}"[:300], elapsed_ms)


# A URL in an error's text: its query string may carry a receiver's token.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def _describe(exc: BaseException, text: object = None) -> str:
    """One line of at most 300 characters that names the error, without any URL it quotes.

    aiohttp's parser errors span several lines (the bytes refused, a caret under the fault);
    they are joined, the caret line left out.
    """
    lines = (str(exc) if text is None else str(text)).splitlines()
    joined = " ".join(line.strip() for line in lines if line.strip() and line.strip() != "^")
    return (_URL_IN_TEXT.sub("<url>", joined) or type(exc).__name__)[:300]


def sender_factory(settings: Settings) -> Callable[[], HttpSender]:
    """A new sender for each batch, as the delivery and notify functions configure it: the
    attempt timeout, the production transport, private addresses only where allowed."""
    return lambda: HttpSender(
        settings.delivery_timeout_seconds,
        transport_factory=lambda: default_transport(settings.allow_private_urls),
        allow_private=settings.allow_private_urls,
    )


class KeptSender:
    """One sender for many batches: `async with kept() as sender` opens it on first use and
    leaves it open, with its client, session and connections, for the next batch on the same
    event loop. A batch that ends in an exception closes it (nothing half-done is reused: the
    next batch opens a new one), and so does `aclose`. It is its own factory (`kept()` answers
    itself), so it stands wherever a per-batch `sender_factory` does.

    Its connections are kept idle at most KEEPALIVE_SECONDS (aiohttp closes an older one instead
    of reusing it), shorter than the usual servers' keep-alive, so that a batch arriving after a
    pause does not send on a connection the receiver has closed meanwhile."""

    def __init__(self, make: Callable[[], HttpSender]) -> None:
        self._make = make
        self._open: HttpSender | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> KeptSender:
        return self

    async def __aenter__(self) -> HttpSender:
        loop = asyncio.get_running_loop()
        if self._open is not None and self._loop is not loop:
            # Opened on another loop, which only a failure replaces (ContainerLoop closes the
            # sender before its loop): nothing of it can run here.
            self._open = None
        if self._open is None:
            sender = self._make()
            await sender.__aenter__()
            self._open, self._loop = sender, loop
        return self._open

    async def __aexit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            await self.aclose()

    async def aclose(self) -> None:
        sender, self._open, self._loop = self._open, None, None
        if sender is not None:
            await sender.__aexit__(None, None, None)


class ContainerLoop:
    """`asyncio.run` for a container's batches, on one event loop that outlives them, with one
    KeptSender: a warm invocation sets up neither a loop nor an HTTP client and reuses the
    connections of the one before. When a batch raises, its leftover tasks are cancelled, the
    sender is closed on its own loop, the loop closed, and the next batch starts on new ones.
    Not for concurrent use: Lambda gives a container one invocation at a time."""

    def __init__(self, make_sender: Callable[[], HttpSender]) -> None:
        self.sender = KeptSender(make_sender)
        self._runner: asyncio.Runner | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            # loop_factory: the loop is not made the thread's current loop (no global state).
            self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        try:
            return self._runner.run(coroutine)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the sender, then the loop (cancelling what still runs on it)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self.sender.aclose())
        except Exception as exc:  # a connection that fails to close must not hide the batch's error
            logging.getLogger(__name__).warning("sender not closed cleanly: %s", type(exc).__name__)
        finally:
            runner.close()


def container_loop(settings: Settings) -> ContainerLoop:
    """The delivery function's loop and sender, configured as `sender_factory` configures them."""
    return ContainerLoop(sender_factory(settings))
