"""Benchmark: which HTTP transport should the webhook sender use?

    .venv/bin/python bench/transports.py [--requests 1000] [--concurrency 100] [--latency-ms 50]
                                         [--repeats 3] [--json out.json]

A local receiver (bench/receiver.py: aiohttp in a child process on 127.0.0.1, so its CPU is not
counted here) answers every POST with 200 after --latency-ms. In this process, for each client below,
N POSTs of a ~1 KB JSON body (with the headers a real delivery carries) are sent with --concurrency in
flight, one client per run, after a warm-up that fills the connection pool:

    httpx_default  httpx.AsyncClient, its default transport (httpcore)
    httpx_aiohttp  httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport(...))
    aiohttp        aiohttp.ClientSession: the reference every other figure is divided by
    sender         webhook_resend.delivery.sender.HttpSender built as functions/deliver/deliver.py builds it
                   (its default transport and limits, its own semaphore, asyncio.gather over all
                   the sends), with ALLOW_PRIVATE_URLS' switch on since the receiver is loopback

Measured per run: wall seconds, requests/s and client CPU seconds (time.process_time) per 1,000
requests. Runs are repeated --repeats times in rotating order and the medians are reported, with the
ratios to raw aiohttp from the same invocation. The httpx pools are sized to --concurrency (max and
keep-alive), like the sender's, so that all clients keep their connections; --stock-limits gives (a),
(b) and (c) their libraries' default limits instead (httpx keeps 20 idle connections and reopens the
others). Only 127.0.0.1 is contacted. Everything started is stopped, also on Ctrl-C and SIGTERM. The
whole run is bounded by --time-limit: every transport gets one run first, then repeats run while time
is left (a run that does not fit is skipped and shown as such). Exit status 0 when every transport has
a counted run and no request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import inspect
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from receiver import start_receiver

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"

BASELINE = "aiohttp"
TRANSPORTS: dict[str, str] = {
    "httpx_default": "(a) httpx, default transport",
    "httpx_aiohttp": "(b) httpx + AiohttpTransport",
    "aiohttp": "(c) aiohttp ClientSession (ref)",
    "sender": "(d) HttpSender (project)",
}
REQUEST_TIMEOUT_S = 10.0  # the service's DELIVERY_TIMEOUT_SECONDS default
BODY_SIZE = 1024
STOP_RESERVE_S = 6.0  # to stop the receiver (SIGTERM, then SIGKILL after 5 s)
MIN_RUN_S = 2.0  # kept in reserve for every run still to come, until it has been timed
RUN_MARGIN = 1.5  # a timed transport's next run is expected to take up to this times as long
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a throwaway key: signs bench payloads only

Post = Callable[[], Awaitable[int | str | None]]


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    errors: int
    first_error: str | None


@dataclass
class Summary:
    name: str
    runs: list[Run] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # runs not counted (timeout, crash, errors)
    errors: int = 0  # failed requests over all runs, counted or not
    timed_out: bool = False  # then its later runs are skipped, leaving the time to the others

    @property
    def ok(self) -> bool:
        return bool(self.runs)

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)


# -- the payload ----------------------------------------------------------------------------------
def make_body(size: int = BODY_SIZE) -> bytes:
    """A delivery-shaped JSON event of exactly `size` bytes."""
    event = {
        "id": "msg_2f1c4a7e9b0d4e6f8a1b2c3d4e5f6a7b",
        "created_on": "2025-01-01T00:00:00+00:00",
        "event": "entry.published",
        "payload": {"id": "c0ffee00-0000-4000-8000-000000000000", "locale": "en-GB", "text": ""},
    }
    empty = len(json.dumps(event, separators=(",", ":")).encode())
    event["payload"]["text"] = "x" * max(0, size - empty)  # type: ignore[index]
    return json.dumps(event, separators=(",", ":")).encode()


def make_headers(body: bytes) -> dict[str, str]:
    """The headers a delivery carries (delivery.Target.headers), computed once."""
    from webhook_resend.delivery import signing

    message_id = "msg_2f1c4a7e9b0d4e6f8a1b2c3d4e5f6a7b"
    return {
        "content-type": "application/json",
        "x-webhook-resend-id": "job_bench",
        **signing.headers(SECRET, message_id, int(time.time()), body),
    }


# -- the clients: each yields a post() that sends one request and returns its status --------------
@contextlib.asynccontextmanager
async def httpx_client(
    transport: httpx.AsyncBaseTransport, url: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[Post]:
    async with httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(REQUEST_TIMEOUT_S), follow_redirects=False, trust_env=False
    ) as client:

        async def post() -> int:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code

        yield post


def make_sender(concurrency: int) -> Any:
    """HttpSender built as functions/deliver/deliver.py builds it, with private addresses allowed
    (ALLOW_PRIVATE_URLS=true, as on the local stack): the receiver is on loopback, which the SSRF
    guard refuses otherwise. Older senders without that switch are built with their defaults."""
    from webhook_resend.delivery import sender

    kwargs: dict[str, Any] = {}
    factory = sender.default_transport
    if "allow_private" in inspect.signature(sender.HttpSender).parameters:
        kwargs["allow_private"] = True
    if "allow_private" in inspect.signature(sender.default_transport).parameters:
        factory = functools.partial(sender.default_transport, allow_private=True)
    return sender.HttpSender(REQUEST_TIMEOUT_S, concurrency=concurrency, transport_factory=factory, **kwargs)


@contextlib.asynccontextmanager
async def open_client(
    name: str, url: str, body: bytes, headers: dict[str, str], concurrency: int, stock_limits: bool
) -> AsyncIterator[Post]:
    from webhook_resend.delivery.sender import USER_AGENT

    limits = (
        httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's DEFAULT_LIMITS
        if stock_limits
        else httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    )
    full_headers = {**headers, "user-agent": USER_AGENT}  # what HttpSender adds to every request
    if name == "httpx_default":
        async with httpx_client(httpx.AsyncHTTPTransport(limits=limits), url, body, full_headers) as post:
            yield post
    elif name == "httpx_aiohttp":
        from httpx_aiohttp import AiohttpTransport

        async with httpx_client(AiohttpTransport(limits=limits), url, body, full_headers) as post:
            yield post
    elif name == "aiohttp":
        connector = aiohttp.TCPConnector(limit=100 if stock_limits else concurrency)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        ) as session:

            async def post() -> int:
                async with session.post(url, data=body, headers=full_headers) as response:
                    await response.read()
                    return response.status

            yield post
    elif name == "sender":
        async with make_sender(concurrency) as sender:

            async def post() -> int | str | None:
                attempt = await sender.send("POST", url, headers, body)
                return attempt.error or attempt.status_code

            yield post
    else:
        raise ValueError(name)


async def drive(post: Post, count: int, concurrency: int | None) -> tuple[int, str | None]:
    """Send `count` requests with at most `concurrency` in flight; (errors, first error).

    With concurrency None nothing is gated here: the client bounds itself (HttpSender's semaphore),
    and all the sends are gathered at once, as Deliverer.run does.
    """
    slots = asyncio.Semaphore(concurrency) if concurrency else None

    async def one() -> int | str | None:
        if slots is None:
            return await post()
        async with slots:
            return await post()

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    bad = [r for r in results if r != 200]
    first = None
    if bad:
        first = repr(bad[0]) if isinstance(bad[0], BaseException) else str(bad[0])
    return len(bad), first


async def measure(
    name: str, url: str, body: bytes, headers: dict[str, str], args: argparse.Namespace, budget_s: float
) -> Run:
    async with asyncio.timeout(budget_s):
        gated = None if name == "sender" else args.concurrency
        async with open_client(name, url, body, headers, args.concurrency, args.stock_limits) as post:
            if args.warmup:
                await drive(post, args.warmup, gated)
            gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            errors, first = await drive(post, args.requests, gated)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Run(wall, cpu, errors, first)


# -- reporting ------------------------------------------------------------------------------------
def figures(results: dict[str, Summary], requests: int) -> dict[str, float]:
    base = results.get(BASELINE)
    out: dict[str, float] = {}
    for name, s in results.items():
        key = f"transport_{name}"
        out[f"{key}_errors"] = s.errors
        out[f"{key}_runs"] = len(s.runs)
        if not s.ok:
            continue
        out[f"{key}_wall_s"] = round(s.wall_s, 4)
        out[f"{key}_rps"] = round(requests / s.wall_s, 1)
        out[f"{key}_cpu_s"] = round(s.cpu_s, 4)
        out[f"{key}_cpu_per_1k_s"] = round(s.cpu_s * 1000 / requests, 4)
        if base is not None and base.ok:
            out[f"{key}_wall_over_aiohttp"] = round(s.wall_s / base.wall_s, 3)
            out[f"{key}_cpu_over_aiohttp"] = round(s.cpu_s / base.cpu_s, 3)
    return out


def failures(s: Summary) -> str:
    return "; ".join(f"{n} x {text}" if n > 1 else text for text, n in Counter(s.failures).items())


def table(results: dict[str, Summary], nums: dict[str, float]) -> str:
    head = (
        f"{'transport':<33}{'wall s':>8}{'req/s':>9}{'CPU s/1k':>10}"
        f"{'wall/aiohttp':>14}{'cpu/aiohttp':>13}{'errors':>8}   per run: wall s | CPU s/1k"
    )
    lines = [head, "-" * len(head)]
    for name, label in TRANSPORTS.items():
        s = results.get(name)
        if s is None:
            continue
        if not s.ok:
            lines.append(f"{label:<33}no run counted ({s.errors} failed requests): {failures(s)}")
            continue
        key = f"transport_{name}"
        ratio_w = nums.get(f"{key}_wall_over_aiohttp", math.nan)
        ratio_c = nums.get(f"{key}_cpu_over_aiohttp", math.nan)
        per_run = " ".join(f"{r.wall_s:.2f}" for r in s.runs) + " | "
        per_run += " ".join(f"{r.cpu_s * 1000 / nums['requests']:.3f}" for r in s.runs)
        lines.append(
            f"{label:<33}{s.wall_s:>8.3f}{nums[key + '_rps']:>9.0f}{nums[key + '_cpu_per_1k_s']:>10.3f}"
            f"{ratio_w:>13.2f}x{ratio_c:>12.2f}x{s.errors:>8}   {per_run}"
        )
        if s.failures:
            lines.append(f"{'':<33}runs not counted: {failures(s)}")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per run (1000)")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight (100)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="receiver's answer delay (50)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per transport, medians reported (3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up requests (= concurrency)")
    parser.add_argument(
        "--transports",
        default=",".join(TRANSPORTS),
        help=f"comma-separated subset of {','.join(TRANSPORTS)}",
    )
    parser.add_argument("--stock-limits", action="store_true", help="libraries' default pool limits")
    parser.add_argument("--time-limit", type=float, default=80.0, help="bound on the whole run, s (80)")
    parser.add_argument("--json", type=Path, help="write the figures as a flat JSON dict here")
    args = parser.parse_args(argv)
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = set(args.transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transports: {', '.join(sorted(unknown))}")
    if args.requests < 1 or args.concurrency < 1 or args.repeats < 1 or args.latency_ms < 0:
        parser.error("--requests, --concurrency and --repeats must be >= 1, --latency-ms >= 0")
    if args.warmup is None:
        args.warmup = args.concurrency
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # still stop the receiver
    deadline = time.monotonic() + args.time_limit
    sys.path.insert(0, str(LAYER))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(var, None)  # only 127.0.0.1 is ever contacted

    body = make_body()
    headers = make_headers(body)
    results = {name: Summary(name) for name in args.transports}
    load_before = os.getloadavg()[0]
    url, stop = start_receiver(args.latency_ms)
    sent = 0
    try:
        schedule = []
        for rep in range(args.repeats):
            shift = rep % len(args.transports)
            schedule += args.transports[shift:] + args.transports[:shift]  # rotate against drift
        took: dict[str, float] = {}  # seconds the last run of each transport took, set-up included

        def needs(name: str) -> float:
            return max(MIN_RUN_S, RUN_MARGIN * took[name]) if name in took else MIN_RUN_S

        for i, name in enumerate(schedule):
            summary = results[name]
            if summary.timed_out:
                summary.failures.append("skipped after a timeout")
                continue
            # What is left once the receiver is stopped and, in the first round, the runs still to
            # come have their share: every transport gets a run, then repeats run while time lasts.
            first_round = schedule[i + 1 : len(args.transports)]
            later = sum(needs(n) for n in first_round if not results[n].timed_out)
            budget = deadline - time.monotonic() - STOP_RESERVE_S - later
            if budget < needs(name):
                summary.failures.append("skipped: --time-limit reached")
                continue
            sent += args.warmup + args.requests
            began = time.perf_counter()
            try:
                run = asyncio.run(measure(name, url, body, headers, args, budget))
            except TimeoutError:
                summary.timed_out = True
                summary.failures.append(f"timed out after {budget:.0f} s")
                continue
            except Exception as exc:
                summary.failures.append(f"failed: {exc!r}"[:200])
                continue
            finally:
                took[name] = time.perf_counter() - began
            summary.errors += run.errors
            if run.errors:  # its figures would not be those of delivering
                summary.failures.append(f"had failed requests (e.g. {run.first_error})")
            else:
                summary.runs.append(run)
    finally:
        served = stop()

    nums: dict[str, float] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "repeats": args.repeats,
        "body_bytes": len(body),
        "ideal_wall_s": round(math.ceil(args.requests / args.concurrency) * args.latency_ms / 1000, 4),
        "receiver_served": served if served is not None else -1,
        "loadavg_1m_before": round(load_before, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        **figures(results, args.requests),
    }
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("httpx", "httpcore", "httpx-aiohttp", "aiohttp")
    )
    limits = "library defaults" if args.stock_limits else f"pools sized to {args.concurrency}"
    print(
        f"{args.requests} POSTs x {len(body)} B, {args.concurrency} in flight, receiver latency "
        f"{args.latency_ms:g} ms (ideal wall {nums['ideal_wall_s']:g} s), {limits}; median of "
        f"{args.repeats} run(s), {args.warmup} warm-up requests each\n"
        f"Python {platform.python_version()}, {versions}; {os.cpu_count()} CPUs, 1-min load average "
        f"{nums['loadavg_1m_before']:g} before, {nums['loadavg_1m_after']:g} after (the receiver takes "
        "one core: wall figures need the machine otherwise idle, CPU figures less so)\n"
    )
    print(table(results, nums))
    print(f"\nreceiver answered {served} requests (client started {sent})")
    if args.json:
        args.json.write_text(json.dumps(nums, indent=2, sort_keys=True) + "\n")
        print(f"figures written to {args.json}")
    measured = all(s.ok and not s.errors and not s.timed_out for s in results.values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
