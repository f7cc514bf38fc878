"""DataForSEO's `POST /v3/appendix/webhook_resend`: resend up to 100 tasks' callbacks by task id.

Every answer a DataForSEO client can get is HTTP 200 with the envelope (`models.dataforseo`),
except bad credentials (HTTP 401, status_code 40100). Request-level errors carry no tasks and
queue nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.models.dataforseo import (
    INTERNAL,
    INVALID_ID,
    MAX_TASKS,
    NO_CALLBACK,
    NOT_FOUND,
    OK,
    PATH,
    TASK_CREATED,
    TOO_MANY,
    envelope,
    seconds,
)
from webhook_resend.models.messages import CALLBACK
from webhook_resend.resends.jobs import Pair, fan_out


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
