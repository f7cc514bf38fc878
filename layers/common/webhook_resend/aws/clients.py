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


@cache
def boto_client(service: str, *, validate: bool = True) -> Any:
    """A client with standard retries; `validate=False` skips botocore's client-side check of
    every parameter (the service checks them anyway), which costs more CPU than building the
    request itself for a transaction of a hundred items."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, parameter_validation=validate)
    return boto3.client(service, config=config)


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
