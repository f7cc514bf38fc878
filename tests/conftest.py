"""Fixtures every test shares: no test may reach a real AWS account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

_DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and nothing that points boto3 at a real account."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ):
            monkeypatch.delenv(name, raising=False)
    for name, value in _DUMMY_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """Every AWS call of the test answered in-process by moto."""
    with mock_aws():
        yield
