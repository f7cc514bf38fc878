"""moto's SQS answers (JSON protocol) serialised without its generic walk of every member.

moto 5.2.5 (pinned) serialises every answer by walking botocore's output shape: for each member
of each structure, its `XFormedAttributePicker` builds six alias providers and tries each alias
and its snake_case form (`xform_name`) on the value, then dispatches on the member's type by
name. A SendMessageBatch of 10 is ~60 such member look-ups, each trying several keys; in a local
stack selecting 20,000 items, SQS's answers were a sixth of moto's process (py-spy).

`install()` answers SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessageBatch,
ChangeMessageVisibilityBatch and GetQueueAttributes of the JSON protocol with the same walk
compiled once per output shape: each member's look-up keys are the ones the picker would try on a
`dict` (the only kind of value moto's SQS responses hand it), worked out once, in its order;
structures, lists, maps, strings, booleans and integers become what the walk makes of them,
member by member in the shape's order. Anything else takes moto's own walk for the whole answer:
a value that is not a plain `dict`/`list`/`str`/`bool`/`int` where the shape has one (an Enum, a
binary message attribute, which the walk base64-encodes), a shape the compiled walk does not
know (blobs, timestamps, floats, documents, serialised names), a serializer or attribute picker
configured otherwise (response transformers registered, another serializer class), the query
protocol. Errors are serialised by moto as before. `tests/unit/devstack/test_moto_dispatch.py`
compares the SQS script's answers (test_sqs_index) byte for byte with moto as released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore import xform_name
from moto.core import serialize as moto_serialize
from moto.core.serialize import BaseJSONSerializer, JSONSerializer, XFormedAttributePicker

from devstack.patches import Layer, Patch

OPERATIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibilityBatch",
        "GetQueueAttributes",
    }
)
# The alias providers the compiled look-ups reproduce, in moto's order.
_PROVIDERS = (
    moto_serialize.ExplicitAlias,
    moto_serialize.ShapeNameAlias,
    moto_serialize.NoAlias,
    moto_serialize.ShapePrefixAlias,
    moto_serialize.ClassPrefixAlias,
    moto_serialize.ModelAlias,
)
_Convert = Callable[[Any], Any]
_MAX_DEPTH = 12  # SQS's answers nest 5 deep; a recursive shape is left to moto's walk


class _NotPlain(Exception):
    """A value (or shape) the compiled walk does not reproduce: moto's walk answers."""


def _never(_: Any) -> Any:
    raise _NotPlain


def _lookup_keys(member_key: str, member: Any, parent: Any) -> tuple[str, ...]:
    """The keys `XFormedAttributePicker` tries, in order, for `member_key` of `parent` on a plain
    dict (moto's walk sets `member.parent = parent` before it looks)."""
    aliases: list[str] = []
    # ExplicitAlias: a dict has no `Meta`.
    # ShapeNameAlias
    if (
        member.type_name in ("list", "structure")
        and member.name not in parent.members
        and member_key != member.name
    ):
        aliases.append(member.name)
    aliases.append(member_key)  # NoAlias
    # ShapePrefixAlias
    if (
        member_key.lower().startswith(parent.name.lower())
        and member_key[len(parent.name) :] not in parent.members
    ):
        aliases.append(member_key[len(parent.name) :])
    # ClassPrefixAlias: the value's class is `dict`
    if member_key.lower().startswith("dict"):
        aliases.append(member_key[len("dict") :])
    # ModelAlias
    if member.serialization.get("name", member_key) != member_key:
        aliases.append(member.serialization["name"])
    keys: list[str] = []
    for alias in aliases:
        keys += [alias, xform_name(alias)]
    if any("." in key for key in keys):  # moto's get_value would walk a path
        raise _NotPlain
    return tuple(keys)


def _string(value: Any) -> Any:
    # BaseJSONSerializer._serialize_type_string: str(value) unless None, {} or [] (an Enum first
    # takes its value: not reproduced)
    if type(value) is str or value is None:
        return value
    raise _NotPlain


def _boolean(value: Any) -> Any:
    if type(value) is bool:  # copied as it is (_default_serialize)
        return value
    raise _NotPlain


def _integer(value: Any) -> Any:
    if type(value) is int:  # int(value)
        return value
    raise _NotPlain


def _compile(shape: Any, depth: int = 0) -> _Convert:
    """What the walk makes of a value of `shape` in a list or a structure member; raises
    `_NotPlain` for a value it does not reproduce (and, for a shape it does not know, the
    converter does so for every value)."""
    if shape.serialization.get("name") is not None or depth > _MAX_DEPTH:
        return _never
    kind = shape.type_name
    if kind == "string":
        return _string
    if kind == "boolean":
        return _boolean
    if kind in ("integer", "long"):
        return _integer
    if kind == "structure":
        return _compile_structure(shape, depth)
    if kind == "list":
        item = _compile(shape.member, depth + 1)

        def convert_list(value: Any) -> Any:
            if type(value) is not list:
                raise _NotPlain
            return [item(v) for v in value]

        return convert_list
    if kind == "map":
        entry = _compile(shape.value, depth + 1)
        if shape.value.type_name == "structure":
            return _never  # a None value would drop its key; not reproduced

        def convert_map(value: Any) -> Any:
            if type(value) is not dict:
                raise _NotPlain
            converted = {}
            for k, v in value.items():
                if type(k) is not str or not k:  # an empty key changes the walk's course
                    raise _NotPlain
                converted[k] = entry(v)
            return converted

        return convert_map
    return _never  # blob, timestamp, float, double, ...


def _compile_structure(shape: Any, depth: int = 0) -> _Convert:
    if getattr(shape, "is_document_type", False):
        return _never
    members: list[tuple[str, tuple[str, ...], _Convert]] = []
    try:
        for member_key, member in shape.members.items():
            out_key = member.serialization.get("name", member_key)
            members.append((out_key, _lookup_keys(member_key, member, shape), _compile(member, depth + 1)))
    except _NotPlain:
        return _never

    def convert_structure(value: Any) -> dict[str, Any]:
        # A None structure in a list stays None (the walk appends the item as it is).
        if value is None:
            return None  # type: ignore[return-value]
        if type(value) is not dict:
            raise _NotPlain
        out: dict[str, Any] = {}
        for out_key, keys, convert in members:
            for key in keys:
                if key in value:
                    member_value = value[key]
                    if member_value is not None:
                        out[out_key] = convert(member_value)
                    break
        return out

    return convert_structure


_compiled: dict[tuple[str, int], tuple[Any, _Convert]] = {}


def _for(serializer: BaseJSONSerializer) -> _Convert | None:
    """The compiled walk for this serializer's answer, or None where moto's walk must run."""
    if (
        type(serializer) is not JSONSerializer
        or serializer.MAP_TYPE is not dict
        or serializer.service_model.service_name != "sqs"
        or serializer.operation_name not in OPERATIONS
    ):
        return None
    picker = serializer._value_picker
    if (
        type(picker) is not XFormedAttributePicker
        or tuple(picker.alias_providers) != _PROVIDERS
        or picker.response_transformers
    ):
        return None
    shape = serializer.operation_model.output_shape
    if shape is None or shape.type_name != "structure":
        return None
    key = (serializer.operation_name, id(shape))
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = (shape, _compile_structure(shape))  # the shape kept: its id stays its
    return found[1]


def _patched_serialize_result(original: Callable[..., Any]) -> Callable[..., Any]:
    def _serialize_result(self: BaseJSONSerializer, resp: Any, result: Any) -> Any:
        convert = _for(self)
        if convert is not None:
            try:
                serialized = {} if result is None else convert(result)
            except _NotPlain:
                pass
            else:
                return self._serialized_result_to_response(
                    resp, result, self.operation_model.output_shape, serialized
                )
        return original(self, resp, result)

    return _serialize_result


# moto's JSON serialiser (5.2.5), patched in this process by `install()` (idempotent): the patch is
# BaseJSONSerializer's own (it inherits _serialize_result), deleted by `uninstall()`.
_layer = Layer(Patch(BaseJSONSerializer, "_serialize_result", _patched_serialize_result))
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
