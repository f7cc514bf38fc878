"""moto as the local stack's AWS, over HTTP, with DynamoDB's per-request atomicity.

moto's server handles each request on its own thread, and its DynamoDB backend changes items in
place: an UpdateItem applies its actions one after another (`ADD delivered :3, pending :-3` is
two steps), and TransactWriteItems writes its items one by one and rolls back a failed
transaction by putting back a copy of the whole table taken before it started. A request running
meanwhile can therefore read half an update (a job with `delivered` counted and `pending` not yet
taken down), or have its own write undone by another request's rollback. DynamoDB itself makes
each item write atomic and isolates transactions.

`MotoServer` gives the local stack that atomicity: it runs moto's own server with DynamoDB
requests taken one at a time. Other services (SQS long polls in particular) are not serialized.
Taken one at a time, a TransactWriteItems also needs its table backed up only once: moto copies the
whole table once per item of the transaction (`backup_each_table_once`), which made a delivery
batch of 10 pairs copy a table of a few thousand items 11 times.
Unless `verbose`, it does not log a line per request either (werkzeug's default): those lines
would bury everything else `make run` and the tests print.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

# The X-Amz-Target of every DynamoDB (and DynamoDB Streams) call: "DynamoDB_20120810.UpdateItem"
_DYNAMODB_TARGET = "DynamoDB"


class OneDynamoDBRequestAtATime:
    """WSGI middleware: DynamoDB requests run under one lock, their whole answer produced
    inside it; every other request goes straight through."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class _Backups(threading.local):
    """The copies taken by the TransactWriteItems running on this thread (None outside one)."""

    copies: dict[int, tuple[Any, Any]] | None = None


class _CopyModule:
    """moto's `copy` module, except that inside a TransactWriteItems (on the calling thread) the
    same object is deep-copied once, its copy answered again; the originals are kept, so no id is
    reused meanwhile."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.backups = _Backups()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        copies = self.backups.copies
        if copies is None:
            return self._real.deepcopy(value, memo)
        found = copies.get(id(value))
        if found is None:
            found = copies[id(value)] = (value, self._real.deepcopy(value, memo))
        return found[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def backup_each_table_once() -> None:
    """Make moto's TransactWriteItems (5.2.5, pinned) back each table up once, not once per item:
    before writing, it takes `copy.deepcopy(table)` for every item of the transaction, keeping the
    last copy of each table, all equal. Its other deep copy (an updated item's old value) is of
    an item a transaction touches once. Idempotent; per thread, so concurrent transactions (moto
    in-process, unserialized) keep copies of their own."""
    import moto.dynamodb.models as models

    if isinstance(models.copy, _CopyModule):
        return
    shim = _CopyModule(models.copy)
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shim.backups.copies = {}
        try:
            original(self, transact_items)
        finally:
            shim.backups.copies = None

    models.copy = shim  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class MotoServer(ThreadedMotoServer):
    """`ThreadedMotoServer` with its application wrapped in `OneDynamoDBRequestAtATime`, and
    quiet unless `verbose`."""

    def _server_entry(self) -> None:
        # ThreadedMotoServer._server_entry (moto 5.2.5, pinned), with the application wrapped and
        # the handler chosen: moto has no hook for either.
        backup_each_table_once()
        app = OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
        handler = MotoRequestHandler if self._verbose else _QuietRequestHandler
        self._server = make_server(self._ip_address, self._port, app, threaded=True, request_handler=handler)
        self._server_ready_event.set()
        self._server.serve_forever()
