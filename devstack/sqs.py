"""Lambda's SQS event source mapping, emulated for the local stack.

For every function event of type `SQS` in the template: long-poll the queue, gather up to
`BatchSize` messages within `MaximumBatchingWindowInSeconds`, invoke the function with the event
Lambda would build, and settle the batch the way Lambda does: with `ReportBatchItemFailures`,
delete every message but the reported ones (an empty or unknown id fails the whole batch); an
error from the function deletes nothing. What is not deleted comes back after its visibility
timeout, and moto's redrive policy moves it to the dead-letter queue after `maxReceiveCount`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

log = logging.getLogger(__name__)

RECEIVE_MAX = 10  # SQS's own cap per ReceiveMessage call


@dataclass(frozen=True)
class EventSourceMapping:
    """One event source mapping: which function reads which queue, and how."""

    function: str
    queue_arn: str
    batch_size: int
    window_seconds: float
    report_failures: bool


def mappings_of(stack: Any) -> list[EventSourceMapping]:
    found = []
    for spec in stack.functions():
        for event in spec.events_of_type("SQS").values():
            props = event.get("Properties") or {}
            found.append(
                EventSourceMapping(
                    function=spec.logical_id,
                    queue_arn=str(props["Queue"]),
                    batch_size=int(props.get("BatchSize", 10)),
                    window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                )
            )
    return found


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda hands a function for a batch of received messages."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in (m.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": m.get("MD5OfBody")
                or hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def messages_to_delete(
    messages: Sequence[Mapping[str, Any]], response: Any, *, report_failures: bool
) -> list[Mapping[str, Any]]:
    """Which messages of an invocation that returned `response` are done, as Lambda decides."""
    if not report_failures:
        return list(messages)
    if not isinstance(response, Mapping) or "batchItemFailures" not in response:
        return list(messages)  # no report: the whole batch succeeded
    failures = response.get("batchItemFailures") or []
    ids = {m["MessageId"] for m in messages}
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in ids:
            return []  # Lambda treats a malformed report as a failure of the whole batch
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


class SqsEventSource:
    """One polling thread per mapping; `poll_once()` is the unit tests drive directly."""

    def __init__(self, local: Any, mapping: EventSourceMapping, *, wait_seconds: int = 1) -> None:
        self._local = local
        self.mapping = mapping
        self._wait = wait_seconds
        self._client = boto3.client(
            "sqs", endpoint_url=local.aws_endpoint, region_name=mapping.queue_arn.split(":")[3]
        )
        self._queue_url = self._client.get_queue_url(QueueName=mapping.queue_arn.split(":")[5])["QueueUrl"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations = 0

    def _receive(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.mapping.window_seconds
        while len(batch) < self.mapping.batch_size and not self._stop.is_set():
            answer = self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.mapping.batch_size - len(batch)),
                WaitTimeSeconds=0 if batch else self._wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages", [])
            batch.extend(received)
            if not batch or time.monotonic() >= deadline:
                break
            if not received:
                # Waiting out the batching window for more: poll gently, not in a busy loop.
                self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return batch

    def poll_once(self) -> int:
        """Receive one batch, invoke the function, settle; the number of messages handled."""
        messages = self._receive()
        if not messages:
            return 0
        self.invocations += 1
        try:
            response = self._local.invoke(self.mapping.function, sqs_event(messages, self.mapping.queue_arn))
        except Exception:
            log.exception(
                "%s failed; its %d messages come back after their visibility timeout",
                self.mapping.function,
                len(messages),
            )
            return len(messages)
        done = messages_to_delete(messages, response, report_failures=self.mapping.report_failures)
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            self._client.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        return len(messages)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("polling %s failed", self.mapping.queue_arn)
                self._stop.wait(1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"sqs-{self.mapping.function}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._wait + 65)


class SqsEventSources:
    """Every SQS event source of the template, as one worker of the local stack."""

    def __init__(self, local: Any) -> None:
        self.sources = [SqsEventSource(local, m) for m in mappings_of(local.stack)]

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.request_stop()
        for source in self.sources:
            source.stop()
