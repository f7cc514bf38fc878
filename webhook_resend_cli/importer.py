"""`webhook-resend items import FILE.jsonl`: load content items, one JSON object a line.

Each line is a content item in the shape `GET /content_items/{id}` answers (its `id` included);
it is sent as `PUT /content_items/{id}` by a pool of threads. What the API refuses (a 4xx) is
listed by line number with the API's message; what could not be sent at all (a 5xx, a timeout,
the server gone) is retried a few times and then listed too. Neither stops the import.

Resumable: every line the API accepted is recorded, with a digest of its text, in a progress file
beside the input (`FILE.jsonl.progress`, or `--progress`), under a header naming the API and a
digest of the token (never the token). A re-run against the same API and tenant skips the lines
recorded with the same text, so it sends only what is new, changed, refused or failed before;
`--restart` forgets the progress file.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from webhook_resend_cli.client import ApiError, CliError, ConnectionFailedError
from webhook_resend_cli.render import clean, format_duration, format_errors, format_rate

DEFAULT_WORKERS = 8
RETRIES = 3  # further attempts of a line whose PUT got a 5xx or no answer
PROGRESS_SUFFIX = ".progress"
_PROGRESS_VERSION = 1


class ItemPutter(Protocol):
    def put_content_item(self, item_id: str, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class Refusal:
    line: int
    message: str


@dataclass
class ImportSummary:
    total: int = 0  # lines holding something (blank lines are not counted)
    imported: int = 0
    skipped: int = 0  # already imported, same text, by an earlier run
    refused: list[Refusal] = field(default_factory=list)  # the API's 4xx, or a line not an item
    failed: list[Refusal] = field(default_factory=list)  # no answer or a 5xx, after retries
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.imported + self.skipped + len(self.refused) + len(self.failed)


def line_digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:32]


def progress_header(target: str) -> str:
    """The progress file's first line: which API and tenant (`ApiClient.target_digest`) its
    lines were loaded into."""
    return json.dumps({"version": _PROGRESS_VERSION, "target": target}, sort_keys=True)


class Progress:
    """The lines already imported (line number -> digest), appended to as lines are loaded."""

    def __init__(self, path: Path, header: str, *, restart: bool = False) -> None:
        self.path = path
        self.done: dict[int, str] = {}
        self.ignored_other_target = False
        if not restart and path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            if lines and lines[0] == header:
                for entry in lines[1:]:
                    number, _, digest = entry.partition(" ")
                    if number.isdigit() and digest:
                        self.done[int(number)] = digest
            elif lines:
                self.ignored_other_target = True
        existing = self.done
        self._file = path.open("w", encoding="utf-8")
        self._file.write(header + "\n")
        for number, digest in sorted(existing.items()):
            self._file.write(f"{number} {digest}\n")
        self._file.flush()
        self._lock = threading.Lock()

    def loaded(self, number: int, digest: str) -> bool:
        return self.done.get(number) == digest

    def record(self, number: int, digest: str) -> None:
        with self._lock:
            self.done[number] = digest
            self._file.write(f"{number} {digest}\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of every line that is not blank."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield number, text


def parse_line(text: str) -> tuple[str, dict[str, Any]]:
    """The item's id and body; ValueError naming what is wrong with the line."""
    try:
        item = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise ValueError("id: a content item needs its id (a string)")
    return item_id, item


def api_message(error: ApiError) -> str:
    lines = format_errors(error.status, error.document, error.text)
    text = "; ".join(line.removeprefix("error: ") for line in lines)
    return f"HTTP {error.status}: {text}" if f"HTTP {error.status}" not in text else text


def _put(client: ItemPutter, item_id: str, body: dict[str, Any], sleep: Callable[[float], None]) -> None:
    """PUT one item, retrying a 5xx or no answer; raises the last error."""
    for attempt in range(RETRIES + 1):
        try:
            client.put_content_item(item_id, body)
            return
        except ApiError as error:
            if error.status < 500 or attempt == RETRIES:
                raise
        except ConnectionFailedError:
            if attempt == RETRIES:
                raise
        sleep(0.5 * 2**attempt)


class Bar:
    """A progress line on a terminal (redrawn), or a line every `every` seconds otherwise."""

    def __init__(self, out: TextIO, tty: bool, total: int, *, every: float = 5.0) -> None:
        self.out, self.tty, self.total, self.every = out, tty, total, every
        self.started = time.monotonic()
        self._last = 0.0

    def show(self, summary: ImportSummary, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self.tty else self.every):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        sent = summary.done - summary.skipped
        rate = sent / elapsed
        left = self.total - summary.done
        eta = f"  eta {format_duration(int(left / rate))}" if rate > 0 and left > 0 else ""
        width = 30
        filled = width * summary.done // self.total if self.total else width
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {summary.done} / {self.total}  "
            f"imported {summary.imported}  skipped {summary.skipped}  refused {len(summary.refused)}  "
            f"failed {len(summary.failed)}  {format_rate(rate)}{eta}"
        )
        if self.tty:
            self.out.write("\r" + line + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def import_items(
    path: Path,
    client: ItemPutter,
    progress: Progress,
    *,
    workers: int = DEFAULT_WORKERS,
    on_progress: Callable[[ImportSummary], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ImportSummary:
    """Send every line not already imported; the summary of what happened to each line."""
    pause = sleep or time.sleep
    summary = ImportSummary()
    lock = threading.Lock()
    started = time.monotonic()

    def send(number: int, digest: str, item_id: str, body: dict[str, Any]) -> None:
        try:
            _put(client, item_id, body, pause)
        except ApiError as error:
            with lock:
                target = summary.refused if error.status < 500 else summary.failed
                target.append(Refusal(number, api_message(error)))
            return
        except CliError as error:
            with lock:
                summary.failed.append(Refusal(number, clean(error)))
            return
        progress.record(number, digest)
        with lock:
            summary.imported += 1

    pending: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        try:
            for number, text in read_lines(path):
                summary.total += 1
                digest = line_digest(text)
                if progress.loaded(number, digest):
                    summary.skipped += 1
                    continue
                try:
                    item_id, body = parse_line(text)
                except ValueError as error:
                    summary.refused.append(Refusal(number, str(error)))
                    continue
                while len(pending) >= workers * 4:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                    if on_progress:
                        on_progress(summary)
                pending.add(pool.submit(send, number, digest, item_id, body))
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                if on_progress:
                    on_progress(summary)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    summary.refused.sort(key=lambda refusal: refusal.line)
    summary.failed.sort(key=lambda refusal: refusal.line)
    summary.seconds = time.monotonic() - started
    return summary


def count_lines(path: Path) -> int:
    return sum(1 for _ in read_lines(path))


def format_summary(summary: ImportSummary, path: str) -> list[str]:
    rate = summary.imported / summary.seconds if summary.seconds > 0 else 0.0
    lines = [
        f"{clean(path)}: {summary.total} items; imported {summary.imported} in "
        f"{summary.seconds:.1f} s ({format_rate(rate)}), skipped {summary.skipped} already imported, "
        f"refused {len(summary.refused)}, failed {len(summary.failed)}"
    ]
    for refusal in summary.refused:
        lines.append(f"line {refusal.line}: refused: {clean(refusal.message)}")
    for failure in summary.failed:
        lines.append(f"line {failure.line}: not sent: {clean(failure.message)} (a re-run sends it again)")
    return lines


def summary_document(summary: ImportSummary) -> Mapping[str, Any]:
    return {
        "total": summary.total,
        "imported": summary.imported,
        "skipped": summary.skipped,
        "refused": [{"line": r.line, "message": r.message} for r in summary.refused],
        "failed": [{"line": r.line, "message": r.message} for r in summary.failed],
        "seconds": round(summary.seconds, 3),
    }
