"""devstack.patches: a layer's patches go on once and come off exactly, whatever the owner held."""

from __future__ import annotations

from typing import Any

from devstack.patches import Layer, Patch


class Base:
    def inherited(self) -> str:
        return "base"


class Owner(Base):
    def own(self) -> str:
        return "own"


def shouting(original: Any) -> Any:
    return lambda self: original(self).upper()


def test_a_layer_installs_once_and_puts_back_what_each_owner_held() -> None:
    forgotten = []
    own, inherited = Owner.__dict__["own"], Base.__dict__["inherited"]
    layer = Layer(
        Patch(Owner, "own", shouting),
        Patch(Owner, "inherited", shouting),
        on_uninstall=lambda: forgotten.append(True),
    )

    layer.install()
    layer.install()  # idempotent: not wrapped twice
    assert layer.installed()
    assert (Owner().own(), Owner().inherited()) == ("OWN", "BASE")

    layer.uninstall()
    layer.uninstall()
    assert not layer.installed()
    assert Owner.__dict__["own"] is own
    assert "inherited" not in Owner.__dict__  # deleted, not pinned: Base's is seen again
    assert Base.__dict__["inherited"] is inherited
    assert forgotten == [True]
