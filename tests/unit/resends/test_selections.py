"""The decisions of an asynchronous selection's per-step protocol (resends/selections.py), as pure
functions: which message runs a step, what becomes of pairs a publish did not send, what status a
job shows, and how a step message is told from the other messages of the fan-out queue. The
protocol's writes are tested on moto in tests/integration/test_selections.py."""

from __future__ import annotations

import json

import pytest

from webhook_resend.delivery import dead_letters
from webhook_resend.models.messages import PageMessage, PairMessage, SelectionMessage
from webhook_resend.models.records import (
    CLAIM,
    DUPLICATE,
    RESUME,
    STOPPED,
    Selection,
    Walk,
    job_status,
)
from webhook_resend.resends import selections

SELECTION = Selection(kind="filter", event="content_item.changed", webhook_ids=["wh1"], max_pairs=10)


def _walk(step: int, state: str | None = "selecting", owner: str | None = "m-1") -> Walk:
    return Walk(state=state, step=step, phase="queue", owner=owner, selection=SELECTION)


def _pair(subject: str) -> PairMessage:
    return PairMessage(tenant_id="tn1", job_id="job1", subject_id=subject, webhook_id="wh1", created_on="t")


# -- which message runs a step ------------------------------------------------------------------------
def test_walk_claims_the_step_it_stands_at_while_selecting() -> None:
    assert _walk(3).action_for(3, "m-9") == CLAIM


@pytest.mark.parametrize("state", ["selected", "rejected", "cancelled", "paused"])
def test_walk_stops_the_step_it_stands_at_once_the_job_is_not_selecting(state: str) -> None:
    assert _walk(3, state=state).action_for(3, "m-9") == STOPPED


def test_walk_resumes_a_step_its_own_message_claimed() -> None:
    # Given step 2 claimed by message m-1 (the walk stands at 3)
    walk = _walk(3, owner="m-1")

    # When SQS delivers m-1 again (the run that claimed it died before it finished)
    action = walk.action_for(2, "m-1")

    # Then it finishes its step: it sends what it kept, then the next step
    assert action == RESUME


def test_walk_resumes_the_last_step_even_after_the_selection_ended() -> None:
    # The last step's claim ended the selection; its pairs must still be sent.
    assert _walk(5, state="selected", owner="m-1").action_for(4, "m-1") == RESUME


def test_walk_drops_a_second_copy_of_a_claimed_step() -> None:
    # Given step 2 claimed by m-1, and a copy of step 2 sent again by a redelivered step 1 (m-2)
    walk = _walk(3, owner="m-1")

    # Then the copy does nothing: the walk does not fork
    assert walk.action_for(2, "m-2") == DUPLICATE


def test_walk_drops_a_step_done_long_ago_even_from_its_own_message() -> None:
    assert _walk(5, owner="m-1").action_for(2, "m-1") == DUPLICATE


def test_walk_drops_a_step_it_has_not_reached() -> None:
    assert _walk(3).action_for(7, "m-1") == DUPLICATE


# -- what becomes of pairs a publish did not send -----------------------------------------------------
def test_selections_settlement_first_publisher_takes_refused_back_and_ends_unanswered() -> None:
    refused, unanswered = [_pair("a")], [_pair("b")]

    taken_back, ended = selections.settlement(refused, unanswered, first=True)

    assert (taken_back, ended) == (refused, unanswered)


def test_selections_settlement_redelivered_publisher_ends_everything_it_did_not_send() -> None:
    # An earlier run of the step may have sent what SQS now refuses: never taken out of the job.
    refused, unanswered = [_pair("a")], [_pair("b")]

    taken_back, ended = selections.settlement(refused, unanswered, first=False)

    assert (taken_back, ended) == ([], [*refused, *unanswered])


# -- the reason of a rejected selection ---------------------------------------------------------------
def test_selections_over_cap_names_the_cap_and_the_count() -> None:
    reason = selections.over_cap(1_200_000, 1_000_000)

    assert "selects 1200000 pairs" in reason
    assert "at most 1000000" in reason


def test_selections_over_cap_of_a_resend_by_outcome_says_the_count_is_a_bound() -> None:
    reason = selections.over_cap(12, 10, records=12)

    assert "up to 12 pairs (12 failed deliveries)" in reason
    assert "at most 10" in reason


def test_dead_letters_interrupted_names_the_step_and_the_receives() -> None:
    assert dead_letters.interrupted(0, 6) == (
        "selection interrupted at step 1: its message was dead-lettered after 6 receives"
    )


# -- the status a job shows ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pending", "state", "total_queued", "taken_back", "status"),
    [
        pytest.param(3, None, 3, 0, "running", id="selected-at-once-pending"),
        pytest.param(0, None, 3, 0, "completed", id="selected-at-once-done"),
        pytest.param(0, None, 0, 0, "completed", id="nothing-to-queue"),
        pytest.param(0, None, 2, 1, "completed", id="started-done-some-taken-back"),
        pytest.param(0, None, 0, 3, "rejected", id="started-everything-refused"),
        pytest.param(0, "selecting", 5, 0, "selecting", id="selecting-all-ended-so-far"),
        pytest.param(4, "selecting", 5, 0, "selecting", id="selecting-pending"),
        pytest.param(4, "selected", 5, 0, "running", id="selected-pending"),
        pytest.param(0, "selected", 5, 2, "completed", id="selected-done-some-taken-back"),
        pytest.param(0, "selected", 0, 0, "completed", id="selected-matched-nothing"),
        pytest.param(0, "selected", 0, 7, "rejected", id="selected-everything-refused"),
        pytest.param(0, "rejected", 0, 0, "rejected", id="over-the-cap"),
    ],
)
def test_job_status_follows_the_state_then_the_counters(
    pending: int, state: str | None, total_queued: int, taken_back: int, status: str
) -> None:
    assert job_status(pending, state, total_queued, taken_back) == status


# -- telling the fan-out queue's messages apart ---------------------------------------------------------
def test_dead_letters_read_a_selection_step_as_a_step() -> None:
    body = json.dumps({"tenant_id": "tn1", "job_id": "job1", "step": 4, "phase": "queue", "start": None})

    message = dead_letters.read(body)

    assert message == SelectionMessage(tenant_id="tn1", job_id="job1", step=4, phase="queue")


def test_selection_message_refuses_a_page_and_a_page_refuses_a_step() -> None:
    page = PageMessage(tenant_id="tn1", job_id="job1", created_on="t", subject_ids=["a"], webhook_ids=["wh1"])
    step = SelectionMessage(tenant_id="tn1", job_id="job1", step=0, phase="count")

    assert isinstance(dead_letters.read(page.model_dump_json()), PageMessage)
    assert isinstance(dead_letters.read(step.model_dump_json()), SelectionMessage)
    with pytest.raises(ValueError, match="step"):
        SelectionMessage.model_validate_json(page.model_dump_json())
    with pytest.raises(ValueError, match="created_on"):
        PageMessage.model_validate_json(step.model_dump_json())
