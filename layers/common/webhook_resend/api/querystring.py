"""Query strings decoded the way the npm `qs` library's `parse` decodes them with its defaults.

Prepr's SDKs encode their parameters with `qs` (`model[eq]=Post&tags[0][in][0]=a`), and the
Prepr-style routes accept those query strings as well as JSON bodies, so `decode` rebuilds the
nested structure a JSON body would carry: objects from `[name]`, lists from `[0]` and `[]`,
repeated keys as lists, every value a string.

Where `qs` would quietly truncate or reshape its input (too many parameters, nesting too deep,
an index too large, one key used both as a value or list and as an object), `decode` answers an
InvalidInputError that names the key instead, so a malformed filter can never widen a selection.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from webhook_resend.errors import FieldProblem, InvalidInputError

MAX_PARAMETERS = 1000
MAX_DEPTH = 6
MAX_INDEX = 1000

_SEGMENT = re.compile(r"\[[^\[\]]*\]")
_INDEX = re.compile(r"0|[1-9][0-9]*")


class _Array:
    """A JavaScript array as `qs` builds it: indexes may leave holes until the end compacts them.

    The holes matter while merging: `a[1]=y&a[0]=x` fills index 0 rather than appending.
    """

    __slots__ = ("items", "length")

    def __init__(self, items: dict[int, Any] | None = None) -> None:
        self.items: dict[int, Any] = dict(items or {})
        self.length = max(self.items, default=-1) + 1

    @classmethod
    def of(cls, values: list[Any]) -> _Array:
        return cls(dict(enumerate(values)))

    def set(self, index: int, value: Any) -> None:
        self.items[index] = value
        self.length = max(self.length, index + 1)

    def push(self, value: Any) -> None:
        self.set(self.length, value)

    def in_order(self) -> list[Any]:
        return [self.items[index] for index in sorted(self.items)]


_Node = str | _Array | dict[str, Any]


def decode(raw: str) -> dict[str, Any]:
    """The parameters of a query string (without or with its leading `?`) as nested dicts and lists.

    `event=x&model[eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b` →
    `{"event": "x", "model": {"eq": "Post"}, "tags": [{"in": ["a", "b"]}]}`.
    Raises InvalidInputError listing every key it cannot read unambiguously.
    """
    text = raw[1:] if raw.startswith("?") else raw
    parts = [part for part in text.split("&") if part]
    if len(parts) > MAX_PARAMETERS:
        raise InvalidInputError(
            FieldProblem("query", f"has {len(parts)} parameters; at most {MAX_PARAMETERS} are allowed")
        )

    # Like qs, values of a repeated key are gathered before the brackets are read: that is what
    # turns `a[]=x&a[]=y` and `a=x&a=y` into lists.
    gathered: dict[str, str | _Array] = {}
    for part in parts:
        key, value = _split(part)
        if not key:
            continue
        if key not in gathered:
            gathered[key] = value
        elif isinstance(previous := gathered[key], _Array):
            previous.push(value)
        else:
            gathered[key] = _Array.of([previous, value])

    problems: list[FieldProblem] = []
    result: dict[str, Any] = {}
    for key, value in gathered.items():
        path = _path(key, problems)
        if path is None:
            continue
        name, segments = path
        node = _nest(key, segments, value, problems)
        if node is None:
            continue
        result[name] = _merge(result[name], node, name, problems) if name in result else node
    if problems:
        raise InvalidInputError(problems)
    return {name: _plain(node) for name, node in result.items()}


def _split(part: str) -> tuple[str, str]:
    """Key and value of one `key=value` part, percent-decoded; a bare key has the value ""."""
    # qs splits at `]=` when there is one, so an `=` inside brackets stays part of the key.
    bracket_equals = part.find("]=")
    position = part.find("=") if bracket_equals == -1 else bracket_equals + 1
    if position == -1:
        return unquote_plus(part), ""
    return unquote_plus(part[:position]), unquote_plus(part[position + 1 :])


def _path(key: str, problems: list[FieldProblem]) -> tuple[str, list[str]] | None:
    """The parameter name and the bracket segments (`[b]`, `[0]`, `[]`) of a decoded key."""
    first = _SEGMENT.search(key)
    if first is None:
        return key, []
    name = key[: first.start()]
    # As in qs, text between or after the bracket groups is not part of the path.
    segments = _SEGMENT.findall(key)
    if len(segments) > MAX_DEPTH:
        problems.append(FieldProblem(key, f"is nested {len(segments)} brackets deep; at most {MAX_DEPTH}"))
        return None
    if not name:
        # qs reads `[a]=1` as `a=1`; a leading `[]` or `[0]` has no name to hang the list on.
        name = segments[0][1:-1]
        if not name or _INDEX.fullmatch(name):
            problems.append(FieldProblem(key, "needs a parameter name before its first bracket"))
            return None
        segments = segments[1:]
    return name, segments


def _nest(key: str, segments: list[str], leaf: str | _Array, problems: list[FieldProblem]) -> _Node | None:
    """The value of one key built from the innermost bracket outwards, as qs's parseObject does."""
    node: _Node = leaf
    for segment in reversed(segments):
        inner = segment[1:-1]
        if inner == "":
            # `[]` is JavaScript's [].concat(node): an array is copied, holes and all.
            node = _Array(node.items) if isinstance(node, _Array) else _Array({0: node})
        elif _INDEX.fullmatch(inner):
            # The length test keeps int() away from the digit strings it refuses to convert.
            if len(inner) > len(str(MAX_INDEX)) or int(inner) > MAX_INDEX:
                problems.append(FieldProblem(key, f"has the list index {inner}; at most {MAX_INDEX}"))
                return None
            node = _Array({int(inner): node})
        else:
            node = {inner: node}
    return node


def _merge(target: _Node, source: _Node, path: str, problems: list[FieldProblem]) -> _Node:
    """`source` merged into `target` as qs's utils.merge does, refusing the merges it would mangle.

    qs turns `a=1&a[b]=2` into `["1", {"b": "2"}]` and `a[0]=x&a[b]=y` into `{"0": "x", "b": "y"}`;
    neither is what the client meant, so both are a problem named after the key.
    """
    if isinstance(source, str):
        if isinstance(target, _Array):
            target.push(source)
            return target
        if isinstance(target, dict):
            problems.append(_conflict(path))
            return target
        return _Array.of([target, source])
    if isinstance(target, str):
        if isinstance(source, _Array):
            merged = _Array({0: target})
            for index, item in source.items.items():
                merged.set(index + 1, item)
            return merged
        problems.append(_conflict(path))
        return target
    if isinstance(target, _Array) and isinstance(source, _Array):
        for index in sorted(source.items):
            item = source.items[index]
            if index not in target.items:
                target.set(index, item)
            elif isinstance(target.items[index], str) or isinstance(item, str):
                target.push(item)
            else:
                target.items[index] = _merge(target.items[index], item, f"{path}[{index}]", problems)
        return target
    if isinstance(target, dict) and isinstance(source, dict):
        for name, item in source.items():
            target[name] = _merge(target[name], item, f"{path}[{name}]", problems) if name in target else item
        return target
    # What is left is a list meeting an object.
    problems.append(_conflict(path))
    return target


def _conflict(path: str) -> FieldProblem:
    return FieldProblem(
        path,
        f"is given both as an object ({path}[name]=...) and as a value or list "
        f"({path}=... or {path}[0]=...); use one form",
    )


def _plain(node: _Node) -> Any:
    """Plain dicts, lists and strings; arrays lose their holes, ordered by index, as qs compacts."""
    if isinstance(node, _Array):
        return [_plain(item) for item in node.in_order()]
    if isinstance(node, dict):
        return {name: _plain(item) for name, item in node.items()}
    return node
