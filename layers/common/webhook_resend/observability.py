"""The one place that creates Powertools' logger and metrics for every function.

No Powertools Tracer: `Tracing: Active` in the template already records each invocation's
segment, and a Tracer patches every library X-Ray knows at import, which `make bench` measured
at 116-293 ms of every cold start for subsegments nothing here reads.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "webhook-resend"
NAMESPACE = "WebhookResend"

logger = Logger(service=SERVICE)
# Named here, not only by POWERTOOLS_METRICS_NAMESPACE: a module imported before the
# environment is set (tests, the local stack) must still flush its metrics.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
