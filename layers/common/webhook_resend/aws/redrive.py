"""Move dead-lettered messages back to the queue they came from.

SQS's own redrive (`StartMessageMoveTask`) is used where the endpoint has it; where it does not
(moto, and so `make run`), a batched receive → send → delete loop does the same. A message is
deleted from the dead-letter queue only after its copy was accepted by the target queue, so none
is lost; the target's consumers are idempotent, so the one window where a copy could be sent twice
(a crash between send and delete) cannot count a delivery twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

RECEIVE_MAX = 10
# Long enough to send and delete a batch; short enough that a crash returns messages soon.
HOLD_SECONDS = 60


@dataclass
class RedriveResult:
    moved: int
    method: str  # "StartMessageMoveTask" | "receive-send-delete"
    task_handle: str | None = None


def queue_arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _native(sqs: Any, dlq_url: str, target_url: str) -> RedriveResult | None:
    try:
        answer = sqs.start_message_move_task(
            SourceArn=queue_arn(sqs, dlq_url), DestinationArn=queue_arn(sqs, target_url)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (
            status in (500, 501)
            or "NotImplemented" in code
            or "InvalidAction" in code
            or "UnknownOperation" in code
        ):
            return None
        raise
    except NotImplementedError:
        return None
    return RedriveResult(moved=-1, method="StartMessageMoveTask", task_handle=answer.get("TaskHandle"))


def move_by_hand(sqs: Any, dlq_url: str, target_url: str, limit: int | None = None) -> int:
    """Receive → send → delete, ten at a time, until the dead-letter queue answers empty."""
    moved = 0
    while limit is None or moved < limit:
        want = RECEIVE_MAX if limit is None else min(RECEIVE_MAX, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        if not messages:
            return moved
        entries = [
            {
                "Id": str(i),
                "MessageBody": m["Body"],
                **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}),
                # The tenant's fair-queue group goes back with the message.
                **(
                    {"MessageGroupId": m["Attributes"]["MessageGroupId"]}
                    if (m.get("Attributes") or {}).get("MessageGroupId")
                    else {}
                ),
            }
            for i, m in enumerate(messages)
        ]
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        accepted = [messages[int(ok["Id"])] for ok in sent.get("Successful", [])]
        if accepted:
            deleted = sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(accepted)],
            )
            if deleted.get("Failed"):
                raise RuntimeError(f"{len(deleted['Failed'])} copies were sent but not deleted from the DLQ")
        moved += len(accepted)
        if len(accepted) < len(messages):
            # What the target refused stays in the DLQ (visible again after HOLD_SECONDS).
            return moved
    return moved


def redrive(sqs: Any, dlq_url: str, target_url: str, *, prefer_native: bool = True) -> RedriveResult:
    if prefer_native:
        native = _native(sqs, dlq_url, target_url)
        if native is not None:
            return native
    return RedriveResult(moved=move_by_hand(sqs, dlq_url, target_url), method="receive-send-delete")
