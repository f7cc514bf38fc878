"""Clients and adapters, created once per container on first use (never at import time, so moto
can start first). Tests call `reset()` between cases.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.aws.scheduler import Scheduler
from webhook_resend.settings import Settings, get_settings

# DynamoDB, SQS and Scheduler answer in tens of milliseconds (a transaction of a hundred items in
# well under a second). botocore waits 60 s for a connection and 60 s for an answer by default, so
# one stalled connection would hold a call past most of the functions' timeouts (29 s for the API,
# 60 s for the delivery consumer), and the invocation would die whole instead of retrying: with
# these, a stalled attempt gives up in seconds and the standard retry mode tries again on a new one.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_RETRIES = 5  # after the first attempt (botocore's `max_attempts` counts retries)


def client_config(*, validate: bool = True) -> Any:
    """Standard retries and bounded waits; `validate=False` skips botocore's client-side check of
    every parameter (the service checks them anyway), which costs more CPU than building the
    request itself for a transaction of a hundred items."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": MAX_RETRIES},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        parameter_validation=validate,
    )


@cache
def boto_client(service: str, *, validate: bool = True) -> Any:
    """The container's client of `service`, configured by `client_config`."""
    import boto3

    return boto3.client(service, config=client_config(validate=validate))


@cache
def store() -> Store:
    return Store(boto_client("dynamodb"), get_settings().table_name)


@cache
def delivery_store() -> Store:
    """The consumer's store: its few request shapes are fixed and tested, and it writes a
    transaction per batch, so it skips client-side parameter validation."""
    return Store(boto_client("dynamodb", validate=False), get_settings().table_name)


@cache
def publisher() -> SqsPublisher:
    return SqsPublisher(boto_client("sqs"), get_settings().delivery_queue_url)


@cache
def page_publisher() -> SqsPublisher:
    return SqsPublisher(boto_client("sqs"), get_settings().fanout_queue_url)


@cache
def event_publisher() -> SqsPublisher:
    """The events queue's publisher (operational events, delivery/events.py)."""
    return SqsPublisher(boto_client("sqs"), get_settings().events_queue_url)


@cache
def scheduler() -> Scheduler:
    current = get_settings()
    return Scheduler(
        boto_client("scheduler"),
        current.schedule_group_name,
        current.resend_function_arn,
        current.scheduler_role_arn,
        current.schedule_dead_letter_queue_arn,
    )


@cache
def idempotency_store() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=boto_client("dynamodb")
    )


def settings() -> Settings:
    return get_settings()


@cache
def admin_token() -> str:
    """The operator's admin token: `ADMIN_TOKEN` locally, the Secrets Manager secret in AWS."""
    current = get_settings()
    if current.admin_token:
        return current.admin_token
    if not current.admin_token_secret_arn:
        return ""
    answer = boto_client("secretsmanager").get_secret_value(SecretId=current.admin_token_secret_arn)
    return str(answer["SecretString"])


def reset(*, clients: bool = True) -> None:
    """Forget the settings and what depends on them (tests: a new environment); with `clients`,
    the boto3 clients too (a new endpoint)."""
    for cached in (
        store,
        delivery_store,
        publisher,
        page_publisher,
        event_publisher,
        scheduler,
        idempotency_store,
        get_settings,
        admin_token,
    ):
        cached.cache_clear()
    if clients:
        boto_client.cache_clear()
