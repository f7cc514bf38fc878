"""`settings`: the one settings model, read from an environment mapping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from webhook_resend.settings import Settings

BASE_ENV = {"TABLE_NAME": "webhook-resend-table"}


def test_settings_from_env_table_name_only_uses_defaults():
    settings = Settings.from_env(BASE_ENV)

    assert settings.model_dump() == {
        "table_name": "webhook-resend-table",
        "delivery_queue_url": "",
        "allow_private_urls": False,
        "retry_schedule": (5, 30, 120, 600, 1800, 3600, 7200, 14400),
        "delivery_timeout_seconds": 10.0,
        "delivery_retention_days": 30,
        "park_after_seconds": 900,
        "delivery_max_receive_count": 20,
        "fanout_queue_url": "",
        "default_rate_limit": 0,
        "idempotency_table_name": "",
        "max_pairs_per_request": 1_000_000,
        "schedule_group_name": "",
        "scheduler_role_arn": "",
        "resend_function_arn": "",
        "schedule_dead_letter_queue_arn": "",
        "admin_token": "",
        "admin_token_secret_arn": "",
        "events_queue_url": "",
    }


def test_settings_from_env_table_name_required():
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({})

    assert [error["loc"] for error in caught.value.errors()] == [("TABLE_NAME",)]


def test_settings_from_env_ignores_unrelated_variables():
    settings = Settings.from_env({**BASE_ENV, "PATH": "/usr/bin", "AWS_REGION": "eu-west-1"})

    assert settings.table_name == "webhook-resend-table"


@pytest.mark.parametrize(
    ("raw", "schedule"),
    [
        ("1, 2,3", (1, 2, 3)),
        ("5", (5,)),
        ("0,0", (0, 0)),
        (" 10 , 20 , ", (10, 20)),
    ],
)
def test_settings_retry_schedule_parses_comma_separated_seconds(raw, schedule):
    settings = Settings.from_env({**BASE_ENV, "RETRY_SCHEDULE": raw})

    assert settings.retry_schedule == schedule


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param(" , ", id="only-separators"),
        pytest.param("5,-1", id="negative"),
        pytest.param("-5", id="only-negative"),
        pytest.param("5,abc", id="non-numeric"),
        pytest.param("1.5", id="fractional"),
    ],
)
def test_settings_retry_schedule_invalid_rejected(raw):
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({**BASE_ENV, "RETRY_SCHEDULE": raw})

    assert [error["loc"] for error in caught.value.errors()] == [("RETRY_SCHEDULE",)]


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False), ("1", True), ("0", False)],
)
def test_settings_allow_private_urls_parses_booleans(raw, allowed):
    settings = Settings.from_env({**BASE_ENV, "ALLOW_PRIVATE_URLS": raw})

    assert settings.allow_private_urls is allowed


def test_settings_allow_private_urls_rejects_non_boolean():
    with pytest.raises(ValidationError):
        Settings.from_env({**BASE_ENV, "ALLOW_PRIVATE_URLS": "sometimes"})


def test_settings_admin_token_read_from_env():
    settings = Settings.from_env({**BASE_ENV, "ADMIN_TOKEN": "s3cr3t-admin-token"})

    assert settings.admin_token == "s3cr3t-admin-token"


def test_settings_admin_token_not_in_repr():
    settings = Settings.from_env({**BASE_ENV, "ADMIN_TOKEN": "s3cr3t-admin-token"})

    assert "s3cr3t-admin-token" not in repr(settings)
    assert "s3cr3t-admin-token" not in str(settings)


def test_settings_park_after_seconds_read_from_env():
    settings = Settings.from_env({**BASE_ENV, "PARK_AFTER_SECONDS": "60"})

    assert settings.park_after_seconds == 60


@pytest.mark.parametrize("raw", ["-1", "901", "soon"])
def test_settings_park_after_seconds_rejects_values_beyond_fifteen_minutes(raw):
    # SPEC §10: no message stays in flight for more than 15 minutes.
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({**BASE_ENV, "PARK_AFTER_SECONDS": raw})

    assert [error["loc"] for error in caught.value.errors()] == [("PARK_AFTER_SECONDS",)]
