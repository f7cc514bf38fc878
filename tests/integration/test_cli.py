"""The `webhook-resend` CLI over real HTTP: devstack's gateway on a free port in front of the
handlers in-process on moto, `main([...])` run in-process, its output captured."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.gateway import Gateway
from tests.conftest import ADMIN_TOKEN, Api, LocalAws, Receiver, closed_port_url
from webhook_resend_cli.client import ApiClient
from webhook_resend_cli.main import Config, main

EVENT = "content_item.changed"
UNKNOWN_ID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def pump(deliveries: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> Callable[[], None]:
    """`deliveries()`, without the metric lines the in-process functions print to stdout."""

    def run() -> None:
        deliveries()
        capsys.readouterr()

    return run


@pytest.fixture
def url(stack: LocalAws) -> Iterator[str]:
    """The stack's HTTP API on 127.0.0.1, over real HTTP."""
    gateway = Gateway.from_stack(stack.stack, stack.invoke, port=0).start()
    try:
        yield f"http://127.0.0.1:{gateway.port}"
    finally:
        gateway.stop()


def _cli(
    url: str,
    *argv: str,
    token: str | None = None,
    admin_token: str | None = None,
    client_factory: Callable[[Config], Any] | None = None,
) -> int:
    # An explicit environment, so the tester's own WEBHOOK_RESEND_* variables play no part.
    environ = {}
    if token is not None:
        environ["WEBHOOK_RESEND_TOKEN"] = token
    if admin_token is not None:
        environ["WEBHOOK_RESEND_ADMIN_TOKEN"] = admin_token
    return main(["--url", url, *argv], environ=environ, client_factory=client_factory)


def _put_items(api: Api, token: str, count: int) -> list[str]:
    ids = []
    for n in range(1, count + 1):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
        assert reply.status == 201, reply.body
        ids.append(item_id)
    return ids


def _webhook(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _get(url: str, authorization: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _fields(out: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def _resend(url: str, token: str, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert _cli(url, "resend", "--event", EVENT, *argv, "--json", token=token) == 0
    return json.loads(capsys.readouterr().out)


# -- tenant create ------------------------------------------------------------------------------------
def test_cli_tenant_create_json_prints_credentials_that_work(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(url, "tenant", "create", "acme", "--json", admin_token=ADMIN_TOKEN)

    out, err = capsys.readouterr()
    credentials = json.loads(out)
    assert code == 0
    assert {"tenant_id", "login", "password", "token", "callback_secret"} <= set(credentials)
    assert "shown once" in err
    basic = base64.b64encode(f"{credentials['login']}:{credentials['password']}".encode()).decode()
    assert _get(f"{url}/webhooks", f"Bearer {credentials['token']}") == 200
    assert _get(f"{url}/webhooks", f"Basic {basic}") == 200


def test_cli_tenant_create_prints_aligned_lines_whose_token_works(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(url, "tenant", "create", "globex", admin_token=ADMIN_TOKEN)

    fields = _fields(capsys.readouterr().out)
    assert code == 0
    assert list(fields) == ["tenant_id", "name", "login", "password", "token", "callback_secret"]
    assert fields["name"] == "globex"
    assert _get(f"{url}/webhooks", f"Bearer {fields['token']}") == 200


def test_cli_tenant_create_with_a_wrong_admin_token_exits_1(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(url, "tenant", "create", "acme", admin_token="not-the-admin-token")

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == "error: authorization: missing or invalid admin token\n"
    assert "not-the-admin-token" not in err


# -- resend -------------------------------------------------------------------------------------------
def test_cli_resend_dry_run_prints_the_counts(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _put_items(api, token, 3)
    hook = _webhook(api, token, [f"{receiver.url}/a", f"{receiver.url}/b"])

    code = _cli(
        url, "resend", "--event", EVENT, "--filter", '{"model": {"eq": "Post"}}', "--dry-run", token=token
    )

    fields = _fields(capsys.readouterr().out.split("\n", 1)[1])
    assert code == 0
    assert fields["total_items"] == "3"
    assert fields["total_queued"] == "3"
    assert fields["webhook"] == f"{hook['id']}  {receiver.url}/a {receiver.url}/b"
    assert deliveries() == 0
    assert receiver.requests == []


def test_cli_resend_then_status_watch_ends_at_100_percent_with_exit_0(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    pump: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _put_items(api, token, 2)
    _webhook(api, token, [f"{receiver.url}/hook"])
    job = _resend(url, token, capsys, "--item-id", *ids)
    assert (job["status"], job["total_queued"], job["pending"]) == ("running", 2, 2)
    pump()

    code = _cli(url, "status", job["id"], "--watch", "--interval", "0.05", token=token)

    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[-1] == "[####################] 100%  delivered 2  failed 0  pending 0 / 2"
    assert err == ""
    assert len(receiver.to("/hook")) == 2


def test_cli_deliveries_lists_one_line_per_delivery(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    pump: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _put_items(api, token, 2)
    _webhook(api, token, [f"{receiver.url}/hook"])
    job = _resend(url, token, capsys, "--item-id", *ids)
    pump()

    code = _cli(url, "deliveries", job["id"], token=token)

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines == [f"delivered   1  200  {receiver.url}/hook"] * 2


def test_cli_failed_pairs_make_status_watch_exit_2_and_deliveries_list_them(
    url: str, api: Api, token: str, pump: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a webhook nobody listens at: every attempt is refused, the retries run out.
    ids = _put_items(api, token, 1)
    dead = closed_port_url("/dead")
    _webhook(api, token, [dead])
    job = _resend(url, token, capsys, "--item-id", *ids)
    pump()

    code = _cli(url, "status", job["id"], "--watch", "--interval", "0.05", token=token)
    watched = capsys.readouterr().out
    listed_code = _cli(url, "deliveries", job["id"], "--status", "failed", token=token)
    listed = capsys.readouterr().out.splitlines()

    assert code == 2
    assert watched.splitlines()[-1] == "[####################] 100%  delivered 0  failed 1  pending 0 / 1"
    assert listed_code == 0
    [line] = listed
    assert line.startswith("failed      4    -  ")
    assert dead in line


def test_cli_resend_watch_follows_the_job_to_completion(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _put_items(api, token, 3)
    _webhook(api, token, [f"{receiver.url}/hook"])

    class Pumping(ApiClient):
        # The delivery function runs between the polls, the way Lambda runs it between them.
        def get_resend(self, job_id: str) -> dict[str, Any]:
            deliveries()
            return super().get_resend(job_id)

    def factory(config: Config) -> ApiClient:
        return Pumping(config.url, config.token)

    code = _cli(
        url, "resend", "--event", EVENT, "--item-id", *ids, "--watch", "--interval", "0.05",
        token=token, client_factory=factory,
    )  # fmt: skip

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "status        running" in lines
    assert lines[-1] == "[####################] 100%  delivered 3  failed 0  pending 0 / 3"


def test_cli_resend_with_the_same_idempotency_key_answers_the_same_job(
    url: str, api: Api, token: str, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _put_items(api, token, 1)
    _webhook(api, token, [f"{receiver.url}/hook"])

    first = _resend(url, token, capsys, "--item-id", *ids, "--idempotency-key", "nightly-1")
    again = _resend(url, token, capsys, "--item-id", *ids, "--idempotency-key", "nightly-1")
    other = _resend(url, token, capsys, "--item-id", *ids, "--idempotency-key", "nightly-2")

    assert again["id"] == first["id"]
    assert other["id"] != first["id"]


# -- errors -------------------------------------------------------------------------------------------
def test_cli_status_of_an_unknown_id_exits_1_with_the_error_on_stderr(
    url: str, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(url, "status", UNKNOWN_ID, token=token)

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == "error: id: no resend with this id\n"


def test_cli_resend_of_a_missing_item_prints_the_field_error(
    url: str, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(url, "resend", "--event", EVENT, "--item-id", UNKNOWN_ID, token=token)

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == f"error: item_ids: no content item with id {UNKNOWN_ID}\n"
    assert token not in err


def test_cli_with_a_wrong_token_exits_1(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(url, "status", UNKNOWN_ID, token="wr_nobody_wrong")

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ")
    assert "wr_nobody_wrong" not in err


def test_cli_connection_refused_exits_1_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = closed_port_url("")

    code = _cli(nowhere, "status", UNKNOWN_ID, token="wr_x_y")

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == (
        f"error: cannot connect to {nowhere}: connection refused "
        "(is the service running? set --url or WEBHOOK_RESEND_URL)\n"
    )


def test_cli_resend_by_filter_watch_follows_the_selection_to_completion(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _put_items(api, token, 3)
    _webhook(api, token, [f"{receiver.url}/hook"])
    polls = []

    class Pumping(ApiClient):
        # The fan-out and delivery functions run between the polls, after the first one.
        def get_resend(self, job_id: str) -> dict[str, Any]:
            if polls:
                deliveries()
            polls.append(job_id)
            return super().get_resend(job_id)

    posts = '{"model": {"eq": "Post"}}'
    code = _cli(
        url, "resend", "--event", EVENT, "--filter", posts, "--watch", "--interval", "0.05",
        token=token, client_factory=lambda config: Pumping(config.url, config.token),
    )  # fmt: skip

    # The in-process functions print their logs and metrics (JSON lines) to the same stdout.
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert code == 0
    assert "status        selecting" in lines
    assert "selecting: 0 items, 0 pairs so far  delivered 0  failed 0  pending 0" in lines
    assert lines[-1] == "[####################] 100%  delivered 3  failed 0  pending 0 / 3"


def test_cli_list_shows_the_tenants_jobs_newest_first(
    url: str, api: Api, token: str, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _put_items(api, token, 1)
    _webhook(api, token, [f"{receiver.url}/hook"])
    first = _resend(url, token, capsys, "--item-id", *ids)
    second = _resend(url, token, capsys, "--filter", "{}")

    assert _cli(url, "list", token=token) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [[second["id"], "selecting"], [first["id"], "running"]]

    assert _cli(url, "list", "--status", "running", "--json", token=token) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [first["id"]]


# -- pause, resume, cancel, resends (issue 15) ------------------------------------------------------------
def test_cli_pause_resume_and_cancel_move_the_job_over_real_http(
    url: str,
    api: Api,
    token: str,
    receiver: Receiver,
    pump: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _put_items(api, token, 2)
    _webhook(api, token, [f"{receiver.url}/hook"])
    job = _resend(url, token, capsys, "--item-id", *ids)

    assert _cli(url, "pause", job["id"], token=token) == 0
    assert _fields(capsys.readouterr().out)["status"] == "paused"
    pump()
    assert receiver.to("/hook") == []
    assert _cli(url, "resends", "--status", "paused", token=token) == 0
    assert capsys.readouterr().out.split()[:2] == [job["id"], "paused"]

    assert _cli(url, "cancel", job["id"], "--json", token=token) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    pump()

    # a cancelled job cannot be resumed: the API's 409 on stderr, exit 1
    assert _cli(url, "resume", job["id"], token=token) == 1
    assert "the resend is cancelled" in capsys.readouterr().err
    assert _cli(url, "status", job["id"], "--json", token=token) == 0
    final = json.loads(capsys.readouterr().out)
    assert (final["status"], final["cancelled"], final["pending"]) == ("cancelled", 2, 0)
    assert receiver.to("/hook") == []
