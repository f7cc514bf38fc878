"""The SQS publisher: messages out with SendMessageBatch, 10 a call, calls in parallel.

Every message carries its tenant id as `MessageGroupId` (SQS fair queues: one tenant's backlog
does not hold back another tenant's messages). Entries SQS refuses, and calls that fail after
botocore's own retries, are retried a few times with backoff and jitter. What still fails is
reported back in two kinds: `failed`, entries SQS answered it did not take (the caller takes them
out of the job's count), and `unknown`, entries whose last call raised (a timeout, a closed
connection): SQS may have taken them, so they must never be taken out of a count.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import botocore.exceptions
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from webhook_resend.observability import logger

BATCH = 10
BATCH_BYTES = 240 * 1024  # under SendMessageBatch's 256 KB for the whole call
ATTEMPTS = 3
BACKOFF_SECONDS = 0.1  # before the second call of a batch; doubled before the third, with jitter

Message = TypeVar("Message", bound=BaseModel)


@dataclass
class PublishResult(Generic[Message]):
    sent: list[Message] = field(default_factory=list)
    # SQS answered that it did not take these: they are not queued.
    failed: list[Message] = field(default_factory=list)
    # The last call for these raised: SQS may or may not have taken them.
    unknown: list[Message] = field(default_factory=list)
    calls: int = 0

    @property
    def not_sent(self) -> list[Message]:
        """Everything not known to be queued."""
        return self.failed + self.unknown


def batches(bodies: Sequence[tuple[Message, str]]) -> list[list[tuple[Message, str]]]:
    """Consecutive batches of at most 10 messages and BATCH_BYTES bytes."""
    found: list[list[tuple[Message, str]]] = []
    current: list[tuple[Message, str]] = []
    size = 0
    for message, body in bodies:
        length = len(body.encode())
        if current and (len(current) == BATCH or size + length > BATCH_BYTES):
            found.append(current)
            current, size = [], 0
        current.append((message, body))
        size += length
    if current:
        found.append(current)
    return found


def _refused_before_taking(exc: Exception) -> bool:
    """A connection never made, or a 4xx answer (throttled, denied, invalid), says SQS took
    nothing; a 5xx, a read timeout or a connection closed mid-call says nothing about what it
    took."""
    if isinstance(exc, botocore.exceptions.ConnectionError):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    return 400 <= int(status) < 500


def group_of(message: BaseModel) -> str | None:
    """The message's fair-queue group: its tenant."""
    return getattr(message, "tenant_id", None)


class SqsPublisher:
    def __init__(self, client: Any, queue_url: str, concurrency: int = 16) -> None:
        self._client = client
        self._queue_url = queue_url
        self._concurrency = concurrency

    def _send_batch(
        self, batch: list[tuple[Message, str]], delay_seconds: int = 0
    ) -> tuple[list[Message], list[Message], list[Message], int]:
        pending = {str(i): entry for i, entry in enumerate(batch)}
        sent: list[Message] = []
        refused: list[Message] = []
        ambiguous: set[str] = set()  # entries of a call that raised: SQS may have them
        calls = 0
        for attempt in range(ATTEMPTS):
            if not pending:
                break
            if attempt:
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            entries = []
            for key, (message, body) in pending.items():
                entry = {"Id": key, "MessageBody": body}
                group = group_of(message)
                if group:
                    entry["MessageGroupId"] = group
                if delay_seconds:
                    entry["DelaySeconds"] = delay_seconds
                entries.append(entry)
            calls += 1
            try:
                answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("SendMessageBatch failed", extra={"error": type(exc).__name__})
                if not _refused_before_taking(exc):
                    ambiguous.update(pending)
                continue
            for ok in answer.get("Successful", []):
                sent.append(pending.pop(ok["Id"])[0])
            for bad in answer.get("Failed", []):
                if bad.get("SenderFault") and bad["Id"] in pending and bad["Id"] not in ambiguous:
                    # The message itself is wrong; sending it again cannot help.
                    logger.error("SQS refused a message", extra={"code": bad.get("Code")})
                    refused.append(pending.pop(bad["Id"])[0])
        unknown = [message for key, (message, _) in pending.items() if key in ambiguous]
        failed = refused + [message for key, (message, _) in pending.items() if key not in ambiguous]
        return sent, failed, unknown, calls

    def publish(self, messages: Sequence[Message], *, delay_seconds: int = 0) -> PublishResult[Message]:
        """Send the messages, ten a SendMessageBatch; with `delay_seconds` (at most 900, SQS's
        most), each is received no sooner than that."""
        groups = batches([(m, m.model_dump_json()) for m in messages])
        result: PublishResult[Message] = PublishResult()
        if not groups:
            return result
        workers = max(1, min(self._concurrency, len(groups)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            sends = pool.map(lambda group: self._send_batch(group, delay_seconds), groups)
            for sent, failed, unknown, calls in sends:
                result.sent.extend(sent)
                result.failed.extend(failed)
                result.unknown.extend(unknown)
                result.calls += calls
        return result


def change_visibility(client: Any, queue_url: str, visibility: dict[str, int]) -> None:
    """Make received messages visible again after their seconds (receipt handle → seconds), ten
    a ChangeMessageVisibilityBatch. Best effort: a message whose visibility could not be changed
    comes back after the queue's own visibility timeout instead, and is retried then; what the
    batch did is written already, so an error here must not fail the invocation."""
    entries = [
        {"Id": str(i), "ReceiptHandle": receipt, "VisibilityTimeout": seconds}
        for i, (receipt, seconds) in enumerate(visibility.items())
    ]
    for start in range(0, len(entries), 10):
        try:
            answer = client.change_message_visibility_batch(
                QueueUrl=queue_url, Entries=entries[start : start + 10]
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("visibility not changed", extra={"error": type(exc).__name__})
            continue
        if answer.get("Failed"):
            logger.warning("visibility not changed", extra={"failed": len(answer["Failed"])})
