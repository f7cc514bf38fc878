"""DataForSEO's envelope and status codes: the answer format its clients parse.

Shared by the API's answers (`POST /v3/appendix/webhook_resend`, its 401 and 503), the resend by
task (`resends.dataforseo`) and the postback body a resent task delivers (`delivery.callbacks`),
which is a `task_get` answer in the same envelope.
"""

from __future__ import annotations

import time
from typing import Any

API_VERSION = "0.1.20261124"
PATH = ["v3", "appendix", "webhook_resend"]
MAX_TASKS = 100

OK = (20000, "Ok.")
TASK_CREATED = (20100, "Task Created.")
NOT_FOUND = (40400, "Not Found.")
INVALID_ID = (40501, "Invalid Field: 'id'.")
NO_CALLBACK = (40503, "'pingback' or 'postback' not supported in this function.")
UNAUTHORIZED = (40100, "You are not authorized to access this resource. Check your login and password.")
TOO_MANY = (40006, f"You can set only {MAX_TASKS} tasks at a time.")
INTERNAL = (50000, "Internal Error. The task could not be queued; try again.")


def seconds(started: float) -> str:
    return f"{time.perf_counter() - started:.4f} sec."


def envelope(
    code: tuple[int, str], started: float, tasks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict:
    tasks = tasks or []
    return {
        "version": API_VERSION,
        "status_code": code[0],
        "status_message": code[1],
        "time": seconds(started),
        "cost": 0,
        "tasks_count": len(tasks),
        "tasks_error": sum(1 for t in tasks if t["status_code"] >= 40000),
        "tasks": tasks,
        **extra,
    }
