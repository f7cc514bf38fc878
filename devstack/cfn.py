"""CloudFormation templates as data: YAML short-form tags and intrinsic function resolution.

`load_template` turns `template.yaml` into the long form CloudFormation itself works on
(`!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`), and `Resolver` evaluates intrinsics the
way a deployment would, given parameter values, pseudo parameters and a lookup for what the
template's own resources answer to `Ref` and `Fn::GetAtt`. Nothing here knows about AWS
services; `devstack.resources` supplies the resource values.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_REGION = "us-east-1"
# moto's account: ARNs built here then match the ARNs moto hands out.
DEFAULT_ACCOUNT_ID = "123456789012"

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be read or uses an intrinsic function wrongly."""


class ParameterError(TemplateError):
    """A parameter value is missing, unknown or breaks the parameter's constraints."""


class ResolutionError(TemplateError):
    """An intrinsic function names something that has no value."""


class _NoValue:
    """`Ref AWS::NoValue`: removes the property or list element that holds it."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


class Template(dict):
    """A parsed template that remembers its file, so relative `CodeUri`s can be found."""

    path: Path | None = None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader plus CloudFormation's short-form tags; on libyaml's parser when PyYAML has it
    (its wheels do): 10 ms for template.yaml against 95 ms in pure Python, and every test's
    stack fixture parses it."""


# CloudFormation does not type dates: `AWSTemplateFormatVersion: 2010-09-09` stays a string.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_FORMS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "GetAtt",
            "Sub",
            "Join",
            "Select",
            "Split",
            "If",
            "Equals",
            "Not",
            "And",
            "Or",
            "FindInMap",
            "GetAZs",
            "Base64",
            "ImportValue",
            "Cidr",
            "Transform",
            "ToJsonString",
            "Length",
        )
    },
}


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    long_form = _SHORT_FORMS.get(suffix)
    if long_form is None:
        raise TemplateError(f"unknown tag !{suffix} at {node.start_mark}")
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if long_form == "Fn::GetAtt" and isinstance(value, str):
        # Only the first dot separates: attribute names may contain dots (Endpoint.Address).
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {long_form: value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def parse_template(text: str) -> Template:
    """A template's YAML (or JSON) text in long form."""
    data = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader plus inert tags
    if not isinstance(data, dict):
        raise TemplateError("a template is a mapping")
    return Template(data)


def load_template(path: str | Path) -> Template:
    """The template at `path` in long form; `.path` keeps where it came from."""
    path = Path(path).resolve()
    template = parse_template(path.read_text(encoding="utf-8"))
    template.path = path
    return template


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A scalar as CloudFormation would splice it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ResolutionError(f"expected a string, got {value!r}")


def _is_list_type(parameter_type: str) -> bool:
    return parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<")


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_text(v) for v in allowed]:
        raise ParameterError(f"parameter {name}: {value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ParameterError(f"parameter {name}: {value!r} does not match {pattern}")
    if spec.get("Type", "String") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ParameterError(f"parameter {name}: {value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ParameterError(f"parameter {name}: {value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ParameterError(f"parameter {name}: {value} is above {spec['MaxValue']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise ParameterError(f"parameter {name}: shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise ParameterError(f"parameter {name}: longer than {spec['MaxLength']}")


def resolve_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every template parameter's value: the override, else the default, checked like a deploy.

    Values are strings (CloudFormation passes parameters as strings), lists for list types.
    """
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ParameterError(f"parameters {unknown} do not exist in the template")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        raw = overrides.get(name, spec.get("Default"))
        if raw is None:
            raise ParameterError(f"parameter {name} must have a value")
        text = ",".join(_text(v) for v in raw) if isinstance(raw, list) else _text(raw)
        _check_parameter(name, spec, text)
        if _is_list_type(spec.get("Type", "String")):
            values[name] = [item.strip() for item in text.split(",")] if text else []
        else:
            values[name] = text
    return values


def _upper_snake(name: str) -> str:
    # AllowPrivateUrls -> ALLOW_PRIVATE_URLS; SQSQueueName -> SQS_QUEUE_NAME
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


def parameter_env_name(name: str) -> str:
    """The environment variable that overrides a parameter locally: `RetrySchedule` -> `RETRY_SCHEDULE`."""
    return _upper_snake(name)


# ---------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------
RefLookup = Callable[[str], Any] | Mapping[str, Any]
AttLookup = Callable[[str, str], Any] | Mapping[str, Any]


class Resolver:
    """Evaluates intrinsic functions in any value of one template.

    `refs` answers `Ref` of a resource (a callable or a mapping by logical id); `attributes`
    answers `Fn::GetAtt` (a callable of (logical id, attribute) or a mapping keyed
    `"LogicalId.Attribute"`); `imports` answers `Fn::ImportValue`.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameter_overrides: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = "local",
        stack_id: str | None = None,
        partition: str = "aws",
        url_suffix: str = "amazonaws.com",
        refs: RefLookup | None = None,
        attributes: AttLookup | None = None,
        imports: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.parameters = resolve_parameters(template, parameter_overrides)
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.partition = partition
        self.url_suffix = url_suffix
        self.stack_id = stack_id or (
            f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
            "00000000-0000-0000-0000-000000000000"
        )
        self._refs = refs
        self._attributes = attributes
        self._imports = dict(imports or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref_function,
            "Fn::GetAtt": self._get_att_function,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Fn::FindInMap": self._find_in_map,
            "Fn::GetAZs": self._get_azs,
            "Fn::Base64": self._base64,
            "Fn::ImportValue": self._import_value,
            "Fn::ToJsonString": lambda arg: json.dumps(self.resolve(arg), separators=(",", ":")),
            "Fn::Length": lambda arg: len(self.resolve(arg)),
        }

    @property
    def pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::AccountId": self.account_id,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::StackId": self.stack_id,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": self.url_suffix,
        }

    # -- entry points -----------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated; `AWS::NoValue` entries dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key in self._functions:
                    return self._functions[key](argument)
                if key == "Condition" and isinstance(argument, str):
                    return self.condition(argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """The value of the template's condition `name`."""
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise ResolutionError(f"unknown condition {name}")
        if name in self._evaluating:
            raise ResolutionError(f"condition {name} depends on itself")
        self._evaluating.add(name)
        try:
            value = self.resolve(conditions[name])
        finally:
            self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise ResolutionError(f"condition {name} is not a boolean: {value!r}")
        self._conditions[name] = value
        return value

    def ref(self, name: str) -> Any:
        """`Ref name`: a pseudo parameter, a parameter or a resource."""
        pseudo = self.pseudo_parameters
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if isinstance(self._refs, Mapping):
            if name in self._refs:
                return self._refs[name]
        elif self._refs is not None:
            return self._refs(name)
        raise ResolutionError(f"Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """`Fn::GetAtt [logical_id, attribute]`."""
        if isinstance(self._attributes, Mapping):
            key = f"{logical_id}.{attribute}"
            if key in self._attributes:
                return self._attributes[key]
        elif self._attributes is not None:
            return self._attributes(logical_id, attribute)
        raise ResolutionError(f"GetAtt {logical_id}.{attribute}: no value")

    # -- functions ----------------------------------------------------------------------------
    def _ref_function(self, argument: Any) -> Any:
        return self.ref(_text(self.resolve(argument)))

    def _get_att_function(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = argument
        return self.get_att(_text(logical_id), _text(self.resolve(attribute)))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}
        text = _text(self.resolve(text))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return _text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _text(self.get_att(logical_id, attribute))
            return _text(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        items = self.resolve(items)
        if not isinstance(items, list):
            raise ResolutionError(f"Fn::Join needs a list, got {items!r}")
        return _text(self.resolve(delimiter)).join(_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        index, items = argument
        items = self.resolve(items)
        position = int(_text(self.resolve(index)))
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise ResolutionError(f"Fn::Select index {position} is out of range of {items!r}")
        return items[position]

    def _split(self, argument: Any) -> list[str]:
        delimiter, source = argument
        return _text(self.resolve(source)).split(_text(self.resolve(delimiter)))

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        if isinstance(left, list | dict) or isinstance(right, list | dict):
            return left == right
        return _text(left) == _text(right)

    def _boolean(self, value: Any) -> bool:
        resolved = self.resolve(value)
        if not isinstance(resolved, bool):
            raise ResolutionError(f"expected a condition, got {resolved!r}")
        return resolved

    def _not(self, argument: Any) -> bool:
        (value,) = argument
        return not self._boolean(value)

    def _and(self, argument: Iterable[Any]) -> bool:
        return all(self._boolean(value) for value in argument)

    def _or(self, argument: Iterable[Any]) -> bool:
        return any(self._boolean(value) for value in argument)

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (_text(self.resolve(item)) for item in argument[:3])
        mappings = self.template.get("Mappings") or {}
        try:
            return self.resolve(mappings[map_name][top][second])
        except KeyError:
            # The language extensions' optional fourth argument: {"DefaultValue": ...}.
            if len(argument) > 3 and "DefaultValue" in argument[3]:
                return self.resolve(argument[3]["DefaultValue"])
            raise ResolutionError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from None

    def _get_azs(self, argument: Any) -> list[str]:
        region = _text(self.resolve(argument)) or self.region
        return [f"{region}{zone}" for zone in "abc"]

    def _base64(self, argument: Any) -> str:
        return base64.b64encode(_text(self.resolve(argument)).encode()).decode()

    def _import_value(self, argument: Any) -> Any:
        name = _text(self.resolve(argument))
        if name not in self._imports:
            raise ResolutionError(f"Fn::ImportValue {name}: no stack exports it here")
        return self._imports[name]


def referenced_names(value: Any) -> set[str]:
    """Every name a value refers to by `Ref`, `Fn::GetAtt` or `Fn::Sub` (resources, parameters
    and pseudo parameters alike): what a resource depends on."""
    names: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if len(item) == 1:
                ((key, argument),) = item.items()
                if key == "Ref" and isinstance(argument, str):
                    names.add(argument)
                    return
                if key == "Fn::GetAtt":
                    target = argument.partition(".")[0] if isinstance(argument, str) else argument[0]
                    names.add(target)
                    if isinstance(argument, list):
                        walk(argument[1:])
                    return
                if key == "Fn::Sub":
                    text, variables = (
                        (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
                    )
                    for match in _SUB_VARIABLE.finditer(text if isinstance(text, str) else ""):
                        name = match.group(1).strip()
                        if name.startswith("!") or name in variables:
                            continue
                        names.add(name if name.startswith("AWS::") else name.partition(".")[0])
                    walk(variables)
                    return
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)
    return names
