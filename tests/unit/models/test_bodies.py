"""`models`: the constraints on API input (content items, webhooks, tasks) and generated secrets."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from webhook_resend.models.base import EVENTS, new_webhook_secret
from webhook_resend.models.bodies import MAX_PAYLOAD_BYTES, ContentItemIn, TaskIn, WebhookIn

ITEM_ID = "3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f"


def _secret_of(n_bytes: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * n_bytes).decode()


def _webhook(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"]}
    body.update(overrides)
    return body


def _error_locations(caught: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [error["loc"] for error in caught.value.errors()]


# -- ContentItemIn --------------------------------------------------------------------------------
def test_content_item_in_minimal_body_gets_defaults():
    item = ContentItemIn.model_validate({"model": "Post"})

    assert item.model_dump() == {
        "id": None,
        "model": "Post",
        "tags": [],
        "workflow_stage": None,
        "locales": [],
        "created_on": None,
        "changed_on": None,
        "publish_on": None,
        "payload": {},
    }


def test_content_item_in_unknown_field_forbidden():
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "colour": "red"})

    assert _error_locations(caught) == [("colour",)]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.000Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
        ("2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123Z"),
        ("2024-01-02T03:04:05", "2024-01-02T03:04:05.000Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000Z"),
        ("2024-01-01T23:30:00-01:00", "2024-01-02T00:30:00.000Z"),
    ],
)
@pytest.mark.parametrize("field", ["created_on", "changed_on", "publish_on"])
def test_content_item_in_times_canonicalised(field, given, stored):
    item = ContentItemIn.model_validate({"model": "Post", field: given})

    assert getattr(item, field) == stored


@pytest.mark.parametrize(
    "given",
    ["yesterday", "2024-13-01T00:00:00Z", "2024-01-02T25:00:00Z", "", 1704164645],
)
def test_content_item_in_bad_time_rejected(given):
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "created_on": given})

    assert _error_locations(caught) == [("created_on",)]


@pytest.mark.parametrize("given", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_content_item_in_time_out_of_range_after_utc_conversion_rejected(given):
    # Valid ISO 8601 whose UTC instant falls outside datetime's range must be a 422, not a crash.
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "created_on": given})

    assert _error_locations(caught) == [("created_on",)]


def test_content_item_in_payload_at_limit_accepted():
    # {"x":"..."} is 8 bytes of JSON around the string.
    payload = {"x": "a" * (MAX_PAYLOAD_BYTES - 8)}

    item = ContentItemIn.model_validate({"model": "Post", "payload": payload})

    assert item.payload == payload


def test_content_item_in_payload_over_256_kb_rejected():
    payload = {"x": "a" * (MAX_PAYLOAD_BYTES - 7)}

    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "payload": payload})

    assert _error_locations(caught) == [("payload",)]


def test_content_item_in_payload_must_be_object():
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "payload": [1, 2]})

    assert _error_locations(caught) == [("payload",)]


def test_content_item_in_id_uuid_accepted_in_canonical_form():
    item = ContentItemIn.model_validate({"model": "Post", "id": ITEM_ID.upper()})

    assert item.id == ITEM_ID


@pytest.mark.parametrize("given", ["not-a-uuid", "3f2c9a1e-6b7d-4c2a-9e8f", "", 42])
def test_content_item_in_id_must_be_uuid(given):
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"model": "Post", "id": given})

    assert _error_locations(caught) == [("id",)]


def test_content_item_in_model_required():
    with pytest.raises(ValidationError) as caught:
        ContentItemIn.model_validate({"tags": ["a"]})

    assert _error_locations(caught) == [("model",)]


# -- WebhookIn ------------------------------------------------------------------------------------
def test_webhook_in_minimal_body_gets_defaults():
    webhook = WebhookIn.model_validate(_webhook())

    assert (webhook.models, webhook.secret, webhook.active, webhook.description) == (None, None, True, "")


@pytest.mark.parametrize("count", [1, 10])
def test_webhook_in_urls_count_within_bounds_accepted(count):
    urls = [f"https://hooks.example.com/{n}" for n in range(count)]

    assert WebhookIn.model_validate(_webhook(urls=urls)).urls == urls


@pytest.mark.parametrize("count", [0, 11])
def test_webhook_in_urls_count_out_of_bounds_rejected(count):
    urls = [f"https://hooks.example.com/{n}" for n in range(count)]

    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(urls=urls))

    assert _error_locations(caught) == [("urls",)]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/in",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "hooks.example.com/in",
        "https://user:pw@hooks.example.com/in",
    ],
)
def test_webhook_in_urls_http_only(url):
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(urls=["https://ok.example.com/", url]))

    assert _error_locations(caught) == [("urls", 1)]


def test_webhook_in_duplicate_urls_rejected():
    url = "https://hooks.example.com/in"

    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(urls=[url, url]))

    assert _error_locations(caught) == [("urls",)]


def test_webhook_in_duplicate_events_rejected():
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(events=["content_item.changed", "content_item.changed"]))

    assert _error_locations(caught) == [("events",)]


def test_webhook_in_all_five_events_accepted():
    assert WebhookIn.model_validate(_webhook(events=list(EVENTS))).events == list(EVENTS)


@pytest.mark.parametrize(
    "event", ["content_item.archived", "CONTENT_ITEM.CREATED", "task.completed", "", "*"]
)
def test_webhook_in_unknown_event_rejected(event):
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(events=[event]))

    assert _error_locations(caught) == [("events", 0)]


def test_webhook_in_no_events_rejected():
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(events=[]))

    assert _error_locations(caught) == [("events",)]


@pytest.mark.parametrize("n_bytes", [24, 32, 64])
def test_webhook_in_secret_of_24_to_64_bytes_accepted(n_bytes):
    secret = _secret_of(n_bytes)

    assert WebhookIn.model_validate(_webhook(secret=secret)).secret == secret


@pytest.mark.parametrize("n_bytes", [0, 23, 65])
def test_webhook_in_secret_wrong_length_rejected(n_bytes):
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(secret=_secret_of(n_bytes)))

    assert _error_locations(caught) == [("secret",)]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("whsec_" + "!" * 44, id="not-base64"),
        pytest.param("whsec_" + base64.b64encode(b"k" * 32).decode()[:-1], id="bad-padding"),
        pytest.param("whsec_" + base64.urlsafe_b64encode(b"\xfb" * 32).decode(), id="urlsafe-alphabet"),
        pytest.param(base64.b64encode(b"k" * 32).decode(), id="no-prefix"),
        pytest.param("sk_" + base64.b64encode(b"k" * 32).decode(), id="wrong-prefix"),
    ],
)
def test_webhook_in_secret_malformed_rejected(secret):
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(secret=secret))

    assert _error_locations(caught) == [("secret",)]


def test_webhook_in_secret_not_in_repr():
    secret = _secret_of(32)

    assert secret not in repr(WebhookIn.model_validate(_webhook(secret=secret)))


def test_webhook_in_unknown_field_forbidden():
    with pytest.raises(ValidationError) as caught:
        WebhookIn.model_validate(_webhook(enabled=True))

    assert _error_locations(caught) == [("enabled",)]


# -- TaskIn ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["pingback_url", "postback_url"])
def test_task_in_callback_url_accepted(field):
    url = "https://client.example.com/callback?id=$id"

    task = TaskIn.model_validate({"data": {field: url}})

    assert getattr(task.data, field) == url


@pytest.mark.parametrize("field", ["pingback_url", "postback_url"])
@pytest.mark.parametrize("url", ["ftp://client.example.com/cb", "javascript:alert(1)", "not a url", ""])
def test_task_in_callback_url_validated(field, url):
    with pytest.raises(ValidationError) as caught:
        TaskIn.model_validate({"data": {field: url}})

    assert _error_locations(caught) == [("data", field)]


def test_task_in_extra_task_data_fields_kept():
    data = {
        "api": "serp",
        "function": "task_post",
        "se": "google",
        "keyword": "webhooks",
        "location_code": 2840,
        "postback_url": "https://client.example.com/postback",
        "postback_data": "advanced",
        "tag": "t-1",
    }

    task = TaskIn.model_validate({"data": data, "result": [{"items": []}]})

    assert task.data.model_dump() == {**data, "pingback_url": None}


def test_task_in_unknown_top_level_field_forbidden():
    with pytest.raises(ValidationError) as caught:
        TaskIn.model_validate({"data": {}, "status": "ok"})

    assert _error_locations(caught) == [("status",)]


def test_task_in_result_over_256_kb_rejected():
    with pytest.raises(ValidationError) as caught:
        TaskIn.model_validate({"data": {}, "result": "a" * MAX_PAYLOAD_BYTES})

    assert _error_locations(caught) == [("result",)]


# -- new_webhook_secret ---------------------------------------------------------------------------
def test_new_webhook_secret_passes_webhook_validation():
    secret = new_webhook_secret()

    assert WebhookIn.model_validate(_webhook(secret=secret)).secret == secret


def test_new_webhook_secret_differs_per_call():
    assert new_webhook_secret() != new_webhook_secret()
