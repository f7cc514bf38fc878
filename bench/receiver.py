"""A local webhook receiver for benchmarks: an aiohttp server in its own process on 127.0.0.1.

    from receiver import start_receiver

    url, stop = start_receiver(latency_ms=50)
    try:
        ...  # POST to url
    finally:
        served = stop()  # requests answered, or None if the process had to be killed

Every request (any method, any path) has its body read, waits `latency_ms` (asyncio.sleep, so
concurrent requests overlap) and gets `200` with a small JSON body. The server runs in a child
process (multiprocessing "spawn") so its CPU is never counted in the caller's `time.process_time()`.
It binds an ephemeral port on 127.0.0.1 only, and exits on `stop()`, on SIGTERM, or by itself
if its parent process disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
RESPONSE_BODY = b'{"ok":true}'


def start_receiver(latency_ms: float) -> tuple[str, Callable[[], int | None]]:
    """Start the receiver process; return its URL and an idempotent `stop()`.

    `stop()` shuts the server down (SIGTERM, then SIGKILL after a few seconds) and returns how many
    requests it answered, or None when that count could not be collected.
    """
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_serve, args=(float(latency_ms), child_end, os.getpid()), name="bench-receiver", daemon=True
    )
    process.start()
    child_end.close()

    def kill() -> None:
        if process.is_alive():
            process.kill()
        process.join(STOP_TIMEOUT_S)

    try:
        if not parent_end.poll(READY_TIMEOUT_S):
            raise RuntimeError(f"receiver did not start within {READY_TIMEOUT_S:g} s")
        port = parent_end.recv()
    except BaseException:
        kill()
        parent_end.close()
        raise

    stopped: list[int | None] = []

    def stop() -> int | None:
        if stopped:
            return stopped[0]
        served = None
        if process.is_alive():
            process.terminate()  # SIGTERM: graceful shutdown, then the count comes back
        try:
            if parent_end.poll(STOP_TIMEOUT_S):
                served = parent_end.recv()
        except (EOFError, OSError):
            served = None
        process.join(1.0)  # the count comes after the server's clean-up: it is all but done
        kill()
        parent_end.close()
        stopped.append(served)
        return served

    return f"http://{HOST}:{port}/", stop


def _serve(latency_ms: float, conn: Connection, parent_pid: int) -> None:
    """Child process entry point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    served: int | None = None
    try:
        served = asyncio.run(_main(latency_ms, conn, parent_pid))
    finally:
        with contextlib.suppress(OSError):
            conn.send(served)
        conn.close()


async def _main(latency_ms: float, conn: Connection, parent_pid: int) -> int:
    from aiohttp import web

    delay = latency_ms / 1000
    served = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal served
        try:
            await request.read()
        except ConnectionError:  # the client gave up (e.g. a benchmark run timed out)
            return web.Response(status=499)
        if delay > 0:
            await asyncio.sleep(delay)
        served += 1
        return web.Response(body=RESPONSE_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    conn.send(port)

    async def orphan_watch() -> None:
        while os.getppid() == parent_pid:
            await asyncio.sleep(1)
        done.set()

    watch = asyncio.create_task(orphan_watch())
    try:
        await done.wait()
    finally:
        watch.cancel()
        await runner.cleanup()
    return served
