"""Standard Webhooks signatures: what the official verifier accepts, and stable event ids."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhook_resend.delivery import signing
from webhook_resend.models.base import new_webhook_secret

JOB = "7a0c8c7e-4a51-4c1e-9a0b-6f1d2e3c4b5a"
ITEM = "0b3c5e1a-7f60-4d8e-9a51-2f4c6b7d8e90"
WEBHOOK = "5d2e8f40-1c3a-4b6d-8e9f-a0b1c2d3e4f5"
BODY = b'{"id":"msg_1","created_on":"2024-01-02T03:04:05.006Z","event":"content_item.changed","payload":{}}'


def test_signing_headers_are_accepted_by_the_standardwebhooks_verifier() -> None:
    # Given a generated secret and a body
    secret = new_webhook_secret()
    message_id = signing.event_id(JOB, ITEM, WEBHOOK)

    # When the headers are computed now
    headers = signing.headers(secret, message_id, int(time.time()), BODY)

    # Then the official verifier accepts them and hands back the parsed body
    assert Webhook(secret).verify(BODY, headers) == {
        "id": "msg_1",
        "created_on": "2024-01-02T03:04:05.006Z",
        "event": "content_item.changed",
        "payload": {},
    }
    assert headers["webhook-id"] == message_id
    assert headers["webhook-signature"].startswith("v1,")


def test_signing_headers_verify_with_a_fixed_secret_of_known_bytes() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example secret

    headers = signing.headers(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", int(time.time()), b'{"test": 2432232314}'
    )

    assert Webhook(secret).verify(b'{"test": 2432232314}', headers) == {"test": 2432232314}


def test_signing_signature_of_a_tampered_body_is_rejected() -> None:
    secret = new_webhook_secret()
    headers = signing.headers(secret, "msg_1", int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"changed", b"deleted"), headers)


def test_signing_signature_with_another_secret_is_rejected() -> None:
    headers = signing.headers(new_webhook_secret(), "msg_1", int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers)


def test_signing_signature_with_a_changed_message_id_is_rejected() -> None:
    secret = new_webhook_secret()
    headers = signing.headers(secret, "msg_1", int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})


def test_signing_event_id_is_stable_for_the_same_job_item_and_webhook() -> None:
    assert signing.event_id(JOB, ITEM, WEBHOOK) == signing.event_id(JOB, ITEM, WEBHOOK)


@pytest.mark.parametrize(
    "other",
    [
        ("1e0c8c7e-4a51-4c1e-9a0b-6f1d2e3c4b5a", ITEM, WEBHOOK),
        (JOB, "1b3c5e1a-7f60-4d8e-9a51-2f4c6b7d8e90", WEBHOOK),
        (JOB, ITEM, "1d2e8f40-1c3a-4b6d-8e9f-a0b1c2d3e4f5"),
        # The parts must not be interchangeable.
        (ITEM, JOB, WEBHOOK),
    ],
)
def test_signing_event_id_differs_when_job_item_or_webhook_differs(other: tuple[str, str, str]) -> None:
    assert signing.event_id(*other) != signing.event_id(JOB, ITEM, WEBHOOK)


def test_signing_event_id_has_the_msg_prefix() -> None:
    assert signing.event_id(JOB, ITEM, WEBHOOK).startswith("msg_")
