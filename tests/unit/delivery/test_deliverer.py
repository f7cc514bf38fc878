"""What one attempt's outcome means for its delivery (delivered, retried, failed, or gone), and
the payload a content item's event delivers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook_resend.delivery.deliverer import classify, describe, with_item_fields
from webhook_resend.delivery.sender import Attempt


def _status(code: int) -> Attempt:
    return Attempt(status_code=code, error=None, latency_ms=12)


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_classify_2xx_is_delivered(code: int) -> None:
    assert classify(_status(code)) == "delivered"


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 599])
def test_classify_408_429_and_5xx_are_retried(code: int) -> None:
    assert classify(_status(code)) == "retry"


@pytest.mark.parametrize(
    "error", ["timed out after 2 s", "connection failed: Connection refused", "connection failed: reset"]
)
def test_classify_timeouts_and_connection_errors_are_retried(error: str) -> None:
    assert classify(Attempt(status_code=None, error=error, latency_ms=2000)) == "retry"


def test_classify_410_is_gone() -> None:
    assert classify(_status(410)) == "gone"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 409, 413, 422, 301, 302, 307, 100])
def test_classify_other_codes_fail_at_once(code: int) -> None:
    assert classify(_status(code)) == "failed"


@pytest.mark.parametrize("code", [None, 200, 500, 410])
def test_classify_permanent_attempt_is_failed_whatever_its_status(code: int | None) -> None:
    attempt = Attempt(
        status_code=code, error="refused: resolves to a private address", latency_ms=0, permanent=True
    )

    assert classify(attempt) == "failed"


def test_describe_names_the_http_status_of_a_failure() -> None:
    assert describe(_status(503)) == "HTTP 503"


def test_describe_says_redirects_are_not_followed() -> None:
    assert "redirect" in (describe(_status(301)) or "")


def test_describe_of_a_success_is_none() -> None:
    assert describe(_status(204)) is None


def test_describe_of_a_connection_error_is_the_error() -> None:
    attempt = Attempt(status_code=None, error="connection failed: Connection refused", latency_ms=1)

    assert describe(attempt) == "connection failed: Connection refused"


# -- the delivered payload carries the item (SPEC §15) --------------------------------------------------
ITEM_ID = "0d5d3a8c-0f5e-4a55-9b7e-2d9a8f0c1b11"


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("{}", {"id": ITEM_ID, "model": "Post"}),
        ('{"title":"Hello"}', {"id": ITEM_ID, "model": "Post", "title": "Hello"}),
        ('{"id":"own-id","title":"x"}', {"id": "own-id", "model": "Post", "title": "x"}),
        ('{"model":"Own","id":7}', {"model": "Own", "id": 7}),
        ('{"nested":{"id":"inner"}}', {"id": ITEM_ID, "model": "Post", "nested": {"id": "inner"}}),
    ],
    ids=["empty", "lacks-both", "has-id", "has-both", "nested-id-does-not-count"],
)
def test_with_item_fields_adds_id_and_model_only_when_the_payload_lacks_them(
    stored: str, expected: dict[str, Any]
) -> None:
    delivered = with_item_fields(stored, ITEM_ID, "Post")

    assert json.loads(delivered) == expected
    if set(json.loads(stored)) >= {"id", "model"}:
        assert delivered == stored  # kept byte for byte


def test_with_item_fields_puts_the_added_fields_first() -> None:
    delivered = with_item_fields('{"title":"Hello"}', ITEM_ID, "Post")

    assert list(json.loads(delivered)) == ["id", "model", "title"]
