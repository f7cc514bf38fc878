"""Tenancy and authentication through the emulated HTTP API (SPEC §3, §9): operators create
tenants with the admin token, only digests of the credentials are stored, Basic and Bearer
credentials resolve to the tenant, and every failure is a JSON 401; unknown routes and methods
answer JSON 404 and 405."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.conftest import ADMIN_TOKEN

Credentials = dict[str, Any]
# How a request presents (or fails to present) credentials: keyword arguments of `api.request`.
Presenter = Callable[[Credentials], dict[str, Any]]

VALID_TASK = {"data": {"se": "google", "keyword": "shoes"}}
TENANT_FIELDS = {"tenant_id", "login", "password", "token", "callback_secret"}


def _basic_header(raw: str) -> dict[str, Any]:
    return {"headers": {"authorization": "Basic " + base64.b64encode(raw.encode()).decode()}}


def _error_fields(reply: Any) -> tuple[str, ...] | None:
    if not reply.headers.get("content-type", "").startswith("application/json"):
        return None
    return tuple(error["field"] for error in reply.json.get("errors", []))


def _assert_json_errors(reply: Any, status: int) -> list[dict[str, Any]]:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    errors = reply.json["errors"]
    assert errors
    assert all(isinstance(error["message"], str) and error["message"] for error in errors)
    return errors


# ---------------------------------------------------------------------------------------------
# POST /admin/tenants
# ---------------------------------------------------------------------------------------------
def test_admin_create_tenant_answers_its_credentials(api):
    reply = api.request("POST", "/admin/tenants", json_body={"name": "acme"}, token=ADMIN_TOKEN)

    assert reply.status == 201, reply.body
    created = reply.json
    assert set(created) >= TENANT_FIELDS
    assert all(isinstance(created[name], str) and created[name] for name in TENANT_FIELDS)
    assert created["login"] == created["tenant_id"]
    assert created["callback_secret"].startswith("whsec_")


def test_admin_create_tenant_issues_distinct_credentials_each_time(api):
    first = api.create_tenant("acme")
    second = api.create_tenant("acme")

    assert all(first[name] != second[name] for name in TENANT_FIELDS)


def test_admin_create_tenant_credentials_authenticate_at_once(api):
    created = api.create_tenant("acme")

    reply = api.request("GET", "/webhooks", token=created["token"])

    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param({}, id="missing"),
        pytest.param({"token": "not-the-admin-token"}, id="wrong-token"),
        pytest.param({"token": ADMIN_TOKEN + "x"}, id="admin-token-with-suffix"),
        pytest.param({"token": ADMIN_TOKEN[:-1]}, id="admin-token-prefix"),
        pytest.param({"token": ""}, id="empty-bearer"),
        pytest.param({"basic": ("admin", ADMIN_TOKEN)}, id="admin-token-as-basic-password"),
        pytest.param({"headers": {"authorization": f"Token {ADMIN_TOKEN}"}}, id="other-scheme"),
    ],
)
def test_admin_create_tenant_without_the_admin_token_is_401(api, presented):
    reply = api.request("POST", "/admin/tenants", json_body={"name": "acme"}, **presented)

    _assert_json_errors(reply, 401)


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_admin_create_tenant_refuses_a_tenant_credential(api, tenant, scheme):
    presented = (
        {"token": tenant["token"]} if scheme == "bearer" else {"basic": (tenant["login"], tenant["password"])}
    )

    reply = api.request("POST", "/admin/tenants", json_body={"name": "intruder"}, **presented)

    _assert_json_errors(reply, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "name", id="missing-name"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": 5}, "name", id="name-not-text"),
        pytest.param({"name": "x" * 201}, "name", id="name-too-long"),
        pytest.param({"name": "acme", "plan": "gold"}, "plan", id="unknown-field"),
        pytest.param(["acme"], "body", id="not-an-object"),
    ],
)
def test_admin_create_tenant_invalid_body_is_422_naming_the_field(api, body, field):
    reply = api.request("POST", "/admin/tenants", json_body=body, token=ADMIN_TOKEN)

    errors = _assert_json_errors(reply, 422)
    assert field in [error["field"] for error in errors]


def test_admin_create_tenant_invalid_json_is_422_naming_body(api):
    reply = api.request(
        "POST",
        "/admin/tenants",
        body='{"name": ',
        token=ADMIN_TOKEN,
        headers={"content-type": "application/json"},
    )

    errors = _assert_json_errors(reply, 422)
    assert [error["field"] for error in errors] == ["body"]


def test_admin_create_tenant_stores_only_digests_of_the_credentials(api, stack):
    # Given a tenant whose one-time answer carried its password and token
    created = api.create_tenant("acme")
    secrets = [created["password"], created["token"], created["token"].rsplit("_", 1)[-1]]

    # When every record of the table is read raw
    client = boto3.client("dynamodb")
    items = client.scan(TableName=stack.stack.ref("DataTable"))["Items"]

    # Then the tenant is stored, and no attribute holds a credential in clear text
    assert any(created["tenant_id"] in str(item) for item in items)
    values = [str(value) for item in items for value in item.values()]
    assert not [value for value in values for secret in secrets if secret in value]


# ---------------------------------------------------------------------------------------------
# Tenant credentials on tenant routes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(lambda t: {"token": t["token"]}, id="bearer"),
        pytest.param(lambda t: {"basic": (t["login"], t["password"])}, id="basic"),
        pytest.param(
            lambda t: {"headers": {"authorization": f"bearer {t['token']}"}}, id="bearer-lowercase-scheme"
        ),
    ],
)
def test_auth_tenant_credentials_open_a_tenant_route(api, tenant, presented):
    reply = api.request("GET", "/webhooks", **presented(tenant))

    assert reply.status == 200, reply.body
    assert reply.json == {"items": [], "total": 0}


def test_auth_basic_and_bearer_resolve_to_the_same_tenant(api, tenant):
    # Given a webhook created with the bearer token
    created = api.request(
        "POST",
        "/webhooks",
        json_body={"urls": ["https://hooks.example.com/in"], "events": ["content_item.published"]},
        token=tenant["token"],
    )
    assert created.status == 201, created.body

    # When the webhooks are listed with Basic credentials
    listed = api.request("GET", "/webhooks", basic=(tenant["login"], tenant["password"]))

    # Then the same tenant's webhook is there
    assert [item["id"] for item in listed.json["items"]] == [created.json["id"]]


UNKNOWN_TENANT_ID = "tn" + "0" * 24
SOME_ID = "6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b"


def _wrong_token(t: Credentials) -> dict[str, Any]:
    token = t["token"]
    return {"token": token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")}


# The failures every tenant route is checked against (one authorizer serves them all, but each
# route must turn "no tenant" into its 401).
BAD_CREDENTIALS: dict[str, Presenter] = {
    "missing": lambda t: {},
    "wrong-password": lambda t: {"basic": (t["login"], t["password"] + "x")},
    "wrong-token": _wrong_token,
    "unknown-login": lambda t: {"basic": (UNKNOWN_TENANT_ID, t["password"])},
    "malformed-basic": lambda t: {"headers": {"authorization": "Basic %%%not-base64%%%"}},
    "other-scheme": lambda t: {"headers": {"authorization": f"Token {t['token']}"}},
}

# More ways to get it wrong, checked on one route.
MORE_BAD_CREDENTIALS: dict[str, Presenter] = {
    "empty-password": lambda t: {"basic": (t["login"], "")},
    "token-of-unknown-tenant": lambda t: {"token": t["token"].replace(t["tenant_id"], UNKNOWN_TENANT_ID)},
    "password-as-bearer": lambda t: {"token": t["password"]},
    "token-as-basic-password": lambda t: {"basic": (t["login"], t["token"])},
    "basic-without-colon": lambda t: _basic_header(t["login"] + t["password"]),
    "empty-basic": lambda t: {"headers": {"authorization": "Basic "}},
    "token-without-scheme": lambda t: {"headers": {"authorization": t["token"]}},
    "admin-token": lambda t: {"token": ADMIN_TOKEN},
}

TENANT_ROUTES = [
    ("GET", "/webhooks", None),
    ("GET", "/content_items", None),
    ("PUT", "/content_items", [{"id": SOME_ID, "model": "Post"}]),
    ("GET", f"/content_items/{SOME_ID}", None),
    ("PUT", f"/tasks/{SOME_ID}", VALID_TASK),
    ("GET", f"/resends/{SOME_ID}", None),
    ("GET", "/content_items/bulk/webhooks", None),
]


@pytest.mark.parametrize(
    ("method", "target", "body"), TENANT_ROUTES, ids=[f"{m} {t}" for m, t, _ in TENANT_ROUTES]
)
def test_auth_bad_credentials_are_401_on_every_tenant_route(api, tenant, method, target, body):
    # One stack per route, every kind of bad credentials against it.
    replies = {
        name: api.request(method, target, json_body=body, **p(tenant)) for name, p in BAD_CREDENTIALS.items()
    }

    assert {name: r.status for name, r in replies.items()} == dict.fromkeys(BAD_CREDENTIALS, 401)
    assert {name: _error_fields(r) for name, r in replies.items()} == dict.fromkeys(
        BAD_CREDENTIALS, ("authorization",)
    )


def test_auth_malformed_or_misplaced_credentials_are_401(api, tenant):
    replies = {name: api.request("GET", "/webhooks", **p(tenant)) for name, p in MORE_BAD_CREDENTIALS.items()}

    assert {name: r.status for name, r in replies.items()} == dict.fromkeys(MORE_BAD_CREDENTIALS, 401)
    assert {name: _error_fields(r) for name, r in replies.items()} == dict.fromkeys(
        MORE_BAD_CREDENTIALS, ("authorization",)
    )


def test_auth_one_tenants_password_does_not_open_another_tenant(api, tenant, other_tenant):
    reply = api.request("GET", "/webhooks", basic=(other_tenant["login"], tenant["password"]))

    _assert_json_errors(reply, 401)


WRITE_ROUTES = [
    ("PUT", f"/content_items/{SOME_ID}"),
    ("PUT", f"/tasks/{SOME_ID}"),
    ("POST", "/webhooks"),
    ("PUT", f"/webhooks/{SOME_ID}"),
    ("POST", "/admin/tenants"),
]


@pytest.mark.parametrize(("method", "target"), WRITE_ROUTES, ids=[f"{m} {t}" for m, t in WRITE_ROUTES])
def test_auth_missing_credentials_are_401_before_the_body_is_validated(api, method, target):
    # An unauthenticated caller learns nothing about the route's schema: 401, not 422.
    reply = api.request(method, target, json_body={"unexpected": True})

    _assert_json_errors(reply, 401)


# ---------------------------------------------------------------------------------------------
# Unknown routes and methods
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/"),
        ("GET", "/nothing-here"),
        ("POST", "/content_items/bulk/other"),
        ("GET", "/v3/appendix/nothing"),
    ],
)
def test_gateway_unknown_route_is_json_404(api, tenant, method, target):
    anonymous = api.request(method, target)
    authenticated = api.request(method, target, token=tenant["token"])

    _assert_json_errors(anonymous, 404)
    _assert_json_errors(authenticated, 404)


@pytest.mark.parametrize(
    ("method", "target", "allowed"),
    [
        ("DELETE", "/content_items", {"GET", "PUT"}),
        ("POST", "/content_items", {"GET", "PUT"}),
        ("PATCH", f"/content_items/{SOME_ID}", {"GET", "PUT", "DELETE"}),
        ("POST", f"/tasks/{SOME_ID}", {"GET", "PUT", "DELETE"}),
        ("PUT", "/webhooks", {"GET", "POST"}),
        ("PATCH", f"/webhooks/{SOME_ID}", {"GET", "PUT", "DELETE"}),
        ("DELETE", f"/resends/{SOME_ID}", {"GET"}),
        ("DELETE", "/content_items/bulk/webhooks", {"GET", "POST"}),
    ],
)
def test_gateway_wrong_method_is_405_with_allow(api, tenant, method, target, allowed):
    reply = api.request(method, target, token=tenant["token"])

    _assert_json_errors(reply, 405)
    assert {part.strip() for part in reply.headers["allow"].split(",")} == allowed


def test_admin_wrong_method_is_405_with_allow(api):
    reply = api.request("GET", "/admin/tenants", token=ADMIN_TOKEN)

    _assert_json_errors(reply, 405)
    assert reply.headers["allow"] == "POST"
