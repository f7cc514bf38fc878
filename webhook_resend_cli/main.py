"""`webhook-resend`: arguments → API requests → lines on stdout, errors on stderr.

The pieces are small and separate so they can be tested without sockets: `build_parser` and
`resend_body` map arguments to a request body, `resolve_config` reads the environment,
`watch` polls any object with `get_resend`, and `main` takes a `client_factory`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol, TextIO

from webhook_resend_cli import __version__, importer
from webhook_resend_cli.client import ApiClient, ApiError, CliError
from webhook_resend_cli.render import (
    BAR_WIDTH,
    clean,
    format_credentials,
    format_delivery,
    format_dry_run,
    format_errors,
    format_job,
    format_job_line,
    format_settings,
    is_final,
    render_progress,
)

PROG = "webhook-resend"
DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_INTERVAL_SECONDS = 2.0
DELIVERY_STATUSES = ("pending", "retrying", "delivered", "failed", "cancelled")
# The job controls (SPEC §11): the command, its help and its description.
CONTROLS = {
    "pause": (
        "pause a resend job: its selection stops and its pending pairs are held",
        "Pause a resend job (POST /resends/{id}/pause): no pair is sent while it is paused, and "
        "none uses up an attempt; attempts already under way finish. Pausing a paused job answers it.",
    ),
    "resume": (
        "resume a paused resend job",
        "Resume a paused resend job (POST /resends/{id}/resume): its selection continues where it "
        "stopped and its held pairs are sent.",
    ),
    "cancel": (
        "cancel a resend job: every pair not yet delivered ends cancelled",
        "Cancel a resend job (POST /resends/{id}/cancel): its selection stops and every pair not "
        "yet delivered ends cancelled (attempts already under way finish and count as they end). "
        "A cancelled job cannot be resumed.",
    ),
}
JOB_STATUSES = ("selecting", "running", "completed", "rejected", "paused", "cancelled")
SETTINGS = ("notify_url",)
EVENTS = (
    "content_item.created",
    "content_item.changed",
    "content_item.published",
    "content_item.unpublished",
    "content_item.deleted",
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FAILED_PAIRS = 2
EXIT_INTERRUPTED = 130

ENV_URL = "WEBHOOK_RESEND_URL"
ENV_TOKEN = "WEBHOOK_RESEND_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ENV_ADMIN_TOKEN = "WEBHOOK_RESEND_ADMIN_TOKEN"  # noqa: S105 - the name of a variable, not a secret


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """Where the API is and the credentials to call it with (never shown by repr)."""

    url: str
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)


def resolve_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Options first, then the environment, then the local stack's address."""
    return Config(
        url=getattr(args, "url", None) or environ.get(ENV_URL) or DEFAULT_URL,
        token=getattr(args, "token", None) or environ.get(ENV_TOKEN) or None,
        admin_token=getattr(args, "admin_token", None) or environ.get(ENV_ADMIN_TOKEN) or None,
    )


class Client(Protocol):
    """What the commands need of `ApiClient` (a fake in unit tests)."""

    def create_tenant(self, name: str) -> dict[str, Any]: ...

    def create_resend(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]: ...

    def get_resend(self, job_id: str) -> dict[str, Any]: ...

    def control_resend(self, job_id: str, move: str) -> dict[str, Any]: ...

    def iter_resends(
        self, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]: ...
    def get_settings(self) -> dict[str, Any]: ...

    def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]: ...

    def iter_deliveries(
        self, job_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]: ...


ClientFactory = Callable[[Config], Client]


def default_client(config: Config) -> Client:
    return ApiClient(config.url, config.token, config.admin_token)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    # Usage errors exit 1 like every other error: exit code 2 means "the resend has failed pairs".
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def json_object(text: str) -> dict[str, Any]:
    """A `--filter`: a JSON object, or `@FILE` to read one from a file."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. {"model": {"eq": "Post"}}')
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def batch_size(text: str) -> int:
    value = positive_int(text)
    if value > importer.BATCH_ITEMS:
        raise argparse.ArgumentTypeError(f"must be at most {importer.BATCH_ITEMS} (the bulk write's cap)")
    return value


def _connection_options(parser: argparse.ArgumentParser, *, on_command: bool) -> None:
    # Accepted before and after the command. On a command the default is SUPPRESS, so an option
    # given before the command is not overwritten by the command parser's default.
    default = argparse.SUPPRESS if on_command else None
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url", default=default, help=f"the API's base URL (default: ${ENV_URL}, else {DEFAULT_URL})"
    )
    group.add_argument(
        "--token",
        default=default,
        metavar="TOKEN",
        help=f"a tenant's bearer token (default: ${ENV_TOKEN}, the safer way: others can see command lines)",
    )
    group.add_argument(
        "--admin-token",
        default=default,
        metavar="TOKEN",
        help=f"the admin token, for `tenant create` (default: ${ENV_ADMIN_TOKEN})",
    )


def _json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


DESCRIPTION = "Resend webhook events through the webhook-resend API and follow their deliveries."
EPILOG = f"""\
environment:
  {ENV_URL}, {ENV_TOKEN}, {ENV_ADMIN_TOKEN}
  are the defaults of --url, --token and --admin-token.

exit codes:
  0  done    1  error, or the watched resend was rejected (the reason is on stderr)
  2  the watched resend has failed pairs    130  interrupted (the resend itself goes on)

examples:
  {PROG} tenant create acme
  {PROG} resend --event content_item.changed --filter '{{"model": {{"eq": "Post"}}}}' --dry-run
  {PROG} resend --event content_item.changed --item-id ID ID --watch
  {PROG} resend --failed-since 2024-01-01T00:00:00Z
  {PROG} status ID --watch
  {PROG} list --status selecting
  {PROG} deliveries ID --status failed
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _connection_options(parser, on_command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title="commands")

    # -- tenant create --------------------------------------------------------------------------
    tenant = commands.add_parser("tenant", help="(admin) manage tenants: tenant create NAME")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", metavar="COMMAND", required=True)
    create = tenant_commands.add_parser(
        "create",
        help="create a tenant and show its credentials, once",
        description="Create a tenant (POST /admin/tenants, with the admin token) and print its "
        "credentials: tenant_id, login, password, token, callback_secret. They are shown this "
        "once and stored only as digests: keep them now.",
    )
    create.add_argument("name", help="the tenant's name")
    _json_option(create, "the credentials")
    _connection_options(create, on_command=True)
    create.set_defaults(run=cmd_tenant_create)

    # -- resend ---------------------------------------------------------------------------------
    resend = commands.add_parser(
        "resend",
        help="start a resend (or count one with --dry-run)",
        description="Start a resend (POST /resends): content items by --filter or --item-id, "
        "tasks by --task-id, or the pairs that failed since a time with --failed-since.",
    )
    resend.add_argument(
        "--event",
        metavar="EVENT",
        help=f"the event to send ({', '.join(EVENTS)}); required for content items",
    )
    selection = resend.add_mutually_exclusive_group()
    selection.add_argument(
        "--filter",
        type=json_object,
        metavar="JSON",
        help="the content items to resend: a filter object as GET /content_items takes it, or @FILE",
    )
    selection.add_argument(
        "--item-id",
        dest="item_ids",
        action="extend",
        nargs="+",
        metavar="ID",
        help="content item ids to resend (repeatable, up to 1000)",
    )
    selection.add_argument(
        "--failed-since",
        metavar="ISO",
        help="resend the pairs whose deliveries failed since this time, e.g. 2024-01-01T00:00:00Z",
    )
    resend.add_argument(
        "--task-id",
        dest="task_ids",
        action="extend",
        nargs="+",
        metavar="ID",
        help="DataForSEO-style task ids whose callbacks to resend (repeatable, up to 1000)",
    )
    resend.add_argument(
        "--webhook-id",
        dest="webhook_ids",
        action="extend",
        nargs="+",
        metavar="ID",
        help="only these webhooks (default: every active webhook subscribed to the event)",
    )
    resend.add_argument(
        "--idempotency-key", metavar="KEY", help="the same key within 24 h queues nothing more"
    )
    mode = resend.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="count what would be queued; queue nothing")
    mode.add_argument("--watch", action="store_true", help="then follow the job, as `status --watch`")
    _interval_option(resend)
    _json_option(resend, "the job (or the dry run's counts)")
    _connection_options(resend, on_command=True)
    resend.set_defaults(run=cmd_resend)

    # -- status ---------------------------------------------------------------------------------
    status = commands.add_parser(
        "status",
        help="a resend job's status and counters; --watch follows it",
        description="Show a resend job (GET /resends/{id}). With --watch, poll it until it is "
        "completed, cancelled or rejected: while it selects, how many items and pairs it has "
        "selected so far, then a live progress bar; exit 0 when no pair failed, 2 when some did, "
        "1 when it was rejected.",
    )
    status.add_argument("id", help="the resend job's id")
    status.add_argument("--watch", action="store_true", help="poll until the job is completed")
    _interval_option(status)
    _json_option(status, "the job (with --watch: one JSON line per change)")
    _connection_options(status, on_command=True)
    status.set_defaults(run=cmd_status)

    # -- pause, resume, cancel (issue 15) --------------------------------------------------------
    for move, told in CONTROLS.items():
        control = commands.add_parser(move, help=told[0], description=told[1])
        control.add_argument("id", help="the resend job's id")
        _json_option(control, "the job")
        _connection_options(control, on_command=True)
        control.set_defaults(run=cmd_control, move=move)

    # -- list -----------------------------------------------------------------------------------
    listing = commands.add_parser(
        "list",
        aliases=["resends"],
        help="the tenant's resend jobs, newest first",
        description="List the tenant's resend jobs (GET /resends, every page), newest first, one "
        "line each: id, status, creation time, counters.",
    )
    listing.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this status")
    listing.add_argument(
        "--limit", type=positive_int, metavar="N", help="print at most N jobs (default: all)"
    )
    _json_option(listing, "one JSON object per line")
    _connection_options(listing, on_command=True)
    listing.set_defaults(run=cmd_list)

    # -- deliveries -----------------------------------------------------------------------------
    deliveries = commands.add_parser(
        "deliveries",
        help="a resend job's delivery records, one line each",
        description="List a resend job's delivery records (GET /resends/{id}/deliveries, every "
        "page), one line each: status, attempts, last status code, URL, last error.",
    )
    deliveries.add_argument("id", help="the resend job's id")
    deliveries.add_argument("--status", choices=DELIVERY_STATUSES, help="only deliveries in this status")
    deliveries.add_argument(
        "--limit", type=positive_int, metavar="N", help="print at most N deliveries (default: all)"
    )
    _json_option(deliveries, "one JSON object per line")
    _connection_options(deliveries, on_command=True)
    deliveries.set_defaults(run=cmd_deliveries)

    # -- settings (issue 15) --------------------------------------------------------------------
    settings = commands.add_parser(
        "settings",
        help="the tenant's settings: settings get | settings set notify_url URL",
        description="Show or change the tenant's settings (GET/PUT /settings). notify_url is where "
        "the service posts its operational events (resend.completed, resend.cancelled, resend.rejected, "
        "webhook.deactivated), signed "
        "with the tenant's callback_secret.",
    )
    settings_commands = settings.add_subparsers(dest="settings_command", metavar="COMMAND", required=True)
    get = settings_commands.add_parser("get", help="show the settings")
    _json_option(get, "the settings")
    _connection_options(get, on_command=True)
    get.set_defaults(run=cmd_settings_get)
    put = settings_commands.add_parser(
        "set", help="set one setting: set notify_url URL", description="Set one setting; the others stay."
    )
    put.add_argument("name", choices=SETTINGS, help="the setting")
    put.add_argument("value", help="its value (a URL for notify_url)")
    _json_option(put, "the settings")
    _connection_options(put, on_command=True)
    put.set_defaults(run=cmd_settings_set)
    unset = settings_commands.add_parser(
        "unset", help="clear one setting: unset notify_url", description="Clear one setting; the others stay."
    )
    unset.add_argument("name", choices=SETTINGS, help="the setting")
    _json_option(unset, "the settings")
    _connection_options(unset, on_command=True)
    unset.set_defaults(run=cmd_settings_set, value=None)
    _items_parser(commands)
    return parser


def _interval_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"seconds between polls with --watch (default: {DEFAULT_INTERVAL_SECONDS:g})",
    )


def resend_body(args: argparse.Namespace) -> dict[str, Any]:
    """The `POST /resends` body the arguments ask for; only what was given."""
    body: dict[str, Any] = {}
    if args.event:
        body["event"] = args.event
    if args.item_ids:
        body["item_ids"] = list(args.item_ids)
    if args.task_ids:
        body["task_ids"] = list(args.task_ids)
    if args.filter is not None:
        body["filter"] = args.filter
    if args.webhook_ids:
        body["webhook_ids"] = list(args.webhook_ids)
    if args.failed_since:
        body["delivery_status"] = "failed"
        body["since"] = args.failed_since
    if args.dry_run:
        body["dry_run"] = True
    return body


# ---------------------------------------------------------------------------------------------
# Watching a job
# ---------------------------------------------------------------------------------------------
def bar_width(job: Mapping[str, Any], columns: int | None) -> int:
    """The widest bar (up to BAR_WIDTH) that keeps the progress line within `columns` - 1."""
    if not columns:
        return BAR_WIDTH
    rest = len(render_progress(job, 1)) - 1
    return max(5, min(BAR_WIDTH, columns - 1 - rest))


def exit_code(job: Mapping[str, Any]) -> int:
    return EXIT_FAILED_PAIRS if int(job.get("failed") or 0) > 0 else EXIT_OK


def watch(
    client: Client,
    job_id: str,
    *,
    interval: float,
    out: TextIO,
    err: TextIO,
    tty: bool,
    as_json: bool = False,
    columns: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll the job until it is completed, cancelled or rejected; 0 when no pair failed, 2 when
    some did, 1 when it was rejected.

    On a terminal the progress line is redrawn in place; anywhere else (a pipe, a log, --json)
    a line is printed each time it changes.
    """
    redraw = tty and not as_json
    drawn = 0  # length of the line on screen, so a shorter one can blank its tail
    shown = None
    try:
        while True:
            job = client.get_resend(job_id)
            line = json.dumps(job) if as_json else render_progress(job, bar_width(job, columns))
            if line != shown:
                if redraw:
                    out.write("\r" + line.ljust(drawn))
                    drawn = len(line)
                else:
                    out.write(line + "\n")
                out.flush()
                shown = line
            if is_final(job):
                break
            sleep(interval)
    except KeyboardInterrupt:
        if drawn:
            out.write("\n")
        err.write(f"stopped watching; the resend goes on: {PROG} status {clean(job_id)} --watch\n")
        return EXIT_INTERRUPTED
    if drawn:
        out.write("\n")
        out.flush()
    if job.get("status") == "cancelled":
        err.write(f"resend {clean(job_id)} was cancelled with {int(job.get('pending') or 0)} pairs pending\n")
    if job.get("status") == "rejected":
        err.write(
            f"resend {clean(job_id)} was rejected: {clean(job.get('reason') or 'nothing was queued')}\n"
        )
        return EXIT_ERROR
    return exit_code(job)


# ---------------------------------------------------------------------------------------------
# Commands: each answers an exit code
# ---------------------------------------------------------------------------------------------
@dataclass
class Io:
    out: TextIO
    err: TextIO
    tty: bool
    columns: int | None


def _print_lines(lines: Sequence[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out)


def cmd_tenant_create(args: argparse.Namespace, client: Client, io: Io) -> int:
    credentials = client.create_tenant(args.name)
    if args.json:
        print(json.dumps(credentials, indent=2), file=io.out)
    else:
        _print_lines(format_credentials(credentials), io.out)
    print("These credentials are shown once and never again: store them now.", file=io.err)
    return EXIT_OK


def _watch(args: argparse.Namespace, client: Client, io: Io, job_id: str) -> int:
    return watch(
        client,
        job_id,
        interval=args.interval,
        out=io.out,
        err=io.err,
        tty=io.tty,
        as_json=args.json,
        columns=io.columns,
    )


def cmd_resend(args: argparse.Namespace, client: Client, io: Io) -> int:
    answer = client.create_resend(resend_body(args), args.idempotency_key)
    if answer.get("dry_run"):
        print(json.dumps(answer, indent=2) if args.json else "\n".join(format_dry_run(answer)), file=io.out)
        return EXIT_OK
    if not args.watch:
        print(json.dumps(answer, indent=2) if args.json else "\n".join(format_job(answer)), file=io.out)
        return EXIT_OK
    # Watching: the job's document first (its id is what later commands need), then progress.
    print(json.dumps(answer) if args.json else "\n".join(format_job(answer)), file=io.out)
    return _watch(args, client, io, str(answer["id"]))


def cmd_status(args: argparse.Namespace, client: Client, io: Io) -> int:
    if args.watch:
        return _watch(args, client, io, args.id)
    job = client.get_resend(args.id)
    print(json.dumps(job, indent=2) if args.json else "\n".join(format_job(job)), file=io.out)
    return EXIT_OK


def cmd_control(args: argparse.Namespace, client: Client, io: Io) -> int:
    job = client.control_resend(args.id, args.move)
    print(json.dumps(job, indent=2) if args.json else "\n".join(format_job(job)), file=io.out)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, client: Client, io: Io) -> int:
    for job in client.iter_resends(status=args.status, limit=args.limit):
        print(json.dumps(job) if args.json else format_job_line(job), file=io.out)
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace, client: Client, io: Io) -> int:
    for record in client.iter_deliveries(args.id, status=args.status, limit=args.limit):
        print(json.dumps(record) if args.json else format_delivery(record), file=io.out)
    return EXIT_OK


def _print_settings(args: argparse.Namespace, settings: dict[str, Any], io: Io) -> None:
    print(json.dumps(settings, indent=2) if args.json else "\n".join(format_settings(settings)), file=io.out)


def cmd_settings_get(args: argparse.Namespace, client: Client, io: Io) -> int:
    _print_settings(args, client.get_settings(), io)
    return EXIT_OK


def cmd_settings_set(args: argparse.Namespace, client: Client, io: Io) -> int:
    # PUT replaces every setting: the others are sent back as they are.
    settings = {**client.get_settings(), args.name: args.value}
    _print_settings(args, client.put_settings(settings), io)
    return EXIT_OK


# -- items import (issue 19) -----------------------------------------------------------------
def _items_parser(commands: Any) -> None:
    items = commands.add_parser("items", help="content items: items import FILE.jsonl")
    items_commands = items.add_subparsers(dest="items_command", metavar="COMMAND", required=True)
    load = items_commands.add_parser(
        "import",
        help="load content items from a JSON Lines file (resumable)",
        description="Load content items, one JSON object a line in the shape GET "
        "/content_items/{id} answers (id included), in batches of up to 100 lines with the bulk "
        "write PUT /content_items, several batches in flight. Lines the API accepted are recorded "
        "in a progress file beside the input: a re-run skips them (unless their text changed) "
        "and sends the rest. What is refused is "
        "listed by line number with the API's message. Exit code 1 if any line was refused or "
        "could not be sent.",
    )
    load.add_argument("file", type=Path, help="the JSON Lines file")
    load.add_argument(
        "--workers",
        type=positive_int,
        default=importer.DEFAULT_WORKERS,
        help=f"batches in flight (default: {importer.DEFAULT_WORKERS})",
    )
    load.add_argument(
        "--batch",
        type=batch_size,
        default=importer.BATCH_ITEMS,
        metavar="N",
        help=f"lines a request, 1 to {importer.BATCH_ITEMS} (default: {importer.BATCH_ITEMS})",
    )
    load.add_argument(
        "--progress", type=Path, metavar="FILE", help="the progress file (default: FILE.jsonl.progress)"
    )
    load.add_argument("--restart", action="store_true", help="forget the progress file: send every line")
    _json_option(load, "the summary")
    _connection_options(load, on_command=True)
    load.set_defaults(run=cmd_items_import)


def cmd_items_import(args: argparse.Namespace, client: Client, io: Io) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"cannot read {path}: no such file")
    target = getattr(client, "target_digest", lambda: "")()
    progress_path = args.progress or path.with_name(path.name + importer.PROGRESS_SUFFIX)
    progress = importer.Progress(progress_path, importer.progress_header(target), restart=args.restart)
    if progress.ignored_other_target:
        print(f"{progress_path} was written for another API or tenant: every line is sent", file=io.err)
    bar = importer.Bar(io.err, _stdout_is_terminal(io.err), importer.count_lines(path))
    try:
        summary = importer.import_items(
            path,
            client,
            progress,
            workers=args.workers,
            batch_items=args.batch,
            on_progress=bar.show,  # type: ignore[arg-type]
        )
    finally:
        progress.close()
    bar.show(summary, final=True)
    if args.json:
        print(json.dumps(importer.summary_document(summary)), file=io.out)
    else:
        _print_lines(importer.format_summary(summary, str(path)), io.out)
    return EXIT_ERROR if summary.refused or summary.failed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def _stdout_is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    # The reader of a pipe went away (`... | head`): let the interpreter's final flush go nowhere.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Run one command; answers its exit code (0 done, 1 error, 2 failed pairs, 130 interrupted)."""
    out, err = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_ERROR
    config = resolve_config(args, os.environ if environ is None else environ)
    tty = _stdout_is_terminal(out)
    io = Io(out, err, tty, shutil.get_terminal_size().columns if tty else None)
    try:
        client = (client_factory or default_client)(config)
        return int(args.run(args, client, io))
    except ApiError as error:
        for line in format_errors(error.status, error.document, error.text):
            print(line, file=err)
        return EXIT_ERROR
    except CliError as error:
        print(f"error: {error}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
