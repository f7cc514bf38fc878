"""`python -m devstack` (what `make run` calls): serve the whole stack until Ctrl-C or SIGTERM.

Settings come from the environment: `PORT` (default 3000), `ADMIN_TOKEN` (generated when unset),
every template parameter in UPPER_SNAKE_CASE (`RETRY_SCHEDULE=1,2,3`, `LOG_LEVEL=DEBUG`), and
`LOCAL_SCHEDULE_EVENT_SECONDS` (fire the template's Schedule/ScheduleV2 events, such as the
waker's minute, that often instead).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from devstack.stack import DEFAULT_TEMPLATE, DemoTenantError, LocalStack

STOP_SECONDS = 3.0  # Ctrl-C stops `make run` within this (and a little interpreter teardown)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "3000")), help="port (default $PORT or 3000)"
    )
    parser.add_argument("--template", default=str(DEFAULT_TEMPLATE), help="SAM template to serve")
    return parser.parse_args(argv)


def _banner(local: LocalStack, demo: dict[str, Any] | None) -> str:
    # ApiUrl and ConsoleUrl name the deployed API's host; locally the gateway's URL replaces it.
    rows = {
        "API": local.url,
        "Console": f"{local.url}/console",
        "Admin token": local.admin_token,
        "AWS (moto)": f"AWS_ENDPOINT_URL={local.aws_endpoint}",
        **{
            name: value
            for name, value in local.stack.outputs().items()
            if name not in ("ApiUrl", "ConsoleUrl")
        },
    }
    width = max(len(name) for name in rows)
    lines = [
        "",
        "webhook-resend is running locally",
        *(f"  {name:<{width}}  {value}" for name, value in rows.items()),
    ]
    if demo:
        lines += [
            "",
            "Demo tenant (credentials are shown only once):",
            *(f"  {key:<{width}}  {value}" for key, value in demo.items()),
            "",
            "Try:",
            f'  curl -s -H "Authorization: Bearer {demo.get("token", "<token>")}" {local.url}/webhooks',
        ]
    lines += ["", "Ctrl-C to stop.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # botocore's endpoint notes would drown the gateway's access log (moto logs no request lines).
    for noisy in ("botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    # The demo tenant is created here rather than by start(), so a broken admin route is a
    # warning on a running stack instead of a stack that will not start.
    local = LocalStack(
        port=arguments.port,
        host=arguments.host,
        template_path=arguments.template,
        create_demo=False,
        access_log=True,
    )
    local.start()
    try:
        demo = None
        try:
            demo = local.demo = local.create_demo_tenant()
        except (DemoTenantError, OSError) as error:
            logging.getLogger("devstack").warning("no demo tenant: %s", error)
        print(_banner(local, demo), flush=True)
        while not stopping.wait(1):
            pass
    finally:
        stopped = stop_within(local, STOP_SECONDS)
    print(
        "stopped" if stopped else f"stopped (what was still running after {STOP_SECONDS:g} s was dropped)",
        flush=True,
    )
    return 0


def stop_within(local: LocalStack, seconds: float) -> bool:
    """Stop the stack, waiting at most `seconds`: whether everything stopped in time. An
    invocation still running then (a delivery batch, a selection step) is dropped with the
    process, as Lambda drops one whose sandbox dies: its messages come back after their visibility
    timeout on the next run's queues, and nothing persists between runs anyway."""
    stopper = threading.Thread(target=local.stop, name="stop", daemon=True)
    stopper.start()
    stopper.join(seconds)
    return not stopper.is_alive()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: it would wait for the threads of an invocation that outlived STOP_SECONDS.
    os._exit(code)
