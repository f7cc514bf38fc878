"""The delivery consumer: SQS batches of (item, webhook) pairs in, webhooks out, results to DynamoDB.

The batch is worked as a whole (batched reads, concurrent attempts, aggregated writes); the
BatchProcessor then reports exactly the messages that must come back as partial batch failures.
A message waiting for its backoff is made invisible for that long before it is reported; one
whose wait is longer than PARK_AFTER_SECONDS is parked in DynamoDB instead and reported done.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.aws.publisher import change_visibility
from webhook_resend.delivery.deliverer import Deliverer, Incoming
from webhook_resend.delivery.events import Notifier
from webhook_resend.delivery.sender import ContainerLoop, container_loop
from webhook_resend.observability import logger, metrics

# Every failure is reported per message, even when all fail: raising instead would turn the
# invocation into an error (and an alarm) for what is an ordinary retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# The container's event loop and HTTP sender, kept from one invocation to the next (made on the
# first, and again after a batch that raised or new settings): a warm batch neither sets up a
# loop and a client nor opens its connections again.
_loop: ContainerLoop | None = None
_loop_settings: object = None


def batch_loop(settings: Any) -> ContainerLoop:
    global _loop, _loop_settings
    if _loop is None or _loop_settings is not settings:
        if _loop is not None:
            _loop.close()
        _loop, _loop_settings = container_loop(settings), settings
    return _loop


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector waits while a batch is worked, then runs once. A batch allocates
    a few hundred thousand objects (requests, responses, records) and sets off a couple of dozen
    young collections, each walking the attempts still in flight again; one collection after the
    batch frees the same cycles for about half the CPU (`make bench`). What a batch can leave
    meanwhile is bounded by its size."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


class MessageNotDone(Exception):
    """Raised for a message the batch did not finish: the processor reports it as failed."""


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = clients.settings()
    loop = batch_loop(settings)
    deliverer = Deliverer(
        clients.delivery_store(),
        settings,
        loop.sender,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        notifier=Notifier(
            clients.delivery_store(), clients.event_publisher(), settings.delivery_retention_days
        ),
    )
    batch = [
        Incoming(r["messageId"], r["receiptHandle"], r["body"], _receive_count(r))
        for r in event.get("Records", [])
        if r.get("messageId")
    ]
    with collector_paused():
        result = loop.run(deliverer.run(batch))
    if result.visibility:
        change_visibility(clients.boto_client("sqs"), settings.delivery_queue_url, result.visibility)
    metrics.add_metric(name="DeliveryAttempts", unit="Count", value=result.attempts)
    metrics.add_metric(name="PairsParked", unit="Count", value=result.parked)
    metrics.add_metric(name="UrlsHeldByRateLimits", unit="Count", value=result.held)
    metrics.add_metric(name="Deferrals", unit="Count", value=result.deferrals)
    metrics.add_metric(name="PairsHeldByPause", unit="Count", value=result.paused)
    metrics.add_metric(name="PairsCancelled", unit="Count", value=result.cancelled)
    not_done = set(result.failed_message_ids)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in not_done:
            raise MessageNotDone(record.message_id)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


coldstart.done()  # last: see webhook_resend.coldstart
