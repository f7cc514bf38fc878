"""The fan-out consumer. Each message is one of two kinds:

* a page of a native resend by ids (up to 1,000 subjects x its webhooks), which becomes one
  delivery message per pair, sent 10 per SendMessageBatch. A page is idempotent to repeat: the
  delivery consumer counts each pair once however often its message arrives, so a page that could
  not be sent whole is simply reported and sent again;
* a step of a job's asynchronous selection (a resend by filter or by outcome): it counts, or
  selects, counts and queues, one page of the index and sends the next step
  (`webhook_resend.resends.selections`, which says why a redelivered step counts nothing twice);
* a step of a resumed or cancelled job's walk of its held pairs (`webhook_resend.resends.control`):
  one page of them back on the delivery queue, then the next page.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.models.messages import HeldMessage, PageMessage, SelectionMessage
from webhook_resend.observability import logger, metrics
from webhook_resend.resends import control, selections

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class PageNotSent(Exception):
    """Some pairs of the page could not be queued; the page comes back and is sent again."""


def send_page(page: PageMessage) -> None:
    result = clients.publisher().publish(page.messages())
    metrics.add_metric(name="PairsQueued", unit="Count", value=len(result.sent))
    if result.not_sent:
        # Sent again whole: the pairs that did reach the queue are absorbed by the consumer.
        raise PageNotSent(f"{len(result.not_sent)} of {page.size} pairs of job {page.job_id} not queued")


def run_step(step: SelectionMessage, message_id: str, seconds_left: Any) -> None:
    settings = clients.settings()
    walker = selections.Selections(
        clients.store(),
        clients.page_publisher(),
        clients.publisher(),
        settings.delivery_retention_days,
        seconds_left,
        clients.event_publisher(),
    )
    done = walker.run(step, message_id)
    metrics.add_metric(name="PairsQueued", unit="Count", value=done.sent)
    logger.info(
        "selection step",
        extra={
            "job_id": step.job_id,
            "step": step.step,
            "phase": step.phase,
            "action": done.action,
            "items": done.items,
            "pairs": done.pairs,
        },
    )


def wake_held(message: HeldMessage) -> None:
    woken = control.wake_held(clients.store(), clients.page_publisher(), clients.publisher(), message)
    metrics.add_metric(name="HeldPairsWoken", unit="Count", value=woken)
    logger.info(
        "held pairs woken", extra={"job_id": message.job_id, "shard": message.held_shard, "woken": woken}
    )


def parse(body: str) -> PageMessage | SelectionMessage | HeldMessage:
    """The message a body holds: each kind has required fields no other has."""
    for kind in (SelectionMessage, HeldMessage):
        try:
            return kind.model_validate_json(body)
        except ValidationError:
            pass
    return PageMessage.model_validate_json(body)


def handle(record: SQSRecord, context: Any) -> None:
    message = parse(record.body)
    if isinstance(message, HeldMessage):
        wake_held(message)
    elif isinstance(message, SelectionMessage):
        seconds_left = (
            (lambda: context.get_remaining_time_in_millis() / 1000) if context else (lambda: float("inf"))
        )
        run_step(message, record.message_id, seconds_left)
    else:
        send_page(message)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=lambda record: handle(record, context),
        processor=processor,
        context=context,
    )


coldstart.done()  # last: see webhook_resend.coldstart
