"""`webhook-resend items import FILE.jsonl`: load content items, one JSON object a line.

Each line is a content item in the shape `GET /content_items/{id}` answers (its `id` included).
Lines are sent in batches (up to 100 lines and 768 KiB a request, under the API's 1 MB body
limit) with the bulk write `PUT /content_items`, several batches in flight from a pool of threads.
What the API refuses (its per-item 422, or a 4xx of the whole request) is listed by line number
with the API's message; what could not be stored (a request answered 5xx or not at all, an item
answered `failed`) is sent again a few times, only what was not stored, then listed too. Neither
stops the import.

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

DEFAULT_WORKERS = 4  # batches in flight
BATCH_ITEMS = 100  # the bulk write's cap
BATCH_BYTES = 768 * 1024  # a request's body stays under the API's 1 MB limit
RETRIES = 3  # further attempts of what a request answered 5xx, not at all, or `failed`
PROGRESS_SUFFIX = ".progress"
_PROGRESS_VERSION = 1


class ItemWriter(Protocol):
    def put_content_items(self, items: list[dict[str, Any]]) -> dict[str, Any]: ...


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


@dataclass
class _Line:
    number: int
    digest: str
    body: dict[str, Any]
    size: int


def item_message(errors: list[dict[str, Any]]) -> str:
    """An item the bulk write refused, worded as the single PUT's 422 would be."""
    return api_message(ApiError(422, {"errors": errors}))


def batches(lines: Iterator[_Line], max_items: int, max_bytes: int = BATCH_BYTES) -> Iterator[list[_Line]]:
    """Consecutive lines, at most `max_items` and (but for a lone line) `max_bytes` a batch."""
    batch: list[_Line] = []
    size = 0
    for line in lines:
        if batch and (len(batch) >= max_items or size + line.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += line.size + 1
    if batch:
        yield batch


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
    client: ItemWriter,
    progress: Progress,
    *,
    workers: int = DEFAULT_WORKERS,
    batch_items: int = BATCH_ITEMS,
    on_progress: Callable[[ImportSummary], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ImportSummary:
    """Send every line not already imported; the summary of what happened to each line."""
    pause = sleep or time.sleep
    summary = ImportSummary()
    lock = threading.Lock()
    started = time.monotonic()

    def stored(line: _Line) -> None:
        progress.record(line.number, line.digest)
        with lock:
            summary.imported += 1

    def ended(target: list[Refusal], lines: list[_Line], message: str) -> None:
        with lock:
            target.extend(Refusal(line.number, message) for line in lines)

    def send(batch: list[_Line]) -> None:
        todo = batch
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                answer = client.put_content_items([line.body for line in todo])
            except ApiError as error:
                if error.status < 500:
                    return ended(summary.refused, todo, api_message(error))
                if last:
                    return ended(summary.failed, todo, api_message(error))
            except ConnectionFailedError as error:
                if last:
                    return ended(summary.failed, todo, clean(error))
            except CliError as error:
                return ended(summary.failed, todo, clean(error))
            else:
                busy: list[_Line] = []
                for result in answer.get("results", []):
                    line = todo[int(result["index"])]
                    if result["status"] in ("created", "replaced"):
                        stored(line)
                    elif result["status"] == "refused":
                        ended(summary.refused, [line], item_message(result.get("errors") or []))
                    else:
                        busy.append(line)
                answered = {int(r["index"]) for r in answer.get("results", [])}
                busy.extend(line for n, line in enumerate(todo) if n not in answered)
                if not busy:
                    return None
                todo = busy
                if last:
                    return ended(summary.failed, todo, "the service was busy and did not store it")
            pause(0.5 * 2**attempt)
        return None

    def readable() -> Iterator[_Line]:
        for number, text in read_lines(path):
            summary.total += 1
            digest = line_digest(text)
            if progress.loaded(number, digest):
                summary.skipped += 1
                continue
            try:
                _, body = parse_line(text)
            except ValueError as error:
                summary.refused.append(Refusal(number, str(error)))
                continue
            yield _Line(number, digest, body, len(text.encode()))

    pending: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        try:
            for batch in batches(readable(), batch_items):
                while len(pending) >= workers * 2:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                    if on_progress:
                        on_progress(summary)
                pending.add(pool.submit(send, batch))
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
