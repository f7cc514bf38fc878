"""The `webhook-resend` CLI without sockets: arguments → request bodies, progress bars, error
lines and exit codes, with a fake client in place of the API."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_resend_cli import main as cli
from webhook_resend_cli import render
from webhook_resend_cli.client import ApiClient, ApiError, InvalidUrlError, MissingTokenError
from webhook_resend_cli.render import format_delivery, format_errors, format_job, render_progress

JOB_ID = "6f1c2b1e-1111-4222-8333-444455556666"
EVENT = "content_item.changed"
TOKEN = "wr_tenant_s3cret-token-value"
ENV = {"WEBHOOK_RESEND_TOKEN": TOKEN, "WEBHOOK_RESEND_ADMIN_TOKEN": "admin-s3cret"}


def _job(
    delivered: int = 0, failed: int = 0, pending: int = 0, status: str | None = None, items: int | None = None
) -> dict[str, Any]:
    total = delivered + failed + pending
    if status is None:
        status = "completed" if pending == 0 else "running"
    return {
        "id": JOB_ID,
        "source": "api",
        "event": EVENT,
        "status": status,
        "created_on": "2024-01-01T00:00:00Z",
        "completed_on": None,
        "total_items": total if items is None else items,
        "total_queued": total,
        "delivered": delivered,
        "failed": failed,
        "pending": pending,
        "reason": None,
    }


class FakeClient:
    """Answers from a script; records every call. `jobs` are answered by get_resend in turn
    (the last one repeats); `error` is raised by every call."""

    def __init__(
        self,
        *,
        jobs: list[dict[str, Any]] | None = None,
        resend_answer: dict[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        listed: list[dict[str, Any]] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.jobs = list(jobs or [_job(delivered=1)])
        self.listed = listed or []
        self.resend_answer = resend_answer or _job(pending=1)
        self.records = records or []
        self.error = error
        self.calls: list[tuple[str, Any]] = []

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def create_tenant(self, name: str) -> dict[str, Any]:
        self.calls.append(("create_tenant", name))
        self._check()
        return {
            "tenant_id": "tn123",
            "name": name,
            "login": "tn123",
            "password": "pw-once",
            "token": "wr_tn123_once",
            "callback_secret": "whsec_once",
        }

    def create_resend(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        self.calls.append(("create_resend", (body, idempotency_key)))
        self._check()
        return self.resend_answer

    def get_resend(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("get_resend", job_id))
        self._check()
        return self.jobs.pop(0) if len(self.jobs) > 1 else self.jobs[0]

    def control_resend(self, job_id: str, move: str) -> dict[str, Any]:
        self.calls.append(("control_resend", (job_id, move)))
        self._check()
        return self.jobs[0]

    def iter_deliveries(
        self, job_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        self.calls.append(("iter_deliveries", (job_id, status, limit)))
        self._check()
        yield from self.records

    def iter_resends(
        self, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        self.calls.append(("iter_resends", (status, limit)))
        self._check()
        yield from self.listed

    # -- settings (issue 15)
    settings: dict[str, Any] = {"notify_url": None}

    def get_settings(self) -> dict[str, Any]:
        self.calls.append(("get_settings", None))
        self._check()
        return dict(self.settings)

    def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("put_settings", settings))
        self._check()
        self.settings = dict(settings)
        return dict(settings)


def _run(argv: list[str], client: FakeClient, env: dict[str, str] | None = None) -> int:
    return cli.main(argv, environ=ENV if env is None else env, client_factory=lambda config: client)


def _body(*argv: str) -> dict[str, Any]:
    args = cli.build_parser().parse_args(["resend", *argv])
    return cli.resend_body(args)


# -- arguments → request body -------------------------------------------------------------------------
def test_resend_body_maps_event_and_filter() -> None:
    body = _body("--event", EVENT, "--filter", '{"model": {"eq": "Post"}, "tags": [{"in": ["a"]}]}')

    assert body == {"event": EVENT, "filter": {"model": {"eq": "Post"}, "tags": [{"in": ["a"]}]}}


def test_resend_body_collects_repeated_and_multiple_ids() -> None:
    body = _body(
        "--event",
        EVENT,
        "--item-id",
        "i1",
        "i2",
        "--item-id",
        "i3",
        "--webhook-id",
        "w1",
        "--webhook-id",
        "w2",
    )

    assert body == {"event": EVENT, "item_ids": ["i1", "i2", "i3"], "webhook_ids": ["w1", "w2"]}


def test_resend_body_maps_task_ids_without_an_event() -> None:
    assert _body("--task-id", "t1", "t2") == {"task_ids": ["t1", "t2"]}


def test_resend_body_maps_failed_since_to_delivery_status_and_since() -> None:
    body = _body("--failed-since", "2024-01-01T00:00:00Z", "--webhook-id", "w1")

    assert body == {"webhook_ids": ["w1"], "delivery_status": "failed", "since": "2024-01-01T00:00:00Z"}


def test_resend_body_sends_dry_run_only_when_asked() -> None:
    assert _body("--event", EVENT, "--item-id", "i1", "--dry-run")["dry_run"] is True
    assert "dry_run" not in _body("--event", EVENT, "--item-id", "i1")


def test_resend_body_reads_a_filter_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "filter.json"
    path.write_text('{"model": [{"eq": "Post"}]}')

    assert _body("--event", EVENT, "--filter", f"@{path}")["filter"] == {"model": [{"eq": "Post"}]}


def test_main_sends_the_body_and_idempotency_key_it_built() -> None:
    client = FakeClient()

    code = _run(["resend", "--event", EVENT, "--item-id", "i1", "--idempotency-key", "k-1"], client)

    assert code == 0
    assert client.calls == [("create_resend", ({"event": EVENT, "item_ids": ["i1"]}, "k-1"))]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resend", "--filter", "{not json"], "argument --filter: is not valid JSON"),
        (["resend", "--filter", "[1, 2]"], "argument --filter: must be a JSON object"),
        (["resend", "--filter", "{}", "--item-id", "i1"], "not allowed with argument --filter"),
        (["resend", "--item-id", "i1", "--failed-since", "2024-01-01"], "not allowed with argument"),
        (["resend", "--item-id", "i1", "--dry-run", "--watch"], "not allowed with argument"),
        (["status", JOB_ID, "--watch", "--interval", "0"], "argument --interval: must be"),
        (["deliveries", JOB_ID, "--status", "lost"], "argument --status: invalid choice"),
        (["deliveries", JOB_ID, "--limit", "0"], "argument --limit: must be at least 1"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_main_refuses_bad_arguments_with_exit_code_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = FakeClient()

    code = _run(argv, client)

    assert code == 1
    assert message in capsys.readouterr().err
    assert client.calls == []


def test_main_help_lists_the_commands_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["--help"], FakeClient())

    shown = capsys.readouterr().out
    assert code == 0
    for command in ("tenant", "resend", "status", "deliveries", "WEBHOOK_RESEND_TOKEN"):
        assert command in shown


# -- configuration ------------------------------------------------------------------------------------
def _config(argv: list[str], env: dict[str, str]) -> cli.Config:
    return cli.resolve_config(cli.build_parser().parse_args(argv), env)


def test_resolve_config_defaults_to_the_local_stack_without_credentials() -> None:
    config = _config(["status", JOB_ID], {})

    assert config == cli.Config("http://127.0.0.1:3000", None, None)


def test_resolve_config_reads_the_environment() -> None:
    env = {**ENV, "WEBHOOK_RESEND_URL": "https://api.example.com"}

    config = _config(["status", JOB_ID], env)

    assert config == cli.Config("https://api.example.com", TOKEN, "admin-s3cret")


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "http://h:1", "--token", "opt", "status", JOB_ID],
        ["status", JOB_ID, "--url", "http://h:1", "--token", "opt"],
    ],
)
def test_resolve_config_prefers_options_before_or_after_the_command(argv: list[str]) -> None:
    config = _config(argv, {**ENV, "WEBHOOK_RESEND_URL": "http://env:2"})

    assert (config.url, config.token, config.admin_token) == ("http://h:1", "opt", "admin-s3cret")


def test_config_repr_never_shows_the_tokens() -> None:
    shown = repr(cli.Config("http://h", TOKEN, "admin-s3cret"))

    assert TOKEN not in shown
    assert "admin-s3cret" not in shown


# -- progress bar -------------------------------------------------------------------------------------
def test_render_progress_at_zero_percent() -> None:
    line = render_progress(_job(pending=100))

    assert line == "[--------------------]   0%  delivered 0  failed 0  pending 100 / 100"


def test_render_progress_at_45_percent() -> None:
    line = render_progress(_job(delivered=40, failed=5, pending=55), 20)

    assert line == "[#########-----------]  45%  delivered 40  failed 5  pending 55 / 100"


def test_render_progress_at_100_percent() -> None:
    line = render_progress(_job(delivered=97, failed=3))

    assert line == "[####################] 100%  delivered 97  failed 3  pending 0 / 100"


def test_render_progress_with_nothing_queued_is_complete() -> None:
    line = render_progress(_job())

    assert line == "[####################] 100%  delivered 0  failed 0  pending 0 / 0"


def test_render_progress_shows_100_percent_only_when_nothing_is_pending() -> None:
    line = render_progress(_job(delivered=999, pending=1), 10)

    assert line.startswith("[#########-]  99%")


def test_render_progress_scales_the_bar_to_its_width() -> None:
    assert render_progress(_job(delivered=1, pending=1), 4).startswith("[##--]  50%")


def test_bar_width_fits_the_line_in_a_narrow_terminal() -> None:
    job = _job(delivered=40, failed=5, pending=55)

    width = cli.bar_width(job, 60)

    assert len(render_progress(job, width)) <= 59
    assert cli.bar_width(job, None) == 20


# -- error lines --------------------------------------------------------------------------------------
def test_format_errors_lists_field_and_message() -> None:
    document = {"errors": [{"field": "event", "message": "is required"}, {"field": "x", "message": "bad"}]}

    assert format_errors(422, document) == ["error: event: is required", "error: x: bad"]


def test_format_errors_without_a_field_shows_the_message() -> None:
    document = {"errors": [{"field": None, "message": "could not queue 3 of 5 pairs"}]}

    assert format_errors(503, document) == ["error: could not queue 3 of 5 pairs"]


def test_format_errors_of_the_gateway_itself_shows_the_status() -> None:
    assert format_errors(404, {"message": "Not Found"}) == ["error: Not Found (HTTP 404)"]


def test_format_errors_of_a_non_json_answer_shows_status_and_body() -> None:
    assert format_errors(502, None, "<html>Bad\ngateway</html>") == [
        "error: HTTP 502: <html>Bad gateway</html>"
    ]
    assert format_errors(500, None) == ["error: HTTP 500"]


def test_format_errors_strips_terminal_control_characters() -> None:
    document = {"errors": [{"field": "id\x1b[2J", "message": "no\rresend"}]}

    assert format_errors(404, document) == ["error: id [2J: no resend"]


# -- other output -------------------------------------------------------------------------------------
def test_format_delivery_shows_status_attempts_code_url_and_error() -> None:
    failed = {
        "status": "failed",
        "attempts": 4,
        "last_status_code": 500,
        "url": "http://r/h",
        "last_error": "HTTP 500",
    }
    pending = {"status": "pending", "attempts": 0, "last_status_code": None, "url": "http://r/h"}

    assert format_delivery(failed) == "failed      4  500  http://r/h  HTTP 500"
    assert format_delivery(pending) == "pending     0    -  http://r/h"


def test_format_job_aligns_the_fields_and_shows_none_as_a_dash() -> None:
    lines = format_job(_job(delivered=1))

    assert lines[0] == f"id            {JOB_ID}"
    assert "completed_on  -" in lines
    assert "total_queued  1" in lines


# -- commands with a fake client ----------------------------------------------------------------------
def test_main_tenant_create_prints_the_credentials_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()

    code = _run(["tenant", "create", "acme"], client)

    out, err = capsys.readouterr()
    assert code == 0
    assert client.calls == [("create_tenant", "acme")]
    assert out.splitlines() == [
        "tenant_id        tn123",
        "name             acme",
        "login            tn123",
        "password         pw-once",
        "token            wr_tn123_once",
        "callback_secret  whsec_once",
    ]
    assert "shown once" in err


def test_main_tenant_create_json_prints_the_credentials_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["tenant", "create", "acme", "--json"], FakeClient())

    assert code == 0
    assert json.loads(capsys.readouterr().out)["password"] == "pw-once"


def test_main_resend_dry_run_prints_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    answer = {"dry_run": True, "event": EVENT, "total_items": 3, "total_queued": 6, "webhooks": {"w1": ["u"]}}

    code = _run(["resend", "--event", EVENT, "--filter", "{}", "--dry-run"], FakeClient(resend_answer=answer))

    out = capsys.readouterr().out
    assert code == 0
    assert "dry run: nothing was queued" in out
    assert "total_items   3" in out
    assert "total_queued  6" in out
    assert "webhook       w1  u" in out


def test_main_resend_prints_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["resend", "--event", EVENT, "--item-id", "i1"], FakeClient(resend_answer=_job(pending=2)))

    out = capsys.readouterr().out
    assert code == 0
    assert f"id            {JOB_ID}" in out
    assert "status        running" in out
    assert "pending       2" in out


def test_main_resend_watch_continues_as_status_watch(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(delivered=1, pending=1), _job(delivered=2)])

    code = _run(["resend", "--event", EVENT, "--item-id", "i1", "--watch", "--interval", "0.001"], client)

    out = capsys.readouterr().out
    assert code == 0
    assert [c for c in client.calls if c[0] == "get_resend"] == [("get_resend", JOB_ID)] * 2
    assert out.splitlines()[-1] == "[####################] 100%  delivered 2  failed 0  pending 0 / 2"


def test_main_status_prints_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(delivered=1, failed=1)])

    code = _run(["status", JOB_ID], client)

    assert code == 0
    assert client.calls == [("get_resend", JOB_ID)]
    assert "failed        1" in capsys.readouterr().out


def test_main_status_watch_exits_0_when_nothing_failed(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(pending=2), _job(delivered=1, pending=1), _job(delivered=2)])

    code = _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client)

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "[--------------------]   0%  delivered 0  failed 0  pending 2 / 2",
        "[##########----------]  50%  delivered 1  failed 0  pending 1 / 2",
        "[####################] 100%  delivered 2  failed 0  pending 0 / 2",
    ]


def test_main_status_watch_exits_2_when_some_pairs_failed() -> None:
    client = FakeClient(jobs=[_job(delivered=1, pending=1), _job(delivered=1, failed=1)])

    assert _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client) == 2


def test_main_status_watch_stops_at_a_cancelled_job(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(delivered=1, pending=3, status="cancelled")])

    code = _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client)

    assert code == 0
    assert "cancelled with 3 pairs pending" in capsys.readouterr().err


def test_render_progress_of_a_selecting_job_shows_what_it_selected_so_far() -> None:
    job = _job(delivered=40, failed=5, pending=55, status="selecting", items=60)

    assert render_progress(job) == "selecting: 60 items, 100 pairs so far  delivered 40  failed 5  pending 55"


def test_render_progress_of_a_rejected_job_shows_its_reason() -> None:
    job = {**_job(status="rejected"), "reason": "selects 12 pairs; a resend may queue at most 10"}

    assert render_progress(job) == "rejected: selects 12 pairs; a resend may queue at most 10"


def test_main_status_watch_follows_the_selection_then_the_deliveries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = FakeClient(
        jobs=[
            _job(status="selecting", items=0),
            _job(pending=2, status="selecting", items=2),
            _job(delivered=1, pending=3),
            _job(delivered=4),
        ]
    )

    code = _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client)

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "selecting: 0 items, 0 pairs so far  delivered 0  failed 0  pending 0",
        "selecting: 2 items, 2 pairs so far  delivered 0  failed 0  pending 2",
        "[#####---------------]  25%  delivered 1  failed 0  pending 3 / 4",
        "[####################] 100%  delivered 4  failed 0  pending 0 / 4",
    ]


def test_main_status_watch_stops_at_a_rejected_job_with_exit_code_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rejected = {**_job(status="rejected"), "reason": "selects 12 pairs; a resend may queue at most 10"}
    client = FakeClient(jobs=[_job(status="selecting"), rejected])

    code = _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client)

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines()[-1] == "rejected: selects 12 pairs; a resend may queue at most 10"
    assert f"resend {JOB_ID} was rejected: selects 12 pairs" in captured.err


def test_main_list_prints_one_line_per_job(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(listed=[_job(pending=3, status="selecting"), _job(delivered=2, failed=1)])

    code = _run(["list", "--status", "selecting", "--limit", "5"], client)

    assert code == 0
    assert client.calls == [("iter_resends", ("selecting", 5))]
    assert capsys.readouterr().out.splitlines() == [
        f"{JOB_ID}  selecting  2024-01-01T00:00:00Z  delivered 0  failed 0  pending 3 / 3",
        f"{JOB_ID}  completed  2024-01-01T00:00:00Z  delivered 2  failed 1  pending 0 / 3",
    ]


def test_main_list_json_prints_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(listed=[_job(delivered=1)])

    assert _run(["list", "--json"], client) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [JOB_ID]


def test_main_list_refuses_an_unknown_status() -> None:
    assert _run(["list", "--status", "queued"], FakeClient()) == 1


def test_main_status_watch_json_prints_one_json_line_per_change(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(pending=1), _job(pending=1), _job(failed=1)])

    code = _run(["status", JOB_ID, "--watch", "--json", "--interval", "0.001"], client)

    lines = capsys.readouterr().out.splitlines()
    assert code == 2
    assert [json.loads(line)["status"] for line in lines] == ["running", "completed"]


def test_watch_prints_a_line_only_when_the_progress_changes() -> None:
    client = FakeClient(jobs=[_job(pending=2), _job(pending=2), _job(pending=2), _job(delivered=2)])
    out = io.StringIO()

    code = cli.watch(client, JOB_ID, interval=0, out=out, err=io.StringIO(), tty=False, sleep=lambda s: None)

    assert code == 0
    assert len(out.getvalue().splitlines()) == 2
    assert len([c for c in client.calls if c[0] == "get_resend"]) == 4


def test_watch_on_a_terminal_redraws_one_line_in_place() -> None:
    client = FakeClient(jobs=[_job(pending=10), _job(delivered=5, pending=5), _job(delivered=10)])
    out = io.StringIO()
    sleeps: list[float] = []

    code = cli.watch(client, JOB_ID, interval=0.5, out=out, err=io.StringIO(), tty=True, sleep=sleeps.append)

    shown = out.getvalue()
    assert code == 0
    assert sleeps == [0.5, 0.5]
    assert shown.count("\r") == 3
    assert shown.count("\n") == 1
    assert shown.endswith("[####################] 100%  delivered 10  failed 0  pending 0 / 10\n")


def test_watch_on_a_terminal_blanks_the_tail_of_a_longer_line() -> None:
    client = FakeClient(jobs=[_job(pending=1000), _job(delivered=1)])
    out = io.StringIO()

    cli.watch(client, JOB_ID, interval=0, out=out, err=io.StringIO(), tty=True, sleep=lambda s: None)

    first, second = out.getvalue().rstrip("\n").split("\r")[1:]
    assert len(second) == len(first)
    assert second.rstrip() == render_progress(_job(delivered=1))


def test_watch_interrupted_ends_the_line_and_says_how_to_resume() -> None:
    class Interrupting(FakeClient):
        def get_resend(self, job_id: str) -> dict[str, Any]:
            if self.calls:
                raise KeyboardInterrupt
            return super().get_resend(job_id)

    out, err = io.StringIO(), io.StringIO()

    code = cli.watch(Interrupting(jobs=[_job(pending=1)]), JOB_ID, interval=0, out=out, err=err, tty=True)

    assert code == 130
    assert out.getvalue().endswith("\n")
    assert f"webhook-resend status {JOB_ID} --watch" in err.getvalue()


def test_main_deliveries_prints_one_line_per_delivery(capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        {"status": "delivered", "attempts": 1, "last_status_code": 200, "url": "http://r/a"},
        {
            "status": "failed",
            "attempts": 4,
            "last_status_code": 500,
            "url": "http://r/b",
            "last_error": "HTTP 500",
        },
    ]
    client = FakeClient(records=records)

    code = _run(["deliveries", JOB_ID, "--status", "failed", "--limit", "5"], client)

    assert code == 0
    assert client.calls == [("iter_deliveries", (JOB_ID, "failed", 5))]
    assert capsys.readouterr().out.splitlines() == [
        "delivered   1  200  http://r/a",
        "failed      4  500  http://r/b  HTTP 500",
    ]


# -- errors and exit codes ----------------------------------------------------------------------------
def test_main_api_error_prints_error_lines_to_stderr_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    error = ApiError(404, {"errors": [{"field": "id", "message": "no resend with this id"}]})

    code = _run(["status", JOB_ID], FakeClient(error=error))

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == "error: id: no resend with this id\n"


def test_main_client_error_prints_its_message_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["status", JOB_ID], FakeClient(error=MissingTokenError("no token: set it")))

    assert code == 1
    assert capsys.readouterr().err == "error: no token: set it\n"


def test_main_without_a_token_fails_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    # The real client, but no credentials: it must stop before opening a connection.
    code = cli.main(["status", JOB_ID, "--url", "http://127.0.0.1:9"], environ={})

    assert code == 1
    assert "no token: set WEBHOOK_RESEND_TOKEN or pass --token" in capsys.readouterr().err


def test_main_rejects_a_url_that_is_not_http(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["status", JOB_ID, "--url", "file:///etc/passwd"], environ=ENV)

    assert code == 1
    assert "is not an http:// or https:// URL" in capsys.readouterr().err


def test_main_never_prints_the_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    error = ApiError(401, {"errors": [{"field": "authorization", "message": "missing or invalid"}]})
    for client in (FakeClient(), FakeClient(error=error)):
        _run(["status", JOB_ID], client)
        _run(["resend", "--event", EVENT, "--item-id", "i1"], client)

    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    assert "admin-s3cret" not in out + err


# -- the API client, without a network ----------------------------------------------------------------
class RecordingClient(ApiClient):
    """ApiClient whose transport records the request and answers from a list of pages."""

    def __init__(self, pages: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__("http://api.test/", TOKEN, **kwargs)
        self.pages = list(pages or [])
        self.sent: list[tuple[str, str, dict[str, Any] | None]] = []

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self.sent.append((method, path, kwargs.get("query")))
        return self.pages.pop(0) if self.pages else {}


def test_api_client_iter_deliveries_follows_next_cursor() -> None:
    client = RecordingClient(
        [{"data": [{"n": 1}, {"n": 2}], "next_cursor": "c1"}, {"data": [{"n": 3}], "next_cursor": None}]
    )

    records = list(client.iter_deliveries(JOB_ID, status="failed"))

    assert [r["n"] for r in records] == [1, 2, 3]
    assert [q["cursor"] for _, _, q in client.sent if q] == [None, "c1"]
    assert all(q and q["status"] == "failed" and q["limit"] == 1000 for _, _, q in client.sent)


def test_api_client_iter_resends_follows_next_cursor() -> None:
    client = RecordingClient(
        [
            {"data": [{"id": "a"}, {"id": "b"}], "next_cursor": "c1"},
            {"data": [{"id": "c"}], "next_cursor": None},
        ]
    )

    jobs = list(client.iter_resends(status="running"))

    assert [j["id"] for j in jobs] == ["a", "b", "c"]
    assert [(m, p) for m, p, _ in client.sent] == [("GET", "/resends"), ("GET", "/resends")]
    assert [q["cursor"] for _, _, q in client.sent if q] == [None, "c1"]
    assert all(q and q["status"] == "running" and q["limit"] == 1000 for _, _, q in client.sent)


def test_api_client_iter_deliveries_stops_at_the_limit() -> None:
    client = RecordingClient([{"data": [{"n": 1}, {"n": 2}], "next_cursor": "c1"}, {"data": [{"n": 3}]}])

    records = list(client.iter_deliveries(JOB_ID, limit=2))

    assert [r["n"] for r in records] == [1, 2]
    assert len(client.sent) == 1
    assert client.sent[0][2] == {"status": None, "limit": 2, "cursor": None}


def test_api_client_quotes_the_id_into_one_path_segment() -> None:
    client = RecordingClient()

    client.get_resend("../admin/tenants")

    assert client.sent[0][:2] == ("GET", "/resends/..%2Fadmin%2Ftenants")


def test_api_client_needs_an_http_url() -> None:
    with pytest.raises(InvalidUrlError):
        ApiClient("ftp://host/")
    assert ApiClient("http://host:3000/").url == "http://host:3000"


def test_api_client_admin_route_needs_the_admin_token() -> None:
    with pytest.raises(MissingTokenError, match="WEBHOOK_RESEND_ADMIN_TOKEN"):
        ApiClient("http://127.0.0.1:9", TOKEN).create_tenant("acme")


def test_api_client_repr_never_shows_the_tokens() -> None:
    shown = repr(ApiClient("http://user:pw@host", TOKEN, "admin-s3cret"))

    assert shown == "ApiClient('http://host')"


# -- rate and eta, settings (issue 15) ----------------------------------------------------------------
def test_render_progress_shows_rate_and_eta_while_the_job_runs() -> None:
    job = {**_job(delivered=40, pending=60), "rate": 12.5, "eta": 185}

    assert render_progress(job) == (
        "[########------------]  40%  delivered 40  failed 0  pending 60 / 100  12.5/s  eta 3m 05s"
    )


def test_render_progress_shows_a_rate_without_eta_and_nothing_for_a_null_rate() -> None:
    assert render_progress({**_job(pending=2), "rate": 0.0, "eta": None}).endswith("pending 2 / 2  0.00/s")
    assert render_progress({**_job(delivered=2), "rate": None, "eta": None}).endswith("pending 0 / 2")


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (45, "45s"), (60, "1m 00s"), (185, "3m 05s"), (7380, "2h 03m")]
)
def test_format_duration_reads_as_seconds_minutes_hours(seconds: int, shown: str) -> None:
    assert render.format_duration(seconds) == shown


@pytest.mark.parametrize(("rate", "shown"), [(0.25, "0.25/s"), (12.54, "12.5/s"), (1234.4, "1234/s")])
def test_format_rate_keeps_three_figures_or_so(rate: float, shown: str) -> None:
    assert render.format_rate(rate) == shown


def test_main_status_watch_shows_rate_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    running = {**_job(delivered=1, pending=1), "rate": 0.5, "eta": 2}
    client = FakeClient(jobs=[running, {**_job(delivered=2), "rate": None, "eta": None}])

    code = _run(["status", JOB_ID, "--watch", "--interval", "0.001"], client)

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "[##########----------]  50%  delivered 1  failed 0  pending 1 / 2  0.50/s  eta 2s",
        "[####################] 100%  delivered 2  failed 0  pending 0 / 2",
    ]


def test_main_settings_get_prints_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    client.settings = {"notify_url": "https://ops.example.com/events"}

    code = _run(["settings", "get"], client)

    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["notify_url  https://ops.example.com/events"]


def test_main_settings_set_notify_url_puts_it_beside_the_other_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = FakeClient()
    client.settings = {"notify_url": None, "other": 1}

    code = _run(["settings", "set", "notify_url", "https://ops.example.com/events", "--json"], client)

    assert code == 0
    assert client.calls == [
        ("get_settings", None),
        ("put_settings", {"notify_url": "https://ops.example.com/events", "other": 1}),
    ]
    assert json.loads(capsys.readouterr().out)["notify_url"] == "https://ops.example.com/events"


def test_main_settings_unset_notify_url_clears_it(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    client.settings = {"notify_url": "https://ops.example.com/events"}

    code = _run(["settings", "unset", "notify_url"], client)

    assert code == 0
    assert client.calls[-1] == ("put_settings", {"notify_url": None})
    assert capsys.readouterr().out.splitlines() == ["notify_url  -"]


def test_main_settings_set_refuses_an_unknown_setting() -> None:
    client = FakeClient()

    assert _run(["settings", "set", "colour", "blue"], client) == 1
    assert client.calls == []


# -- pause, resume, cancel, resends (issue 15) ------------------------------------------------------------
@pytest.mark.parametrize("move", ["pause", "resume", "cancel"])
def test_main_control_posts_the_move_and_prints_the_job(
    move: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = {
        **_job(delivered=1, pending=3, status="paused"),
        "cancelled": 0,
        "paused_on": "2024-01-01T00:01:00Z",
    }
    client = FakeClient(jobs=[job])

    code = _run([move, JOB_ID], client)

    assert code == 0
    assert client.calls == [("control_resend", (JOB_ID, move))]
    out = capsys.readouterr().out
    assert f"id            {JOB_ID}" in out
    assert "status        paused" in out
    assert "paused_on     2024-01-01T00:01:00Z" in out


def test_main_control_json_prints_the_job_document(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(jobs=[_job(pending=2, status="cancelled")])

    assert _run(["cancel", JOB_ID, "--json"], client) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"


def test_main_control_conflict_prints_the_apis_message_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = {
        "errors": [
            {"field": "status", "message": "the resend is completed: only a paused resend can be resumed"}
        ]
    }
    client = FakeClient(error=ApiError(409, document))

    code = _run(["resume", JOB_ID], client)

    assert code == 1
    assert "the resend is completed" in capsys.readouterr().err


def test_main_resends_is_the_job_list_and_shows_cancelled_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    job = {**_job(delivered=1, pending=0, status="cancelled"), "total_queued": 4, "cancelled": 3}
    client = FakeClient(listed=[job])

    assert _run(["resends", "--status", "cancelled"], client) == 0
    assert client.calls == [("iter_resends", ("cancelled", None))]
    assert capsys.readouterr().out.splitlines() == [
        f"{JOB_ID}  cancelled  2024-01-01T00:00:00Z  delivered 1  failed 0  cancelled 3  pending 0 / 4"
    ]


def test_progress_counts_cancelled_pairs_as_done() -> None:
    job = {**_job(delivered=1, pending=1, status="cancelled"), "total_queued": 4, "cancelled": 2}

    line = render_progress(job, width=4)

    assert line.startswith("[###-]  75%  delivered 1  failed 0  cancelled 2  pending 1 / 4  (cancelled)")
