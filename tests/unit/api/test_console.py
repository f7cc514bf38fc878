"""The console's files and headers (SPEC §14): api/console.py and the console function."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from webhook_resend.api.console import CONTENT_SECURITY_POLICY, Assets, request_line

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "functions" / "console" / "static"
ASSETS = Assets(STATIC)


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/console", "text/html; charset=utf-8"),
        ("/console/", "text/html; charset=utf-8"),
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
    ],
)
def test_console_serves_each_file_with_its_content_type(path: str, content_type: str) -> None:
    answer = ASSETS.answer("GET", path)

    name = "index.html" if path.rstrip("/") == "/console" else path.rsplit("/", 1)[1]
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == content_type
    assert answer["body"] == (STATIC / name).read_text(encoding="utf-8")
    assert answer["isBase64Encoded"] is False


@pytest.mark.parametrize("path", ["/console", "/console/console.js", "/console/nothing.js"])
def test_console_answer_carries_the_security_headers(path: str) -> None:
    headers = ASSETS.answer("GET", path)["headers"]
    directives = _directives(headers["Content-Security-Policy"])

    assert headers["X-Content-Type-Options"] == "nosniff"
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "unsafe-eval" not in headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/console/../console.py",
        "/console/%2e%2e/console.py",
        "/console/console.py",
        "/console/static/index.html",
        "/console/.hidden",
        "/consoles",
        "/console/index.html/",
    ],
)
def test_console_answers_404_for_anything_but_its_files(path: str) -> None:
    answer = ASSETS.answer("GET", path)

    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["errors"][0]["field"] == "path"


def test_console_answers_405_with_allow_for_other_methods() -> None:
    answer = ASSETS.answer("POST", "/console")

    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == "GET, HEAD"


def test_console_head_answers_the_headers_without_a_body() -> None:
    answer = ASSETS.answer("HEAD", "/console/console.js")

    assert answer["statusCode"] == 200
    assert answer["body"] == ""
    assert answer["headers"]["Content-Type"].startswith("text/javascript")


def test_console_folder_without_a_page_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("export {};\n")

    with pytest.raises(FileNotFoundError):
        Assets(tmp_path)


def test_console_page_has_no_inline_script_style_or_third_party_asset() -> None:
    # The CSP would block them: the page must not need any.
    html = (STATIC / "index.html").read_text(encoding="utf-8")

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []
    assert re.findall(r"(?:src|href)=\"(?!/console/)[^\"#]", html) == []


def test_console_script_never_writes_html() -> None:
    script = (STATIC / "console.js").read_text(encoding="utf-8")

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "localStorage" not in script
    assert "document.cookie" not in script


def test_console_function_answers_a_gateway_event() -> None:
    import console  # functions/console/console.py

    event = json.loads((ROOT / "events" / "console_page.json").read_text(encoding="utf-8"))

    context = SimpleNamespace(
        function_name="ConsoleFunction",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ConsoleFunction",
        aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    )

    answer = console.handler(event, context)

    assert request_line(event) == ("GET", "/console")
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<title>webhook-resend console</title>" in answer["body"]
