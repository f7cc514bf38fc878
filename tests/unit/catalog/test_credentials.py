"""`credentials`: issuing tenant credentials, reading Authorization headers, constant-time checks."""

from __future__ import annotations

import base64
import re

import pytest

from webhook_resend.catalog.credentials import (
    TENANT_ID_RE,
    IssuedCredentials,
    Presented,
    bearer_matches,
    digest,
    issue,
    parse_authorization,
    verify,
)

TENANT = "tn0123456789abcdef01234567"


def _basic(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return "Basic " + base64.b64encode(data).decode()


def _digests_of(issued: IssuedCredentials) -> dict[str, str]:
    return {"password": digest(issued.password), "token": digest(issued.token)}


@pytest.fixture
def issued() -> IssuedCredentials:
    return issue()


# -- issue ----------------------------------------------------------------------------------------
def test_issue_tenant_id_matches_pattern(issued):
    assert re.fullmatch(r"tn[0-9a-f]{24}", issued.tenant_id)
    assert TENANT_ID_RE.match(issued.tenant_id)


def test_issue_login_is_tenant_id(issued):
    assert issued.login == issued.tenant_id


def test_issue_token_embeds_tenant_id(issued):
    prefix = f"wr_{issued.tenant_id}_"

    assert issued.token.startswith(prefix)
    assert len(issued.token) > len(prefix)


def test_issue_token_parses_back_to_its_tenant(issued):
    presented = parse_authorization(f"Bearer {issued.token}")

    assert presented == Presented(tenant_id=issued.tenant_id, kind="token", secret=issued.token)


def test_issue_password_is_non_trivial(issued):
    assert len(issued.password) >= 32
    assert ":" not in issued.password


def test_issue_callback_secret_is_whsec_base64_of_32_bytes(issued):
    prefix, _, encoded = issued.callback_secret.partition("_")

    assert prefix == "whsec"
    assert len(base64.b64decode(encoded, validate=True)) == 32


@pytest.mark.parametrize("field", ["tenant_id", "password", "token", "callback_secret"])
def test_issue_values_differ_per_call(field):
    first, second = issue(), issue()

    assert getattr(first, field) != getattr(second, field)


# -- parse_authorization: Basic -------------------------------------------------------------------
def test_parse_authorization_basic_valid():
    presented = parse_authorization(_basic(f"{TENANT}:s3cret"))

    assert presented == Presented(tenant_id=TENANT, kind="password", secret="s3cret")


def test_parse_authorization_basic_password_may_contain_colons():
    presented = parse_authorization(_basic(f"{TENANT}:a:b:c"))

    assert presented == Presented(tenant_id=TENANT, kind="password", secret="a:b:c")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic !!!not-base64!!!", id="wrong-base64"),
        pytest.param("Basic dG4", id="bad-padding"),
        pytest.param(_basic(b"\xff\xfe:\xfd"), id="not-utf8"),
        pytest.param(_basic(TENANT), id="no-colon"),
        pytest.param(_basic("alice:s3cret"), id="login-not-tenant-id"),
        pytest.param(_basic(f"{TENANT.upper()}:s3cret"), id="login-uppercase"),
        pytest.param(_basic(f"{TENANT}0:s3cret"), id="login-too-long"),
        pytest.param("Basic ", id="empty-value"),
    ],
)
def test_parse_authorization_basic_refuses(header):
    assert parse_authorization(header) is None


# -- parse_authorization: Bearer ------------------------------------------------------------------
def test_parse_authorization_bearer_valid():
    token = f"wr_{TENANT}_abcdefXYZ-_"

    presented = parse_authorization(f"Bearer {token}")

    assert presented == Presented(tenant_id=TENANT, kind="token", secret=token)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Bearer xx_{TENANT}_secret", id="wrong-prefix"),
        pytest.param(f"Bearer {TENANT}_secret", id="no-prefix"),
        pytest.param(f"Bearer wr_{TENANT}", id="no-secret-separator"),
        pytest.param("Bearer wr_alice_secret", id="not-a-tenant-id"),
        pytest.param("Bearer wr__secret", id="empty-tenant-id"),
        pytest.param("Bearer ", id="empty-value"),
        pytest.param("Bearer", id="scheme-only"),
    ],
)
def test_parse_authorization_bearer_refuses(header):
    assert parse_authorization(header) is None


# -- parse_authorization: other -------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Digest username={TENANT}", id="digest"),
        pytest.param(f"Token wr_{TENANT}_secret", id="token"),
        pytest.param(f"wr_{TENANT}_secret", id="no-scheme"),
    ],
)
def test_parse_authorization_other_schemes_refused(header):
    assert parse_authorization(header) is None


@pytest.mark.parametrize("header", [None, "", "   "])
def test_parse_authorization_missing_header_is_none(header):
    assert parse_authorization(header) is None


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_parse_authorization_basic_scheme_case_insensitive(scheme):
    encoded = base64.b64encode(f"{TENANT}:pw".encode()).decode()

    presented = parse_authorization(f"{scheme} {encoded}")

    assert presented == Presented(tenant_id=TENANT, kind="password", secret="pw")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_parse_authorization_bearer_scheme_case_insensitive(scheme):
    token = f"wr_{TENANT}_secret"

    presented = parse_authorization(f"{scheme} {token}")

    assert presented == Presented(tenant_id=TENANT, kind="token", secret=token)


# -- verify ---------------------------------------------------------------------------------------
def test_verify_right_password(issued):
    presented = parse_authorization(_basic(f"{issued.login}:{issued.password}"))

    assert verify(presented, _digests_of(issued)) is True


def test_verify_right_token(issued):
    presented = parse_authorization(f"Bearer {issued.token}")

    assert verify(presented, _digests_of(issued)) is True


def test_verify_token_presented_as_password_is_refused(issued):
    presented = Presented(tenant_id=issued.tenant_id, kind="password", secret=issued.token)

    assert verify(presented, _digests_of(issued)) is False


def test_verify_password_presented_as_token_is_refused(issued):
    presented = Presented(tenant_id=issued.tenant_id, kind="token", secret=issued.password)

    assert verify(presented, _digests_of(issued)) is False


@pytest.mark.parametrize("kind", ["password", "token"])
def test_verify_wrong_secret_is_refused(issued, kind):
    presented = Presented(tenant_id=issued.tenant_id, kind=kind, secret="wrong")

    assert verify(presented, _digests_of(issued)) is False


def test_verify_another_tenants_secret_is_refused(issued):
    other = issue()
    presented = Presented(tenant_id=issued.tenant_id, kind="password", secret=other.password)

    assert verify(presented, _digests_of(issued)) is False


@pytest.mark.parametrize("kind", ["password", "token"])
def test_verify_unknown_tenant_is_refused(issued, kind):
    secret = issued.password if kind == "password" else issued.token
    presented = Presented(tenant_id=issued.tenant_id, kind=kind, secret=secret)

    assert verify(presented, None) is False


def test_verify_unknown_tenant_refused_even_for_dummy_secret():
    # The unknown-tenant path compares against a fixed dummy digest; its preimage must not pass.
    presented = Presented(tenant_id=TENANT, kind="password", secret="no such tenant")

    assert verify(presented, None) is False


# -- bearer_matches -------------------------------------------------------------------------------
ADMIN_TOKEN = "admin-token-0123456789"


def test_bearer_matches_right_token():
    assert bearer_matches(f"Bearer {ADMIN_TOKEN}", ADMIN_TOKEN) is True


def test_bearer_matches_scheme_case_insensitive():
    assert bearer_matches(f"bearer {ADMIN_TOKEN}", ADMIN_TOKEN) is True


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Bearer {ADMIN_TOKEN}x", id="longer"),
        pytest.param(f"Bearer {ADMIN_TOKEN[:-1]}", id="shorter"),
        pytest.param("Bearer wrong", id="different"),
        pytest.param("Bearer ", id="empty"),
        pytest.param(ADMIN_TOKEN, id="no-scheme"),
    ],
)
def test_bearer_matches_wrong_token(header):
    assert bearer_matches(header, ADMIN_TOKEN) is False


@pytest.mark.parametrize("header", [None, ""])
def test_bearer_matches_missing_header(header):
    assert bearer_matches(header, ADMIN_TOKEN) is False


def test_bearer_matches_basic_header_with_the_token_is_refused():
    header = "Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()

    assert bearer_matches(header, ADMIN_TOKEN) is False


def test_bearer_matches_basic_scheme_with_raw_token_is_refused():
    assert bearer_matches(f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN) is False


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Bearer", "Bearer anything"])
def test_bearer_matches_empty_expected_token_always_false(header):
    assert bearer_matches(header, "") is False
