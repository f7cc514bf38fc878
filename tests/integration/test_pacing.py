"""Pacing on moto (SPEC §12): the webhook's `rate_limit` (stored, returned, validated), the shared
budget in DynamoDB, pairs over budget held without an attempt (reported back to SQS with their slot
on their record, or parked), two consumer invocations sharing one budget, and receivers that answer
429/503: deferred without using up an attempt, the webhook slowed.

The consumer waits in-process for slots up to `pacing.INLINE_SECONDS` ahead; these tests shorten
that to keep their sleeps short (a setting of the unit under test, not a fake).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from devstack.sqs import SqsEventSource, mappings_of
from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from tests.unit.delivery.test_pacing import FakeBudgets, most_in_one_second
from webhook_resend.aws import clients, keys
from webhook_resend.delivery import pacing, parking
from webhook_resend.delivery.deliverer import Deliverer, Incoming
from webhook_resend.delivery.sender import HttpSender, default_transport

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
HOOK = {"urls": ["https://hooks.example.com/in"], "events": [EVENT]}


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def short_inline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(pacing, "INLINE_SECONDS", 2.5)
    return 2.5


@pytest.fixture
def visibility_changes(stack: LocalAws) -> list[int]:
    """Every VisibilityTimeout the deliver function asks SQS for, recorded on its own client."""
    client = clients.boto_client("sqs")
    real = client.change_message_visibility_batch
    seen: list[int] = []

    def change_message_visibility_batch(**kwargs: Any) -> Any:
        seen.extend(int(entry["VisibilityTimeout"]) for entry in kwargs["Entries"])
        return real(**kwargs)

    client.change_message_visibility_batch = change_message_visibility_batch
    return seen


# -- helpers ------------------------------------------------------------------------------------------
def _items(api: Api, token: str, count: int) -> None:
    for n in range(1, count + 1):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        assert api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token).status == 201


def _webhook(api: Api, token: str, url: str, rate_limit: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"urls": [url], "events": [EVENT]}
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    reply = api.request("POST", "/webhooks", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return str(reply.json["id"])


def _resend(api: Api, token: str, webhook_id: str, count: int) -> str:
    params = {"event": EVENT, "webhook_id": [{"eq": webhook_id}], "limit": count}
    reply = api.request("GET", BULK, json_body=params, token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == count
    return str(reply.json["resend_id"])


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return dict(reply.json)


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=100", token=token)
    assert reply.status == 200, reply.body
    return list(reply.json["data"])


def _receive_all(sqs: Any, queue: str) -> list[Incoming]:
    found: list[Incoming] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        found += [Incoming(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in batch]
    return found


def _deliverer() -> Deliverer:
    settings = clients.settings()
    return Deliverer(
        clients.delivery_store(),
        settings,
        lambda: HttpSender(
            settings.delivery_timeout_seconds,
            transport_factory=lambda: default_transport(True),
            allow_private=True,
        ),
        time_left=lambda: 50.0,
    )


# -- the webhook's field ---------------------------------------------------------------------------------
def test_webhook_rate_limit_is_stored_and_returned(api: Api, token: str) -> None:
    created = api.request(
        "POST", "/webhooks", json_body={**HOOK, "rate_limit": {"per_second": 25}}, token=token
    )
    assert created.status == 201, created.body

    read = api.request("GET", f"/webhooks/{created.json['id']}", token=token)

    assert created.json["rate_limit"] == read.json["rate_limit"] == {"per_second": 25}
    assert api.request("GET", "/webhooks", token=token).json["items"][0]["rate_limit"] == {"per_second": 25}


def test_webhook_without_rate_limit_returns_none_and_a_replacement_drops_it(api: Api, token: str) -> None:
    created = api.request(
        "POST", "/webhooks", json_body={**HOOK, "rate_limit": {"per_second": 3}}, token=token
    )

    replaced = api.request("PUT", f"/webhooks/{created.json['id']}", json_body=HOOK, token=token)

    assert replaced.status == 200, replaced.body
    assert replaced.json["rate_limit"] is None
    assert api.request("GET", f"/webhooks/{created.json['id']}", token=token).json["rate_limit"] is None


@pytest.mark.parametrize(
    ("rate_limit", "field"),
    [
        pytest.param({"per_second": 0}, "rate_limit.per_second", id="zero"),
        pytest.param({"per_second": 1001}, "rate_limit.per_second", id="over-1000"),
        pytest.param({"per_second": 2.5}, "rate_limit.per_second", id="fraction"),
        pytest.param({"per_second": "5"}, "rate_limit.per_second", id="string"),
        pytest.param({"per_second": True}, "rate_limit.per_second", id="boolean"),
        pytest.param({}, "rate_limit.per_second", id="missing"),
        pytest.param({"per_second": 5, "burst": 10}, "rate_limit.burst", id="unknown-field"),
        pytest.param(5, "rate_limit", id="not-an-object"),
    ],
)
def test_webhook_invalid_rate_limit_is_422_naming_the_field(
    api: Api, token: str, rate_limit: Any, field: str
) -> None:
    reply = api.request("POST", "/webhooks", json_body={**HOOK, "rate_limit": rate_limit}, token=token)

    assert reply.status == 422, reply.body
    assert field in [error["field"] for error in reply.json["errors"]]
    assert api.request("GET", "/webhooks", token=token).json["total"] == 0


# -- the store's budget writes, against the fake the unit tests simulate with --------------------------------
def test_budget_store_writes_answer_as_the_fake_does(stack: LocalAws) -> None:
    """The same random sequence of restarts, extensions and pull-backs on moto's DynamoDB and on the
    unit tests' fake: the same answers and the same next free slot each time."""
    store, fake = clients.delivery_store(), FakeBudgets()
    key = keys.rate_budget("tn0000000000000000000000001", "w", "https://hooks.example.com/in")
    rng = random.Random(5)
    now = 1_000_000_000
    outcomes: set[bool] = set()
    for _ in range(60):
        now += rng.randint(0, 300_000)
        choice = rng.random()
        if choice < 0.4:
            tat = now + rng.randint(0, 2_000_000)
            answers = [b.restart_budget(key, tat, now, 0) for b in (store, fake)]
        elif choice < 0.9:
            latest = now + rng.randint(0, 3_000_000)
            add = rng.randint(1, 500_000)
            answers = [b.extend_budget(key, add, now, latest, 0) for b in (store, fake)]
        else:
            point = now + rng.randint(0, 1_000_000)
            answers = [b.pull_budget(key, point) for b in (store, fake)]  # type: ignore[misc]
        assert answers[0] == answers[1], answers
        outcomes.add(answers[0] if isinstance(answers[0], bool) else answers[0].taken)
    # both kinds were seen: writes taken and writes refused
    assert outcomes == {True, False}


def test_budget_store_refused_write_answers_the_budget_as_it_is(stack: LocalAws) -> None:
    store = clients.delivery_store()
    key = keys.rate_budget("tn0000000000000000000000001", "w", "https://hooks.example.com/in")

    first = store.restart_budget(key, 5_000, 1_000, 0)
    refused = store.restart_budget(key, 9_000, 2_000, 0)

    assert (first.taken, first.tat) == (True, 5_000)
    assert (refused.taken, refused.tat) == (False, 5_000)


# -- the consumer holds what is over budget -----------------------------------------------------------------
def test_pacing_consumer_holds_pairs_over_budget_without_an_attempt_and_reports_them_back(
    api: Api,
    token: str,
    receiver: Receiver,
    visibility_changes: list[int],
    deliveries: Callable[..., int],
    short_inline: float,
) -> None:
    # Given 7 pairs for a webhook limited to 1 request a second (slots 1.1 s apart)
    _items(api, token, 7)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook", {"per_second": 1})
    job_id = _resend(api, token, webhook_id, 7)

    # When one batch is worked
    handled = deliveries(rounds=1, max_polls=1)

    # Then the slots within the in-process wait were used (0, 1.1 and 2.2 s), 1.1 s apart
    assert handled == 7
    times = sorted(r.at for r in receiver.to("/hook"))
    assert len(times) == 3
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))
    # And the other 4 are held without an attempt: pending, each naming its slot, reported back to
    # SQS until 2 s before it (floor(3.3 - 2), floor(4.4 - 2), ...)
    records = _records(api, token, job_id)
    held = [r for r in records if r["status"] == "pending"]
    assert len(held) == 4
    assert all(
        r["attempts"] == 0 and r["held_until"] and r["next_attempt_on"] == r["held_until"] for r in held
    )
    assert len({r["held_until"] for r in held}) == 4
    assert sorted(visibility_changes) == [1, 2, 3, 4]
    job = _job(api, token, job_id)
    assert (job["delivered"], job["pending"]) == (3, 4)


def test_pacing_consumer_delivers_held_pairs_at_their_slots(
    api: Api,
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    short_inline: float,
) -> None:
    # Given 6 pairs at 1/s, worked by one batch (3 sent, 3 held until their slots)
    _items(api, token, 6)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook", {"per_second": 1})
    job_id = _resend(api, token, webhook_id, 6)
    deliveries(rounds=1, max_polls=1)

    # When the queue is polled as Lambda does until the held messages came back and were sent
    [mapping] = [m for m in mappings_of(stack.stack) if m.function == "DeliverFunction"]
    waiting = SqsEventSource(stack, mapping, wait_seconds=5)
    for _ in range(6):
        if _job(api, token, job_id)["pending"] == 0:
            break
        waiting.poll_once()

    # Then every pair was delivered once, never two requests within a second, with no attempt lost
    requests = receiver.to("/hook")
    assert len(requests) == 6
    assert len({json.loads(r.body)["payload"]["n"] for r in requests}) == 6
    assert most_in_one_second([r.at for r in requests]) == 1
    records = _records(api, token, job_id)
    assert [(r["status"], r["attempts"], r["held_until"]) for r in records] == [("delivered", 1, None)] * 6
    job = _job(api, token, job_id)
    assert (job["delivered"], job["status"]) == (6, "completed")


def test_pacing_consumer_parks_pairs_with_no_slot_free_within_its_horizon(
    api: Api,
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    deliveries: Callable[..., int],
    short_inline: float,
) -> None:
    # Given a consumer that may hold nothing in flight (PARK_AFTER_SECONDS=0: its horizon is the
    # in-process wait), and 5 pairs at 1/s
    monkeypatch.setenv("PARK_AFTER_SECONDS", "0")
    clients.reset(clients=False)
    _items(api, token, 5)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook", {"per_second": 1})
    job_id = _resend(api, token, webhook_id, 5)

    # When one batch is worked
    deliveries(rounds=1, max_polls=1)

    # Then 3 were sent at their slots, and 2 were parked for the rate limit, without an attempt
    assert len(receiver.to("/hook")) == 3
    parked = _parked_now()
    assert [p.reason for p in parked] == ["rate_limit", "rate_limit"]
    assert {p.message.job_id for p in parked} == {job_id}
    records = _records(api, token, job_id)
    assert sorted(r["status"] for r in records) == ["delivered"] * 3
    assert _job(api, token, job_id)["pending"] == 2


def test_pacing_default_rate_limit_paces_a_webhook_without_one(
    api: Api,
    token: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    deliveries: Callable[..., int],
    short_inline: float,
) -> None:
    monkeypatch.setenv("DEFAULT_RATE_LIMIT", "1")
    clients.reset(clients=False)
    _items(api, token, 4)
    job_id = _resend(api, token, _webhook(api, token, f"{receiver.url}/hook"), 4)

    deliveries(rounds=1, max_polls=1)

    assert len(receiver.to("/hook")) == 3
    assert [
        r["held_until"] is not None for r in _records(api, token, job_id) if r["status"] == "pending"
    ] == [True]


def test_pacing_two_consumer_invocations_share_one_budget(
    api: Api, token: str, tenant: dict[str, Any], receiver: Receiver, sqs: Any, queue: str
) -> None:
    # Given 8 pairs at 5/s (slots 0.22 s apart), split into two batches
    _items(api, token, 8)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook", {"per_second": 5})
    job_id = _resend(api, token, webhook_id, 8)
    received = _receive_all(sqs, queue)
    assert len(received) == 8

    # When two consumer invocations work them at the same time, each with its own sender and no
    # knowledge of the other but the budget in DynamoDB
    async def both() -> list[Any]:
        return list(await asyncio.gather(_deliverer().run(received[:4]), _deliverer().run(received[4:])))

    results = asyncio.run(both())

    # Then together they kept the pace: never more than 5 requests in a second, no two closer than
    # about a spacing (0.22 s; two invocations each starting its own schedule would send two at once)
    times = sorted(r.at for r in receiver.to("/hook"))
    assert len(times) >= 6
    assert most_in_one_second(times) <= 5
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.15
    # And a slot missed (both run in this one event loop, whose reads may delay the other's sends)
    # was not used late: its message was handed back, unattempted
    assert sum(r.attempts for r in results) == len(times)
    assert sum(len(r.failed_message_ids) for r in results) == 8 - len(times)
    # And the budget's next free slot is past all 8 slots the two invocations took from it
    budget = clients.store()._get(keys.rate_budget(tenant["tenant_id"], webhook_id, f"{receiver.url}/hook"))
    assert budget is not None
    assert 7 * 0.22 - 0.05 <= budget["tat"] / 1e6 - times[0] <= 8 * 0.22 + 0.05
    assert _job(api, token, job_id)["delivered"] == len(times)


# -- receivers that set the pace -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [pytest.param((429, {"Retry-After": "1"}), id="429-retry-after"), pytest.param(429, id="429-backoff")],
)
def test_pacing_429_eight_times_then_200_ends_delivered_without_using_up_attempts(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    sqs_clock: Callable[[float], None],
    deliveries: Callable[..., int],
    answer: Any,
) -> None:
    # Given a retry schedule of 4 attempts and a receiver answering 429 eight times, then 200
    monkeypatch.setenv("RETRY_SCHEDULE", "1,1,1,1")
    clients.reset(clients=False)
    receiver.script("/hook", [answer] * 8 + [200])
    _items(api, token, 1)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    job_id = _resend(api, token, webhook_id, 1)

    # When the queue is worked, SQS's clock moved past each deferral
    for _ in range(12):
        deliveries(rounds=1)
        if _job(api, token, job_id)["pending"] == 0:
            break
        sqs_clock(3)

    # Then the pair was delivered: nine requests, eight of them deferrals that used no attempt
    assert len(receiver.to("/hook")) == 9
    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"], record["deferrals"]) == ("delivered", 9, 8)
    assert 8 * 1 <= record["deferred_seconds"] <= 8 * 2
    job = _job(api, token, job_id)
    assert (job["delivered"], job["failed"], job["status"]) == (1, 0, "completed")
    # And the webhook, which had no limit, was slowed to a rate of its own
    stored = clients.store()._get(keys.webhook(tenant["tenant_id"], webhook_id))
    assert stored is not None
    assert stored["paced_per_second"] == pacing.MIN_RATE


def test_pacing_503_halves_a_limited_webhooks_pace(
    api: Api, token: str, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    receiver.script("/hook", [(503, {"Retry-After": "600"})])
    _items(api, token, 1)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook", {"per_second": 40})
    job_id = _resend(api, token, webhook_id, 1)

    deliveries(rounds=1)

    stored = clients.store()._get(keys.webhook(tenant["tenant_id"], webhook_id))
    assert stored is not None
    assert stored["paced_per_second"] == 20
    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"], record["deferrals"], record["deferred_seconds"]) == (
        "retrying",
        1,
        1,
        600,
    )


def test_pacing_deferrals_past_a_day_are_ordinary_failed_attempts(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a receiver that always answers 429 asking for 12 hours
    from datetime import timedelta

    from webhook_resend import clock

    receiver.script("/hook", [(429, {"Retry-After": "43200"})])
    _items(api, token, 1)
    job_id = _resend(api, token, _webhook(api, token, f"{receiver.url}/hook"), 1)

    # When it is attempted three times, the waker run each time past the parked pair's due time
    reasons = []
    for hours in (13, 26, 39):
        deliveries(rounds=1)
        [parked] = _parked_now()
        reasons.append(parked.reason)
        parking.wake(
            clients.store(),
            clients.publisher(),
            now=clock.now() + timedelta(hours=hours),
            time_left=lambda: 60.0,
        )
    # Then two answers deferred it (a day in all) and the third used up an attempt
    assert reasons == ["deferred", "deferred", "retry"]
    [record] = _records(api, token, job_id)
    assert (record["attempts"], record["deferrals"], record["deferred_seconds"]) == (3, 2, 86400)
    assert _job(api, token, job_id)["pending"] == 1


def _parked_now() -> list[Any]:
    found = []
    for shard in range(keys.PARK_SHARDS):
        page, _ = clients.store().due_parked(shard, "9999-12-31T00:00:00.000Z", 100)
        found += page
    return found
