"""The management routes through the emulated HTTP API (SPEC §4, §5.2 filters, §6 SSRF, §9):
content items, tasks and webhooks of one tenant, their validation, and the URL policy of a
deployed stack."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import boto3
import pytest

from webhook_resend.aws import keys

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ITEM_ID = "3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f"
TASK_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
WEBHOOK_ID = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
ONE_MB = 1024 * 1024
MAX_PAYLOAD = 256 * 1024


def _fields(reply: Any) -> list[str]:
    assert reply.headers["content-type"].startswith("application/json")
    return [error["field"] for error in reply.json["errors"]]


def _secret(n_bytes: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(n_bytes))).decode()


@pytest.fixture
def call(api, tenant):
    """`call(method, target, ...)`: a request with the tenant's bearer token."""

    def request(method: str, target: str, **kwargs: Any) -> Any:
        return api.request(method, target, token=tenant["token"], **kwargs)

    return request


def _put_item(call: Any, item_id: str, **fields: Any) -> dict[str, Any]:
    reply = call("PUT", f"/content_items/{item_id}", json_body={"model": "Post", **fields})
    assert reply.status in (200, 201), reply.body
    return reply.json


def _create_webhook(call: Any, **fields: Any) -> dict[str, Any]:
    body = {"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"], **fields}
    reply = call("POST", "/webhooks", json_body=body)
    assert reply.status == 201, reply.body
    return reply.json


def _stored_webhook_secret(stack: Any, tenant_id: str, webhook_id: str) -> str:
    key = {name: {"S": value} for name, value in keys.webhook(tenant_id, webhook_id).items()}
    item = boto3.client("dynamodb").get_item(TableName=stack.stack.ref("DataTable"), Key=key)["Item"]
    return item["secret"]["S"]


# =============================================================================================
# Content items
# =============================================================================================
def test_content_item_put_new_id_answers_201_with_the_stored_record(call):
    body = {
        "model": "Post",
        "tags": ["news", "sport"],
        "workflow_stage": "Done",
        "locales": ["en-GB"],
        "created_on": "2024-01-02T03:04:05+02:00",
        "changed_on": "2024-01-03T00:00:00Z",
        "publish_on": "2024-01-04T10:00:00.5Z",
        "payload": {"title": "Hello", "n": 1, "nested": {"list": [1, "two", None]}},
    }

    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body=body)

    assert reply.status == 201, reply.body
    assert reply.json == {
        **body,
        "id": ITEM_ID,
        "created_on": "2024-01-02T01:04:05.000Z",
        "changed_on": "2024-01-03T00:00:00.000Z",
        "publish_on": "2024-01-04T10:00:00.500Z",
    }


def test_content_item_put_without_times_sets_canonical_now(call):
    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body={"model": "Post"})

    assert reply.status == 201, reply.body
    assert TIME_RE.match(reply.json["created_on"])
    assert TIME_RE.match(reply.json["changed_on"])
    assert reply.json["publish_on"] is None


def test_content_item_put_existing_id_replaces_it_with_200(call):
    _put_item(call, ITEM_ID, tags=["old"], workflow_stage="Draft", payload={"v": 1})

    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body={"model": "Page", "payload": {"v": 2}})

    assert reply.status == 200, reply.body
    stored = call("GET", f"/content_items/{ITEM_ID}").json
    assert stored == reply.json
    assert (stored["model"], stored["tags"], stored["workflow_stage"], stored["payload"]) == (
        "Page",
        [],
        None,
        {"v": 2},
    )


def test_content_item_replace_without_created_on_keeps_the_original(call):
    first = _put_item(call, ITEM_ID, created_on="2023-05-06T07:08:09Z")

    replaced = _put_item(call, ITEM_ID, model="Page")

    assert replaced["created_on"] == first["created_on"] == "2023-05-06T07:08:09.000Z"


def test_content_item_replace_without_created_on_keeps_a_generated_one(call):
    first = _put_item(call, ITEM_ID)

    replaced = _put_item(call, ITEM_ID, model="Page")

    assert replaced["created_on"] == first["created_on"]


def test_content_item_get_answers_the_stored_record(call):
    stored = _put_item(call, ITEM_ID, tags=["a"], payload={"k": "v"})

    reply = call("GET", f"/content_items/{ITEM_ID}")

    assert reply.status == 200
    assert reply.json == stored


def test_content_item_get_accepts_the_id_in_upper_case(call):
    stored = _put_item(call, ITEM_ID)

    reply = call("GET", f"/content_items/{ITEM_ID.upper()}")

    assert reply.status == 200
    assert reply.json == stored


def test_content_item_delete_answers_204_then_404(call):
    _put_item(call, ITEM_ID)

    deleted = call("DELETE", f"/content_items/{ITEM_ID}")
    again = call("DELETE", f"/content_items/{ITEM_ID}")
    read = call("GET", f"/content_items/{ITEM_ID}")

    assert (deleted.status, deleted.body) == (204, b"")
    assert again.status == 404
    assert read.status == 404
    assert _fields(read) == ["id"]


def test_content_item_unknown_id_is_404(call):
    reply = call("GET", f"/content_items/{ITEM_ID}")

    assert reply.status == 404
    assert _fields(reply) == ["id"]


@pytest.mark.parametrize(
    ("method", "status"),
    [("GET", 404), ("DELETE", 404), ("PUT", 422)],
)
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "3f2c9a1e-6b7d-4c2a-9e8f"])
def test_content_item_malformed_id_is_404_on_reads_and_422_on_writes(call, method, status, bad_id):
    reply = call(method, f"/content_items/{bad_id}", json_body={"model": "Post"} if method == "PUT" else None)

    assert reply.status == status, reply.body
    assert _fields(reply) == ["id"]


def test_content_item_body_id_other_than_the_path_is_422(call):
    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body={"id": TASK_ID, "model": "Post"})

    assert reply.status == 422
    assert _fields(reply) == ["id"]
    assert call("GET", f"/content_items/{ITEM_ID}").status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"model": "Post", "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({}, "model", id="missing-model"),
        pytest.param({"model": ""}, "model", id="empty-model"),
        pytest.param({"model": "Post", "tags": "news"}, "tags", id="tags-not-a-list"),
        pytest.param({"model": "Post", "locales": [1]}, "locales.0", id="locale-not-text"),
        pytest.param({"model": "Post", "created_on": "yesterday"}, "created_on", id="bad-time"),
        pytest.param({"model": "Post", "publish_on": 1700000000}, "publish_on", id="time-not-text"),
        pytest.param({"model": "Post", "payload": [1, 2]}, "payload", id="payload-not-an-object"),
    ],
)
def test_content_item_invalid_body_is_422_naming_the_field(call, body, field):
    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body=body)

    assert reply.status == 422, reply.body
    assert field in _fields(reply)
    assert call("GET", f"/content_items/{ITEM_ID}").status == 404


def test_content_item_payload_over_256_kb_is_422(call):
    # {"x":"..."} is 8 bytes of JSON around the string.
    payload = {"x": "a" * (MAX_PAYLOAD - 8 + 1)}

    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body={"model": "Post", "payload": payload})

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["payload"]


def test_content_item_payload_of_exactly_256_kb_is_stored(call):
    payload = {"x": "a" * (MAX_PAYLOAD - 8)}

    reply = call("PUT", f"/content_items/{ITEM_ID}", json_body={"model": "Post", "payload": payload})

    assert reply.status == 201, reply.body[:200]
    assert call("GET", f"/content_items/{ITEM_ID}").json["payload"] == payload


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PUT", f"/content_items/{ITEM_ID}"),
        ("GET", "/content_items"),
        ("PUT", f"/tasks/{TASK_ID}"),
        ("POST", "/webhooks"),
    ],
)
def test_management_body_over_1_mb_is_413(call, method, target):
    body = json.dumps({"model": "Post", "payload": {"blob": "a" * ONE_MB}})

    reply = call(method, target, body=body, headers={"content-type": "application/json"})

    assert reply.status == 413, reply.body[:300]
    assert _fields(reply) == ["body"]


@pytest.mark.parametrize("raw", ['{"model": ', "model=Post", '{"model": "Post",}', "{'model': 'Post'}"])
def test_content_item_invalid_json_is_422_naming_body(call, raw):
    reply = call("PUT", f"/content_items/{ITEM_ID}", body=raw, headers={"content-type": "application/json"})

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["body"]


def test_content_item_body_that_is_not_utf8_is_422(call):
    reply = call(
        "PUT", f"/content_items/{ITEM_ID}", body=b"\xff\xfe{}", headers={"content-type": "application/json"}
    )

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["body"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-content-type"),
        pytest.param({"content-type": "application/x-www-form-urlencoded"}, id="curl-d"),
    ],
)
def test_content_item_json_body_without_json_content_type_is_accepted(call, headers):
    reply = call("PUT", f"/content_items/{ITEM_ID}", body='{"model": "Post", "tags": ["a"]}', headers=headers)

    assert reply.status == 201, reply.body
    assert (reply.json["model"], reply.json["tags"]) == ("Post", ["a"])


# ---------------------------------------------------------------------------------------------
# GET /content_items: filters and paging
# ---------------------------------------------------------------------------------------------
FILTER_IDS = {
    "post-a": "00000000-0000-4000-8000-000000000001",
    "post-b": "00000000-0000-4000-8000-000000000002",
    "post-c": "00000000-0000-4000-8000-000000000003",
    "page-a": "00000000-0000-4000-8000-000000000004",
}


@pytest.fixture
def filter_items(call):
    """Three posts and a page, tagged differently."""
    _put_item(call, FILTER_IDS["post-a"], tags=["a"], created_on="2024-01-01T00:00:00Z")
    _put_item(call, FILTER_IDS["post-b"], tags=["b", "z"], created_on="2024-01-02T00:00:00Z")
    _put_item(call, FILTER_IDS["post-c"], tags=["c"], created_on="2024-01-03T00:00:00Z")
    _put_item(call, FILTER_IDS["page-a"], model="Page", tags=["a"], created_on="2024-01-04T00:00:00Z")
    return FILTER_IDS


def _list_ids(reply: Any) -> list[str]:
    assert reply.status == 200, reply.body
    return [item["id"] for item in reply.json["items"]]


def test_content_item_list_without_filter_answers_every_item_with_total(call, filter_items):
    reply = call("GET", "/content_items")

    assert _list_ids(reply) == list(filter_items.values())
    assert reply.json["total"] == 4


def test_content_item_list_items_are_full_records(call):
    stored = _put_item(call, ITEM_ID, tags=["a"], payload={"k": "v"})

    reply = call("GET", "/content_items")

    assert reply.json == {"items": [stored], "total": 1}


@pytest.mark.parametrize(
    ("filters", "query", "expected"),
    [
        pytest.param(
            {"model": {"eq": "Post"}, "tags": [{"in": ["a", "b"]}]},
            "model[eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b",
            ["post-a", "post-b"],
            id="model-and-tags-in",
        ),
        pytest.param({"tags": {"eq": "a"}}, "tags[eq]=a", ["post-a", "page-a"], id="list-field-eq"),
        pytest.param(
            {"model": [{"eq": "Post"}], "tags": [{"in": ["a", "b"]}, {"eq": "z"}]},
            "model[0][eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b&tags[1][eq]=z",
            ["post-b"],
            id="all-conditions-hold",
        ),
        pytest.param(
            {"created_on": {"gte": "2024-01-02T00:00:00Z", "lt": "2024-01-04T00:00:00Z"}},
            "created_on[gte]=2024-01-02T00:00:00Z&created_on[lt]=2024-01-04T00:00:00Z",
            ["post-b", "post-c"],
            id="created-on-range",
        ),
        pytest.param(
            {"id": {"in": [FILTER_IDS["post-c"], FILTER_IDS["page-a"]]}},
            f"id[in][0]={FILTER_IDS['post-c']}&id[in][1]={FILTER_IDS['page-a']}",
            ["post-c", "page-a"],
            id="id-in",
        ),
        pytest.param({"model": {"eq": "Nothing"}}, "model[eq]=Nothing", [], id="no-match"),
    ],
)
@pytest.mark.parametrize("form", ["json-body", "query-string"])
def test_content_item_list_filters_by_json_body_or_qs_query(
    call, filter_items, form, filters, query, expected
):
    if form == "json-body":
        reply = call("GET", "/content_items", json_body=filters)
    else:
        reply = call("GET", f"/content_items?{query}")

    assert _list_ids(reply) == [filter_items[name] for name in expected]
    assert reply.json["total"] == len(expected)


def test_content_item_list_pages_are_disjoint_complete_and_ordered(call):
    # Given five items, two of them created at the same instant (ordered by id then)
    created = {
        "00000000-0000-4000-8000-00000000000e": "2024-01-03T00:00:00Z",
        "00000000-0000-4000-8000-00000000000a": "2024-01-01T00:00:00Z",
        "00000000-0000-4000-8000-00000000000d": "2024-01-02T00:00:00Z",
        "00000000-0000-4000-8000-00000000000b": "2024-01-02T00:00:00Z",
        "00000000-0000-4000-8000-00000000000c": "2023-12-31T00:00:00Z",
    }
    for item_id, created_on in created.items():
        _put_item(call, item_id, created_on=created_on)
    expected = sorted(created, key=lambda item_id: (created[item_id], item_id))

    # When they are read two at a time
    pages = [call("GET", f"/content_items?skip={skip}&limit=2") for skip in (0, 2, 4)]

    # Then the pages are disjoint, together complete, in (created_on, id) order, each with the total
    assert [_list_ids(page) for page in pages] == [expected[0:2], expected[2:4], expected[4:]]
    assert [page.json["total"] for page in pages] == [5, 5, 5]


def test_content_item_list_paging_in_a_json_body(call, filter_items):
    reply = call("GET", "/content_items", json_body={"model": {"eq": "Post"}, "skip": 1, "limit": 1})

    assert _list_ids(reply) == [filter_items["post-b"]]
    assert reply.json["total"] == 3


def test_content_item_list_skip_past_the_end_is_an_empty_page(call, filter_items):
    reply = call("GET", "/content_items?skip=10")

    assert reply.json == {"items": [], "total": 4}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("skip=-1", "skip"),
        ("skip=1.5", "skip"),
    ],
)
def test_content_item_list_paging_out_of_range_is_422(call, query, field):
    reply = call("GET", f"/content_items?{query}")

    assert reply.status == 422, reply.body
    assert _fields(reply) == [field]


@pytest.mark.parametrize(
    ("form", "params", "field"),
    [
        ("json", {"colour": {"eq": "red"}}, "colour"),
        ("json", {"model": {"like": "Post"}}, "model.like"),
        ("json", {"model": {"gt": "Post"}}, "model.gt"),
        ("json", {"created_on": {"eq": "2024-01-01T00:00:00Z"}}, "created_on.eq"),
        ("json", {"tags": [{"in": ["a"]}, {"contains": "a"}]}, "tags[1].contains"),
        ("query", "colour[eq]=red", "colour"),
        ("query", "model[like]=Post", "model.like"),
        ("query", "tags[0][nin][0]=a", "tags[0].nin"),
    ],
)
def test_content_item_list_unknown_field_or_operator_is_422_naming_it(call, form, params, field):
    # Given an item every widened filter would return
    _put_item(call, ITEM_ID, tags=["a"])

    if form == "json":
        reply = call("GET", "/content_items", json_body=params)
    else:
        reply = call("GET", f"/content_items?{params}")

    assert reply.status == 422, reply.body
    assert field in _fields(reply)
    assert "items" not in reply.json


def test_content_item_list_invalid_json_body_is_422_naming_body(call):
    reply = call("GET", "/content_items", body="{nope", headers={"content-type": "application/json"})

    assert reply.status == 422
    assert _fields(reply) == ["body"]


# =============================================================================================
# Tasks
# =============================================================================================
TASK_BODY = {
    "data": {
        "api": "serp",
        "function": "task_post",
        "se": "google",
        "keyword": "running shoes",
        "location_code": 2840,
        "pingback_url": "https://callbacks.example.com/ping?id=$id&tag=$tag",
        "postback_url": "https://callbacks.example.com/post",
        "postback_data": "advanced",
        "tag": "campaign-7",
        "custom": {"nested": [1, 2, {"deep": True}]},
    },
    "result": [{"items": [{"rank": 1, "url": "https://shop.example.com"}]}],
}


def test_task_put_new_id_answers_201_with_the_stored_record(call):
    reply = call("PUT", f"/tasks/{TASK_ID}", json_body=TASK_BODY)

    assert reply.status == 201, reply.body
    assert reply.json == {
        "id": TASK_ID,
        **TASK_BODY,
        "created_on": reply.json["created_on"],
        "changed_on": reply.json["changed_on"],
    }
    assert TIME_RE.match(reply.json["created_on"])
    assert TIME_RE.match(reply.json["changed_on"])


def test_task_get_answers_the_stored_record_with_every_data_field(call):
    stored = call("PUT", f"/tasks/{TASK_ID}", json_body=TASK_BODY).json

    reply = call("GET", f"/tasks/{TASK_ID}")

    assert reply.status == 200
    assert reply.json == stored
    assert reply.json["data"] == TASK_BODY["data"]


def test_task_put_existing_id_replaces_it_with_200_keeping_created_on(call):
    first = call("PUT", f"/tasks/{TASK_ID}", json_body=TASK_BODY).json

    reply = call("PUT", f"/tasks/{TASK_ID}", json_body={"data": {"keyword": "boots"}})

    assert reply.status == 200, reply.body
    assert reply.json["data"] == {"keyword": "boots"}
    assert reply.json["result"] is None
    assert reply.json["created_on"] == first["created_on"]
    assert call("GET", f"/tasks/{TASK_ID}").json == reply.json


def test_task_delete_answers_204_then_404(call):
    call("PUT", f"/tasks/{TASK_ID}", json_body=TASK_BODY)

    deleted = call("DELETE", f"/tasks/{TASK_ID}")
    again = call("DELETE", f"/tasks/{TASK_ID}")
    read = call("GET", f"/tasks/{TASK_ID}")

    assert (deleted.status, deleted.body) == (204, b"")
    assert again.status == 404
    assert read.status == 404
    assert _fields(read) == ["id"]


@pytest.mark.parametrize(("method", "status"), [("GET", 404), ("DELETE", 404), ("PUT", 422)])
def test_task_malformed_id_is_404_on_reads_and_422_on_writes(call, method, status):
    reply = call(method, "/tasks/not-a-uuid", json_body=TASK_BODY if method == "PUT" else None)

    assert reply.status == status, reply.body
    assert _fields(reply) == ["id"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(
            {"pingback_url": "ftp://callbacks.example.com/p"}, "data.pingback_url", id="ftp-pingback"
        ),
        pytest.param({"pingback_url": "javascript:alert(1)"}, "data.pingback_url", id="javascript-pingback"),
        pytest.param(
            {"pingback_url": "callbacks.example.com/p"}, "data.pingback_url", id="relative-pingback"
        ),
        pytest.param({"postback_url": "file:///etc/passwd"}, "data.postback_url", id="file-postback"),
        pytest.param({"postback_url": "https://"}, "data.postback_url", id="no-host-postback"),
        pytest.param({"postback_url": 42}, "data.postback_url", id="postback-not-text"),
    ],
)
def test_task_callback_url_that_is_not_http_is_422_naming_it(call, data, field):
    reply = call("PUT", f"/tasks/{TASK_ID}", json_body={"data": {"keyword": "x", **data}})

    assert reply.status == 422, reply.body
    assert _fields(reply) == [field]
    assert call("GET", f"/tasks/{TASK_ID}").status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "data", id="missing-data"),
        pytest.param({"data": "keyword=x"}, "data", id="data-not-an-object"),
        pytest.param({"data": {}, "status": "done"}, "status", id="unknown-top-level-field"),
    ],
)
def test_task_invalid_body_is_422_naming_the_field(call, body, field):
    reply = call("PUT", f"/tasks/{TASK_ID}", json_body=body)

    assert reply.status == 422, reply.body
    assert field in _fields(reply)


# =============================================================================================
# Webhooks
# =============================================================================================
def test_webhook_create_answers_201_with_a_generated_secret(call):
    body = {
        "urls": ["https://hooks.example.com/a", "https://hooks.example.com/b"],
        "events": ["content_item.published", "content_item.changed"],
        "models": ["Post"],
        "active": False,
        "description": "the CDN purger",
    }

    reply = call("POST", "/webhooks", json_body=body)

    assert reply.status == 201, reply.body
    created = reply.json
    assert {k: created[k] for k in body} == body
    assert created["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(created["secret"].removeprefix("whsec_"), validate=True)) <= 64
    assert TIME_RE.match(created["created_on"])


def test_webhook_create_defaults_to_active_with_no_model_filter(call):
    created = _create_webhook(call)

    assert (created["active"], created["models"], created["description"]) == (True, None, "")


def test_webhook_create_generates_a_new_secret_each_time(call):
    assert _create_webhook(call)["secret"] != _create_webhook(call)["secret"]


def test_webhook_create_with_a_secret_stores_and_echoes_it(call, stack, tenant):
    secret = _secret(32)

    created = _create_webhook(call, secret=secret)

    assert created["secret"] == secret
    assert _stored_webhook_secret(stack, tenant["tenant_id"], created["id"]) == secret


def test_webhook_get_never_shows_the_secret(call):
    created = _create_webhook(call)

    reply = call("GET", f"/webhooks/{created['id']}")

    assert reply.status == 200
    assert "secret" not in reply.json
    assert created["secret"] not in reply.body.decode()
    assert reply.json == {k: v for k, v in created.items() if k != "secret"}


def test_webhook_list_answers_items_and_total_without_secrets(call):
    first = _create_webhook(call, description="first")
    second = _create_webhook(call, description="second")

    reply = call("GET", "/webhooks")

    assert reply.status == 200
    assert set(reply.json) == {"items", "total"}
    assert reply.json["total"] == 2
    assert sorted(item["id"] for item in reply.json["items"]) == sorted([first["id"], second["id"]])
    assert all("secret" not in item for item in reply.json["items"])
    assert first["secret"] not in reply.body.decode()


def test_webhook_put_without_secret_keeps_the_current_one(call, stack, tenant):
    created = _create_webhook(call)

    reply = call(
        "PUT",
        f"/webhooks/{created['id']}",
        json_body={"urls": ["https://hooks.example.com/moved"], "events": ["content_item.changed"]},
    )

    assert reply.status == 200, reply.body
    assert "secret" not in reply.json
    assert (reply.json["urls"], reply.json["events"]) == (
        ["https://hooks.example.com/moved"],
        ["content_item.changed"],
    )
    assert reply.json["created_on"] == created["created_on"]
    assert _stored_webhook_secret(stack, tenant["tenant_id"], created["id"]) == created["secret"]


def test_webhook_put_with_a_new_secret_sets_and_echoes_it(call, stack, tenant):
    created = _create_webhook(call)
    secret = _secret(48)

    reply = call(
        "PUT",
        f"/webhooks/{created['id']}",
        json_body={
            "urls": ["https://hooks.example.com/in"],
            "events": ["content_item.published"],
            "secret": secret,
        },
    )

    assert reply.status == 200, reply.body
    assert reply.json["secret"] == secret
    assert _stored_webhook_secret(stack, tenant["tenant_id"], created["id"]) == secret


def test_webhook_put_unknown_id_creates_it_with_201_and_a_secret(call):
    reply = call(
        "PUT",
        f"/webhooks/{WEBHOOK_ID}",
        json_body={"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"]},
    )

    assert reply.status == 201, reply.body
    assert reply.json["id"] == WEBHOOK_ID
    assert reply.json["secret"].startswith("whsec_")
    assert call("GET", f"/webhooks/{WEBHOOK_ID}").status == 200


def test_webhook_delete_answers_204_then_404(call):
    created = _create_webhook(call)

    deleted = call("DELETE", f"/webhooks/{created['id']}")
    again = call("DELETE", f"/webhooks/{created['id']}")
    read = call("GET", f"/webhooks/{created['id']}")

    assert (deleted.status, deleted.body) == (204, b"")
    assert again.status == 404
    assert read.status == 404
    assert call("GET", "/webhooks").json == {"items": [], "total": 0}


@pytest.mark.parametrize(("method", "status"), [("GET", 404), ("DELETE", 404), ("PUT", 422)])
def test_webhook_malformed_id_is_404_on_reads_and_422_on_writes(call, method, status):
    body = {"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"]}

    reply = call(method, "/webhooks/not-a-uuid", json_body=body if method == "PUT" else None)

    assert reply.status == status, reply.body
    assert _fields(reply) == ["id"]


WEBHOOK_OK = {"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"urls": []}, "urls", id="no-urls"),
        pytest.param({"urls": [f"https://hooks.example.com/{n}" for n in range(11)]}, "urls", id="11-urls"),
        pytest.param({"urls": ["ftp://hooks.example.com/in"]}, "urls.0", id="ftp-url"),
        pytest.param(
            {"urls": ["https://hooks.example.com/a", "hooks.example.com/b"]}, "urls.1", id="relative-url"
        ),
        pytest.param({"urls": ["https://user:pw@hooks.example.com/in"]}, "urls.0", id="url-with-credentials"),
        pytest.param({"urls": ["https://hooks.example.com/in"] * 2}, "urls", id="duplicate-urls"),
        pytest.param({"events": []}, "events", id="no-events"),
        pytest.param({"events": ["content_item.published", "item.exploded"]}, "events.1", id="unknown-event"),
        pytest.param({"secret": "hunter2"}, "secret", id="secret-without-prefix"),
        pytest.param({"secret": "whsec_!!!not-base64!!!"}, "secret", id="secret-not-base64"),
        pytest.param({"secret": _secret(23)}, "secret", id="secret-too-short"),
        pytest.param({"secret": _secret(65)}, "secret", id="secret-too-long"),
        pytest.param({"colour": "red"}, "colour", id="unknown-field"),
    ],
)
def test_webhook_invalid_body_is_422_naming_the_field(call, changes, field):
    reply = call("POST", "/webhooks", json_body={**WEBHOOK_OK, **changes})

    assert reply.status == 422, reply.body
    assert field in _fields(reply)
    assert call("GET", "/webhooks").json["total"] == 0


def test_webhook_invalid_replacement_is_422_and_leaves_the_webhook_unchanged(call):
    created = _create_webhook(call)

    reply = call("PUT", f"/webhooks/{created['id']}", json_body={**WEBHOOK_OK, "events": ["item.exploded"]})

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["events.0"]
    assert call("GET", f"/webhooks/{created['id']}").json["events"] == WEBHOOK_OK["events"]


@pytest.mark.parametrize("n_bytes", [24, 64])
def test_webhook_secret_of_24_to_64_bytes_is_accepted(call, n_bytes):
    created = _create_webhook(call, secret=_secret(n_bytes))

    assert created["secret"] == _secret(n_bytes)


# ---------------------------------------------------------------------------------------------
# URL policy of a deployed stack (ALLOW_PRIVATE_URLS=false)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def deployed_call(local_env, request):
    """`call` against a stack configured as deployed: private and loopback URLs refused."""
    local_env["ALLOW_PRIVATE_URLS"] = "false"
    # The stack reads `local_env` when it starts, so it must start after the change above.
    api = request.getfixturevalue("api")
    token = api.create_tenant("deployed")["token"]

    def call(method: str, target: str, **kwargs: Any) -> Any:
        return api.request(method, target, token=token, **kwargs)

    return call


PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost/hook",
    "http://0.0.0.0/hook",
]
PUBLIC_UNRESOLVED = "https://hooks.example.com/x"


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_webhook_private_url_is_422_when_deployed(deployed_call, url):
    reply = deployed_call("POST", "/webhooks", json_body={**WEBHOOK_OK, "urls": [PUBLIC_UNRESOLVED, url]})

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["urls.1"]
    assert deployed_call("GET", "/webhooks").json["total"] == 0


def test_webhook_replace_with_a_private_url_is_422_when_deployed(deployed_call):
    created = deployed_call("POST", "/webhooks", json_body=WEBHOOK_OK).json

    reply = deployed_call(
        "PUT", f"/webhooks/{created['id']}", json_body={**WEBHOOK_OK, "urls": ["http://169.254.169.254/"]}
    )

    assert reply.status == 422, reply.body
    assert _fields(reply) == ["urls.0"]
    assert deployed_call("GET", f"/webhooks/{created['id']}").json["urls"] == WEBHOOK_OK["urls"]


def test_webhook_public_name_is_accepted_when_deployed(deployed_call):
    reply = deployed_call("POST", "/webhooks", json_body={**WEBHOOK_OK, "urls": [PUBLIC_UNRESOLVED]})

    assert reply.status == 201, reply.body
    assert reply.json["urls"] == [PUBLIC_UNRESOLVED]


@pytest.mark.parametrize("field", ["pingback_url", "postback_url"])
def test_task_private_callback_url_is_422_when_deployed(deployed_call, field):
    reply = deployed_call(
        "PUT", f"/tasks/{TASK_ID}", json_body={"data": {field: "http://127.0.0.1:9000/cb?id=$id"}}
    )

    assert reply.status == 422, reply.body
    assert _fields(reply) == [f"data.{field}"]


def test_webhook_private_url_is_accepted_when_private_urls_are_allowed(call):
    # The test stack allows them (ALLOW_PRIVATE_URLS=true), as `make run` does for a local receiver.
    created = _create_webhook(call, urls=["http://127.0.0.1:8080/hook"])

    assert created["urls"] == ["http://127.0.0.1:8080/hook"]
