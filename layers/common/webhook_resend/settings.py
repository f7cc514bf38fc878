"""Settings of every function: one model, read once per cold start from the environment.

Field aliases are exactly the names of the template's `Environment.Variables`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    table_name: str = Field(alias="TABLE_NAME")
    delivery_queue_url: str = Field(default="", alias="DELIVERY_QUEUE_URL")
    allow_private_urls: bool = Field(default=False, alias="ALLOW_PRIVATE_URLS")
    retry_schedule: tuple[int, ...] = Field(
        default=(5, 30, 120, 600, 1800, 3600, 7200, 14400), alias="RETRY_SCHEDULE"
    )
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=30, alias="DELIVERY_TIMEOUT_SECONDS")
    delivery_retention_days: int = Field(default=30, ge=1, le=365, alias="DELIVERY_RETENTION_DAYS")
    # A retry further away than this waits parked in DynamoDB, not in flight in SQS (SPEC §10).
    park_after_seconds: int = Field(default=900, ge=0, le=900, alias="PARK_AFTER_SECONDS")
    # The delivery queue's maxReceiveCount: a message on its last receives is parked rather than
    # handed back, however short its wait, so waits never dead-letter a pair (SPEC §12).
    delivery_max_receive_count: int = Field(default=20, ge=2, le=100, alias="DELIVERY_MAX_RECEIVE_COUNT")
    fanout_queue_url: str = Field(default="", alias="FANOUT_QUEUE_URL")
    # Requests a second to each URL of a webhook without a rate_limit of its own (0: unlimited).
    default_rate_limit: int = Field(default=0, ge=0, le=1000, alias="DEFAULT_RATE_LIMIT")
    idempotency_table_name: str = Field(default="", alias="IDEMPOTENCY_TABLE_NAME")
    # A selection over it queues nothing: a 422 where the count is known at once (ids), else the
    # job ends rejected (resends/selections.py).
    max_pairs_per_request: int = Field(default=1_000_000, ge=1, alias="MAX_PAIRS_PER_REQUEST")
    schedule_group_name: str = Field(default="", alias="SCHEDULE_GROUP_NAME")
    scheduler_role_arn: str = Field(default="", alias="SCHEDULER_ROLE_ARN")
    resend_function_arn: str = Field(default="", alias="RESEND_FUNCTION_ARN")
    schedule_dead_letter_queue_arn: str = Field(default="", alias="SCHEDULE_DEAD_LETTER_QUEUE_ARN")
    # Locally the admin token comes from the environment; in AWS from Secrets Manager.
    admin_token: str = Field(default="", alias="ADMIN_TOKEN", repr=False)
    admin_token_secret_arn: str = Field(default="", alias="ADMIN_TOKEN_SECRET_ARN")
    # Operational events (SPEC §13): their own queue, read by NotifyFunction.
    events_queue_url: str = Field(default="", alias="EVENTS_QUEUE_URL")

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(int(part) for part in parts)
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _non_negative(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(delay < 0 for delay in value):
            raise ValueError("RETRY_SCHEDULE must list one or more non-negative whole seconds")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls.model_validate(dict(env))


@cache
def get_settings() -> Settings:
    """The settings of this container (read once; tests call `get_settings.cache_clear()`)."""
    return Settings.from_env(os.environ)
