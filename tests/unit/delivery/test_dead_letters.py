"""The dead-letter domain on a fake store: which message a body is, and what ending its pairs
writes and counts (the store's own commit protocol is tested against moto elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from webhook_resend.aws.dynamodb import COUNTED, PairOutcome
from webhook_resend.delivery import dead_letters
from webhook_resend.models.messages import HeldMessage, PageMessage, PairMessage
from webhook_resend.models.records import Job, Task, Webhook

NOW = "2026-01-01T00:00:00.000Z"
PAIR = {
    "tenant_id": "tn1",
    "job_id": "job1",
    "subject_id": "item1",
    "webhook_id": "wh1",
    "event": "content_item.changed",
    "created_on": NOW,
}


class FakeStore:
    """The reads and the commit DeadLetters uses, over dicts; every call is counted."""

    def __init__(self) -> None:
        self.jobs = {
            ("tn1", "job1"): Job(
                id="job1",
                source="api",
                status="running",
                created_on=NOW,
                total_items=1,
                total_queued=1,
                delivered=0,
                failed=0,
                pending=1,
            )
        }
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (job, subject) → records
        self.webhooks: dict[str, list[str]] = {"wh1": ["https://a.example/1"]}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.committed: list[list[PairOutcome]] = []
        self.unwritten = False
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        self._count("get_job")
        return self.jobs.get((tenant_id, job_id))

    def subject_records(self, tenant_id: str, job_id: str, subject_id: str) -> list[dict[str, Any]]:
        self._count("subject_records")
        return [dict(r) for r in self.records.get((job_id, subject_id), [])]

    def get_webhook(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, str] | None:
        self._count("get_webhook")
        urls = self.webhooks.get(webhook_id)
        if urls is None:
            return None
        hook = Webhook(
            id=webhook_id, urls=urls, events=[], active=True, description="", created_on=NOW, changed_on=NOW
        )
        return hook, "whsec_x"

    def get_tasks(self, tenant_id: str, task_ids: Sequence[str]) -> dict[str, Task]:
        self._count("get_tasks")
        return {
            i: Task(id=i, data=self.tasks[i], created_on=NOW, changed_on=NOW)
            for i in task_ids
            if i in self.tasks
        }

    def commit(self, outcomes: Sequence[PairOutcome], when: str, expires_at: int) -> list[PairOutcome]:
        self._count("commit")
        self.committed.append(list(outcomes))
        return list(outcomes) if self.unwritten else []


def _record(url_index: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": "job1",
        "subject_id": "item1",
        "webhook_id": "wh1",
        "url_index": url_index,
        "url": f"https://a.example/{url_index + 1}",
        "status": status,
        **extra,
    }


def _end(store: FakeStore, message: PairMessage | PageMessage, receives: int = 21) -> dead_letters.Ended:
    return dead_letters.DeadLetters(store, 30).end(message, receives)  # type: ignore[arg-type]


def _outcomes(store: FakeStore) -> list[PairOutcome]:
    return [o for batch in store.committed for o in batch]


# -- reading --------------------------------------------------------------------------------------------
def test_dead_letters_read_a_pair_body_is_a_pair_message() -> None:
    assert dead_letters.read(json.dumps(PAIR)) == PairMessage(**PAIR)


def test_dead_letters_read_a_page_body_is_a_page_message() -> None:
    page = PageMessage(tenant_id="tn1", job_id="job1", created_on=NOW, subject_ids=["a"], webhook_ids=["w"])

    assert dead_letters.read(page.model_dump_json()) == page


@pytest.mark.parametrize(
    "body",
    [
        "secret-value",
        json.dumps({**PAIR, "v": 2, "subject_id": "secret-value"}),
        json.dumps({**PAIR, "secret-value": 1}),
        json.dumps(["secret-value"]),
    ],
    ids=["not-json", "newer-version", "unknown-key", "not-an-object"],
)
def test_dead_letters_read_an_unreadable_body_says_where_never_what(body: str) -> None:
    with pytest.raises(dead_letters.UnreadableMessageError) as raised:
        dead_letters.read(body)

    assert raised.value.problems
    assert all(p.startswith(("pair ", "page ", "step ", "held ")) for p in raised.value.problems)
    assert "secret-value" not in " ".join(raised.value.problems) + str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__  # nor does a traceback show pydantic's error


def test_dead_letters_last_error_names_the_receives() -> None:
    assert dead_letters.dead_lettered(21) == "dead-lettered after 21 receives"


# -- ending pairs -----------------------------------------------------------------------------------------
def test_dead_letters_end_of_a_pair_without_records_fails_every_url_of_its_webhook() -> None:
    store = FakeStore()
    store.webhooks["wh1"] = ["https://a.example/1", "https://a.example/2"]

    ended = _end(store, PairMessage(**PAIR))

    assert ended == dead_letters.Ended(job_found=True, pairs=1, ended=1)
    [outcome] = _outcomes(store)
    assert outcome.terminal == "failed"
    assert [(r.url_index, r.url, r.status, r.last_error) for r in outcome.records] == [
        (0, "https://a.example/1", "failed", "dead-lettered after 21 receives"),
        (1, "https://a.example/2", "failed", "dead-lettered after 21 receives"),
    ]


def test_dead_letters_end_of_a_counted_pair_writes_nothing() -> None:
    store = FakeStore()
    store.records[("job1", "item1")] = [_record(0, "delivered", **{COUNTED: "delivered"})]

    ended = _end(store, PairMessage(**PAIR))

    assert ended.ended == 0
    assert _outcomes(store) == []
    assert "get_webhook" not in store.calls


def test_dead_letters_end_of_a_pair_whose_every_url_was_delivered_counts_it_delivered() -> None:
    # Every URL answered 2xx, yet the count never landed (the webhook lost a URL meanwhile, say)
    store = FakeStore()
    store.records[("job1", "item1")] = [_record(0, "delivered"), _record(1, "delivered")]

    _end(store, PairMessage(**PAIR))

    [outcome] = _outcomes(store)
    assert (outcome.terminal, outcome.records) == ("delivered", [])


def test_dead_letters_end_keeps_a_records_last_answer_and_sets_when_it_ended() -> None:
    store = FakeStore()
    store.records[("job1", "item1")] = [
        _record(0, "retrying", attempts=3, last_status_code=503, last_attempt_on="2025-12-31T00:00:00.000Z")
    ]

    _end(store, PairMessage(**PAIR))

    [record] = _outcomes(store)[0].records
    assert (record.status, record.attempts, record.last_status_code) == ("failed", 3, 503)
    assert (record.last_attempt_on or "") > "2025-12-31T00:00:00.000Z"


def test_dead_letters_end_of_a_task_pair_records_its_callbacks_as_the_deliverer_numbers_them() -> None:
    store = FakeStore()
    store.tasks["task1"] = {"postback_url": "https://cb.example/post?id=$id", "tag": "t"}
    message = PairMessage(**{**PAIR, "kind": "task", "subject_id": "task1", "webhook_id": "callback"})

    _end(store, message)

    [outcome] = _outcomes(store)
    assert [(r.url_index, r.method, r.url) for r in outcome.records] == [
        (1, "POST", "https://cb.example/post?id=task1")
    ]


def test_dead_letters_end_of_a_page_reads_each_subject_and_webhook_once_across_rounds() -> None:
    # 100 subjects × 2 webhooks: 200 pairs in rounds of 99, whose boundaries split subjects
    store = FakeStore()
    store.webhooks["wh2"] = ["https://b.example/1"]
    page = PageMessage(
        tenant_id="tn1",
        job_id="job1",
        created_on=NOW,
        subject_ids=[f"s{i:03d}" for i in range(100)],
        webhook_ids=["wh1", "wh2"],
    )

    ended = _end(store, page)

    assert ended == dead_letters.Ended(job_found=True, pairs=200, ended=200)
    assert store.calls == {"get_job": 1, "subject_records": 100, "get_webhook": 2, "commit": 3}
    assert [len(batch) for batch in store.committed] == [99, 99, 2]


def test_dead_letters_end_of_a_job_that_is_gone_reads_and_writes_nothing_else() -> None:
    store = FakeStore()
    store.jobs.clear()

    ended = _end(store, PairMessage(**PAIR))

    assert ended == dead_letters.Ended(job_found=False, pairs=1, ended=0)
    assert store.calls == {"get_job": 1}


def test_dead_letters_end_raises_when_the_commit_leaves_pairs_unwritten() -> None:
    store = FakeStore()
    store.unwritten = True

    with pytest.raises(dead_letters.NotRecordedError):
        _end(store, PairMessage(**PAIR))


def test_dead_letters_a_dead_lettered_walk_of_held_pairs_is_read_and_changes_nothing() -> None:
    # The pairs it would have woken stay held and pending; a repeated resume or cancel walks them.
    store = FakeStore()
    message = HeldMessage(tenant_id="tn1", job_id="job1", held_shard=3, start={"pk": {"S": "x"}})

    assert dead_letters.read(message.model_dump_json()) == message
    ended = _end(store, message)

    assert ended == dead_letters.Ended(job_found=True, pairs=0, ended=0)
    assert store.committed == []
