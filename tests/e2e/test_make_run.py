"""`make run` over real HTTP: what it prints, and the management API a new tenant can use."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

TOKEN = r"wr_[A-Za-z0-9]+_[A-Za-z0-9_-]+"
CURL = re.compile(rf'curl -s -H "Authorization: Bearer (?P<token>{TOKEN})" (?P<url>http://\S+)/webhooks')
ONE_MB = 1024 * 1024


def banner_value(banner: str, label: str) -> str | None:
    """The value printed after `label` (`Admin token   x` or `admin token:  x`), if any."""
    found = re.search(rf"^\s*{label}:?\s+(\S+)", banner, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else None


def item_body(**changes: Any) -> dict[str, Any]:
    return {
        "model": "Post",
        "tags": ["news"],
        "workflow_stage": "Done",
        "locales": ["en-GB"],
        "created_on": "2024-01-01T00:00:00Z",
        "payload": {"title": "Hello"},
        **changes,
    }


# ---------------------------------------------------------------------------------------------
# What make run prints
# ---------------------------------------------------------------------------------------------
def test_make_run_prints_the_api_url(stack) -> None:
    assert re.search(rf"(API|stack on)\s+{re.escape(stack.url)}\s*$", stack.stdout, re.MULTILINE), (
        stack.stdout
    )


def test_make_run_prints_the_admin_token(stack) -> None:
    assert banner_value(stack.stdout, "admin token") == stack.admin_token, stack.stdout


def test_make_run_prints_a_demo_tenant_token(stack) -> None:
    assert re.fullmatch(TOKEN, banner_value(stack.stdout, "token") or ""), stack.stdout


def test_make_run_prints_a_curl_line_with_the_demo_token(stack) -> None:
    line = CURL.search(stack.stdout)

    assert line, stack.stdout
    assert line["token"] == banner_value(stack.stdout, "token")
    assert line["url"] == stack.url


def test_make_run_demo_token_lists_webhooks(stack, http: httpx.Client) -> None:
    # Given the curl line make run printed
    line = CURL.search(stack.stdout)
    assert line, stack.stdout

    # When it is run
    answer = http.get(f"{line['url']}/webhooks", headers={"Authorization": f"Bearer {line['token']}"})

    # Then the demo tenant sees its (empty) list of webhooks
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert isinstance(answer.json(), dict | list)


def test_make_run_admin_token_creates_tenants(stack, http: httpx.Client) -> None:
    answer = http.post(
        "/admin/tenants", json={"name": "e2e"}, headers={"Authorization": f"Bearer {stack.admin_token}"}
    )

    assert answer.status_code == 201, answer.text
    assert {"tenant_id", "login", "password", "token", "callback_secret"} <= answer.json().keys()


# ---------------------------------------------------------------------------------------------
# A tenant created through the API manages its items and webhooks
# ---------------------------------------------------------------------------------------------
def test_content_item_put_creates_then_replaces(tenant) -> None:
    item_id = str(uuid.uuid4())

    created = tenant.client.put(f"/content_items/{item_id}", json=item_body())
    replaced = tenant.client.put(f"/content_items/{item_id}", json=item_body(payload={"title": "Again"}))

    assert created.status_code == 201, created.text
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == item_id
    assert replaced.json()["payload"] == {"title": "Again"}


def test_content_item_get_returns_the_stored_item(tenant) -> None:
    item_id = str(uuid.uuid4())
    stored = tenant.client.put(f"/content_items/{item_id}", json=item_body())
    assert stored.status_code == 201, stored.text

    answer = tenant.client.get(f"/content_items/{item_id}")

    assert answer.status_code == 200, answer.text
    assert answer.json() == stored.json()
    assert answer.json()["model"] == "Post"
    assert answer.json()["payload"] == {"title": "Hello"}


def test_content_item_delete_removes_the_item(tenant) -> None:
    item_id = str(uuid.uuid4())
    assert tenant.client.put(f"/content_items/{item_id}", json=item_body()).status_code == 201

    deleted = tenant.client.delete(f"/content_items/{item_id}")
    after = tenant.client.get(f"/content_items/{item_id}")

    assert deleted.status_code == 204, deleted.text
    assert after.status_code == 404, after.text
    assert after.json()["errors"]


def test_content_item_of_another_tenant_is_not_found(create_tenant) -> None:
    owner, other = create_tenant("owner"), create_tenant("other")
    item_id = str(uuid.uuid4())
    assert owner.client.put(f"/content_items/{item_id}", json=item_body()).status_code == 201

    answer = other.client.get(f"/content_items/{item_id}")

    assert answer.status_code == 404, answer.text


def test_webhook_post_returns_the_secret_and_get_hides_it(tenant) -> None:
    created = tenant.client.post(
        "/webhooks", json={"urls": ["http://127.0.0.1:9/hook"], "events": ["content_item.changed"]}
    )
    assert created.status_code == 201, created.text
    webhook = created.json()

    fetched = tenant.client.get(f"/webhooks/{webhook['id']}")

    assert webhook["secret"].startswith("whsec_")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["urls"] == ["http://127.0.0.1:9/hook"]
    assert "secret" not in fetched.json()


def test_webhook_list_shows_the_created_webhook(tenant) -> None:
    created = tenant.client.post(
        "/webhooks", json={"urls": ["http://127.0.0.1:9/hook"], "events": ["content_item.changed"]}
    )
    assert created.status_code == 201, created.text

    listed = tenant.client.get("/webhooks")

    assert listed.status_code == 200, listed.text
    assert created.json()["id"] in json.dumps(listed.json())
    assert "whsec_" not in listed.text


def test_content_items_list_filters_with_qs_brackets(tenant) -> None:
    # Given a news Post, a sport Post, a news Page and an unrelated Post
    wanted = {str(uuid.uuid4()): item_body(tags=["news"]), str(uuid.uuid4()): item_body(tags=["sport"])}
    unwanted = {
        str(uuid.uuid4()): item_body(model="Page", tags=["news"]),
        str(uuid.uuid4()): item_body(tags=["weather"]),
    }
    for item_id, body in {**wanted, **unwanted}.items():
        assert tenant.client.put(f"/content_items/{item_id}", json=body).status_code == 201

    # When they are listed with the bracket encoding Prepr's SDKs produce
    answer = tenant.client.get(
        "/content_items?limit=25&model[eq]=Post&tags[0][in][0]=news&tags[0][in][1]=sport"
    )

    # Then only the Posts tagged news or sport come back
    assert answer.status_code == 200, answer.text
    assert {item["id"] for item in answer.json()["items"]} == set(wanted)
    assert answer.json()["total"] == 2


# ---------------------------------------------------------------------------------------------
# Errors over real HTTP
# ---------------------------------------------------------------------------------------------
def test_request_without_credentials_is_401(http: httpx.Client) -> None:
    answer = http.get("/webhooks")

    assert answer.status_code == 401, answer.text
    assert answer.json()["errors"]


def test_request_with_a_wrong_token_is_401(tenant, http: httpx.Client) -> None:
    answer = http.get("/webhooks", headers={"Authorization": f"Bearer {tenant.token}x"})

    assert answer.status_code == 401, answer.text
    assert answer.json()["errors"]


def test_unknown_route_is_404_json(tenant) -> None:
    answer = tenant.client.get("/no/such/route")

    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["errors"][0]["message"]


def test_wrong_method_is_405_with_allow(tenant) -> None:
    answer = tenant.client.patch("/webhooks", json={})

    assert answer.status_code == 405, answer.text
    allowed = {method.strip() for method in answer.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PATCH" not in allowed
    assert answer.json()["errors"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("PUT", "/content_items/0b5f8c1e-4f0a-4c43-9d2a-6f1f6f4c2a10", id="put-content-item"),
        pytest.param("POST", "/webhooks", id="post-webhooks"),
        pytest.param("GET", "/content_items/bulk/webhooks", id="bulk-webhooks"),
    ],
)
def test_body_over_1_mb_is_413(tenant, method: str, path: str) -> None:
    # A JSON body just over 1 MB, well-formed apart from its size.
    body = json.dumps({"model": "Post", "payload": {"blob": "x" * (ONE_MB + 1024)}}).encode()

    answer = tenant.client.request(method, path, content=body, headers={"content-type": "application/json"})

    assert answer.status_code == 413, answer.text[:500]
    assert answer.json()["errors"]
