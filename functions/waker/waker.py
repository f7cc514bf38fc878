"""The waker: fired every minute by EventBridge Scheduler, it puts the parked pairs that are due
back on the delivery queue (see webhook_resend.delivery.parking) and reports how many it woke;
then it resumes the jobs whose start died before queuing what it counted: their outboxes, past
due, go on the fan-out queue (see webhook_resend.resends.outbox).

Its input is ignored: what is due comes from the clock. A run that runs short of time leaves the
rest to the next minute's run.
"""

from __future__ import annotations

from typing import Any

from webhook_resend import clock, coldstart
from webhook_resend.aws import clients
from webhook_resend.delivery import parking
from webhook_resend.observability import logger, metrics
from webhook_resend.resends import outbox


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    report = parking.wake(
        clients.store(),
        clients.publisher(),
        now=clock.now(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    metrics.add_metric(name="PairsWoken", unit="Count", value=report.woken)
    metrics.add_metric(name="PairsNotWoken", unit="Count", value=report.not_sent)
    # A run with nothing due (most of them) stays out of the log, not out of the metrics.
    if report.woken or report.not_sent or report.stopped_early:
        logger.info("parked pairs woken", extra=report.as_dict())
    swept = outbox.sweep(
        clients.store(),
        clients.page_publisher(),
        now=clock.now(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    metrics.add_metric(name="JobStartsResumed", unit="Count", value=swept.resumed)
    if swept.found or swept.stopped_early:
        logger.warning("job starts swept", extra=swept.as_dict())
    return {**report.as_dict(), "outboxes": swept.as_dict()}


coldstart.done()  # last: see webhook_resend.coldstart
