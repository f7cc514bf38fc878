"""What the CLI prints, as pure functions of the API's answers: progress bars, aligned fields,
delivery lines and error lines. Text that comes from the server is stripped of control
characters, so an answer can never move the cursor or rewrite the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

BAR_WIDTH = 20
CREDENTIAL_KEYS = ("tenant_id", "name", "login", "password", "token", "callback_secret")
JOB_KEYS = (
    "id",
    "status",
    "source",
    "event",
    "created_on",
    "completed_on",
    "total_items",
    "total_queued",
    "delivered",
    "failed",
    "cancelled",
    "pending",
    "paused_on",
    "cancelled_on",
    "reason",
    "rate",
    "eta",
)
SETTINGS_KEYS = ("notify_url",)
DRY_RUN_KEYS = ("event", "total_items", "total_queued")
FINAL_STATUSES = ("completed", "cancelled", "rejected")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(value: Any) -> str:
    """`value` as one printable line."""
    return _CONTROL.sub(" ", str(value)).strip()


def _count(job: Mapping[str, Any], key: str) -> int:
    try:
        return max(int(job.get(key) or 0), 0)
    except (TypeError, ValueError):
        return 0


def render_progress(job: Mapping[str, Any], width: int = BAR_WIDTH) -> str:
    """`[#########-----------]  45%  delivered 40  failed 5  pending 55 / 100` for a job.

    `width` is the number of cells of the bar. Done means delivered, failed or cancelled (a
    count shown only when the job has some); both round down,
    so 100% is shown only when nothing is pending. A job with nothing to deliver is done. While
    the job still selects, its totals grow, so no bar: `selecting: 3000 items, 6000 pairs so far`
    and the counts; a rejected job shows `rejected: <reason>`.
    """
    width = max(int(width), 1)
    total = _count(job, "total_queued")
    delivered, failed, pending = _count(job, "delivered"), _count(job, "failed"), _count(job, "pending")
    cancelled = _count(job, "cancelled")
    ended = f"delivered {delivered}  failed {failed}" + (f"  cancelled {cancelled}" if cancelled else "")
    if job.get("status") == "selecting":
        return (
            f"selecting: {_count(job, 'total_items')} items, {total} pairs so far  {ended}  pending {pending}"
        )
    if job.get("status") == "rejected":
        return f"rejected: {clean(job.get('reason') or 'nothing was queued')}"
    done = min(delivered + failed + cancelled, total)
    if total == 0:
        filled, percent = width, 100
    else:
        filled, percent = done * width // total, done * 100 // total
    bar = "#" * filled + "-" * (width - filled)
    line = f"[{bar}] {percent:>3}%  {ended}  pending {pending} / {total}"
    if job.get("status") in ("paused", "cancelled"):
        line += f"  ({job['status']})"
    return line + format_pace(job)


def format_rate(per_second: float) -> str:
    """`120/s`, `12.5/s`, `0.25/s`."""
    if per_second >= 100:
        return f"{per_second:.0f}/s"
    if per_second >= 10:
        return f"{per_second:.1f}/s"
    return f"{per_second:.2f}/s"


def format_duration(seconds: int) -> str:
    """`45s`, `3m 05s`, `2h 03m`."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def format_pace(job: Mapping[str, Any]) -> str:
    """`  12.5/s  eta 3m 05s` while the job shows a rate (it runs); nothing otherwise."""
    rate, eta = job.get("rate"), job.get("eta")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        return ""
    pace = f"  {format_rate(float(rate))}"
    if isinstance(eta, int) and not isinstance(eta, bool):
        pace += f"  eta {format_duration(eta)}"
    return pace


def is_final(job: Mapping[str, Any]) -> bool:
    return job.get("status") in FINAL_STATUSES


def format_fields(document: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """`key  value` lines, values aligned, for the keys the document has (None shows as -)."""
    present = [key for key in keys if key in document]
    pad = max((len(key) for key in present), default=0) + 2
    return [f"{key:<{pad}}{'-' if document[key] is None else clean(document[key])}" for key in present]


def format_credentials(credentials: Mapping[str, Any]) -> list[str]:
    return format_fields(credentials, CREDENTIAL_KEYS)


def format_job(job: Mapping[str, Any]) -> list[str]:
    return format_fields(job, JOB_KEYS)


def format_settings(settings: Mapping[str, Any]) -> list[str]:
    """Every setting, `-` for one that is not set."""
    return format_fields({key: settings.get(key) for key in SETTINGS_KEYS}, SETTINGS_KEYS)


def format_dry_run(answer: Mapping[str, Any]) -> list[str]:
    """The counts a dry run answered, and the webhooks it would deliver to."""
    lines = ["dry run: nothing was queued", *format_fields(answer, DRY_RUN_KEYS)]
    webhooks = answer.get("webhooks") or {}
    pad = max(len(key) for key in DRY_RUN_KEYS) + 2  # aligned with the fields above
    for webhook_id, urls in webhooks.items():
        lines.append(f"{'webhook':<{pad}}{clean(webhook_id)}  {' '.join(clean(u) for u in urls or [])}")
    return lines


def format_delivery(record: Mapping[str, Any]) -> str:
    """One delivery record: status, attempts, last status code, URL, last error."""
    code = record.get("last_status_code")
    line = (
        f"{clean(record.get('status') or '-'):<9}  {_count(record, 'attempts'):>2}  "
        f"{'-' if code is None else clean(code):>3}  {clean(record.get('url') or '-')}"
    )
    error = record.get("last_error")
    return f"{line}  {clean(error)}" if error else line


def format_errors(status: int, document: Any, text: str = "") -> list[str]:
    """`error: <field>: <message>` lines for an error answer of the API.

    The API answers `{"errors": [{"field", "message"}]}`; API Gateway itself answers
    `{"message"}`; anything else is shown by its status and the start of its body.
    """
    problems = document.get("errors") if isinstance(document, Mapping) else None
    if isinstance(problems, list) and problems:
        lines = []
        for problem in problems:
            if not isinstance(problem, Mapping):
                lines.append(f"error: {clean(problem)}")
                continue
            field = clean(problem.get("field") or "")
            message = clean(problem.get("message") or "is invalid")
            lines.append(f"error: {field}: {message}" if field else f"error: {message}")
        return lines
    if isinstance(document, Mapping) and isinstance(document.get("message"), str):
        return [f"error: {clean(document['message'])} (HTTP {status})"]
    detail = clean(text)[:200]
    return [f"error: HTTP {status}: {detail}" if detail else f"error: HTTP {status}"]


def format_job_line(job: Mapping[str, Any]) -> str:
    """One job of a list: id, status, creation time, and its counters."""
    return (
        f"{clean(job.get('id') or '-')}  {clean(job.get('status') or '-'):<9}  "
        f"{clean(job.get('created_on') or '-')}  delivered {_count(job, 'delivered')}  "
        f"failed {_count(job, 'failed')}  "
        + (f"cancelled {_count(job, 'cancelled')}  " if _count(job, "cancelled") else "")
        + f"pending {_count(job, 'pending')} / {_count(job, 'total_queued')}"
    )
