"""`webhook-resend items import FILE.jsonl` without sockets: every line sent once, refusals by line
number with the API's message, retries of what got no answer, and a re-run that sends only what
is new, changed or was refused."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from webhook_resend_cli import importer
from webhook_resend_cli import main as cli
from webhook_resend_cli.client import ApiError, ConnectionFailedError

ENV = {"WEBHOOK_RESEND_TOKEN": "wr_tenant_s3cret-token-value"}


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "model": "Post", "tags": ["news"], **extra}


class Api:
    """PUT /content_items answered from rules, item by item; every item sent is recorded as a call
    (from several threads), every request's size in `requests`."""

    def __init__(self, target: str = "http://api.test abc") -> None:
        self.target = target
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[int] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.failing_requests = 0  # requests answered 503 before any succeeds
        self.busy_first: dict[str, int] = {}  # id -> answers `failed` before it is stored
        self.unreachable = False
        self._lock = threading.Lock()

    def target_digest(self) -> str:
        return self.target

    def put_content_items(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(len(items))
            self.calls.extend((body["id"], body) for body in items)
            if self.unreachable:
                raise ConnectionFailedError("cannot connect to http://api.test: connection refused")
            if self.failing_requests > 0:
                self.failing_requests -= 1
                raise ApiError(503, {"message": "Service Unavailable"})
        results = []
        for index, body in enumerate(items):
            result: dict[str, Any] = {"index": index, "id": body["id"], "errors": []}
            with self._lock:
                if body.get("model") == "":
                    result["status"] = "refused"
                    result["errors"] = [{"field": "model", "message": "must not be empty"}]
                elif self.busy_first.get(body["id"], 0) > 0:
                    self.busy_first[body["id"]] -= 1
                    result["status"] = "failed"
                else:
                    result["status"] = "replaced" if body["id"] in self.stored else "created"
                    self.stored[body["id"]] = body
            results.append(result)
        return {"results": results}


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def run(argv: list[str], api: Api) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    real_out, real_err = cli.sys.stdout, cli.sys.stderr
    cli.sys.stdout, cli.sys.stderr = out, err
    try:
        code = cli.main(argv, environ=ENV, client_factory=lambda config: api)
    finally:
        cli.sys.stdout, cli.sys.stderr = real_out, real_err
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer.time, "sleep", lambda seconds: None)


def test_every_line_is_put_once_and_refusals_are_named_by_line(tmp_path: Path) -> None:
    source = write(
        tmp_path / "items.jsonl",
        [item(1), item(2, model=""), "", "{not json", [1, 2], {"model": "Post"}, item(7), item(8)],
    )
    api = Api()

    code, out, err = run(["items", "import", str(source), "--workers", "3"], api)

    assert code == 1  # something was refused
    assert sorted(api.stored) == [item(n)["id"] for n in (1, 7, 8)]
    assert api.stored[item(7)["id"]] == item(7)  # the line, as it was (id included)
    assert len(api.calls) == 4  # lines 1, 2, 7 and 8: what could not be an item was never sent
    lines = out.splitlines()
    assert lines[0].startswith(f"{source}: 7 items; imported 3 in ")
    assert "refused 4, failed 0" in lines[0]
    assert lines[1:] == [
        "line 2: refused: HTTP 422: model: must not be empty",
        "line 4: refused: not JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "line 5: refused: not a JSON object",
        "line 6: refused: id: a content item needs its id (a string)",
    ]
    assert "7 / 7" in err  # the progress line's last state
    assert ENV["WEBHOOK_RESEND_TOKEN"] not in (tmp_path / "items.jsonl.progress").read_text()


def test_a_rerun_sends_only_what_is_new_changed_or_was_refused(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2, model=""), item(3)])
    api = Api()
    assert run(["items", "import", str(source)], api)[0] == 1

    write(tmp_path / "items.jsonl", [item(1), item(2), item(3, tags=["sport"]), item(4)])
    api.calls.clear()
    code, out, _ = run(["items", "import", str(source), "--json"], api)

    assert code == 0
    assert sorted(i for i, _ in api.calls) == [item(n)["id"] for n in (2, 3, 4)]
    summary = json.loads(out)
    assert (summary["imported"], summary["skipped"], summary["refused"]) == (3, 1, [])
    assert api.stored[item(3)["id"]]["tags"] == ["sport"]

    api.calls.clear()
    assert run(["items", "import", str(source)], api)[0] == 0
    assert api.calls == []  # everything is loaded: nothing is sent again

    assert run(["items", "import", str(source), "--restart"], api)[0] == 0
    assert len(api.calls) == 4


def test_progress_written_for_another_api_or_tenant_is_not_trusted(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2)])
    assert run(["items", "import", str(source)], Api("http://api.test tenant-a"))[0] == 0

    other = Api("http://api.test tenant-b")
    code, _, err = run(["items", "import", str(source)], other)

    assert code == 0
    assert len(other.calls) == 2
    assert "written for another API or tenant" in err


def test_a_request_without_answer_is_retried_then_listed_and_sent_by_the_next_run(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2), item(3)])
    api = Api()
    api.unreachable = True

    code, out, _ = run(["items", "import", str(source)], api)

    assert code == 1
    assert api.stored == {}
    assert api.requests == [3] * (importer.RETRIES + 1)
    assert out.splitlines()[1:] == [
        f"line {n}: not sent: cannot connect to http://api.test: connection refused (a re-run sends it again)"
        for n in (1, 2, 3)
    ]

    api.unreachable = False
    api.calls.clear()
    assert run(["items", "import", str(source)], api)[0] == 0
    assert sorted(api.stored) == [item(n)["id"] for n in (1, 2, 3)]


def test_a_5xx_is_retried_and_only_items_answered_failed_are_sent_again(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2), item(3)])
    api = Api()
    api.failing_requests = 2  # two 503s of the whole request
    api.busy_first[item(2)["id"]] = 1  # then item 2 answered `failed` once

    code, out, _ = run(["items", "import", str(source)], api)

    assert code == 0, out
    assert api.requests == [3, 3, 3, 1]
    assert sorted(api.stored) == [item(n)["id"] for n in (1, 2, 3)]


def test_an_item_failed_through_every_retry_is_listed_by_line(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2)])
    api = Api()
    api.busy_first[item(2)["id"]] = importer.RETRIES + 1

    code, out, _ = run(["items", "import", str(source)], api)

    assert code == 1
    assert sorted(api.stored) == [item(1)["id"]]
    assert out.splitlines()[1] == (
        "line 2: not sent: the service was busy and did not store it (a re-run sends it again)"
    )


def test_lines_go_in_batches_of_at_most_n_items_and_768_kib(tmp_path: Path) -> None:
    big = "x" * (300 * 1024)
    source = write(
        tmp_path / "items.jsonl",
        [item(n) for n in range(1, 251)] + [item(n, payload={"b": big}) for n in range(251, 255)],
    )
    api = Api()

    code, _, _ = run(["items", "import", str(source), "--batch", "100", "--workers", "1"], api)

    assert code == 0
    assert len(api.stored) == 254
    # 100 + 100 + 50 small lines, then the 50 and two big ones would pass 768 KiB: cut before them
    assert api.requests == [100, 100, 52, 2]


def test_a_batch_over_the_bulk_writes_cap_is_refused_by_the_cli(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1)])

    api = Api()

    code, _, err = run(["items", "import", str(source), "--batch", "101"], api)

    assert code == 1
    assert "must be at most 100 (the bulk write's cap)" in err
    assert api.requests == []


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    code, _, err = run(["items", "import", str(tmp_path / "absent.jsonl")], Api())
    assert code == 1
    assert "cannot read" in err
