"""The fan-out consumer: each message is one page of a native resend (up to 1,000 subjects x its
webhooks); it becomes one delivery message per pair, sent 10 per SendMessageBatch.

A page is idempotent to repeat: the delivery consumer counts each pair once however often its
message arrives, so a page that could not be sent whole is simply reported and sent again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.models.messages import PageMessage
from webhook_resend.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class PageNotSent(Exception):
    """Some pairs of the page could not be queued; the page comes back and is sent again."""


def send_page(record: SQSRecord) -> None:
    page = PageMessage.model_validate_json(record.body)
    result = clients.publisher().publish(page.messages())
    metrics.add_metric(name="PairsQueued", unit="Count", value=len(result.sent))
    if result.not_sent:
        # Sent again whole: the pairs that did reach the queue are absorbed by the consumer.
        raise PageNotSent(f"{len(result.not_sent)} of {page.size} pairs of job {page.job_id} not queued")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=send_page, processor=processor, context=context
    )


coldstart.done()  # last: see webhook_resend.coldstart
