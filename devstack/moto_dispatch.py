"""moto's server without the per-request work whose answer never changes while it runs.

moto 5.2.5 (pinned), for every request of every service its server handles:

* `DomainDispatcherApplication.get_backend_for_host` asks `moto.backends.list_of_moto_modules()`
  whether the host names a service, and that lists moto's package directory and stats each of its
  ~170 entries (twice a request: about 1 ms of a 7.6 ms SendMessageBatch of 10 messages);
* `BaseResponse.call_action` lists the response class's methods with `inspect.getmembers`
  (`moto.core.utils.method_names_from_class`) to find the action's handler;
* `DomainDispatcherApplication.get_backend_for_host`, for a host that is not a module's name
  (`sqs.us-east-1.amazonaws.com`), tries the URL patterns of the backends in turn (183 regular
  expressions; DynamoDB's is the 52nd, SQS's the 163rd), twice a request: 3 % of moto's process while
  the local stack selected 20,000 items (py-spy).

`install()` answers all three from what they answered the first time: the package directory does
not change while the server runs, the response classes' methods are the classes' own (nothing
adds or removes one at run time; the devstack layers patch model classes, not response classes),
and a host's backend depends only on the host, the package listing and the application's list of
patterns, which is moto's own (`backend_index.backend_url_patterns`) and never changes (a host no
backend matches is not kept: moto prints a line for it each time).
Every answer stays moto's own (`tests/unit/devstack/test_moto_dispatch.py` runs the DynamoDB
and SQS comparison scripts with it). DynamoDB requests, which the local stack takes one at a
time (`devstack.aws`), spend less time holding that lock too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import moto.backends as moto_backends
import moto.core.responses as moto_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from devstack.patches import Layer, Patch


def _cached_modules(original: Callable[[], Iterable[str]]) -> Callable[[], Iterable[str]]:
    found: list[tuple[str, ...]] = []

    def list_of_moto_modules() -> Iterable[str]:
        if not found:
            found.append(tuple(original()))
        return iter(found[0])

    return list_of_moto_modules


def _cached_method_names(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    found: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = found.get(clazz)
        if names is None:
            names = found[clazz] = original(clazz)
        return list(names)  # a list of its own, as moto's answer is

    return method_names_from_class


def _cached_backend_for_host(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    found: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if type(host) is not str:
            return original(self, host)
        hosts = found.get(self)
        if hosts is None:
            hosts = found.setdefault(self, {})
        backend = hosts.get(host)
        if backend is None:
            backend = original(self, host)
            if backend is not None:
                hosts[host] = backend
        return backend

    return get_backend_for_host


# moto's request dispatch (5.2.5), patched in this process by `install()` (idempotent), put back
# by `uninstall()`.
_layer = Layer(
    Patch(moto_backends, "list_of_moto_modules", _cached_modules),
    Patch(moto_responses, "method_names_from_class", _cached_method_names),
    Patch(DomainDispatcherApplication, "get_backend_for_host", _cached_backend_for_host),
)
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
