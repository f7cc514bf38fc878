"""What a resent DataForSEO task delivers: the callback URL placeholders and the gzip postback."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from tests.dataforseo_seed import ENVELOPE_FIELDS, PING_ID, POST_DATA, POST_ID, TASK_FIELDS, TENANT, TIME
from webhook_resend.delivery import callbacks
from webhook_resend.models.messages import CALLBACK, PairMessage


# -- callback URLs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "tag", "expected"),
    [
        ("https://h.example/p?id=$id&tag=$tag", "t1", f"https://h.example/p?id={PING_ID}&tag=t1"),
        ("https://h.example/p?id=$id&tag=$tag", "a b", f"https://h.example/p?id={PING_ID}&tag=a%20b"),
        ("https://h.example/p?id=$id&tag=$tag", "x&y=z", f"https://h.example/p?id={PING_ID}&tag=x%26y%3Dz"),
        (
            "https://h.example/p?id=$id&tag=$tag",
            "naïve ✓",
            f"https://h.example/p?id={PING_ID}&tag=na%C3%AFve%20%E2%9C%93",
        ),
        (
            "https://h.example/p?id=$id&tag=$tag",
            "50%/#?+",
            f"https://h.example/p?id={PING_ID}&tag=50%25%2F%23%3F%2B",
        ),
        ("https://h.example/p?id=$id&tag=$tag", None, f"https://h.example/p?id={PING_ID}&tag="),
        ("https://h.example/p?id=$id&tag=$tag", "", f"https://h.example/p?id={PING_ID}&tag="),
        ("https://h.example/cb/$id/$tag", "a/b", f"https://h.example/cb/{PING_ID}/a%2Fb"),
        ("https://h.example/p?a=$id&b=$id", "t", f"https://h.example/p?a={PING_ID}&b={PING_ID}"),
        ("https://h.example/p?fixed=1", "t", "https://h.example/p?fixed=1"),
        ("https://h.example/p?tag=$tag", "$id", "https://h.example/p?tag=%24id"),
    ],
    ids=[
        "plain",
        "space",
        "ampersand",
        "unicode",
        "reserved",
        "missing-tag",
        "empty-tag",
        "in-the-path",
        "twice",
        "no-placeholder",
        "tag-looks-like-a-placeholder",
    ],
)
def test_callback_url_replaces_id_and_tag_url_encoded(template: str, tag: str | None, expected: str) -> None:
    assert callbacks.callback_url(template, PING_ID, tag) == expected


# -- the postback body ------------------------------------------------------------------------------
def _message(task_id: str = POST_ID) -> PairMessage:
    return PairMessage(
        tenant_id=TENANT,
        job_id="7a0c8c7e-4a51-4c1e-9a0b-6f1d2e3c4b5a",
        kind="task",
        subject_id=task_id,
        webhook_id=CALLBACK,
        created_on="2024-01-02T03:04:05.006Z",
    )


def test_postback_body_is_the_gzipped_envelope_of_the_task_result() -> None:
    result = [{"keyword": "marcus rashford", "items": [{"rank": 1, "title": "ë€"}]}]

    body = callbacks.postback_body(_message(), POST_DATA, result)

    assert body[:2] == b"\x1f\x8b"  # gzip magic
    document = json.loads(gzip.decompress(body))
    assert set(document) == ENVELOPE_FIELDS
    assert (document["status_code"], document["status_message"]) == (20000, "Ok.")
    assert (document["tasks_count"], document["tasks_error"], document["cost"]) == (1, 0, 0)
    assert TIME.match(document["time"])
    [task] = document["tasks"]
    assert set(task) == TASK_FIELDS
    assert task["id"] == POST_ID
    assert (task["status_code"], task["status_message"]) == (20000, "Ok.")
    assert task["data"] == POST_DATA
    assert task["data"]["postback_data"] == "advanced"
    assert task["result"] == result
    assert task["result_count"] == 1


def test_postback_body_path_is_the_task_get_path_with_the_postback_data() -> None:
    document = json.loads(gzip.decompress(callbacks.postback_body(_message(), POST_DATA, [])))

    assert document["tasks"][0]["path"] == ["v3", "serp", "google", "organic", "task_get", "advanced"]


@pytest.mark.parametrize(
    ("result", "count"),
    [(None, 0), ([], 0), ([{"a": 1}, {"b": 2}], 2), ({"a": 1}, 1), ("text", 1)],
    ids=["none", "empty-list", "list", "object", "scalar"],
)
def test_postback_body_counts_the_result(result: Any, count: int) -> None:
    data = {**POST_DATA}
    del data["postback_data"]

    document = json.loads(gzip.decompress(callbacks.postback_body(_message(), data, result)))

    [task] = document["tasks"]
    assert task["result"] == result
    assert task["result_count"] == count
    assert "postback_data" not in task["data"]
