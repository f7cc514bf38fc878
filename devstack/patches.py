"""What every layer of the local stack over moto shares: a set of patches installed and
uninstalled together, idempotently, under one lock.

A `Patch` replaces an attribute of a class or a module with `wrap(what was there)` (a method, a
module's function, a property: whatever `getattr` on the owner answers). `Layer.install()` keeps
what each owner held itself, so `uninstall()` puts exactly that back, or deletes the attribute
when the owner only inherited it; tests compare patched and unpatched moto in one process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_INHERITED = object()


@dataclass(frozen=True)
class Patch:
    owner: Any
    name: str
    wrap: Callable[[Any], Any]


class Layer:
    def __init__(
        self,
        *patches: Patch,
        lock: threading.Lock | threading.RLock | None = None,
        on_uninstall: Callable[[], None] | None = None,
    ) -> None:
        """`lock`: the layer's own, when its code takes it too; `on_uninstall`: what to forget
        (caches) once moto is back as released."""
        self._patches = patches
        self._lock = lock or threading.Lock()
        self._on_uninstall = on_uninstall
        self._kept: list[tuple[Patch, Any]] | None = None

    def install(self) -> None:
        with self._lock:
            if self._kept is not None:
                return
            kept = []
            for patch in self._patches:
                kept.append((patch, vars(patch.owner).get(patch.name, _INHERITED)))
                setattr(patch.owner, patch.name, patch.wrap(getattr(patch.owner, patch.name)))
            self._kept = kept

    def installed(self) -> bool:
        return self._kept is not None

    def uninstall(self) -> None:
        with self._lock:
            if self._kept is None:
                return
            for patch, held in reversed(self._kept):
                if held is _INHERITED:
                    delattr(patch.owner, patch.name)
                else:
                    setattr(patch.owner, patch.name, held)
            self._kept = None
            if self._on_uninstall is not None:
                self._on_uninstall()
