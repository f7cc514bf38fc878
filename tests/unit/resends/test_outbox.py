"""What a job's outbox holds (resends/outbox.py): its start's pairs as few fan-out pages as carry
exactly them, and its messages back as they were written."""

from __future__ import annotations

from datetime import UTC, datetime

from webhook_resend.models.messages import PageMessage, SelectionMessage
from webhook_resend.resends import outbox

TENANT, JOB, CREATED = "tn1", "job1", "2026-12-06T00:00:00.000Z"


def _pairs_of(pages: list[PageMessage]) -> list[tuple[str, str]]:
    return [(m.subject_id, m.webhook_id) for page in pages for m in page.messages()]


def test_outbox_pages_carry_exactly_the_pairs_subjects_with_the_same_webhooks_together() -> None:
    pairs = [("a", "w1"), ("a", "w2"), ("b", "w1"), ("b", "w2"), ("c", "w1")]

    pages = outbox.pages_of(TENANT, JOB, CREATED, "item", "content_item.changed", pairs)

    assert sorted(_pairs_of(pages)) == sorted(pairs)
    assert [(p.subject_ids, p.webhook_ids) for p in pages] == [(["a", "b"], ["w1", "w2"]), (["c"], ["w1"])]
    assert {(p.tenant_id, p.job_id, p.created_on, p.kind, p.event) for p in pages} == {
        (TENANT, JOB, CREATED, "item", "content_item.changed")
    }


def test_outbox_pages_hold_at_most_a_page_of_subjects() -> None:
    pairs = [(f"s{n}", "w") for n in range(outbox.PAGE_SUBJECTS + 1)]

    pages = outbox.pages_of(TENANT, JOB, CREATED, "task", None, pairs)

    assert [len(p.subject_ids) for p in pages] == [outbox.PAGE_SUBJECTS, 1]
    assert _pairs_of(pages) == pairs


def test_outbox_gives_back_its_messages_as_written_and_is_due_after_the_grace() -> None:
    page = PageMessage(tenant_id=TENANT, job_id=JOB, created_on=CREATED, subject_ids=["a"], webhook_ids=["w"])
    step = SelectionMessage(tenant_id=TENANT, job_id=JOB, step=0, phase="count")
    now = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)

    box = outbox.new(TENANT, JOB, [page, step], now, expires_at=123)

    assert outbox.decode(box.body) == [page, step]
    assert box.due_on == "2026-12-06T12:05:00.000Z"
    assert (box.tenant_id, box.job_id, box.expires_at) == (TENANT, JOB, 123)
