"""moto's DynamoDB answers serialised without its generic walk of every attribute value.

moto 5.2.5 (pinned) serialises every answer through botocore's shapes: each attribute value of
each item is an `AttributeValue` structure of ten members (S, N, B, SS, NS, BS, M, L, NULL,
BOOL), and for each member its `XFormedAttributePicker` tries several aliases (the key, its
snake_case form, the shape's name...) before finding nothing. A Query page of 1,000 items of ten
attributes is 100,000 such look-ups; in a local stack selecting 20,000 items, DynamoDB's
serialising was a fifth of the process's time (py-spy, holding the GIL).

`install()` answers an `AttributeValue` of DynamoDB's JSON protocol directly when it is one of
the shapes that walk gives back unchanged: exactly one of S or N (a string), BOOL or NULL (a
bool), SS or NS (a list of strings), L (a list of such values) or M (a string-keyed map of
them), copied as the walk would copy it. Anything else (binaries, which the walk base64-encodes,
a value of another Python type, an empty or a multi-key structure) takes moto's own walk. Only
the `dynamodb` service is affected (not DynamoDB Streams), and no answer changes:
`tests/unit/devstack/test_moto_dispatch.py` compares the DynamoDB scripts' answers byte for byte
with moto as released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.serialize import BaseJSONSerializer

from devstack.patches import Layer, Patch

_STRINGS = frozenset({"S", "N"})
_BOOLS = frozenset({"BOOL", "NULL"})
_STRING_LISTS = frozenset({"SS", "NS"})


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> dict[str, Any]:
    """What moto's walk makes of this AttributeValue, when it is a shape the walk copies
    unchanged; raises `_NotPlain` otherwise."""
    if type(value) is not dict or len(value) != 1:
        raise _NotPlain
    ((kind, inner),) = value.items()
    if kind in _STRINGS:
        if type(inner) is not str:
            raise _NotPlain
        return {kind: inner}
    if kind in _BOOLS:
        if type(inner) is not bool:
            raise _NotPlain
        return {kind: inner}
    if kind in _STRING_LISTS:
        if type(inner) is not list or any(type(v) is not str for v in inner):
            raise _NotPlain
        return {kind: list(inner)}
    if kind == "L":
        if type(inner) is not list:
            raise _NotPlain
        return {kind: [_plain(v) for v in inner]}
    if kind == "M":
        if type(inner) is not dict or any(type(k) is not str for k in inner):
            raise _NotPlain
        return {kind: {k: _plain(v) for k, v in inner.items()}}
    raise _NotPlain


def _patched_structure(original: Callable[..., None]) -> Callable[..., None]:
    def _serialize_type_structure(
        self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        if shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
            try:
                plain = _plain(value)
            except _NotPlain:
                pass
            else:
                if key:
                    self._default_serialize(serialized, plain, shape, key)
                else:  # moto's walk writes the members into `serialized` itself
                    serialized.update(plain)
                return
        original(self, serialized, value, shape, key)

    return _serialize_type_structure


# moto's JSON serialiser (5.2.5), patched in this process by `install()` (idempotent), put back by
# `uninstall()`.
_layer = Layer(Patch(BaseJSONSerializer, "_serialize_type_structure", _patched_structure))
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
