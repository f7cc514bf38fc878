"""Operational events through `make run`'s stack (SPEC §13): a tenant sets its notify_url with the
CLI, a resend completes, and exactly one `resend.completed`, signed with the tenant's
callback_secret, with the job's counts and failure causes, reaches a real receiver through the
stack's own events queue and NotifyFunction.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from typing import Any

import pytest
import standardwebhooks

from tests.e2e.conftest import RunningStack, Tenant
from tests.receiver import Receiver
from webhook_resend_cli import main as cli

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
EVENT_DEADLINE_SECONDS = 30.0
# After the event arrived, how long a second one is waited for (none must come).
QUIET_SECONDS = 3.0


def _cli(stack: RunningStack, tenant: Tenant, *argv: str) -> dict[str, Any]:
    out = io.StringIO()
    environ = {"WEBHOOK_RESEND_URL": stack.url, "WEBHOOK_RESEND_TOKEN": tenant.token}
    with redirect_stdout(out):
        assert cli.main([*argv, "--json"], environ=environ) == 0
    return json.loads(out.getvalue())


def test_e2e_one_signed_completion_event_reaches_the_notify_url(
    stack: RunningStack,
    tenant: Tenant,
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    # Given a notify_url set with the CLI, and 3 items resent to a good webhook and one answering 404
    ops = receiver.new_path("ops")
    good, bad = receiver.new_path("hook"), receiver.new_path("refusing")
    receiver.script(bad, [404])
    assert _cli(stack, tenant, "settings", "set", "notify_url", f"{receiver.url}{ops}") == {
        "notify_url": f"{receiver.url}{ops}"
    }
    assert _cli(stack, tenant, "settings", "get") == {"notify_url": f"{receiver.url}{ops}"}
    for n in range(3):
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:0{n}Z", "payload": {"n": n}}
        assert tenant.client.put(f"/content_items/{uuid.uuid4()}", json=body).status_code == 201
    hooks = []
    for path in (good, bad):
        answer = tenant.client.post("/webhooks", json={"urls": [f"{receiver.url}{path}"], "events": [EVENT]})
        assert answer.status_code == 201, answer.text
        hooks.append(answer.json()["id"])
    answer = tenant.client.request(
        "GET", "/content_items/bulk/webhooks", json={"event": EVENT, "webhook_id": [{"in": hooks}]}
    )
    assert answer.status_code == 200, answer.text
    resend_id = answer.json()["resend_id"]

    # When the resend completes
    job, _ = wait_for_resend(tenant.client, resend_id)
    deadline = time.monotonic() + EVENT_DEADLINE_SECONDS
    while not receiver.to(ops) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(QUIET_SECONDS)

    # Then exactly one event arrived, verified with the tenant's callback_secret
    [request] = receiver.to(ops)
    event = standardwebhooks.Webhook(tenant.credentials["callback_secret"]).verify(
        request.body, request.headers
    )
    assert event["type"] == "resend.completed"
    data = event["data"]
    assert data["job"] == job
    assert (data["job"]["total_queued"], data["job"]["delivered"], data["job"]["failed"]) == (6, 3, 3)
    assert data["failure_causes"] == [{"cause": "404", "count": 3}]
    assert data["duration_seconds"] >= 0
    # and its record says it was delivered, at the first attempt
    listed = tenant.client.get("/settings/events").json()["data"]
    assert [(e["type"], e["status"], e["attempts"], e["id"]) for e in listed] == [
        ("resend.completed", "delivered", 1, request.headers["webhook-id"])
    ]
