"""The tenant-level cap on pairs queued per request also holds for Prepr-style bulk resends."""

import uuid

import pytest


@pytest.fixture
def local_env():
    return {
        "ALLOW_PRIVATE_URLS": "true",
        "RETRY_SCHEDULE": "0",
        "DELIVERY_TIMEOUT_SECONDS": "2",
        "MAX_PAIRS_PER_REQUEST": "3",
    }


def test_bulk_resend_over_the_pair_cap_is_422_naming_the_cap(api, tenant, receiver):
    for _ in range(2):
        api.request(
            "POST",
            "/webhooks",
            json_body={"urls": [receiver.url + "/h"], "events": ["content_item.published"]},
            token=tenant["token"],
        )
    for _ in range(2):
        api.request(
            "PUT", f"/content_items/{uuid.uuid4()}", json_body={"model": "Post"}, token=tenant["token"]
        )
    reply = api.request(
        "POST",
        "/content_items/bulk/webhooks",
        json_body={"event": "content_item.published"},
        token=tenant["token"],
    )
    assert reply.status == 422
    assert "at most 3" in reply.json["errors"][0]["message"]
