"""DataForSEO's `POST /v3/appendix/webhook_resend` as pure logic (SPEC §5.1): the task entries
and the status code of every case.

The domain function runs over a fake store and a fake publisher: no AWS, no sockets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from tests.dataforseo_seed import (
    BARE_DATA,
    BARE_ID,
    ENVELOPE_FIELDS,
    FOREIGN_ID,
    OTHER_TENANT,
    PATH,
    PING_DATA,
    PING_ID,
    POST_DATA,
    POST_ID,
    TASK_FIELDS,
    TENANT,
    TIME,
    UNKNOWN_ID,
)
from webhook_resend.aws.dynamodb import Outbox
from webhook_resend.aws.publisher import PublishResult
from webhook_resend.models.messages import CALLBACK, PairMessage
from webhook_resend.models.records import Job, Task
from webhook_resend.resends import dataforseo


# -- fakes ------------------------------------------------------------------------------------------
def _task(task_id: str, data: dict[str, Any], result: Any = None) -> Task:
    return Task(
        id=task_id,
        data=data,
        result=result,
        created_on="2024-01-01T00:00:00.000Z",
        changed_on="2024-01-01T00:00:00.000Z",
    )


class FakeStore:
    """The three calls the DataForSEO route makes of the store, over dicts."""

    def __init__(self) -> None:
        self.tasks: dict[tuple[str, str], Task] = {}
        self.jobs: dict[str, Job] = {}
        self.unqueued: dict[str, int] = {}
        self.outboxes: dict[str, Outbox] = {}

    def add(self, tenant_id: str, task: Task) -> None:
        self.tasks[(tenant_id, task.id)] = task

    def get_tasks(self, tenant_id: str, task_ids: Sequence[str]) -> dict[str, Task]:
        return {i: self.tasks[(tenant_id, i)] for i in task_ids if (tenant_id, i) in self.tasks}

    def put_job(self, tenant_id: str, job: Job, expires_at: int, outbox: Outbox | None = None) -> bool:
        assert tenant_id == TENANT
        if job.id in self.jobs:
            return False
        self.jobs[job.id] = job
        if outbox is not None:
            self.outboxes[job.id] = outbox
        return True

    def unqueue(self, tenant_id: str, job_id: str, count: int, reason: str, *, outbox: bool = False) -> None:
        self.unqueued[job_id] = self.unqueued.get(job_id, 0) + count
        if outbox:
            self.drop_outbox(tenant_id, job_id)

    def drop_outbox(self, tenant_id: str, job_id: str) -> bool:
        return self.outboxes.pop(job_id, None) is not None


class FakePublisher:
    """Records what is published; refuses the messages of the subjects in `refuse`."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.published: list[PairMessage] = []
        self.refuse = refuse or set()

    def publish(self, messages: Sequence[PairMessage]) -> PublishResult[PairMessage]:
        result: PublishResult[PairMessage] = PublishResult()
        for message in messages:
            (result.failed if message.subject_id in self.refuse else result.sent).append(message)
        self.published += result.sent
        return result


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    store.add(TENANT, _task(PING_ID, PING_DATA))
    store.add(TENANT, _task(POST_ID, POST_DATA, [{"keyword": "marcus rashford"}]))
    store.add(TENANT, _task(BARE_ID, BARE_DATA))
    store.add(OTHER_TENANT, _task(FOREIGN_ID, {**PING_DATA, "keyword": "secret of tenant 2"}))
    return store


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


def _resend(store: FakeStore, publisher: FakePublisher, body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return dataforseo.webhook_resend(store, publisher, TENANT, raw, retention_days=30)  # type: ignore[arg-type]


def _entry(code: int, data: Any = None) -> dict[str, Any]:
    return {"id": "x", "status_code": code, "data": data or {}}


def test_webhook_resend_answers_the_seed_envelope(store: FakeStore, publisher: FakePublisher) -> None:
    answer = _resend(store, publisher, [{"id": PING_ID}, {"id": POST_ID}, {"id": BARE_ID}])

    assert set(answer) == ENVELOPE_FIELDS | {"resend_id"}
    assert answer["status_code"] == 20000
    assert answer["status_message"] == "Ok."
    assert answer["cost"] == 0
    assert TIME.match(answer["time"])
    assert answer["tasks_count"] == 3
    assert answer["tasks_error"] == 1
    assert [t["status_code"] for t in answer["tasks"]] == [20100, 20100, 40503]
    assert answer["resend_id"] in store.jobs
    assert store.outboxes == {}  # written with the job, deleted once its pairs were queued


# -- a task entry -----------------------------------------------------------------------------------
def test_webhook_resend_task_entry_has_the_seeds_fields(store: FakeStore, publisher: FakePublisher) -> None:
    [entry] = _resend(store, publisher, [{"id": PING_ID}])["tasks"]

    assert set(entry) == TASK_FIELDS
    assert entry["id"] == PING_ID
    assert type(entry["status_code"]) is int
    assert entry["status_code"] == 20100
    assert entry["status_message"] == "Task Created."
    assert TIME.match(entry["time"]), entry["time"]
    assert entry["cost"] == 0
    assert type(entry["result_count"]) is int
    assert entry["result_count"] == 0
    assert entry["path"] == PATH
    assert entry["data"] == PING_DATA
    assert entry["result"] is None


def test_webhook_resend_task_entry_never_carries_the_result(
    store: FakeStore, publisher: FakePublisher
) -> None:
    # The postback task has a stored result; the answer still says result null, result_count 0.
    [entry] = _resend(store, publisher, [{"id": POST_ID}])["tasks"]

    assert entry["result"] is None
    assert entry["result_count"] == 0
    assert entry["data"] == POST_DATA


# -- the status code of each case -------------------------------------------------------------------
def test_webhook_resend_queues_a_task_with_a_callback(store: FakeStore, publisher: FakePublisher) -> None:
    answer = _resend(store, publisher, [{"id": PING_ID}])

    assert answer["tasks"][0]["status_code"] == 20100
    assert answer["tasks_error"] == 0
    [message] = publisher.published
    assert (message.tenant_id, message.kind, message.subject_id) == (TENANT, "task", PING_ID)
    assert message.webhook_id == CALLBACK
    assert message.job_id == answer["resend_id"]
    job = store.jobs[answer["resend_id"]]
    assert (job.source, job.total_queued, job.pending) == ("dataforseo", 1, 1)


def test_webhook_resend_answers_40503_for_a_task_without_callbacks(
    store: FakeStore, publisher: FakePublisher
) -> None:
    answer = _resend(store, publisher, [{"id": BARE_ID}])

    [entry] = answer["tasks"]
    assert (entry["status_code"], entry["status_message"]) == (
        40503,
        "'pingback' or 'postback' not supported in this function.",
    )
    assert entry["data"] == BARE_DATA
    assert answer["tasks_error"] == 1
    assert publisher.published == []


@pytest.mark.parametrize("task_id", [UNKNOWN_ID, FOREIGN_ID], ids=["unknown", "other-tenants"])
def test_webhook_resend_answers_40400_for_an_id_the_tenant_does_not_have(
    store: FakeStore, publisher: FakePublisher, task_id: str
) -> None:
    answer = _resend(store, publisher, [{"id": task_id}])

    [entry] = answer["tasks"]
    assert entry["id"] == task_id
    assert (entry["status_code"], entry["status_message"]) == (40400, "Not Found.")
    assert "secret of tenant 2" not in json.dumps(answer)
    assert answer["tasks_error"] == 1
    assert publisher.published == []


@pytest.mark.parametrize(
    "entry",
    [{"id": "not-a-uuid"}, {"id": ""}, {"id": 12345}, {"id": None}, {"id": ["a"]}, {}],
    ids=["text", "empty", "number", "null", "list", "missing"],
)
def test_webhook_resend_answers_40501_for_an_id_that_is_not_a_uuid(
    store: FakeStore, publisher: FakePublisher, entry: dict[str, Any]
) -> None:
    answer = _resend(store, publisher, [entry])

    [task] = answer["tasks"]
    assert (task["status_code"], task["status_message"]) == (40501, "Invalid Field: 'id'.")
    assert isinstance(task["id"], str)  # the official client's model wants a string
    assert set(task) == TASK_FIELDS
    assert answer["status_code"] == 20000
    assert publisher.published == []


def test_webhook_resend_answers_each_entry_in_the_order_posted(
    store: FakeStore, publisher: FakePublisher
) -> None:
    body = [{"id": "nope"}, {"id": UNKNOWN_ID}, {"id": BARE_ID}, {"id": PING_ID}]

    answer = _resend(store, publisher, body)

    assert [t["status_code"] for t in answer["tasks"]] == [40501, 40400, 40503, 20100]
    assert answer["tasks_count"] == 4
    assert answer["tasks_error"] == 3
    assert [m.subject_id for m in publisher.published] == [PING_ID]


def test_webhook_resend_queues_a_duplicate_id_once_and_answers_each_entry(
    store: FakeStore, publisher: FakePublisher
) -> None:
    answer = _resend(store, publisher, [{"id": PING_ID}, {"id": PING_ID.upper()}, {"id": PING_ID}])

    assert [t["status_code"] for t in answer["tasks"]] == [20100, 20100, 20100]
    assert [m.subject_id for m in publisher.published] == [PING_ID]
    assert store.jobs[answer["resend_id"]].total_queued == 1


def test_webhook_resend_answers_50000_for_a_task_the_queue_refused(store: FakeStore) -> None:
    publisher = FakePublisher(refuse={POST_ID})

    answer = _resend(store, publisher, [{"id": PING_ID}, {"id": POST_ID}])

    assert [t["status_code"] for t in answer["tasks"]] == [20100, 50000]
    assert answer["tasks_error"] == 1
    assert store.unqueued == {answer["resend_id"]: 1}


def test_webhook_resend_accepts_the_php_style_object_of_indexes(
    store: FakeStore, publisher: FakePublisher
) -> None:
    # DataForSEO's Python and PHP examples post {"0": {...}, "1": {...}}; keys in index order.
    body = {"1": {"id": BARE_ID}, "0": {"id": PING_ID}, "10": {"id": POST_ID}, "2": {"id": UNKNOWN_ID}}

    answer = _resend(store, publisher, body)

    assert answer["status_code"] == 20000
    assert [t["id"] for t in answer["tasks"]] == [PING_ID, BARE_ID, UNKNOWN_ID, POST_ID]
    assert {m.subject_id for m in publisher.published} == {PING_ID, POST_ID}


# -- request-level errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "codes", "named"),
    [
        ("[{", {40000}, "json"),
        ("", {40000, 40501}, ""),
        ('{"id": "' + PING_ID + '"}', {40000, 40501}, "array"),
        ("[]", {40000, 40501}, "task"),
        ('[{"id": "' + PING_ID + '"}, 1]', {40000, 40501}, "object"),
        ('["' + PING_ID + '"]', {40000, 40501}, "object"),
        ('"' + PING_ID + '"', {40000, 40501}, "array"),
        ("null", {40000, 40501}, "array"),
        ('{"0": {"id": "' + PING_ID + '"}, "x": {}}', {40000, 40501}, "array"),
        ('{"0": "' + PING_ID + '"}', {40000, 40501}, "object"),
        (json.dumps([{"id": PING_ID}] * 101), {40006}, "100"),
    ],
    ids=[
        "not-json",
        "empty-body",
        "an-object",
        "empty-array",
        "array-with-a-number",
        "array-of-strings",
        "a-string",
        "null",
        "object-with-a-non-index-key",
        "php-object-of-a-string",
        "101-tasks",
    ],
)
def test_webhook_resend_answers_a_request_level_error_without_tasks(
    store: FakeStore, publisher: FakePublisher, raw: str, codes: set[int], named: str
) -> None:
    answer = _resend(store, publisher, raw)

    assert set(answer) == ENVELOPE_FIELDS
    assert answer["status_code"] in codes
    assert named in answer["status_message"].lower()
    assert (answer["tasks"], answer["tasks_count"], answer["tasks_error"]) == ([], 0, 0)
    assert answer["cost"] == 0
    assert TIME.match(answer["time"])
    assert publisher.published == []
    assert store.jobs == {}


def test_webhook_resend_takes_exactly_100_tasks(store: FakeStore, publisher: FakePublisher) -> None:
    answer = _resend(store, publisher, [{"id": PING_ID}] * 100)

    assert answer["status_code"] == 20000
    assert answer["tasks_count"] == 100
    assert len(publisher.published) == 1


def test_webhook_resend_refuses_an_object_whose_keys_are_digits_but_not_indexes(
    store: FakeStore, publisher: FakePublisher
) -> None:
    # "²" and "١" pass str.isdigit(); only the first is no int() — it must be a request-level
    # error, not an exception (a 500 through the API).
    answer = _resend(store, publisher, '{"²": {"id": "' + PING_ID + '"}}')

    assert answer["status_code"] in {40000, 40501}
    assert answer["tasks"] == []
    assert publisher.published == []
