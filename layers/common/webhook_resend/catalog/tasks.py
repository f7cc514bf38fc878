"""A tenant's DataForSEO-style tasks: create or replace (with their callback URLs checked), read,
delete.

Knows nothing of HTTP or boto3: it takes a `Store` and raises domain errors.
"""

from __future__ import annotations

from collections.abc import Callable

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog.validation import check_body_id, check_urls
from webhook_resend.errors import not_found
from webhook_resend.models.base import canonical_id
from webhook_resend.models.bodies import TaskIn
from webhook_resend.models.records import Task
from webhook_resend.urlpolicy import system_resolver


def _check_callback_urls(body: TaskIn, allow_private: bool, resolver: Callable) -> None:
    # $id and $tag are replaced at delivery; check the URLs with harmless stand-ins.
    named = [
        (f"data.{field}", url.replace("$id", "id").replace("$tag", "tag"))
        for field in ("pingback_url", "postback_url")
        if (url := getattr(body.data, field)) is not None
    ]
    check_urls(named, allow_private, resolver)


def put_task(
    store: Store,
    tenant_id: str,
    task_id: str,
    body: TaskIn,
    *,
    allow_private: bool,
    resolver: Callable = system_resolver,
) -> tuple[Task, bool]:
    task_id = canonical_id(task_id, "task", for_write=True)
    check_body_id(body.id, task_id)
    _check_callback_urls(body, allow_private, resolver)
    existing = store.get_task(tenant_id, task_id)
    now = clock.now_text()
    task = Task(
        id=task_id,
        data=body.data.model_dump(exclude_none=True),
        result=body.result,
        created_on=existing.created_on if existing else now,
        changed_on=now,
    )
    return task, store.put_task(tenant_id, task)


def get_task(store: Store, tenant_id: str, task_id: str) -> Task:
    task = store.get_task(tenant_id, canonical_id(task_id, "task", for_write=False))
    if task is None:
        raise not_found("task")
    return task


def delete_task(store: Store, tenant_id: str, task_id: str) -> None:
    if not store.delete_task(tenant_id, canonical_id(task_id, "task", for_write=False)):
        raise not_found("task")
