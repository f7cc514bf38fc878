"""The SQS publisher: pair messages out with SendMessageBatch, 10 a call, calls in parallel.

Entries SQS refuses (or calls that fail after botocore's own retries) are retried a few times;
what still fails is reported back, so the caller can correct the job's counters to exactly what
was queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend.jobs import PairMessage
from webhook_resend.observability import logger

BATCH = 10
ATTEMPTS = 3


@dataclass
class PublishResult:
    sent: list[PairMessage] = field(default_factory=list)
    failed: list[PairMessage] = field(default_factory=list)
    calls: int = 0


class SqsPublisher:
    def __init__(self, client: Any, queue_url: str, concurrency: int = 16) -> None:
        self._client = client
        self._queue_url = queue_url
        self._concurrency = concurrency

    def _send_batch(self, batch: Sequence[PairMessage]) -> tuple[list[PairMessage], list[PairMessage], int]:
        pending = {str(i): message for i, message in enumerate(batch)}
        sent: list[PairMessage] = []
        calls = 0
        for _ in range(ATTEMPTS):
            if not pending:
                break
            entries = [
                {"Id": key, "MessageBody": message.model_dump_json()} for key, message in pending.items()
            ]
            calls += 1
            try:
                answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("SendMessageBatch failed", extra={"error": type(exc).__name__})
                continue
            for ok in answer.get("Successful", []):
                sent.append(pending.pop(ok["Id"]))
            for bad in answer.get("Failed", []):
                if bad.get("SenderFault"):
                    # The message itself is wrong; sending it again cannot help.
                    logger.error("SQS refused a message", extra={"code": bad.get("Code")})
        return sent, list(pending.values()), calls

    def publish(self, messages: Sequence[PairMessage]) -> PublishResult:
        batches = [messages[i : i + BATCH] for i in range(0, len(messages), BATCH)]
        result = PublishResult()
        if not batches:
            return result
        workers = max(1, min(self._concurrency, len(batches)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for sent, failed, calls in pool.map(self._send_batch, batches):
                result.sent.extend(sent)
                result.failed.extend(failed)
                result.calls += calls
        return result
