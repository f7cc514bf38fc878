"""No receiver can stall a batch or lose a pair (SPEC §15), through the real deliver handler on
moto: one batch holds another tenant's pairs beside a webhook whose URLs answer everything an
HTTP parser must survive; every good receiver gets exactly one request per pair, every hostile
URL's record is `retrying` with a named error, and the counters add up.

And a batch never outlives its Lambda: with a sender of two slots and a time left that runs out
while the first attempts are on the wire, the attempts still waiting for a slot are not started,
and their messages come back soon without an attempt counted.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import httpx
import pytest

from devstack.sqs import sqs_event
from tests.conftest import Api, LocalAws, Receiver
from tests.hostile_receiver import HostileReceiver
from webhook_resend.aws import clients
from webhook_resend.delivery import deliverer as deliverer_module
from webhook_resend.delivery.deliverer import COMMIT_MARGIN_SECONDS, SOON, Deliverer, Incoming
from webhook_resend.delivery.sender import HttpSender, default_transport

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
DELIVER = "DeliverFunction"
# Long enough that a good receiver on a loaded 2-core machine always answers within it (1 s did
# not, now and then, with other tests running), short enough to keep the test quick.
TIMEOUT_SECONDS = 3

# path of the hostile receiver → what the error of its record starts with
HOSTILE = {
    "/no-colon": "invalid HTTP answer: ",
    "/huge-header": "invalid HTTP answer: ",
    "/bad-status": "invalid HTTP answer: ",
    "/broken-chunked": "invalid HTTP answer: ",
    "/not-http": "invalid HTTP answer: ",
    "/close": "connection failed: ",
    "/bad-length": "invalid HTTP answer: ",
    "/slow": f"timed out after {TIMEOUT_SECONDS} s",
    "/trickle-body": f"timed out after {TIMEOUT_SECONDS} s",
}


@pytest.fixture
def local_env() -> dict[str, str]:
    return {
        "ALLOW_PRIVATE_URLS": "true",
        "RETRY_SCHEDULE": "0,0,0",
        "DELIVERY_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    }


@pytest.fixture
def hostile() -> Iterator[HostileReceiver]:
    server = HostileReceiver().start()
    try:
        yield server
    finally:
        server.stop()


# -- helpers ------------------------------------------------------------------------------------------
def _put_items(api: Api, token: str, numbers: Sequence[int]) -> list[str]:
    ids = []
    for n in numbers:
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
        assert reply.status == 201, reply.body
        ids.append(item_id)
    return ids


def _webhook(api: Api, token: str, urls: list[str]) -> str:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return str(reply.json["id"])


def _resend(api: Api, token: str, item_ids: list[str], webhook_ids: list[str]) -> str:
    params = {"event": EVENT, "id": [{"in": item_ids}], "webhook_id": [{"in": webhook_ids}]}
    reply = api.request("GET", BULK, json_body=params, token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == len(item_ids) * len(webhook_ids)
    return str(reply.json["resend_id"])


def _receive(stack: LocalAws, count: int) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = stack.stack.ref("DeliveryQueue")
    found: list[dict[str, Any]] = []
    while len(found) < count:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not batch.get("Messages"):
            break
        found += batch["Messages"]
    assert len(found) == count, found
    return found


def _invoke(stack: LocalAws, messages: Sequence[dict[str, Any]]) -> set[str]:
    """Run the deliver function on one batch; the ids of the messages it reported not done."""
    response = stack.invoke(DELIVER, sqs_event(messages, stack.stack.get_att("DeliveryQueue", "Arn")))
    assert isinstance(response, dict), response
    assert set(response) == {"batchItemFailures"}, response
    ids = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert len(ids) == len(set(ids)), response
    return set(ids)


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = dict(reply.json)
    # `cancelled` counts only where the job document has it (SPEC §11).
    counters = [job["delivered"], job["failed"], job.get("cancelled", 0), job["pending"]]
    assert sum(counters) == job["total_queued"], job
    assert min(counters) >= 0, job
    return job


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=1000", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return list(reply.json["data"])


def _per_item(receiver: Receiver, path: str) -> Counter[int]:
    return Counter(int(json.loads(r.body)["payload"]["n"]) for r in receiver.to(path))


def _messages_of(messages: list[dict[str, Any]], job_id: str) -> set[str]:
    return {m["MessageId"] for m in messages if json.loads(m["Body"])["job_id"] == job_id}


# -- one batch, hostile receivers beside good ones ----------------------------------------------------
def test_deliver_batch_with_hostile_receivers_sends_and_records_every_pair_once(
    api: Api,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    receiver: Receiver,
    hostile: HostileReceiver,
    stack: LocalAws,
) -> None:
    # Given tenant A's webhook whose ten URLs are nine hostile receivers and one good one, A's
    # second webhook, and tenant B's webhook of two good URLs, all queued on the shared queue
    mean, other = str(tenant["token"]), str(other_tenant["token"])
    hostile_urls = [f"{hostile.url}{path}" for path in HOSTILE]
    mean_items = _put_items(api, mean, [1, 2])
    mixed = _webhook(api, mean, [*hostile_urls, f"{receiver.url}/mixed-good"])
    plain = _webhook(api, mean, [f"{receiver.url}/a-good"])
    mean_job = _resend(api, mean, mean_items, [mixed, plain])
    other_items = _put_items(api, other, [3, 4])
    other_job = _resend(
        api, other, other_items, [_webhook(api, other, [f"{receiver.url}/b1", f"{receiver.url}/b2"])]
    )
    messages = _receive(stack, 6)

    # When the six pairs are one batch of the deliver function
    not_done = _invoke(stack, messages)

    # Then every good receiver got exactly one request per pair, every hostile one too
    for path, items in {"/mixed-good": [1, 2], "/a-good": [1, 2], "/b1": [3, 4], "/b2": [3, 4]}.items():
        assert _per_item(receiver, path) == Counter(items), path
    assert {path: hostile.requests[path] for path in HOSTILE} == dict.fromkeys(HOSTILE, 2)
    # only the pairs of the hostile webhook come back (for their retry)
    mixed_messages = {m["MessageId"] for m in messages if json.loads(m["Body"])["webhook_id"] == mixed}
    assert len(mixed_messages) == 2
    assert not_done == mixed_messages
    # each hostile URL's record is retrying with its error named, the good URLs' delivered
    by_url: dict[str, list[dict[str, Any]]] = {}
    for record in _records(api, mean, mean_job):
        by_url.setdefault(record["url"], []).append(record)
    for path, error in HOSTILE.items():
        records = by_url[f"{hostile.url}{path}"]
        assert [(r["status"], r["attempts"]) for r in records] == [("retrying", 1)] * 2, path
        assert all(r["last_error"].startswith(error) for r in records), (path, records)
        assert all(len(r["last_error"]) <= 300 for r in records), path
    for url in (f"{receiver.url}/mixed-good", f"{receiver.url}/a-good"):
        assert [(r["status"], r["attempts"]) for r in by_url[url]] == [("delivered", 1)] * 2, url
    assert sorted((r["url"], r["status"]) for r in _records(api, other, other_job)) == sorted(
        (f"{receiver.url}/{path}", "delivered") for path in ("b1", "b1", "b2", "b2")
    )
    # and the counters add up
    mean_counts = _job(api, mean, mean_job)
    assert (mean_counts["total_queued"], mean_counts["delivered"], mean_counts["failed"]) == (4, 2, 0)
    assert mean_counts["pending"] == 2
    other_counts = _job(api, other, other_job)
    assert (other_counts["total_queued"], other_counts["delivered"], other_counts["pending"]) == (2, 2, 0)
    assert other_counts["status"] == "completed"


def test_deliver_batch_survives_an_attempt_that_raises_past_the_sender(
    api: Api,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    receiver: Receiver,
    stack: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deliverer's own guard: even an exception that escapes the sender ends that attempt
    alone. Injected by wrapping the real sender's `send` (for one URL only)."""
    real_send = HttpSender.send

    async def send(self: HttpSender, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if "/explode" in url:
            raise RuntimeError("the transport broke")
        return await real_send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(HttpSender, "send", send)
    mean, other = str(tenant["token"]), str(other_tenant["token"])
    mean_job = _resend(
        api,
        mean,
        _put_items(api, mean, [1]),
        [_webhook(api, mean, [f"{receiver.url}/explode", f"{receiver.url}/a-good"])],
    )
    other_job = _resend(
        api, other, _put_items(api, other, [2, 3]), [_webhook(api, other, [f"{receiver.url}/b"])]
    )
    messages = _receive(stack, 3)

    not_done = _invoke(stack, messages)

    assert not_done == _messages_of(messages, mean_job)
    assert _per_item(receiver, "/a-good") == Counter([1])
    assert _per_item(receiver, "/b") == Counter([2, 3])
    assert receiver.to("/explode") == []
    records = {r["url"]: r for r in _records(api, mean, mean_job)}
    exploded = records[f"{receiver.url}/explode"]
    assert (exploded["status"], exploded["attempts"]) == ("retrying", 1)
    assert exploded["last_error"] == "unexpected error: RuntimeError: the transport broke"
    assert records[f"{receiver.url}/a-good"]["status"] == "delivered"
    assert _job(api, mean, mean_job)["pending"] == 1
    assert _job(api, other, other_job)["delivered"] == 2


# -- the time guard -----------------------------------------------------------------------------------
class GatedTransport(httpx.AsyncBaseTransport):
    """The real transport, holding every request at a gate the test opens; counts them."""

    def __init__(self, gate: asyncio.Event) -> None:
        self._inner = default_transport(True)
        self._gate = gate
        self.waiting = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.waiting += 1
        await self._gate.wait()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_deliverer_starts_no_attempt_whose_timeout_no_longer_fits_after_its_wait_for_a_slot(
    api: Api, tenant: dict[str, Any], receiver: Receiver, stack: LocalAws
) -> None:
    # Given three pairs of a two-URL webhook (six attempts) and a sender of two slots
    token = str(tenant["token"])
    job_id = _resend(
        api,
        token,
        _put_items(api, token, [1, 2, 3]),
        [_webhook(api, token, [f"{receiver.url}/first", f"{receiver.url}/second"])],
    )
    messages = _receive(stack, 3)
    batch = [Incoming(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
    settings = clients.settings()
    needed = settings.delivery_timeout_seconds + COMMIT_MARGIN_SECONDS
    time_left = {"seconds": 60.0}
    transports: list[GatedTransport] = []

    async def scenario() -> deliverer_module.BatchResult:
        gate = asyncio.Event()

        def transport() -> GatedTransport:
            transports.append(GatedTransport(gate))
            return transports[-1]

        deliverer = Deliverer(
            clients.delivery_store(),
            settings,
            lambda: HttpSender(
                settings.delivery_timeout_seconds,
                concurrency=2,
                transport_factory=transport,
                allow_private=True,
            ),
            time_left=lambda: time_left["seconds"],
        )
        run = asyncio.create_task(deliverer.run(batch))
        for _ in range(500):  # at most 5 s for the first two attempts to reach the wire
            if transports and transports[0].waiting == 2:
                break
            await asyncio.sleep(0.01)
        # When the time left falls below one attempt's timeout + the commit margin while the
        # first two attempts are on the wire, and they then end
        time_left["seconds"] = needed - 0.5
        gate.set()
        return await run

    result = asyncio.run(scenario())

    # Then the four attempts that waited for a slot were never started
    assert transports[0].waiting == 2
    assert result.attempts == 2
    assert len(receiver.requests) == 2
    [first_pair] = {_item_n(r) for r in receiver.requests}
    # the pair whose two URLs were sent is done; the other two messages come back soon
    deferred = {
        m["MessageId"] for m in messages if json.loads(m["Body"])["subject_id"] != _item_id(first_pair)
    }
    assert set(result.failed_message_ids) == deferred
    receipts = {m["ReceiptHandle"] for m in messages if m["MessageId"] in deferred}
    assert set(result.visibility) == receipts
    assert all(SOON <= seconds <= 2 * SOON for seconds in result.visibility.values()), result.visibility
    # with no attempt counted: no record written for them, their pairs still pending
    records = _records(api, token, job_id)
    assert sorted((r["subject_id"], r["status"], r["attempts"]) for r in records) == [
        (_item_id(first_pair), "delivered", 1),
        (_item_id(first_pair), "delivered", 1),
    ]
    job = _job(api, token, job_id)
    assert (job["delivered"], job["pending"]) == (1, 2)


def _item_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _item_n(request: Any) -> int:
    return int(json.loads(request.body)["payload"]["n"])
