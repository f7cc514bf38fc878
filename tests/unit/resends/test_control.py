"""The job controls' decisions (resends/control.py) and the consumer's handling of a paused or
cancelled job's pairs (delivery/deliverer.py), over fakes of the store and the queues: which move
answers what, which message each sends, what a resume's walk sends, and that a paused job's pair
is parked under its job and a cancelled job's pair ends `cancelled`, neither with an attempt. The
writes themselves are tested on moto in tests/integration/test_job_controls.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import PairOutcome, ParkedPair, job_document
from webhook_resend.aws.publisher import PublishResult
from webhook_resend.delivery import deliverer as deliverer_module
from webhook_resend.delivery.deliverer import CANCELLED_ERROR, Deliverer, Incoming
from webhook_resend.errors import ConflictError, NotFoundError
from webhook_resend.models.messages import HeldMessage, PairMessage, SelectionMessage
from webhook_resend.models.records import Selection, Walk, job_status
from webhook_resend.resends import control
from webhook_resend.settings import Settings

TENANT, JOB = "tn1", "6f1c1f5e-8d1e-4a43-9a57-2a8a2a1d0c11"
URL = "https://hooks.example.com/a"


def _record(**fields: Any) -> dict[str, Any]:
    """A job item as stored: a running job of 10 pairs, 4 ended, unless `fields` say otherwise."""
    return {
        "id": JOB,
        "source": "api",
        "created_on": "2026-01-01T00:00:00.000Z",
        "total_items": 10,
        "total_queued": 10,
        "delivered": 3,
        "failed": 1,
        "cancelled": 0,
        "pending": 6,
        **fields,
    }


class FakePublisher:
    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[Any] = []
        self.refuse = refuse

    def publish(self, messages: list[Any]) -> PublishResult[Any]:
        if self.refuse:
            return PublishResult(failed=list(messages))
        self.sent += messages
        return PublishResult(sent=list(messages))


class FakeStore:
    """The store calls the controls make: `control_job` answers what the test says."""

    def __init__(
        self, answer: tuple[dict[str, Any] | None, bool], record: dict[str, Any] | None = None
    ) -> None:
        self.answer = answer
        self.record = record
        self.moves: list[str] = []
        self.walk: Walk | None = None
        self.held: dict[int, tuple[list[ParkedPair], dict[str, Any] | None]] = {}
        self.unparked: list[ParkedPair] = []

    def control_job(self, tenant_id: str, job_id: str, move: str, when: str) -> Any:
        self.moves.append(move)
        return self.answer

    def job_record(self, tenant_id: str, job_id: str) -> dict[str, Any] | None:
        return self.record

    def get_walk(self, tenant_id: str, job_id: str) -> Any:
        return (job_document(self.record or _record()), self.walk)

    def held_parked(self, tenant_id: str, job_id: str, shard: int, limit: int, start: Any) -> Any:
        return self.held.get(shard, ([], None))

    def unpark(self, pairs: list[ParkedPair]) -> Any:
        from collections import Counter

        self.unparked += pairs
        return Counter(deleted=len(pairs))


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(control, "announce_job_end", lambda *a, **k: calls.append((a[4], k["drained"])))
    return calls


def _control(store: FakeStore, move: str, pages: FakePublisher | None = None) -> Any:
    return control.control(
        store,  # type: ignore[arg-type]
        pages or FakePublisher(),  # type: ignore[arg-type]
        FakePublisher(),
        TENANT,
        JOB,
        move,  # type: ignore[arg-type]
        keep_days=30,
    )


# -- the moves --------------------------------------------------------------------------------------
def test_control_pause_answers_the_paused_job_and_sends_nothing(announced: list[Any]) -> None:
    pages = FakePublisher()
    store = FakeStore((_record(state="paused", paused_on="2026-01-01T00:01:00.000Z"), True))

    job = _control(store, "pause", pages)

    assert (job.status, job.pending, job.paused_on) == ("paused", 6, "2026-01-01T00:01:00.000Z")
    assert pages.sent == []
    assert announced == []


@pytest.mark.parametrize(
    ("move", "found"),
    [("pause", "paused"), ("resume", "selected"), ("resume", "selecting"), ("cancel", "cancelled")],
)
def test_control_a_repeated_move_answers_the_job_unchanged(
    announced: list[Any], move: str, found: str
) -> None:
    store = FakeStore((_record(state=found), False))

    job = _control(store, move)

    assert job == job_document(_record(state=found))


@pytest.mark.parametrize(
    ("move", "state", "pending", "status"),
    [
        ("resume", None, 0, "completed"),
        ("pause", None, 0, "completed"),
        ("cancel", None, 0, "completed"),
        ("pause", "rejected", 0, "rejected"),
        ("pause", "cancelled", 6, "cancelled"),
        ("resume", "cancelled", 6, "cancelled"),
        ("resume", None, 6, None),  # a running job resumed: unchanged, not a conflict
    ],
)
def test_control_an_impossible_move_is_a_conflict_naming_the_status(
    announced: list[Any], move: str, state: str | None, pending: int, status: str | None
) -> None:
    record = _record(pending=pending, delivered=9 - pending, **({"state": state} if state else {}))
    store = FakeStore((record, False))

    if status is None:
        assert _control(store, move).status == "running"
        return
    with pytest.raises(ConflictError) as raised:
        _control(store, move)

    [problem] = raised.value.problems
    assert problem.field == "status"
    assert f"is {status}" in problem.message


def test_control_of_no_such_job_is_not_found(announced: list[Any]) -> None:
    with pytest.raises(NotFoundError):
        _control(FakeStore((None, False)), "cancel")


@pytest.mark.parametrize("move", ["resume", "cancel"])
def test_control_resume_and_cancel_send_one_walk_message(announced: list[Any], move: str) -> None:
    pages = FakePublisher()
    state = "selected" if move == "resume" else "cancelled"

    _control(FakeStore((_record(state=state, resumed_on="t"), True)), move, pages)

    assert pages.sent == [HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=None)]


def test_control_a_walk_message_sqs_refused_is_an_error_the_caller_retries(announced: list[Any]) -> None:
    with pytest.raises(control.ControlNotSentError):
        _control(FakeStore((_record(state="cancelled"), True)), "cancel", FakePublisher(refuse=True))


def test_control_a_repeated_resume_of_a_job_never_paused_sends_nothing(announced: list[Any]) -> None:
    pages = FakePublisher()

    _control(FakeStore((_record(), False)), "resume", pages)

    assert pages.sent == []


def test_control_cancel_with_nothing_pending_announces_its_end(announced: list[Any]) -> None:
    _control(FakeStore((_record(state="cancelled", pending=0, cancelled=6), True)), "cancel")

    assert announced == [("resend.completed", True)]  # announce_job_end names it resend.cancelled


def test_control_cancel_with_pairs_pending_leaves_the_announcement_to_the_consumer(
    announced: list[Any],
) -> None:
    _control(FakeStore((_record(state="cancelled"), True)), "cancel")

    assert announced == []


# -- statuses and counters -----------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["paused", "cancelled"])
def test_job_status_is_the_stored_control_state_whatever_is_pending(state: str) -> None:
    assert job_status(0, state, 10) == state
    assert job_status(5, state, 10) == state


def test_job_document_counts_cancelled_pairs_and_ends_a_cancelled_job_once_nothing_is_pending() -> None:
    pending = job_document(_record(state="cancelled", cancelled_on="2026-01-01T00:02:00.000Z"))
    drained = job_document(
        _record(
            state="cancelled",
            cancelled=6,
            pending=0,
            cancelled_on="2026-01-01T00:02:00.000Z",
            last_counted_on="2026-01-01T00:03:00.000Z",
        )
    )

    assert (pending.status, pending.completed_on) == ("cancelled", None)
    assert (drained.cancelled, drained.completed_on) == (6, "2026-01-01T00:03:00.000Z")
    assert drained.delivered + drained.failed + drained.cancelled + drained.pending == drained.total_queued


# -- a resume's walk --------------------------------------------------------------------------------
def _parked(n: int) -> ParkedPair:
    message = PairMessage(tenant_id=TENANT, job_id=JOB, subject_id=f"s{n}", webhook_id="w1", created_on="t")
    return ParkedPair(message, "2026-01-01T00:00:00.000Z", "paused")


def test_wake_held_start_continues_a_paused_selection_and_fans_out_one_message_per_shard() -> None:
    store = FakeStore((None, False), _record(state="selecting"))
    selection = Selection(kind="filter", webhook_ids=["w1"], max_pairs=10)
    store.walk = Walk(
        state="selecting", step=3, phase="queue", cursor={"pk": {"S": "x"}}, selection=selection
    )
    pages, pairs = FakePublisher(), FakePublisher()

    control.wake_held(store, pages, pairs, HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=None))  # type: ignore[arg-type]

    step = SelectionMessage(tenant_id=TENANT, job_id=JOB, step=3, phase="queue", start={"pk": {"S": "x"}})
    shards = [HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=s) for s in range(keys.PARK_SHARDS)]
    assert pages.sent == [step, *shards]
    assert pairs.sent == []


def test_wake_held_shard_puts_a_page_back_then_sends_the_next_page() -> None:
    store = FakeStore((None, False), _record(state="selected"))
    page = [_parked(n) for n in range(3)]
    store.held[2] = (page, {"pk": {"S": "next"}})
    pages, pairs = FakePublisher(), FakePublisher()

    woken = control.wake_held(store, pages, pairs, HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=2))  # type: ignore[arg-type]

    assert woken == 3
    assert pairs.sent == [p.message for p in page]
    assert store.unparked == page
    assert pages.sent == [
        HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=2, start={"pk": {"S": "next"}})
    ]


def test_wake_held_stops_when_the_job_was_paused_again() -> None:
    store = FakeStore((None, False), _record(state="paused"))
    store.held[0] = ([_parked(1)], None)
    pages, pairs = FakePublisher(), FakePublisher()

    woken = control.wake_held(store, pages, pairs, HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=0))  # type: ignore[arg-type]

    assert (woken, pages.sent, pairs.sent, store.unparked) == (0, [], [], [])


def test_wake_held_keeps_what_sqs_did_not_take_and_comes_back() -> None:
    store = FakeStore((None, False), _record(state="cancelled"))
    store.held[0] = ([_parked(1)], None)

    with pytest.raises(control.ControlNotSentError):
        control.wake_held(
            store,  # type: ignore[arg-type]
            FakePublisher(),  # type: ignore[arg-type]
            FakePublisher(refuse=True),  # type: ignore[arg-type]
            HeldMessage(tenant_id=TENANT, job_id=JOB, held_shard=0),
        )
    assert store.unparked == []


# -- the consumer's handling -------------------------------------------------------------------------
class ConsumerStore:
    """What the deliverer reads and writes, in memory: an item, a webhook and the job."""

    def __init__(self, state: str | None, *, job_state_later: str | None = None) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        for key, record in (
            (keys.item(TENANT, "s1"), {"id": "s1", "model": "Post", "payload": "{}"}),
            (
                keys.webhook(TENANT, "w1"),
                {"urls": ["https://hooks.example.com/a"], "secret": "whsec_x", "active": True},
            ),
            (keys.job(TENANT, JOB), _record(**({"state": state} if state else {}))),
        ):
            self.records[(key["pk"], key["sk"])] = {**key, **record}
        self.job_state_later = job_state_later if job_state_later is not None else state
        self.committed: list[PairOutcome] = []
        self.parked: list[ParkedPair] = []
        self.unparked: list[ParkedPair] = []

    def get_records(self, key_list: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        wanted = {(k["pk"], k["sk"]) for k in key_list}
        return {k: v for k, v in self.records.items() if k in wanted}

    def commit(self, outcomes: list[PairOutcome], when: str, expires_at: int) -> list[PairOutcome]:
        self.committed += outcomes
        return []

    def park(self, pairs: list[ParkedPair], parked_on: str) -> list[ParkedPair]:
        self.parked += pairs
        return []

    def job_record(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        return _record(state=self.job_state_later)

    def unpark(self, pairs: list[ParkedPair]) -> Any:
        self.unparked += pairs
        return {}


def _no_sender() -> Any:
    raise AssertionError("no attempt may be made for a paused or cancelled job")


def _run(store: ConsumerStore) -> deliverer_module.BatchResult:
    message = PairMessage(tenant_id=TENANT, job_id=JOB, subject_id="s1", webhook_id="w1", created_on="t")
    settings = Settings(TABLE_NAME="t", ALLOW_PRIVATE_URLS="true")  # type: ignore[call-arg]
    consumer = Deliverer(store, settings, _no_sender)  # type: ignore[arg-type]
    return asyncio.run(consumer.run([Incoming("m-1", "r-1", message.model_dump_json())]))


def test_consumer_parks_a_paused_jobs_pair_under_its_job_without_an_attempt() -> None:
    store = ConsumerStore("paused")

    result = _run(store)

    assert (result.attempts, result.parked, result.paused) == (0, 1, 1)
    assert result.failed_message_ids == []  # its message is done: no receive used up
    assert [(p.message.subject_id, p.reason) for p in store.parked] == [("s1", "paused")]
    assert store.committed == []


def test_consumer_ends_a_cancelled_jobs_pair_cancelled_without_an_attempt() -> None:
    store = ConsumerStore("cancelled")

    result = _run(store)

    assert (result.attempts, result.cancelled, result.failed_message_ids) == (0, 1, [])
    [outcome] = store.committed
    assert outcome.terminal == "cancelled"
    assert [(r.url_index, r.status, r.last_error, r.attempts) for r in outcome.records] == [
        (0, "cancelled", CANCELLED_ERROR, 0)
    ]
    assert store.parked == []


def test_consumer_releases_pairs_it_held_when_the_job_was_resumed_meanwhile() -> None:
    # The batch read the job paused; by the time it parked the pair, the job runs again.
    store = ConsumerStore("paused", job_state_later="selected")

    result = _run(store)

    assert [p.message.subject_id for p in store.unparked] == ["s1"]
    assert result.failed_message_ids == ["m-1"]
    assert result.visibility == {"r-1": 0}  # back at once, to be sent
    assert (result.parked, result.paused) == (0, 0)
