"""A job's progress from counters (SPEC §12): `rate` and `eta` in `GET /resends/{id}` while it
runs, from per-10-second windows and failure causes the commit's one counter update moves; the
status read stays one GetItem of the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from webhook_resend import clock

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"


@pytest.fixture
def local_env() -> dict[str, str]:
    # A retried pair waits 600 s (its message's visibility): the job stays running.
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "600", "DELIVERY_TIMEOUT_SECONDS": "2"}


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return reply.json


def _resend_two_items_to(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    ids = []
    for n in range(2):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        assert api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token).status == 201
        ids.append(item_id)
    webhooks = []
    for url in urls:
        reply = api.request("POST", "/webhooks", json_body={"urls": [url], "events": [EVENT]}, token=token)
        webhooks.append(reply.json["id"])
    body = {"event": EVENT, "webhook_id": [{"in": webhooks}]}
    reply = api.request("GET", BULK, json_body=body, token=token)
    assert reply.status == 200, reply.body
    return reply.json


def test_progress_status_shows_rate_and_eta_while_the_job_runs(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given 2 items x 2 webhooks, one of which answers 503 (its pairs wait 600 s to be retried)
    receiver.script("/busy", [503])
    started = time.time()
    job = _resend_two_items_to(api, token, [f"{receiver.url}/hook", f"{receiver.url}/busy"])
    assert job["total_queued"] == 4

    # When the first attempts are made
    deliveries()
    running = _job(api, token, job["resend_id"])
    elapsed = time.time() - started

    # Then 2 pairs ended within the job's first seconds, 2 are pending
    assert (running["status"], running["delivered"], running["pending"]) == ("running", 2, 2)
    # rate: 2 pairs over the job's age (younger than a minute), at least one second
    assert 2 / max(elapsed, 1.0) - 0.001 <= running["rate"] <= 2.0
    # eta: pending at that rate, rounded up
    assert running["eta"] == pytest.approx(2 / running["rate"], abs=1)
    assert running["eta"] >= 1


def test_progress_queued_job_has_rate_zero_and_no_eta(api: Api, token: str, receiver: Receiver) -> None:
    job = _resend_two_items_to(api, token, [f"{receiver.url}/hook"])

    queued = _job(api, token, job["resend_id"])

    assert (queued["status"], queued["rate"], queued["eta"]) == ("running", 0.0, None)


def test_progress_completed_job_has_neither_rate_nor_eta_nor_windows(
    api: Api, token: str, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    from webhook_resend.aws import clients

    job = _resend_two_items_to(api, token, [f"{receiver.url}/hook"])

    deliveries()

    done = _job(api, token, job["resend_id"])
    assert (done["status"], done["rate"], done["eta"]) == ("completed", None, None)
    # the completion's claim removed the windows: a finished job item keeps no progress slots
    record = clients.store().job_record(tenant["tenant_id"], job["resend_id"])
    assert record is not None
    assert [name for name in record if name.startswith("ended_w")] == []
    assert record["end_notified"] == "resend.completed"


class _Calls:
    """The DynamoDB client, wrapped: records each call's operation and key."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("exceptions", "meta"):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs.get("Key")))
            return attribute(**kwargs)

        return call


def test_progress_status_read_is_one_getitem_of_the_job(
    api: Api, token: str, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    from webhook_resend.aws import clients, keys
    from webhook_resend.aws.dynamodb import to_attrs

    receiver.script("/busy", [503])
    job = _resend_two_items_to(api, token, [f"{receiver.url}/hook", f"{receiver.url}/busy"])
    deliveries()
    store = clients.store()
    wrapped = _Calls(store._client)
    store._client = wrapped

    answer = _job(api, token, job["resend_id"])

    assert answer["rate"] > 0
    # the authorizer's read of the tenant (same process, same store), and one GetItem of the job
    assert wrapped.calls == [
        ("get_item", to_attrs(keys.tenant(tenant["tenant_id"]))),
        ("get_item", to_attrs(keys.job(tenant["tenant_id"], job["resend_id"]))),
    ]


def test_progress_commit_moves_windows_and_causes_in_its_one_counter_update(stack: LocalAws) -> None:
    from webhook_resend.aws import clients
    from webhook_resend.aws.dynamodb import PairOutcome, Store, ended_windows, failure_causes
    from webhook_resend.models.progress import window_of
    from webhook_resend.models.records import Delivery, Job

    calls = _Calls(clients.boto_client("dynamodb"))
    store = Store(calls, clients.settings().table_name)
    created = clock.now() - timedelta(minutes=5)
    job = Job(
        id="3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f",
        source="api",
        status="running",
        created_on=clock.canonical(created),
        total_items=6,
        total_queued=6,
        delivered=0,
        failed=0,
        pending=6,
    )
    assert store.put_job("tn-progress", job, clock.expires_at(1))

    def outcome(n: int, code: int | None, error: str | None = None) -> PairOutcome:
        record = Delivery(
            job_id=job.id,
            subject_id=f"s{n}",
            webhook_id="w",
            url_index=0,
            url="https://example.com/hook",
            status="delivered" if code == 200 else "failed",
            last_status_code=code,
            last_error=error,
        )
        return PairOutcome("tn-progress", job.id, f"s{n}", "w", [record], record.status)

    # Given a commit of 3 pairs at T, and one of 3 more 65 s later
    first = created + timedelta(minutes=1)
    second = first + timedelta(seconds=65)
    calls.calls.clear()
    assert store.commit([outcome(0, 200), outcome(1, 404), outcome(2, 404)], clock.canonical(first), 0) == []
    assert (
        store.commit(
            [
                outcome(3, None, "timed out after 2 s (gave up after 1 attempts)"),
                outcome(4, 500),
                outcome(5, 200),
            ],
            clock.canonical(second),
            0,
        )
        == []
    )

    # Then each commit was one transaction, and the job item holds the second window only (the
    # first fell in the minute the second commit cleared) and every cause
    assert [name for name, _ in calls.calls] == ["transact_write_items", "transact_write_items"]
    record = store.job_record("tn-progress", job.id)
    assert record is not None
    assert ended_windows(record) == {window_of(second.timestamp()): 3}
    assert failure_causes(record) == {"404": 2, "timeout": 1, "500": 1}
    assert (record["delivered"], record["failed"], record["pending"]) == (2, 4, 0)
