"""A DynamoDB front for the selection benchmark: a threaded HTTP server in a process of its own on
127.0.0.1 that answers `Query` on the items index (`items_by_created`) of the partitions it was
loaded with, from its own sorted copy of their entries, and forwards every other request, as it
came, to moto.

Why: moto answers a Query by walking and sorting every item of the table through its typed
values, and backs the whole table up for each transaction; with 20,000 items a Query of a page
took it 2 to 4 s and each step's claim 3 s, so a selection of 20,000 items (about 30 Queries and
20 transactions) took minutes of moto's time per run, which `make bench`'s 10 minutes cannot hold.
The client's side is what is measured, and it is unchanged: the same requests, the same
botocore work (serialising, signing, the HTTP exchange, parsing the same shape of answer).

What it evaluates, as DynamoDB does (and refuses, with a 400, anything else, so that a change of
the product's requests fails the bench instead of being answered wrongly):
* KeyConditionExpression `gsi1pk = :pk`, optionally `AND gsi1sk BETWEEN :lo AND :hi`, `>= :lo`
  or `<= :hi`; entries in (gsi1sk, pk, sk) order, from after ExclusiveStartKey;
* FilterExpression: terms joined by AND, each `#a = :v`, `#a IN (:v, ...)`, `contains(#a, :v)`,
  `#a < | <= | > | >= :v`, or such terms joined by OR in parentheses; a missing attribute
  matches nothing;
* Limit (entries read, before the filter), the 1 MB of entries read per page (sizes by DynamoDB's
  rule: attribute names plus values), LastEvaluatedKey whenever a page stopped at either,
  ProjectionExpression, Select=COUNT; Count and ScannedCount.
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import signal
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"
INDEX = "items_by_created"
KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")
PAGE_BYTES = 1024 * 1024
CONTROL = "/__bench/"
READY_TIMEOUT_S = 15.0

_KEY_CONDITION = re.compile(
    r"^gsi1pk = (:\w+)(?: AND gsi1sk (?:BETWEEN (:\w+) AND (:\w+)|(>=) (:\w+)|(<=) (:\w+)))?$"
)
_COMPARE = re.compile(r"^(#\w+) (=|<|<=|>|>=) (:\w+)$")
_IN = re.compile(r"^(#\w+) IN \(([^()]*)\)$")
_CONTAINS = re.compile(r"^contains\((#\w+), (:\w+)\)$")


class UnsupportedError(ValueError):
    """A request this front does not evaluate: answered 400, never guessed at."""


class IndexEndpoint:
    """Starts the server process on entering, stops it on leaving; `load` gives it entries,
    `forward_to` the moto endpoint everything else goes to."""

    def __init__(self) -> None:
        self.url = ""
        self._process: Any = None
        self._port = 0

    def __enter__(self) -> IndexEndpoint:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_serve, args=(child_end, os.getpid()), name="bench-ddb", daemon=True
        )
        self._process.start()
        child_end.close()
        try:
            if not parent_end.poll(READY_TIMEOUT_S):
                raise RuntimeError("the index endpoint did not start")
            self._port = int(parent_end.recv())
        except BaseException:
            self.stop()
            raise
        finally:
            parent_end.close()
        self.url = f"http://{HOST}:{self._port}"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = None

    def _control(self, what: str, body: Any) -> Any:
        connection = http.client.HTTPConnection(HOST, self._port, timeout=60)
        try:
            connection.request("POST", CONTROL + what, body=json.dumps(body))
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def forward_to(self, url: str) -> None:
        self._control("target", {"url": url})

    def load(self, entries: list[dict[str, Any]]) -> int:
        """Index entries in AttributeValue form (keys and projected attributes); answers how many
        the endpoint holds in all."""
        return int(self._control("load", {"entries": entries})["entries"])

    def stats(self) -> dict[str, int]:
        return self._control("stats", {})


# -- evaluating (the child process) ---------------------------------------------------------------
def _text(attr: dict[str, Any] | None) -> str | None:
    return attr.get("S") if attr else None


def _size(entry: dict[str, Any]) -> int:
    """An entry's size by DynamoDB's rule (names and values; strings in UTF-8 bytes)."""
    total = 0
    for name, attr in entry.items():
        total += len(name.encode())
        total += _value_size(attr)
    return total


def _value_size(attr: dict[str, Any]) -> int:
    ((kind, value),) = attr.items()
    if kind == "S":
        return len(value.encode())
    if kind == "N":
        return len(value)
    if kind == "BOOL" or kind == "NULL":
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value.items())
    if kind == "SS":
        return sum(len(v.encode()) for v in value)
    raise UnsupportedError(f"attribute type {kind}")


def _split(expression: str, word: str) -> list[str]:
    """`expression` split at ` word ` outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    token = f" {word} "
    while i < len(expression):
        char = expression[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and expression.startswith(token, i):
            parts.append(expression[start:i])
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(expression[start:])
    return [p.strip() for p in parts]


def compile_filter(
    expression: str, names: dict[str, str], values: dict[str, Any]
) -> Callable[[dict[str, Any]], bool]:
    terms = [_term(t, names, values) for t in _split(expression, "AND")]
    return lambda entry: all(term(entry) for term in terms)


def _term(text: str, names: dict[str, str], values: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    if text.startswith("(") and text.endswith(")") and not _IN.match(text):
        options = [_term(t, names, values) for t in _split(text[1:-1], "OR")]
        return lambda entry: any(option(entry) for option in options)
    if match := _CONTAINS.match(text):
        name, wanted = names[match.group(1)], values[match.group(2)]

        def contains(entry: dict[str, Any]) -> bool:
            attr = entry.get(name)
            if attr is None:
                return False
            if "L" in attr:
                return wanted in attr["L"]
            if "SS" in attr:
                return wanted.get("S") in attr["SS"]
            if "S" in attr:
                return wanted.get("S", "") in attr["S"]
            return False

        return contains
    if match := _IN.match(text):
        name = names[match.group(1)]
        options = [values[v.strip()] for v in match.group(2).split(",")]
        return lambda entry: entry.get(name) in options
    if match := _COMPARE.match(text):
        name, op, wanted = names[match.group(1)], match.group(2), values[match.group(3)]
        if op == "=":
            return lambda entry: entry.get(name) == wanted
        limit = _text(wanted)
        if limit is None:
            raise UnsupportedError(f"comparison with a non-string value: {text}")
        compare = {"<": str.__lt__, "<=": str.__le__, ">": str.__gt__, ">=": str.__ge__}[op]

        def compares(entry: dict[str, Any]) -> bool:
            actual = _text(entry.get(name))
            return actual is not None and compare(actual, limit)

        return compares
    raise UnsupportedError(f"FilterExpression term not evaluated here: {text}")


class _Index:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.partitions: dict[str, tuple[list[tuple[str, str, str]], list[dict[str, Any]]]] = {}
        self.queries = 0

    def load(self, entries: list[dict[str, Any]]) -> int:
        with self.lock:
            for entry in entries:
                partition = self.partitions.setdefault(entry["gsi1pk"]["S"], ([], []))
                order = (entry["gsi1sk"]["S"], entry["pk"]["S"], entry["sk"]["S"])
                at = bisect.bisect_left(partition[0], order)
                if at < len(partition[0]) and partition[0][at] == order:
                    partition[1][at] = entry
                else:
                    partition[0].insert(at, order)
                    partition[1].insert(at, entry)
            return sum(len(p[0]) for p in self.partitions.values())

    def answers(self, request: dict[str, Any]) -> bool:
        values = request.get("ExpressionAttributeValues") or {}
        match = _KEY_CONDITION.match(request.get("KeyConditionExpression", ""))
        pk = _text(values.get(match.group(1))) if match else None
        return request.get("IndexName") == INDEX and pk in self.partitions

    def query(self, request: dict[str, Any]) -> dict[str, Any]:
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        match = _KEY_CONDITION.match(request.get("KeyConditionExpression", ""))
        if match is None:
            raise UnsupportedError(f"KeyConditionExpression {request.get('KeyConditionExpression')!r}")
        unknown = set(request) - {
            "TableName", "IndexName", "KeyConditionExpression", "FilterExpression",
            "ExpressionAttributeNames", "ExpressionAttributeValues", "ExclusiveStartKey", "Limit",
            "ProjectionExpression", "Select", "ReturnConsumedCapacity",
        }  # fmt: skip
        if unknown or request.get("Select", "COUNT") not in ("COUNT", "ALL_PROJECTED_ATTRIBUTES"):
            raise UnsupportedError(f"Query parameters {sorted(unknown)} / Select {request.get('Select')}")
        pk = _text(values[match.group(1)])
        lo = hi = None
        if match.group(2):
            lo, hi = _text(values[match.group(2)]), _text(values[match.group(3)])
        elif match.group(4):
            lo = _text(values[match.group(5)])
        elif match.group(6):
            hi = _text(values[match.group(7)])
        keep = (
            compile_filter(request["FilterExpression"], names, values)
            if request.get("FilterExpression")
            else (lambda entry: True)
        )
        projected = (
            [names.get(p.strip(), p.strip()) for p in request["ProjectionExpression"].split(",")]
            if request.get("ProjectionExpression")
            else None
        )
        count_only = request.get("Select") == "COUNT"
        limit = int(request.get("Limit") or 0)
        with self.lock:
            self.queries += 1
            orders, entries = self.partitions.get(pk or "", ([], []))
            start = request.get("ExclusiveStartKey")
            if start:
                after = (start["gsi1sk"]["S"], start["pk"]["S"], start["sk"]["S"])
                at = bisect.bisect_right(orders, after)
            else:
                at = bisect.bisect_left(orders, (lo,)) if lo is not None else 0
            items: list[dict[str, Any]] = []
            count = scanned = read = 0
            last: dict[str, Any] | None = None
            while at < len(orders):
                if hi is not None and orders[at][0] > hi:
                    break
                entry = entries[at]
                at += 1
                scanned += 1
                read += _size(entry)
                if keep(entry):
                    count += 1
                    if not count_only:
                        items.append(
                            {k: v for k, v in entry.items() if k in projected} if projected else entry
                        )
                if (limit and scanned >= limit) or read >= PAGE_BYTES:
                    last = {k: entry[k] for k in KEYS}
                    break
        answer: dict[str, Any] = {"Count": count, "ScannedCount": scanned}
        if not count_only:
            answer["Items"] = items
        if last is not None:
            answer["LastEvaluatedKey"] = last
        return answer


def _handler_class(index: _Index, target: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, answer: Any) -> None:
            self._reply(
                status,
                json.dumps(answer).encode(),
                [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", str(uuid.uuid4()))],
            )

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith(CONTROL):
                what = self.path.removeprefix(CONTROL)
                body = json.loads(raw or b"{}")
                if what == "target":
                    target["url"] = body["url"]
                    self._json(200, {})
                elif what == "load":
                    self._json(200, {"entries": index.load(body["entries"])})
                else:
                    self._json(200, {"queries": index.queries})
                return
            if self.headers.get("X-Amz-Target", "").endswith(".Query"):
                request = json.loads(raw or b"{}")
                if index.answers(request):
                    try:
                        self._json(200, index.query(request))
                    except (UnsupportedError, KeyError) as exc:
                        self._json(
                            400,
                            {
                                "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                                "message": f"bench index endpoint: {exc}",
                            },
                        )
                    return
            self._forward(raw)

        def _forward(self, raw: bytes) -> None:
            parsed = urllib.parse.urlsplit(target["url"])
            connection = getattr(local, "connection", None)
            for attempt in range(2):  # a kept connection moto closed meanwhile: once more, anew
                if connection is None:
                    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
                    local.connection = connection
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    connection.request("POST", self.path, body=raw, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                except (http.client.HTTPException, OSError):
                    connection.close()
                    connection = local.connection = None
                    if attempt:
                        raise
                    continue
                kept = [
                    (k, v)
                    for k, v in response.getheaders()
                    if k.lower()
                    not in ("content-length", "connection", "transfer-encoding", "server", "date")
                ]
                self._reply(response.status, body, kept)
                return

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _serve(conn: Connection, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = _Server((HOST, 0), _handler_class(_Index(), {"url": ""}))
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)

    def orphan_watch() -> None:
        while not stopping.wait(1.0):
            if os.getppid() != parent_pid:
                stop()

    threading.Thread(target=orphan_watch, daemon=True).start()
    with contextlib.suppress(OSError):
        conn.send(server.server_address[1])
    conn.close()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
