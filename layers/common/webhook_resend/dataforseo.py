"""DataForSEO's `POST /v3/appendix/webhook_resend`: its envelope, its status codes, and the
callbacks (pingback GET, gzip postback POST) a resent task delivers.

Every answer a DataForSEO client can get is HTTP 200 with the envelope, except bad credentials
(HTTP 401, status_code 40100). Request-level errors carry no tasks and queue nothing.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

from webhook_resend.dynamo import Store
from webhook_resend.jobs import PairMessage
from webhook_resend.publisher import SqsPublisher

API_VERSION = "0.1.20261124"
PATH = ["v3", "appendix", "webhook_resend"]
MAX_TASKS = 100
CALLBACK = "callback"  # the webhook id of a task's callbacks in messages and delivery records

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


def _task(task_id: Any, code: tuple[int, str], data: Any, started: float) -> dict[str, Any]:
    return {
        "id": task_id if isinstance(task_id, str) else json.dumps(task_id),
        "status_code": code[0],
        "status_message": code[1],
        "time": seconds(started),
        "cost": 0,
        "result_count": 0,
        "path": PATH,
        "data": data if isinstance(data, dict) else {},
        "result": None,
    }


def _entries(raw: str, started: float) -> list[Any] | dict[str, Any]:
    """The task objects of the body, or the envelope of a request-level error."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return envelope((40000, "Invalid JSON in the POST body."), started)
    if isinstance(body, dict) and body and all(k.isascii() and k.isdigit() for k in body):
        # DataForSEO's own PHP and Python examples post {"0": {...}, "1": {...}}: a PHP array.
        body = [body[k] for k in sorted(body, key=int)]
    if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
        return envelope(
            (40501, 'Invalid Field: the POST body must be a JSON array of task objects: [{"id": "<uuid>"}].'),
            started,
        )
    if not body:
        return envelope((40501, "Invalid Field: the POST body holds no task."), started)
    if len(body) > MAX_TASKS:
        return envelope(TOO_MANY, started)
    return body


def webhook_resend(
    store: Store, publisher: SqsPublisher, tenant_id: str, raw_body: str, *, retention_days: int
) -> dict[str, Any]:
    # Here, not at the top: the delivery consumer imports this module for its callbacks (below)
    # and never fans out, so its cold start skips the selection machinery (catalog, filters,
    # params). The resend function has loaded it already, for its bulk route.
    from webhook_resend.resend import Pair, fan_out

    started = time.perf_counter()
    entries = _entries(raw_body, started)
    if isinstance(entries, dict):
        return entries
    ids: list[str | None] = []
    for entry in entries:
        try:
            ids.append(str(uuid.UUID(entry.get("id"))) if isinstance(entry.get("id"), str) else None)
        except ValueError:
            ids.append(None)
    found = store.get_tasks(tenant_id, [i for i in ids if i])
    to_queue = list(dict.fromkeys(i for i in ids if i in found and _callbacks(found[i].data)))
    result = fan_out(
        store,
        publisher,
        tenant_id,
        source="dataforseo",
        event=None,
        kind="task",
        pairs=[Pair(task_id, CALLBACK) for task_id in to_queue],
        total_items=len(to_queue),
        retention_days=retention_days,
    )
    unqueued = {p.subject_id for p in result.unqueued}
    tasks = []
    for entry, task_id in zip(entries, ids, strict=True):
        if task_id is None:
            tasks.append(_task(entry.get("id"), INVALID_ID, entry, started))
        elif task_id not in found:
            tasks.append(_task(task_id, NOT_FOUND, entry, started))
        elif not _callbacks(found[task_id].data):
            tasks.append(_task(task_id, NO_CALLBACK, found[task_id].data, started))
        elif task_id in unqueued:
            tasks.append(_task(task_id, INTERNAL, found[task_id].data, started))
        else:
            tasks.append(_task(task_id, TASK_CREATED, found[task_id].data, started))
    return envelope(OK, started, tasks, resend_id=result.job.id)


def _callbacks(data: dict[str, Any]) -> bool:
    return bool(data.get("pingback_url") or data.get("postback_url"))


# ------------------------------------------------------------------------------------------------
# What a resent task delivers
# ------------------------------------------------------------------------------------------------
def callback_url(template: str, task_id: str, tag: str | None) -> str:
    """`$id` and `$tag` replaced by the task id and tag, URL-encoded."""
    return template.replace("$id", quote(task_id, safe="")).replace("$tag", quote(tag or "", safe=""))


def postback_document(message: PairMessage, data: dict[str, Any], result: Any) -> bytes:
    """The task result in DataForSEO's envelope (with `postback_data` in `data`), as JSON bytes:
    what the postback signs and, gzip-compressed, sends."""
    path = ["v3", *(str(data[k]) for k in ("api", "se", "se_type") if data.get(k)), "task_get"]
    if data.get("postback_data"):
        path.append(str(data["postback_data"]))
    task = {
        "id": message.subject_id,
        "status_code": 20000,
        "status_message": "Ok.",
        "time": "0.0000 sec.",
        "cost": 0,
        "result_count": len(result) if isinstance(result, list) else int(result is not None),
        "path": path,
        "data": data,
        "result": result,
    }
    document = envelope(OK, time.perf_counter(), [task])
    return json.dumps(document, separators=(",", ":")).encode()


def postback_body(message: PairMessage, data: dict[str, Any], result: Any) -> bytes:
    """The postback's body on the wire: the document, gzip-compressed."""
    return gzip.compress(postback_document(message, data, result), mtime=0)
