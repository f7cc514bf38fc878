"""The dead-letter consumer: what SQS dead-lettered ends and is counted, so every job completes.

One function reads both dead-letter queues: a delivery dead letter is one pair, a fan-out dead
letter a page of pairs, and both end the same way (`delivery.dead_letters`); or a fan-out dead
letter is a step of a job's selection, which then ends where it stopped. A message's shape says
which it is. One function is one log group, one alarm and one policy to keep, and nothing
differs between the two but the batch size of their event sources.

Each message is settled on its own (Powertools' BatchProcessor, partial batch responses): one
that cannot be read is logged, without its body, and reported, so it stays in its queue for a
human (the queue's alarm); one whose job no longer exists has nothing to count and is dropped;
one that DynamoDB refused comes back after the queue's visibility timeout and is tried again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.delivery import dead_letters
from webhook_resend.delivery.events import Notifier
from webhook_resend.observability import logger, metrics

# A message that fails is reported, even when all of a batch fail: raising instead would make the
# invocation an error for what the queue's own alarm already shows.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def end_dead_letter(record: SQSRecord) -> None:
    where = {"message_id": record.message_id, "queue": record.event_source_arn.rpartition(":")[2]}
    try:
        message = dead_letters.read(record.body)
    except dead_letters.UnreadableMessageError as error:
        logger.error("unreadable dead letter left in its queue", extra={**where, "problems": error.problems})
        metrics.add_metric(name="UnreadableDeadLetters", unit="Count", value=1)
        raise
    # ApproximateReceiveCount as SQS gives it. A message moved to a dead-letter queue keeps its
    # receive count, so this counts its receives from the source queue (all maxReceiveCount of
    # them) plus those from the dead-letter queue, this one included: maxReceiveCount + 1 at the
    # first (what make run's moto reports), more if an earlier try here failed.
    receives = int(record.attributes.approximate_receive_count)
    where |= {"tenant_id": message.tenant_id, "job_id": message.job_id, "receives": receives}
    days = clients.settings().delivery_retention_days
    ending = dead_letters.DeadLetters(
        clients.store(), days, Notifier(clients.store(), clients.event_publisher(), days)
    )
    try:
        ended = ending.end(message, receives, record.message_id)
    except (ClientError, BotoCoreError, dead_letters.NotRecordedError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        logger.warning("dead letter not recorded; it comes back", extra={**where, "error": code})
        raise
    if not ended.job_found:
        logger.info(
            "dead letter of a job that no longer exists dropped", extra={**where, "pairs": ended.pairs}
        )
        return
    metrics.add_metric(name="DeadLetteredPairs", unit="Count", value=ended.ended)
    logger.info("dead letter recorded", extra={**where, "pairs": ended.pairs, "ended": ended.ended})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="DeadLetters", unit="Count", value=len(event.get("Records") or []))
    return process_partial_response(
        event=event, record_handler=end_dead_letter, processor=processor, context=context
    )


coldstart.done()  # last: see webhook_resend.coldstart
