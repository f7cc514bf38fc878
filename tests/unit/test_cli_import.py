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
    """PUT /content_items/{id} answered from rules; every call recorded (from several threads)."""

    def __init__(self, target: str = "http://api.test abc") -> None:
        self.target = target
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.fail_first: dict[str, int] = {}  # id -> 5xx answers before it succeeds
        self.unreachable: set[str] = set()
        self._lock = threading.Lock()

    def target_digest(self) -> str:
        return self.target

    def put_content_item(self, item_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((item_id, body))
            if item_id in self.unreachable:
                raise ConnectionFailedError("cannot connect to http://api.test: connection refused")
            if self.fail_first.get(item_id, 0) > 0:
                self.fail_first[item_id] -= 1
                raise ApiError(503, {"message": "Service Unavailable"})
        if body.get("model") == "":
            raise ApiError(422, {"errors": [{"field": "model", "message": "must not be empty"}]})
        with self._lock:
            self.stored[item_id] = body
        return body


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


def test_no_answer_is_retried_then_listed_and_sent_by_the_next_run(tmp_path: Path) -> None:
    source = write(tmp_path / "items.jsonl", [item(1), item(2), item(3)])
    api = Api()
    api.fail_first[item(1)["id"]] = 2  # two 503s, then stored
    api.unreachable.add(item(3)["id"])

    code, out, _ = run(["items", "import", str(source)], api)

    assert code == 1
    assert sorted(api.stored) == [item(1)["id"], item(2)["id"]]
    assert [i for i, _ in api.calls].count(item(3)["id"]) == importer.RETRIES + 1
    assert out.splitlines()[1] == (
        "line 3: not sent: cannot connect to http://api.test: connection refused (a re-run sends it again)"
    )

    api.unreachable.clear()
    api.calls.clear()
    assert run(["items", "import", str(source)], api)[0] == 0
    assert [i for i, _ in api.calls] == [item(3)["id"]]


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    code, _, err = run(["items", "import", str(tmp_path / "absent.jsonl")], Api())
    assert code == 1
    assert "cannot read" in err
