"""DataForSEO's `POST /v3/appendix/webhook_resend` through the emulated HTTP API on moto (SPEC §3,
§5.1): every per-task and request-level answer, Basic auth and its 401 envelope, what is queued,
the job behind `resend_id`, the pingback and postback a real receiver gets, their signatures and
retries, `Idempotency-Key`; and the official `dataforseo-client` parsing every answer over real
HTTP (the gateway served on a free loopback port).

Callbacks are delivered by `deliveries()`, the delivery function over the queue as Lambda's SQS
event source runs it; RETRY_SCHEDULE is zeros so a retried message is visible again at once.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote

import boto3
import pytest
from dataforseo_client import ApiClient, Configuration
from dataforseo_client.api.appendix_api import AppendixApi
from dataforseo_client.exceptions import ApiException, UnauthorizedException
from dataforseo_client.models.appendix_webhook_resend_request_info import AppendixWebhookResendRequestInfo
from dataforseo_client.models.appendix_webhook_resend_response_info import AppendixWebhookResendResponseInfo
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from devstack.gateway import Gateway
from tests.conftest import Api, LocalAws, Receiver, Reply
from tests.counters import assert_counters_add_up
from tests.dataforseo_seed import ENVELOPE_FIELDS, PATH, TASK_FIELDS, TIME

ROUTE = "/v3/appendix/webhook_resend"
RESULT = [{"keyword": "marcus rashford", "items": [{"rank_absolute": 1, "title": "Marcus Rashford – ë€"}]}]

Tenant = dict[str, Any]


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "1"}


# -- helpers ----------------------------------------------------------------------------------------
def _task_data(**callbacks: Any) -> dict[str, Any]:
    return {
        "api": "serp",
        "function": "task_post",
        "se": "google",
        "se_type": "organic",
        "keyword": "marcus rashford",
        "language_name": "English",
        **callbacks,
    }


def _put_task(api: Api, tenant: Tenant, data: dict[str, Any], result: Any = None) -> str:
    task_id = str(uuid.uuid4())
    reply = api.request(
        "PUT", f"/tasks/{task_id}", json_body={"data": data, "result": result}, token=tenant["token"]
    )
    assert reply.status == 201, reply.body
    return task_id


def _post(api: Api, tenant: Tenant, body: Any, headers: dict[str, str] | None = None) -> Reply:
    """The DataForSEO call with the tenant's Basic credentials; `body` JSON, or raw if str/bytes."""
    basic = (tenant["login"], tenant["password"])
    if isinstance(body, (str, bytes)):
        return api.request("POST", ROUTE, body=body, basic=basic, headers=headers)
    return api.request("POST", ROUTE, json_body=body, basic=basic, headers=headers)


def _resend(api: Api, tenant: Tenant, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    reply = _post(api, tenant, body, headers)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json


def _queued(stack: LocalAws) -> int:
    """Messages in the delivery queue, visible or in flight."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.stack.ref("DeliveryQueue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _job(api: Api, tenant: Tenant, resend_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{resend_id}", token=tenant["token"])
    assert reply.status == 200, reply.body
    job = reply.json
    assert_counters_add_up(job)
    return job


def _records(api: Api, tenant: Tenant, resend_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{resend_id}/deliveries?limit=1000", token=tenant["token"])
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return sorted(reply.json["data"], key=lambda r: r["url_index"])


def _assert_envelope(answer: dict[str, Any], code: int = 20000) -> None:
    assert set(answer) >= ENVELOPE_FIELDS
    assert isinstance(answer["version"], str)
    assert answer["version"]
    assert answer["status_code"] == code
    assert isinstance(answer["status_message"], str)
    assert answer["status_message"]
    assert TIME.match(answer["time"]), answer["time"]
    assert answer["cost"] == 0
    assert answer["tasks_count"] == len(answer["tasks"])
    assert answer["tasks_error"] == sum(1 for t in answer["tasks"] if t["status_code"] >= 40000)


def _assert_task(entry: dict[str, Any], task_id: str, code: int, message: str) -> None:
    assert set(entry) == TASK_FIELDS
    assert entry["id"] == task_id
    assert (entry["status_code"], entry["status_message"]) == (code, message)
    assert TIME.match(entry["time"]), entry["time"]
    assert (entry["cost"], entry["result_count"], entry["path"], entry["result"]) == (0, 0, PATH, None)
    assert isinstance(entry["data"], dict)


def _verify(tenant: Tenant, body: bytes, headers: dict[str, str]) -> None:
    """The official verifier accepts the callback as received (raises otherwise)."""
    Webhook(tenant["callback_secret"]).verify(body, headers, json_parse=False)


def _verify_postback(tenant: Tenant, body: bytes, headers: dict[str, str]) -> None:
    """The official verifier accepts the postback: over the raw gzip bytes as received or, for a
    receiver whose server undoes `Content-Encoding: gzip`, over the JSON it then reads. SPEC §6:
    "The `standardwebhooks` package's verifier must accept every delivery"."""
    problems = []
    for form, data in (("raw gzip bytes", body), ("decompressed JSON", gzip.decompress(body))):
        try:
            _verify(tenant, data, headers)
            return
        except (WebhookVerificationError, UnicodeDecodeError) as error:
            problems.append(f"{form}: {type(error).__name__}: {error}")
    raise AssertionError("standardwebhooks rejects the postback: " + "; ".join(problems))


# -- per-task answers -------------------------------------------------------------------------------
def test_webhook_resend_answers_20100_and_queues_a_task_with_a_pingback(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    data = _task_data(pingback_url=f"{receiver.url}/ping?id=$id&tag=$tag", tag="t1")
    task_id = _put_task(api, tenant, data)

    answer = _resend(api, tenant, [{"id": task_id}])

    _assert_envelope(answer)
    assert answer["status_message"] == "Ok."
    [entry] = answer["tasks"]
    _assert_task(entry, task_id, 20100, "Task Created.")
    assert entry["data"] == data
    assert (answer["tasks_count"], answer["tasks_error"]) == (1, 0)
    assert _queued(stack) == 1


def test_webhook_resend_answers_40503_for_a_task_without_callbacks(
    api: Api, tenant: Tenant, stack: LocalAws
) -> None:
    data = _task_data()
    task_id = _put_task(api, tenant, data)

    answer = _resend(api, tenant, [{"id": task_id}])

    _assert_envelope(answer)
    [entry] = answer["tasks"]
    _assert_task(entry, task_id, 40503, "'pingback' or 'postback' not supported in this function.")
    assert entry["data"] == data
    assert answer["tasks_error"] == 1
    assert _queued(stack) == 0


def test_webhook_resend_answers_40400_for_an_unknown_id(api: Api, tenant: Tenant, stack: LocalAws) -> None:
    task_id = str(uuid.uuid4())

    answer = _resend(api, tenant, [{"id": task_id}])

    _assert_envelope(answer)
    _assert_task(answer["tasks"][0], task_id, 40400, "Not Found.")
    assert answer["tasks_error"] == 1
    assert _queued(stack) == 0


def test_webhook_resend_answers_another_tenants_task_as_an_unknown_id(
    api: Api, tenant: Tenant, other_tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    # Given a task of another tenant, with a callback, and an id that exists nowhere
    theirs = _put_task(
        api, other_tenant, _task_data(keyword="globex secret", pingback_url=f"{receiver.url}/theirs?id=$id")
    )
    unknown = str(uuid.uuid4())

    # When the tenant resends both
    answer = _resend(api, tenant, [{"id": theirs}, {"id": unknown}])

    # Then both answer 40400 alike, nothing of the other tenant shows, nothing is queued
    first, second = answer["tasks"]
    _assert_task(first, theirs, 40400, "Not Found.")
    _assert_task(second, unknown, 40400, "Not Found.")
    assert {k: v for k, v in first.items() if k not in ("id", "time", "data")} == {
        k: v for k, v in second.items() if k not in ("id", "time", "data")
    }
    assert "globex secret" not in json.dumps(answer)
    assert _queued(stack) == 0


@pytest.mark.parametrize(
    "entry",
    [{"id": "08161139-0001-0066-1000"}, {"id": "not-a-uuid"}, {"id": ""}, {"id": 42}, {"id": None}, {}],
    ids=["truncated", "text", "empty", "number", "null", "missing"],
)
def test_webhook_resend_answers_40501_for_an_id_that_is_not_a_uuid(
    api: Api, tenant: Tenant, stack: LocalAws, entry: dict[str, Any]
) -> None:
    answer = _resend(api, tenant, [entry])

    _assert_envelope(answer)
    [task] = answer["tasks"]
    assert set(task) == TASK_FIELDS
    assert isinstance(task["id"], str)
    assert (task["status_code"], task["status_message"]) == (40501, "Invalid Field: 'id'.")
    assert _queued(stack) == 0


def test_webhook_resend_answers_every_case_in_one_call_in_order(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    created = _put_task(
        api, tenant, _task_data(postback_url=f"{receiver.url}/post", postback_data="advanced")
    )
    bare = _put_task(api, tenant, _task_data())
    unknown = str(uuid.uuid4())

    answer = _resend(api, tenant, [{"id": created}, {"id": bare}, {"id": unknown}, {"id": "nope"}])

    _assert_envelope(answer)
    assert [(t["id"], t["status_code"]) for t in answer["tasks"]] == [
        (created, 20100),
        (bare, 40503),
        (unknown, 40400),
        ("nope", 40501),
    ]
    assert (answer["tasks_count"], answer["tasks_error"]) == (4, 3)
    assert _queued(stack) == 1


# -- request-level errors ---------------------------------------------------------------------------
REQUEST_ERRORS = [
    pytest.param(json.dumps([{"id": str(uuid.uuid4())} for _ in range(101)]), {40006}, "100", id="101-tasks"),
    pytest.param('[{"id": ', {40000, 40501}, "json", id="not-json"),
    pytest.param("id=08161139-0001-0066-1000-06491d097ed5", {40000, 40501}, "json", id="form-encoded"),
    pytest.param(json.dumps({"id": str(uuid.uuid4())}), {40000, 40501}, "array", id="an-object"),
    pytest.param(
        json.dumps([{"id": str(uuid.uuid4())}, "x"]), {40000, 40501}, "object", id="array-with-a-string"
    ),
    pytest.param(json.dumps([[{"id": str(uuid.uuid4())}]]), {40000, 40501}, "object", id="array-of-arrays"),
    pytest.param("[]", {40000, 40501}, "task", id="empty-array"),
    pytest.param("", {40000, 40501}, "", id="empty-body"),
]


@pytest.mark.parametrize(("raw", "codes", "named"), REQUEST_ERRORS)
def test_webhook_resend_request_level_error_keeps_http_200_and_queues_nothing(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws, raw: str, codes: set[int], named: str
) -> None:
    # A real task with a callback, so a request that slipped through would queue something.
    _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    answer = _resend(api, tenant, raw)

    assert set(answer) == ENVELOPE_FIELDS
    assert answer["status_code"] in codes
    _assert_envelope(answer, answer["status_code"])
    assert named in answer["status_message"].lower()
    assert (answer["tasks"], answer["tasks_count"], answer["tasks_error"]) == ([], 0, 0)
    assert _queued(stack) == 0


def test_webhook_resend_refuses_101_tasks_even_when_they_are_all_real(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    answer = _resend(api, tenant, [{"id": task_id}] * 101)

    assert answer["status_code"] == 40006
    assert answer["tasks"] == []
    assert _queued(stack) == 0


def test_webhook_resend_answers_an_object_keyed_by_unicode_digits_as_a_request_error(
    api: Api, tenant: Tenant, stack: LocalAws
) -> None:
    # "²" passes str.isdigit() but is no index; the answer is still the envelope, never a 5xx.
    reply = _post(api, tenant, json.dumps({"²": {"id": str(uuid.uuid4())}}))

    assert reply.status == 200, reply.body
    assert reply.json["status_code"] in {40000, 40501}
    assert reply.json["tasks"] == []
    assert _queued(stack) == 0


def test_webhook_resend_answers_strict_json_when_the_body_holds_nan(api: Api, tenant: Tenant) -> None:
    # NaN is not JSON; whatever the answer, it must be JSON that strict parsers accept.
    reply = _post(api, tenant, '[{"id": NaN}]')

    assert reply.status == 200, reply.body

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    answer = json.loads(reply.body, parse_constant=refuse)
    assert answer["status_code"] in {20000, 40000, 40501}


# -- the PHP-style body and duplicates ---------------------------------------------------------------
def test_webhook_resend_accepts_the_php_style_object_as_an_array(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    # DataForSEO's own Python example posts post_data[len(post_data)] = dict(id=...)
    first = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/one"))
    second = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/two"))

    answer = _resend(api, tenant, {"0": {"id": first}, "1": {"id": second}})

    _assert_envelope(answer)
    assert [(t["id"], t["status_code"]) for t in answer["tasks"]] == [(first, 20100), (second, 20100)]
    assert _queued(stack) == 2


def test_webhook_resend_queues_a_duplicate_id_once_but_answers_each_entry(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws, deliveries: Callable[..., int]
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping?id=$id"))

    answer = _resend(api, tenant, [{"id": task_id}, {"id": task_id}, {"id": task_id}])

    assert [(t["id"], t["status_code"]) for t in answer["tasks"]] == [(task_id, 20100)] * 3
    assert _queued(stack) == 1
    assert _job(api, tenant, answer["resend_id"])["total_queued"] == 1
    deliveries()
    assert len(receiver.to("/ping")) == 1


# -- authentication ---------------------------------------------------------------------------------
def test_webhook_resend_accepts_the_tenants_bearer_token_too(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    reply = api.request("POST", ROUTE, json_body=[{"id": task_id}], token=tenant["token"])

    assert reply.status == 200, reply.body
    assert reply.json["tasks"][0]["status_code"] == 20100


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(b"nobody:nothing").decode(),
        "Basic not-base64!",
        "Bearer not-a-token",
        "Digest username=x",
    ],
    ids=["missing", "unknown-login", "garbled-basic", "wrong-bearer", "other-scheme"],
)
def test_webhook_resend_without_valid_credentials_answers_401_with_the_envelope(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws, authorization: str | None
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    headers = {"authorization": authorization} if authorization else {}

    reply = api.request("POST", ROUTE, json_body=[{"id": task_id}], headers=headers)

    assert reply.status == 401, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    answer = reply.json
    _assert_envelope(answer, 40100)
    assert answer["tasks"] == []
    assert tenant["password"] not in reply.body.decode()
    assert _queued(stack) == 0


def test_webhook_resend_with_the_wrong_password_answers_401_with_the_envelope(
    api: Api, tenant: Tenant, other_tenant: Tenant, stack: LocalAws
) -> None:
    for login, password in [
        (tenant["login"], other_tenant["password"]),
        (tenant["login"], tenant["password"] + "x"),
        (tenant["login"], ""),
    ]:
        reply = api.request("POST", ROUTE, json_body=[{"id": str(uuid.uuid4())}], basic=(login, password))

        assert reply.status == 401, reply.body
        assert reply.json["status_code"] == 40100
        assert reply.json["tasks"] == []


# -- the job behind resend_id -----------------------------------------------------------------------
def test_webhook_resend_id_is_a_job_that_ends_delivered(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    answer = _resend(api, tenant, [{"id": task_id}, {"id": str(uuid.uuid4())}])

    before = _job(api, tenant, answer["resend_id"])
    deliveries()
    after = _job(api, tenant, answer["resend_id"])

    assert before["id"] == answer["resend_id"]
    assert before["source"] == "dataforseo"
    assert (before["total_queued"], before["pending"], before["delivered"]) == (1, 1, 0)
    assert before["status"] == "running"
    assert (after["total_queued"], after["pending"], after["delivered"], after["failed"]) == (1, 0, 1, 0)
    assert after["status"] == "completed"


def test_webhook_resend_job_records_when_it_completed(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    job = _job(api, tenant, answer["resend_id"])
    assert job["status"] == "completed"
    assert job["completed_on"] is not None, job
    assert job["completed_on"] >= job["created_on"]


def test_webhook_resend_job_is_not_readable_by_another_tenant(
    api: Api, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    answer = _resend(api, tenant, [{"id": task_id}])

    reply = api.request("GET", f"/resends/{answer['resend_id']}", token=other_tenant["token"])

    assert reply.status == 404, reply.body


# -- callbacks --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tag",
    ["t1", "a b", "x&y=z", "naïve ✓ 東京", "100%/#?+", None],
    ids=["plain", "space", "ampersand", "unicode", "reserved", "missing"],
)
def test_pingback_is_a_signed_get_with_id_and_tag_url_encoded(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int], tag: str | None
) -> None:
    # Given a task whose pingback URL has $id in its path and $id, $tag in its query
    data = _task_data(pingback_url=f"{receiver.url}/ping/$id?id=$id&tag=$tag&fixed=1")
    if tag is not None:
        data["tag"] = tag
    task_id = _put_task(api, tenant, data)
    answer = _resend(api, tenant, [{"id": task_id}])

    # When the queue is delivered
    deliveries()

    # Then the receiver got one GET with both replaced, URL-encoded, signed over an empty body
    [request] = receiver.to(f"/ping/{task_id}")
    assert request.method == "GET"
    assert request.body == b""
    # (The HTTP client may leave "/" and "?" unescaped in a query: they mean the same there.)
    assert request.query.isascii()
    assert " " not in request.query
    assert request.query.split("&")[0] == f"id={task_id}"
    assert parse_qs(request.query, keep_blank_values=True, strict_parsing=True) == {
        "id": [task_id],
        "tag": [tag or ""],
        "fixed": ["1"],
    }
    assert "content-encoding" not in request.headers
    assert request.headers["x-webhook-resend-id"] == answer["resend_id"]
    assert request.headers["webhook-id"]
    _verify(tenant, b"", request.headers)


def test_pingback_placeholders_in_the_path_are_url_encoded(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/cb/$id/$tag", tag="a/b c?é"))
    _resend(api, tenant, [{"id": task_id}])

    deliveries()

    [request] = receiver.to(f"/cb/{task_id}/{quote('a/b c?é', safe='')}")
    assert request.method == "GET"
    assert request.query == ""


def test_postback_is_a_signed_gzip_post_of_the_envelope_with_the_result(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    data = _task_data(
        postback_url=f"{receiver.url}/post?id=$id&tag=$tag", postback_data="advanced", tag="a b"
    )
    task_id = _put_task(api, tenant, data, RESULT)
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    [request] = receiver.to("/post")
    assert request.method == "POST"
    assert request.query == f"id={task_id}&tag=a%20b"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["x-webhook-resend-id"] == answer["resend_id"]
    assert request.headers["webhook-id"]
    assert request.headers["webhook-signature"].startswith("v1,")
    document = json.loads(gzip.decompress(request.body))
    assert (document["status_code"], document["tasks_count"]) == (20000, 1)
    [task] = document["tasks"]
    assert task["id"] == task_id
    assert task["data"]["postback_data"] == "advanced"
    assert task["data"]["keyword"] == "marcus rashford"
    assert task["result"] == RESULT
    assert task["result_count"] == 1


def test_postback_signature_is_accepted_by_the_standardwebhooks_verifier(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    task_id = _put_task(api, tenant, _task_data(postback_url=f"{receiver.url}/post?id=$id"), RESULT)
    _resend(api, tenant, [{"id": task_id}])

    deliveries()

    [request] = receiver.to("/post")
    _verify_postback(tenant, request.body, request.headers)


def test_a_task_with_both_callbacks_gets_both_and_two_delivery_records(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    data = _task_data(
        pingback_url=f"{receiver.url}/ping?id=$id&tag=$tag",
        postback_url=f"{receiver.url}/post?id=$id&tag=$tag",
        postback_data="regular",
        tag="both",
    )
    task_id = _put_task(api, tenant, data, RESULT)
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    [ping] = receiver.to("/ping")
    [post] = receiver.to("/post")
    assert (ping.method, post.method) == ("GET", "POST")
    assert ping.query == post.query == f"id={task_id}&tag=both"
    _verify(tenant, b"", ping.headers)
    assert post.headers["webhook-signature"].startswith("v1,")  # verified in its own test above
    assert ping.headers["webhook-id"] != post.headers["webhook-id"]
    assert json.loads(gzip.decompress(post.body))["tasks"][0]["result"] == RESULT
    records = _records(api, tenant, answer["resend_id"])
    assert [(r["url_index"], r["method"], r["status"], r["attempts"]) for r in records] == [
        (0, "GET", "delivered", 1),
        (1, "POST", "delivered", 1),
    ]
    assert all(r["subject_id"] == task_id for r in records)
    job = _job(api, tenant, answer["resend_id"])
    assert (job["total_queued"], job["delivered"], job["status"]) == (1, 1, "completed")


def test_callback_answering_500_then_200_is_retried_and_recorded(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    receiver.script("/ping", [500, 200])
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping?id=$id"))
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    first, second = receiver.to("/ping")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the same event, again
    _verify(tenant, b"", second.headers)
    [record] = _records(api, tenant, answer["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("delivered", 2, 200)
    assert record["method"] == "GET"
    assert record["url"] == f"{receiver.url}/ping?id={task_id}"
    job = _job(api, tenant, answer["resend_id"])
    assert (job["delivered"], job["failed"], job["status"]) == (1, 0, "completed")


def test_postback_answering_500_then_200_is_retried_with_the_same_event(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    receiver.script("/post", [500, 200])
    task_id = _put_task(api, tenant, _task_data(postback_url=f"{receiver.url}/post"), RESULT)
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    attempts = receiver.to("/post")
    assert len(attempts) == 2
    assert [json.loads(gzip.decompress(r.body))["tasks"][0]["result"] for r in attempts] == [RESULT, RESULT]
    assert attempts[0].headers["webhook-id"] == attempts[1].headers["webhook-id"]
    [record] = _records(api, tenant, answer["resend_id"])
    assert (record["url_index"], record["status"], record["attempts"]) == (1, "delivered", 2)


def test_callback_answering_404_fails_at_once_and_is_counted(
    api: Api, tenant: Tenant, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    receiver.script("/ping", [404])
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    answer = _resend(api, tenant, [{"id": task_id}])

    deliveries()

    assert len(receiver.to("/ping")) == 1
    [record] = _records(api, tenant, answer["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("failed", 1, 404)
    job = _job(api, tenant, answer["resend_id"])
    assert (job["failed"], job["pending"], job["status"]) == (1, 0, "completed")


# -- Idempotency-Key --------------------------------------------------------------------------------
def test_webhook_resend_with_the_same_idempotency_key_replays_the_first_envelope(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))
    key = {"Idempotency-Key": f"nightly-{uuid.uuid4()}"}

    first = _resend(api, tenant, [{"id": task_id}], key)
    queued_after_first = _queued(stack)
    second = _resend(api, tenant, [{"id": task_id}], key)

    assert second == first
    assert second["resend_id"] == first["resend_id"]
    assert queued_after_first == 1
    assert _queued(stack) == 1


def test_webhook_resend_without_an_idempotency_key_queues_again(
    api: Api, tenant: Tenant, receiver: Receiver, stack: LocalAws
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    first = _resend(api, tenant, [{"id": task_id}])
    second = _resend(api, tenant, [{"id": task_id}])

    assert second["resend_id"] != first["resend_id"]
    assert _queued(stack) == 2


# -- the official dataforseo-client over real HTTP --------------------------------------------------
RESPONSE = "AppendixWebhookResendResponseInfo"


@pytest.fixture
def gateway(stack: LocalAws) -> Iterator[Gateway]:
    server = Gateway.from_stack(stack.stack, stack.invoke, port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def official(gateway: Gateway) -> Callable[..., AppendixApi]:
    """`official(login, password)`: the DataForSEO client's AppendixApi against the gateway."""
    clients: list[ApiClient] = []

    def make(login: str | None = None, password: str | None = None) -> AppendixApi:
        client = ApiClient(Configuration(host=gateway.url, username=login, password=password))
        clients.append(client)
        return AppendixApi(client)

    yield make  # type: ignore[misc]
    for client in clients:
        client.rest_client.pool_manager.clear()  # its connections, before the gateway stops


def _ids(*task_ids: str) -> list[AppendixWebhookResendRequestInfo]:
    return [AppendixWebhookResendRequestInfo(id=task_id) for task_id in task_ids]


def _raw_call(appendix: AppendixApi, body: Any, content_type: str = "application/json") -> Any:
    """A body the typed method cannot send, through the client's own serialize/call/deserialize."""
    client = appendix.api_client
    params = client.param_serialize(
        method="POST",
        resource_path=ROUTE,
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["basicAuth"],
    )
    response = client.call_api(*params)
    response.read()
    return client.response_deserialize(response_data=response, response_types_map={"200": RESPONSE}).data


def test_official_client_parses_every_per_task_answer(
    api: Api, tenant: Tenant, receiver: Receiver, official: Callable[..., AppendixApi]
) -> None:
    created = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping?id=$id", tag="t"))
    bare = _put_task(api, tenant, _task_data())
    unknown = str(uuid.uuid4())

    answer = official(tenant["login"], tenant["password"]).webhook_resend(
        _ids(created, bare, unknown, "nope")
    )

    assert isinstance(answer, AppendixWebhookResendResponseInfo)
    assert (answer.status_code, answer.status_message, answer.cost) == (20000, "Ok.", 0)
    assert isinstance(answer.version, str)
    assert TIME.match(answer.time or "")
    assert (answer.tasks_count, answer.tasks_error) == (4, 3)
    assert answer.tasks is not None
    assert [(t.id, t.status_code, t.status_message) for t in answer.tasks if t] == [
        (created, 20100, "Task Created."),
        (bare, 40503, "'pingback' or 'postback' not supported in this function."),
        (unknown, 40400, "Not Found."),
        ("nope", 40501, "Invalid Field: 'id'."),
    ]
    for task in answer.tasks:
        assert task is not None
        assert (task.cost, task.result_count, task.path, task.result) == (0, 0, PATH, None)
        assert TIME.match(task.time or "")
    assert answer.tasks[0].data is not None
    assert answer.tasks[0].data["keyword"] == "marcus rashford"
    assert answer.additional_properties["resend_id"]


def test_official_client_parses_the_answer_for_another_tenants_task(
    api: Api, tenant: Tenant, other_tenant: Tenant, receiver: Receiver, official: Callable[..., AppendixApi]
) -> None:
    theirs = _put_task(api, other_tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    answer = official(tenant["login"], tenant["password"]).webhook_resend(_ids(theirs))

    assert answer.tasks is not None
    assert answer.tasks[0] is not None
    assert (answer.tasks[0].id, answer.tasks[0].status_code) == (theirs, 40400)


def test_official_client_parses_the_101_tasks_error(
    tenant: Tenant, official: Callable[..., AppendixApi], stack: LocalAws
) -> None:
    answer = official(tenant["login"], tenant["password"]).webhook_resend(
        _ids(*(str(uuid.uuid4()) for _ in range(101)))
    )

    assert answer.status_code == 40006
    assert answer.status_message
    assert (answer.tasks_count, answer.tasks_error, answer.tasks or []) == (0, 0, [])
    assert _queued(stack) == 0


def test_official_client_parses_the_empty_array_error(
    tenant: Tenant, official: Callable[..., AppendixApi], stack: LocalAws
) -> None:
    answer = official(tenant["login"], tenant["password"]).webhook_resend([])

    assert answer.status_code in {40000, 40501}
    assert (answer.tasks_count, answer.tasks or []) == (0, [])
    assert _queued(stack) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "codes"),
    [
        ('[{"id": ', "text/plain", {40000, 40501}),
        ({"id": "08161139-0001-0066-1000-06491d097ed5"}, "application/json", {40000, 40501}),
        ([{"id": "08161139-0001-0066-1000-06491d097ed5"}, 7], "application/json", {40000, 40501}),
    ],
    ids=["not-json", "an-object", "array-with-a-number"],
)
def test_official_client_parses_request_level_errors(
    tenant: Tenant,
    official: Callable[..., AppendixApi],
    stack: LocalAws,
    body: Any,
    content_type: str,
    codes: set[int],
) -> None:
    answer = _raw_call(official(tenant["login"], tenant["password"]), body, content_type)

    assert isinstance(answer, AppendixWebhookResendResponseInfo)
    assert answer.status_code in codes
    assert answer.status_message
    assert (answer.tasks_count, answer.tasks_error, answer.tasks or []) == (0, 0, [])
    assert _queued(stack) == 0


def test_official_client_parses_the_php_style_object(
    api: Api, tenant: Tenant, receiver: Receiver, official: Callable[..., AppendixApi]
) -> None:
    first = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/one"))
    second = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/two"))

    answer = _raw_call(
        official(tenant["login"], tenant["password"]), {"0": {"id": first}, "1": {"id": second}}
    )

    assert answer.status_code == 20000
    assert [(t.id, t.status_code) for t in answer.tasks] == [(first, 20100), (second, 20100)]


def test_official_client_parses_a_duplicate_id_answer(
    api: Api, tenant: Tenant, receiver: Receiver, official: Callable[..., AppendixApi], stack: LocalAws
) -> None:
    task_id = _put_task(api, tenant, _task_data(pingback_url=f"{receiver.url}/ping"))

    answer = official(tenant["login"], tenant["password"]).webhook_resend(_ids(task_id, task_id))

    assert answer.tasks is not None
    assert [(t.id, t.status_code) for t in answer.tasks if t] == [(task_id, 20100), (task_id, 20100)]
    assert _queued(stack) == 1


@pytest.mark.parametrize("credentials", ["wrong", "missing"])
def test_official_client_raises_unauthorized_with_the_envelope(
    tenant: Tenant, official: Callable[..., AppendixApi], credentials: str
) -> None:
    appendix = (
        official(tenant["login"], tenant["password"] + "-wrong") if credentials == "wrong" else official()
    )

    with pytest.raises(UnauthorizedException) as raised:
        appendix.webhook_resend(_ids(str(uuid.uuid4())))

    assert isinstance(raised.value, ApiException)
    assert raised.value.status == 401
    envelope = json.loads(raised.value.body)
    assert envelope["status_code"] == 40100
    assert envelope["tasks"] == []
    parsed = AppendixWebhookResendResponseInfo.from_json(raised.value.body)
    assert parsed is not None
    assert parsed.status_code == 40100


def test_official_client_resend_reaches_the_receiver(
    api: Api,
    tenant: Tenant,
    receiver: Receiver,
    official: Callable[..., AppendixApi],
    deliveries: Callable[..., int],
) -> None:
    task_id = _put_task(
        api,
        tenant,
        _task_data(
            pingback_url=f"{receiver.url}/ping?id=$id&tag=$tag",
            postback_url=f"{receiver.url}/post?id=$id&tag=$tag",
            postback_data="advanced",
            tag="client run",
        ),
        RESULT,
    )

    answer = official(tenant["login"], tenant["password"]).webhook_resend(_ids(task_id))
    deliveries()

    resend_id = answer.additional_properties["resend_id"]
    [ping] = receiver.to("/ping")
    [post] = receiver.to("/post")
    assert ping.query == f"id={task_id}&tag=client%20run"
    _verify(tenant, b"", ping.headers)
    assert post.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(post.body))["tasks"][0]["result"] == RESULT
    assert _job(api, tenant, resend_id)["status"] == "completed"
