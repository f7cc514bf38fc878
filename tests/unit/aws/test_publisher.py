"""The SQS publisher over a fake client: batching, retries of refused entries and failed calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.models.messages import PairMessage

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/delivery"
TENANT = "tenant-1"
JOB = "7a0c8c7e-4a51-4c1e-9a0b-6f1d2e3c4b5a"
WEBHOOK = "5d2e8f40-1c3a-4b6d-8e9f-a0b1c2d3e4f5"


def _messages(count: int) -> list[PairMessage]:
    return [
        PairMessage(
            tenant_id=TENANT,
            job_id=JOB,
            subject_id=f"item-{n:03d}",
            webhook_id=WEBHOOK,
            event="content_item.changed",
            created_on="2024-01-02T03:04:05.006Z",
        )
        for n in range(count)
    ]


# An entry's fate in one call, given the call number and the message: "ok", "refused" (in `Failed`,
# SQS's fault) or "invalid" (in `Failed` with SenderFault: the message itself is wrong).
Fate = Callable[[int, PairMessage], str]


class FakeSqs:
    """Answers SendMessageBatch like SQS; `fate` decides each entry, `raise_on` which calls fail."""

    def __init__(
        self, fate: Fate | None = None, raise_on: set[int] | None = None, raise_status: int = 503
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self.accepted: list[PairMessage] = []
        self._fate = fate or (lambda _call, _message: "ok")
        self._raise_on = raise_on or set()
        self._raise_status = raise_status
        self._lock = threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        with self._lock:
            number = len(self.calls)
            self.calls.append({"QueueUrl": QueueUrl, "Entries": list(Entries)})
        if number in self._raise_on:
            raise ClientError(
                {
                    "Error": {"Code": "ServiceUnavailable", "Message": "try again"},
                    "ResponseMetadata": {"HTTPStatusCode": self._raise_status},
                },
                "SendMessageBatch",
            )
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        for entry in Entries:
            message = PairMessage.model_validate_json(entry["MessageBody"])
            if self._fate(number, message) == "ok":
                with self._lock:
                    self.accepted.append(message)
                answer["Successful"].append({"Id": entry["Id"], "MessageId": f"m-{number}-{entry['Id']}"})
            else:
                sender_fault = self._fate(number, message) == "invalid"
                answer["Failed"].append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": sender_fault,
                        "Code": "InvalidParameterValue" if sender_fault else "InternalError",
                        "Message": "refused",
                    }
                )
        if not answer["Failed"]:
            del answer["Failed"]
        return answer


def _subjects(messages: list[PairMessage]) -> list[str]:
    return sorted(m.subject_id for m in messages)


def test_publisher_sends_95_messages_in_10_batches_of_at_most_10() -> None:
    fake = FakeSqs()
    messages = _messages(95)

    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    assert len(fake.calls) == 10
    assert result.calls == 10
    assert sorted(len(call["Entries"]) for call in fake.calls) == [5] + [10] * 9
    assert all(call["QueueUrl"] == QUEUE_URL for call in fake.calls)
    assert _subjects(result.sent) == _subjects(messages)
    assert _subjects(fake.accepted) == _subjects(messages)
    assert result.failed == []


def test_publisher_entry_ids_are_unique_within_each_call() -> None:
    fake = FakeSqs()

    SqsPublisher(fake, QUEUE_URL).publish(_messages(25))

    for call in fake.calls:
        ids = [entry["Id"] for entry in call["Entries"]]
        assert len(set(ids)) == len(ids)


def test_publisher_of_nothing_makes_no_call() -> None:
    fake = FakeSqs()

    result = SqsPublisher(fake, QUEUE_URL).publish([])

    assert fake.calls == []
    assert (result.sent, result.failed, result.calls) == ([], [], 0)


def test_publisher_retries_entries_that_come_back_failed() -> None:
    # Given SQS refuses item-003 and item-007 the first time it sees them
    seen: set[str] = set()
    lock = threading.Lock()

    def fate(_call: int, message: PairMessage) -> str:
        with lock:
            first = message.subject_id not in seen
            seen.add(message.subject_id)
        return "refused" if first and message.subject_id in ("item-003", "item-007") else "ok"

    fake = FakeSqs(fate)
    messages = _messages(10)

    # When the batch is published
    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    # Then the retry call carries only the refused entries, and everything is sent once
    assert len(fake.calls) == 2
    retried = [PairMessage.model_validate_json(e["MessageBody"]).subject_id for e in fake.calls[1]["Entries"]]
    assert sorted(retried) == ["item-003", "item-007"]
    assert _subjects(result.sent) == _subjects(messages)
    assert _subjects(fake.accepted) == _subjects(messages)
    assert result.failed == []


def test_publisher_reports_entries_that_keep_failing() -> None:
    fake = FakeSqs(lambda _call, message: "refused" if message.subject_id == "item-012" else "ok")
    messages = _messages(23)

    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    assert [m.subject_id for m in result.failed] == ["item-012"]
    assert "item-012" not in _subjects(result.sent)
    assert _subjects(result.sent + result.failed) == _subjects(messages)
    assert len(result.sent) == len(fake.accepted) == 22
    # The refused entry was tried more than once before it was given up.
    tries = sum(
        1
        for call in fake.calls
        for entry in call["Entries"]
        if PairMessage.model_validate_json(entry["MessageBody"]).subject_id == "item-012"
    )
    assert tries > 1


def test_publisher_retries_a_call_that_raises_a_client_error() -> None:
    fake = FakeSqs(raise_on={0})
    messages = _messages(7)

    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    assert len(fake.calls) == 2
    assert fake.calls[0]["Entries"] == fake.calls[1]["Entries"]
    assert _subjects(result.sent) == _subjects(messages)
    assert result.failed == []
    assert result.calls == 2


def test_publisher_reports_every_message_of_a_call_that_keeps_raising() -> None:
    # Given SQS is down for the first batch's every call, and fine for the second batch
    first_batch = {f"item-{n:03d}" for n in range(10)}
    fake = FakeSqs()
    failing = FakeSqs(raise_on=set(range(100)))

    class Router:
        def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
            subject = PairMessage.model_validate_json(kwargs["Entries"][0]["MessageBody"]).subject_id
            target = failing if subject in first_batch else fake
            return target.send_message_batch(**kwargs)

    messages = _messages(15)

    # When they are published
    result = SqsPublisher(Router(), QUEUE_URL).publish(messages)

    # Then the first batch is reported unknown (SQS may have taken it) after a few calls, the
    # rest sent, and nothing is reported failed: a caller never takes these out of a count
    assert _subjects(result.unknown) == sorted(first_batch)
    assert result.failed == []
    assert _subjects(result.sent) == [f"item-{n:03d}" for n in range(10, 15)]
    assert len(result.sent) + len(result.unknown) == len(messages)
    assert 1 < len(failing.calls) <= 5


def test_publisher_sent_and_failed_together_are_every_message_exactly_once() -> None:
    # Given a flaky SQS: some calls raise, some entries are refused on some calls
    def fate(call: int, message: PairMessage) -> str:
        n = int(message.subject_id.split("-")[1])
        return "refused" if (n % 7 == 0) or (n % 3 == 0 and call % 2 == 0) else "ok"

    fake = FakeSqs(fate, raise_on={1, 4})
    messages = _messages(95)

    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    everything = _subjects(result.sent + result.failed + result.unknown)
    assert everything == _subjects(messages)
    assert len(set(everything)) == len(everything)
    assert _subjects(result.sent) == _subjects(fake.accepted)
    assert {m.subject_id for m in result.not_sent} >= {f"item-{n:03d}" for n in range(0, 95, 7)}


def test_publisher_does_not_retry_entries_refused_as_the_senders_fault() -> None:
    fake = FakeSqs(lambda _call, message: "invalid" if message.subject_id == "item-004" else "ok")
    messages = _messages(10)

    result = SqsPublisher(fake, QUEUE_URL).publish(messages)

    assert [m.subject_id for m in result.failed] == ["item-004"]
    assert len(result.sent) == 9
    assert len(fake.calls) == 1


def test_publisher_reports_a_call_refused_with_a_4xx_as_failed_not_unknown() -> None:
    # Given SQS answers every call with a 4xx (throttled): it took nothing
    fake = FakeSqs(raise_on=set(range(10)), raise_status=400)

    result = SqsPublisher(fake, QUEUE_URL).publish(_messages(4))

    assert _subjects(result.failed) == _subjects(_messages(4))
    assert result.unknown == []
    assert result.sent == []


def test_publisher_keeps_an_entry_unknown_once_a_call_with_it_got_no_answer() -> None:
    # Given the first call raises (a 5xx) and every later call answers the entry Failed
    fake = FakeSqs(lambda call, _message: "ok" if call == 0 else "refused", raise_on={0})

    result = SqsPublisher(fake, QUEUE_URL).publish(_messages(3))

    # Then the first call may have queued them: they are unknown, never failed
    assert _subjects(result.unknown) == _subjects(_messages(3))
    assert result.failed == []


def test_publisher_gives_every_entry_its_tenant_as_message_group() -> None:
    fake = FakeSqs()
    other = [m.model_copy(update={"tenant_id": "tenant-2"}) for m in _messages(3)]

    SqsPublisher(fake, QUEUE_URL).publish(_messages(4) + other)

    groups = {
        PairMessage.model_validate_json(e["MessageBody"]).tenant_id: e["MessageGroupId"]
        for call in fake.calls
        for e in call["Entries"]
    }
    assert groups == {TENANT: TENANT, "tenant-2": "tenant-2"}
