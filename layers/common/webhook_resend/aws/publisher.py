"""The SQS publisher: pair messages out with SendMessageBatch, 10 a call, calls in parallel.

Entries SQS refuses (or calls that fail after botocore's own retries) are retried a few times;
what still fails is reported back, so the caller can correct the job's counters to exactly what
was queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from webhook_resend.observability import logger

BATCH = 10
BATCH_BYTES = 240 * 1024  # under SendMessageBatch's 256 KB for the whole call
ATTEMPTS = 3

Message = TypeVar("Message", bound=BaseModel)


@dataclass
class PublishResult(Generic[Message]):
    sent: list[Message] = field(default_factory=list)
    failed: list[Message] = field(default_factory=list)
    calls: int = 0


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


class SqsPublisher:
    def __init__(self, client: Any, queue_url: str, concurrency: int = 16) -> None:
        self._client = client
        self._queue_url = queue_url
        self._concurrency = concurrency

    def _send_batch(self, batch: list[tuple[Message, str]]) -> tuple[list[Message], list[Message], int]:
        pending = {str(i): pair for i, pair in enumerate(batch)}
        sent: list[Message] = []
        refused: list[Message] = []
        calls = 0
        for _ in range(ATTEMPTS):
            if not pending:
                break
            entries = [{"Id": key, "MessageBody": body} for key, (_, body) in pending.items()]
            calls += 1
            try:
                answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("SendMessageBatch failed", extra={"error": type(exc).__name__})
                continue
            for ok in answer.get("Successful", []):
                sent.append(pending.pop(ok["Id"])[0])
            for bad in answer.get("Failed", []):
                if bad.get("SenderFault") and bad["Id"] in pending:
                    # The message itself is wrong; sending it again cannot help.
                    logger.error("SQS refused a message", extra={"code": bad.get("Code")})
                    refused.append(pending.pop(bad["Id"])[0])
        return sent, refused + [message for message, _ in pending.values()], calls

    def publish(self, messages: Sequence[Message]) -> PublishResult[Message]:
        groups = batches([(m, m.model_dump_json()) for m in messages])
        result: PublishResult[Message] = PublishResult()
        if not groups:
            return result
        workers = max(1, min(self._concurrency, len(groups)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for sent, failed, calls in pool.map(self._send_batch, groups):
                result.sent.extend(sent)
                result.failed.extend(failed)
                result.calls += calls
        return result
