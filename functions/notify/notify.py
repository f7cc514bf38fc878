"""The events consumer: SQS batches of operational events in (delivery/events.py), each posted to
its tenant's notify_url, signed, retried like a delivery, recorded on its own record.

The BatchProcessor reports the messages that must come back as partial batch failures; a message
waiting for its backoff is made invisible for that long first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.aws.publisher import change_visibility
from webhook_resend.delivery.deliverer import Incoming
from webhook_resend.delivery.event_sender import EventSender
from webhook_resend.delivery.sender import sender_factory
from webhook_resend.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class EventNotDone(Exception):
    """Raised for a message the batch did not finish: the processor reports it as failed."""


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = clients.settings()
    sender = EventSender(
        clients.store(),
        settings,
        sender_factory(settings),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        events_out=clients.event_publisher(),
    )
    batch = [
        Incoming(r["messageId"], r["receiptHandle"], r["body"])
        for r in event.get("Records", [])
        if r.get("messageId")
    ]
    result = asyncio.run(sender.run(batch))
    if result.visibility:
        change_visibility(clients.boto_client("sqs"), settings.events_queue_url, result.visibility)
    metrics.add_metric(name="EventAttempts", unit="Count", value=result.attempts)
    not_done = set(result.failed_message_ids)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in not_done:
            raise EventNotDone(record.message_id)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


coldstart.done()  # last: see webhook_resend.coldstart
