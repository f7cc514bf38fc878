"""The functions of the template, run in this process the way Lambda runs them.

Each function gets one warm "container": its handler is imported once (from its `CodeUri`, with
its layers on `sys.path`) and its invocations are serialised, because Powertools resolvers and
cold-start clients keep per-request state on module globals. Different functions run in
parallel, as separate containers would.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack.resources import FunctionSpec, Stack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_LAYER = PROJECT_ROOT / "layers" / "common"

Handler = Callable[[Any, Any], Any]

# Imports and sys.path edits from several gateway threads must not interleave.
_LOAD_LOCK = threading.RLock()


class LambdaContext:
    """The context object Lambda passes to a handler, with the attributes Powertools reads."""

    def __init__(self, spec: FunctionSpec, *, log_stream_name: str | None = None) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = log_stream_name or new_log_stream_name()
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_log_stream_name() -> str:
    """A log stream name shaped like Lambda's: `2024/01/02/[$LATEST]<32 hex>`."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


def _search_paths(spec: FunctionSpec) -> list[Path]:
    paths = [spec.code_uri, *spec.layer_paths]
    if PROJECT_LAYER.is_dir():
        paths.append(PROJECT_LAYER)
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def _entry_file(code_uri: Path, module_name: str) -> Path:
    base = code_uri.joinpath(*module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ImportError(f"no module {module_name} in {code_uri}")


def _same_file(module: ModuleType, path: Path) -> bool:
    module_file = getattr(module, "__file__", None)
    return module_file is not None and Path(module_file).resolve() == path.resolve()


def load_handler(spec: FunctionSpec, *, added_paths: list[str] | None = None) -> Handler:
    """Import the function's entry module and return its handler (`module.func`).

    The code folder goes first on `sys.path`, then the layers (the template's local layers and
    the project's `layers/common`). An entry module of the same name imported from another
    folder is replaced: it belongs to another "container". Paths added to `sys.path` are
    appended to `added_paths` so the caller can take them away again.
    """
    module_name, _, attribute = spec.handler.rpartition(".")
    if not module_name:
        raise ImportError(f"{spec.logical_id}: handler {spec.handler!r} is not module.function")
    with _LOAD_LOCK:
        for path in reversed(_search_paths(spec)):
            entry = str(path)
            if entry in sys.path:
                sys.path.remove(entry)
            elif added_paths is not None:
                added_paths.append(entry)
            sys.path.insert(0, entry)
        entry_file = _entry_file(spec.code_uri, module_name)
        module = sys.modules.get(module_name)
        if module is None or not _same_file(module, entry_file):
            sys.modules.pop(module_name, None)
            importlib.invalidate_caches()
            if "." in module_name:
                module = importlib.import_module(module_name)
            else:
                # From the file itself: an earlier function's folder on sys.path must not win.
                module_spec = importlib.util.spec_from_file_location(module_name, entry_file)
                if module_spec is None or module_spec.loader is None:
                    raise ImportError(f"cannot load {entry_file}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[module_name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ImportError(f"{spec.logical_id}: {spec.handler} is not a callable")
    return handler


class Invoker:
    """One warm container of one function: loads the handler on first use, runs one at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        handler: Handler | None = None,
        *,
        added_paths: list[str] | None = None,
    ) -> None:
        self.spec = spec
        self._handler = handler
        self._lock = threading.Lock()
        self._added_paths = added_paths
        self.log_stream_name = new_log_stream_name()

    @property
    def loaded(self) -> bool:
        return self._handler is not None

    def load(self) -> Handler:
        """The handler, imported now if it was not yet (a cold start)."""
        if self._handler is None:
            self._handler = load_handler(self.spec, added_paths=self._added_paths)
        return self._handler

    def new_context(self) -> LambdaContext:
        return LambdaContext(self.spec, log_stream_name=self.log_stream_name)

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event` and return what it returns (exceptions propagate)."""
        with self._lock:
            handler = self.load()
            return handler(event, self.new_context())


class Invokers(Mapping[str, Invoker]):
    """An `Invoker` for every function of a stack, by logical id.

    `close()` forgets the project modules the functions imported (and the `sys.path` entries
    they needed), so the next stack in this process cold-starts with clients for its own
    endpoint; modules that were imported before this object existed are left alone.
    """

    def __init__(self, functions: Iterable[FunctionSpec]) -> None:
        self._added_paths: list[str] = []
        self._modules_before = set(sys.modules)
        self._invokers = {spec.logical_id: Invoker(spec, added_paths=self._added_paths) for spec in functions}

    @classmethod
    def from_stack(cls, stack: Stack) -> Invokers:
        return cls(stack.functions())

    def __getitem__(self, logical_id: str) -> Invoker:
        return self._invokers[logical_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._invokers)

    def __len__(self) -> int:
        return len(self._invokers)

    def by_arn(self, arn_or_name: str) -> Invoker:
        """The invoker of the function an ARN, a function name or a logical id points at."""
        for invoker in self._invokers.values():
            spec = invoker.spec
            if arn_or_name in (spec.arn, spec.function_name, spec.logical_id):
                return invoker
            # Qualified ARNs (`...:function:Name:$LATEST`) point at the same function.
            if arn_or_name.startswith(spec.arn + ":"):
                return invoker
        raise KeyError(f"no function {arn_or_name}")

    def invoke(self, logical_id: str, event: Any) -> Any:
        return self[logical_id].invoke(event)

    def close(self) -> None:
        roots = {path for invoker in self._invokers.values() for path in _search_paths(invoker.spec)}
        with _LOAD_LOCK:
            for name in set(sys.modules) - self._modules_before:
                module_file = getattr(sys.modules.get(name), "__file__", None)
                if module_file and any(Path(module_file).resolve().is_relative_to(root) for root in roots):
                    del sys.modules[name]
                    # A submodule is also an attribute of its package; a package that stays
                    # loaded must not hand the next import the forgotten module.
                    parent_name, _, child = name.rpartition(".")
                    parent = sys.modules.get(parent_name)
                    if parent is not None and getattr(parent, child, None) is not None:
                        delattr(parent, child)
            for entry in self._added_paths:
                if entry in sys.path:
                    sys.path.remove(entry)
            self._added_paths.clear()
