"""Standard Webhooks signatures (https://www.standardwebhooks.com): what every delivery carries.

`webhook-signature` is `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key
is the base64 part of the `whsec_` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from webhook_resend.models.base import SECRET_PREFIX

# Event ids are derived from (job, item, webhook) so every retry carries the same webhook-id.
_EVENT_NAMESPACE = uuid.UUID("6f0e2a4c-9a57-4a0e-8c7e-1f1d3f5c2b10")


def event_id(job_id: str, subject_id: str, webhook_id: str) -> str:
    return "msg_" + uuid.uuid5(_EVENT_NAMESPACE, f"{job_id}:{subject_id}:{webhook_id}").hex


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
