"""The one place that creates Powertools' logger, tracer and metrics for every function."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "webhook-resend"
NAMESPACE = "WebhookResend"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
# Named here, not only by POWERTOOLS_METRICS_NAMESPACE: a module imported before the
# environment is set (tests, the local stack) must still flush its metrics.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
