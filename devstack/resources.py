"""The template's resources, created on whatever AWS endpoint boto3 points at (moto, locally).

`create_resources` walks `Resources` in dependency order and creates what the local stack can
host: DynamoDB tables, SQS queues, Secrets Manager secrets and Scheduler schedule groups, named
the way CloudFormation names them. Everything else (functions, layers, APIs, roles, alarms, log
groups, schedules) is not created but gets plausible `Ref` / `Fn::GetAtt` values, so the
functions' environment and the API's settings resolve exactly as they would once deployed.
The returned `Stack` answers for every resource and describes the functions and the HTTP API.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from devstack.cfn import (
    DEFAULT_REGION,
    ResolutionError,
    Resolver,
    TemplateError,
    parameter_env_name,
    referenced_names,
)

log = logging.getLogger(__name__)

FUNCTION_TYPES = ("AWS::Serverless::Function",)
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
HTTP_API_TYPES = ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api")

# SAM's defaults for a function that sets neither Globals nor its own value.
_SAM_DEFAULT_TIMEOUT = 3
_SAM_DEFAULT_MEMORY = 128


class EnvironmentConflictError(ValueError):
    """Two functions give one environment variable different values: one process cannot host both."""


@dataclass
class PhysicalResource:
    """What one logical resource became: its `Ref` value and its `Fn::GetAtt` attributes.

    `created` is False for types the local stack does not host; their values are made up in the
    shape AWS would give them and any attribute not listed answers with the physical name.
    """

    logical_id: str
    type: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    created: bool = False
    properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function` as the local stack runs it (Globals merged, all resolved)."""

    logical_id: str
    function_name: str
    arn: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    layers: list[Any]
    layer_paths: list[Path]
    runtime: str | None = None

    def events_of_type(self, event_type: str) -> dict[str, dict[str, Any]]:
        """The function's events of one SAM type (`HttpApi`, `SQS`, `ScheduleV2`, ...), by name."""
        return {name: event for name, event in self.events.items() if event.get("Type") == event_type}


@dataclass(frozen=True)
class HttpApiSpec:
    """An HTTP API of the template (or SAM's implicit `ServerlessHttpApi`), resolved."""

    logical_id: str
    api_id: str
    properties: dict[str, Any]
    implicit: bool = False

    @property
    def auth(self) -> dict[str, Any]:
        return self.properties.get("Auth") or {}


# ---------------------------------------------------------------------------------------------
# Naming and small conversions
# ---------------------------------------------------------------------------------------------
_SUFFIX_ALPHABET = string.ascii_uppercase + string.digits


def physical_name(stack_name: str, logical_id: str, *, max_length: int = 255, suffix: str = "") -> str:
    """A name as CloudFormation generates one: `{stack}-{LogicalId}-{RANDOM12}{suffix}`, both
    leading parts shortened when the whole would exceed the service's limit."""
    random_part = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(12))
    budget = max_length - len(random_part) - len(suffix) - 2
    if len(stack_name) + len(logical_id) > budget:
        stack_name = stack_name[: max(1, budget // 2)]
        logical_id = logical_id[: max(1, budget - len(stack_name))]
    return f"{stack_name}-{logical_id}-{random_part}{suffix}"


def _random_id(length: int = 10) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _attribute_text(value: Any) -> str:
    """A CloudFormation property as an SQS attribute string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _tags_dict(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or []}


def _tags_list(tags: Any) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in _tags_dict(tags).items()]


def overrides_from_env(template: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parameter overrides from the environment: each parameter's name in UPPER_SNAKE_CASE
    (`RetrySchedule` is overridden by `RETRY_SCHEDULE`)."""
    env = os.environ if env is None else env
    overrides: dict[str, str] = {}
    for name in template.get("Parameters") or {}:
        value = env.get(parameter_env_name(name))
        if value is not None:
            overrides[name] = value
    return overrides


def merge_globals(global_values: Any, own_values: Any) -> Any:
    """SAM's Globals rules: maps merge (the resource wins), lists add up (globals first),
    anything else is replaced by the resource's own value."""
    if isinstance(global_values, dict) and isinstance(own_values, dict):
        merged = dict(global_values)
        for key, value in own_values.items():
            merged[key] = merge_globals(global_values[key], value) if key in global_values else value
        return merged
    if isinstance(global_values, list) and isinstance(own_values, list):
        return [*global_values, *own_values]
    return own_values


# ---------------------------------------------------------------------------------------------
# Creators, one per hosted resource type
# ---------------------------------------------------------------------------------------------
_CLIENTS: dict[tuple[int, str, str], tuple[boto3.Session, Any]] = {}


def _client(session: boto3.Session, service: str, region: str) -> Any:
    """One client per session, service and region: creating a botocore client costs ~50 ms, and
    tests build a stack per test with the same session."""
    key = (id(session), service, region)
    cached = _CLIENTS.get(key)
    if cached is None or cached[0] is not session:
        cached = _CLIENTS[key] = (session, session.client(service, region_name=region))
    return cached[1]


@dataclass
class _Context:
    session: boto3.Session
    stack_name: str
    region: str
    account_id: str
    partition: str

    def client(self, service: str) -> Any:
        return _client(self.session, service, self.region)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"


def _throughput(spec: Mapping[str, Any] | None) -> dict[str, int]:
    spec = spec or {}
    return {
        "ReadCapacityUnits": int(spec.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(spec.get("WriteCapacityUnits", 5)),
    }


def _index(spec: Mapping[str, Any], provisioned: bool) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": spec["IndexName"],
        "KeySchema": spec["KeySchema"],
        "Projection": dict(spec.get("Projection") or {"ProjectionType": "ALL"}),
    }
    if provisioned and "ProvisionedThroughput" in spec:
        index["ProvisionedThroughput"] = _throughput(spec["ProvisionedThroughput"])
    return index


def create_table(ctx: _Context, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    client = ctx.client("dynamodb")
    name = props.get("TableName") or physical_name(ctx.stack_name, logical_id)
    billing_mode = props.get("BillingMode", "PROVISIONED")
    provisioned = billing_mode == "PROVISIONED"
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing_mode,
    }
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [_index(i, provisioned) for i in props["GlobalSecondaryIndexes"]]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [_index(i, False) for i in props["LocalSecondaryIndexes"]]
    if props.get("StreamSpecification"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    sse = props.get("SSESpecification") or {}
    # SSEEnabled false is DynamoDB's default (an AWS owned key), as if there were no
    # SSESpecification; moto, sent one, would make the AWS managed KMS key for it, and an RSA
    # key pair with it (60 ms in every test's stack).
    if _bool(sse.get("SSEEnabled", False)):
        request["SSESpecification"] = {
            "Enabled": True,
            **{key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse},
        }
    if props.get("TableClass"):
        request["TableClass"] = props["TableClass"]
    if "DeletionProtectionEnabled" in props:
        request["DeletionProtectionEnabled"] = _bool(props["DeletionProtectionEnabled"])
    if props.get("Tags"):
        request["Tags"] = _tags_list(props["Tags"])
    description = client.create_table(**request)["TableDescription"]

    ttl = props.get("TimeToLiveSpecification")
    if ttl and _bool(ttl.get("Enabled", False)):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    recovery = props.get("PointInTimeRecoverySpecification")
    if recovery and _bool(recovery.get("PointInTimeRecoveryEnabled", False)):
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    attributes = {"Arn": description["TableArn"]}
    if description.get("LatestStreamArn"):
        attributes["StreamArn"] = description["LatestStreamArn"]
    return PhysicalResource(logical_id, "AWS::DynamoDB::Table", name, attributes, created=True)


def _redrive_json(policy: Any) -> str:
    if isinstance(policy, str):
        return policy
    policy = dict(policy)
    # Ref of a Number parameter is a string; SQS wants the count as a number.
    if isinstance(policy.get("maxReceiveCount"), str):
        policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
    return json.dumps(policy)


def create_queue(ctx: _Context, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    client = ctx.client("sqs")
    fifo = _bool(props.get("FifoQueue", False))
    name = props.get("QueueName") or physical_name(
        ctx.stack_name, logical_id, max_length=80, suffix=".fifo" if fifo else ""
    )
    attributes: dict[str, str] = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags") or (key == "FifoQueue" and not fifo):
            continue  # SQS rejects FifoQueue=false: a standard queue simply omits it
        if key in ("RedrivePolicy", "RedriveAllowPolicy"):
            attributes[key] = _redrive_json(value)
        else:
            attributes[key] = _attribute_text(value)
    request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if props.get("Tags"):
        request["tags"] = _tags_dict(props["Tags"])
    url = client.create_queue(**request)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return PhysicalResource(
        logical_id,
        "AWS::SQS::Queue",
        url,
        {"Arn": arn, "QueueName": name, "QueueUrl": url},
        created=True,
    )


def generate_secret_string(spec: Mapping[str, Any]) -> str:
    """A value for `GenerateSecretString`, following Secrets Manager's GetRandomPassword options."""
    length = int(spec.get("PasswordLength", 32))
    excluded = set(spec.get("ExcludeCharacters", ""))
    pools = [
        pool
        for pool, skip in (
            (string.ascii_uppercase, "ExcludeUppercase"),
            (string.ascii_lowercase, "ExcludeLowercase"),
            (string.digits, "ExcludeNumbers"),
            (string.punctuation, "ExcludePunctuation"),
        )
        if not _bool(spec.get(skip, False))
    ]
    if _bool(spec.get("IncludeSpace", False)):
        pools.append(" ")
    pools = [
        remaining
        for remaining in ("".join(c for c in pool if c not in excluded) for pool in pools)
        if remaining
    ]
    if not pools:
        raise TemplateError("GenerateSecretString excludes every character")
    chosen = (
        [secrets.choice(pool) for pool in pools] if _bool(spec.get("RequireEachIncludedType", True)) else []
    )
    alphabet = "".join(pools)
    chosen += [secrets.choice(alphabet) for _ in range(max(0, length - len(chosen)))]
    secrets.SystemRandom().shuffle(chosen)
    password = "".join(chosen[:length])
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


def create_secret(ctx: _Context, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    client = ctx.client("secretsmanager")
    name = props.get("Name") or physical_name(ctx.stack_name, logical_id, max_length=512)
    if "SecretString" in props:
        value = str(props["SecretString"])
    else:
        value = generate_secret_string(props.get("GenerateSecretString") or {})
    request: dict[str, Any] = {"Name": name, "SecretString": value}
    for key in ("Description", "KmsKeyId"):
        if props.get(key):
            request[key] = props[key]
    if props.get("Tags"):
        request["Tags"] = _tags_list(props["Tags"])
    arn = client.create_secret(**request)["ARN"]
    return PhysicalResource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn}, created=True)


def create_schedule_group(ctx: _Context, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    client = ctx.client("scheduler")
    name = props.get("Name") or physical_name(ctx.stack_name, logical_id, max_length=64)
    request: dict[str, Any] = {"Name": name}
    if props.get("Tags"):
        request["Tags"] = _tags_list(props["Tags"])
    arn = client.create_schedule_group(**request)["ScheduleGroupArn"]
    return PhysicalResource(
        logical_id,
        "AWS::Scheduler::ScheduleGroup",
        name,
        {"Arn": arn, "State": "ACTIVE"},
        created=True,
    )


Creator = Callable[[_Context, str, dict[str, Any]], PhysicalResource]

CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::Table": create_table,
    "AWS::SQS::Queue": create_queue,
    "AWS::SecretsManager::Secret": create_secret,
    "AWS::Scheduler::ScheduleGroup": create_schedule_group,
}


# ---------------------------------------------------------------------------------------------
# Stand-ins for the types the local stack does not host
# ---------------------------------------------------------------------------------------------
# The property that names each type's resource when the template chooses a name.
_NAME_PROPERTIES = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}


def stand_in(ctx: _Context, logical_id: str, resource_type: str, name: Any = None) -> PhysicalResource:
    """A resource that is not created, with the `Ref` and attributes a deployment would give it."""
    service = resource_type.split("::")[1].lower() if resource_type.count("::") >= 2 else "cloudformation"
    if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        # The logical id, not a generated name: it is what the local invoker knows functions by.
        name = name or logical_id
        arn = ctx.arn("lambda", f"function:{name}")
        return PhysicalResource(logical_id, resource_type, name, {"Arn": arn})
    if resource_type in LAYER_TYPES:
        arn = ctx.arn("lambda", f"layer:{name or logical_id}:1")
        return PhysicalResource(logical_id, resource_type, arn, {"Arn": arn})
    if resource_type in (*HTTP_API_TYPES, "AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
        api_id = _random_id()
        endpoint = f"https://{api_id}.execute-api.{ctx.region}.amazonaws.com"
        attributes = {"ApiId": api_id, "ApiEndpoint": endpoint, "RootResourceId": _random_id()}
        return PhysicalResource(logical_id, resource_type, api_id, attributes)
    name = name or physical_name(ctx.stack_name, logical_id, max_length=64)
    if resource_type == "AWS::Logs::LogGroup":
        return PhysicalResource(
            logical_id, resource_type, name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")}
        )
    if resource_type == "AWS::IAM::Role":
        attributes = {
            "Arn": ctx.arn("iam", f"role/{name}", regional=False),
            "RoleId": "AROA" + _random_id(17).upper(),
        }
        return PhysicalResource(logical_id, resource_type, name, attributes)
    if resource_type == "AWS::CloudWatch::Alarm":
        return PhysicalResource(
            logical_id, resource_type, name, {"Arn": ctx.arn("cloudwatch", f"alarm:{name}")}
        )
    if resource_type == "AWS::Scheduler::Schedule":
        return PhysicalResource(
            logical_id, resource_type, name, {"Arn": ctx.arn("scheduler", f"schedule/default/{name}")}
        )
    if resource_type == "AWS::SNS::Topic":
        arn = ctx.arn("sns", name)
        return PhysicalResource(logical_id, resource_type, arn, {"TopicArn": arn, "TopicName": name})
    kind = resource_type.split("::")[-1].lower()
    return PhysicalResource(logical_id, resource_type, name, {"Arn": ctx.arn(service, f"{kind}/{name}")})


def _implicit_resources(resources: Mapping[str, Any]) -> dict[str, str]:
    """Resources SAM generates that a template may still refer to, by logical id: their types."""
    implicit: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        if "Role" not in props:
            implicit[f"{logical_id}Role"] = "AWS::IAM::Role"
        for event in (props.get("Events") or {}).values():
            event_props = event.get("Properties") or {}
            if event.get("Type") == "HttpApi" and "ApiId" not in event_props:
                implicit["ServerlessHttpApi"] = "AWS::Serverless::HttpApi"
            if event.get("Type") == "Api" and "RestApiId" not in event_props:
                implicit["ServerlessRestApi"] = "AWS::Serverless::Api"
    return {logical_id: kind for logical_id, kind in implicit.items() if logical_id not in resources}


# ---------------------------------------------------------------------------------------------
# The stack
# ---------------------------------------------------------------------------------------------
class Stack:
    """The template as deployed locally: every resource's values, the functions and the API."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        base_dir: Path,
        parameter_overrides: Mapping[str, Any] | None = None,
        partition: str = "aws",
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.base_dir = base_dir
        self.resources: dict[str, PhysicalResource] = {}
        self.resolver = Resolver(
            template,
            parameter_overrides=parameter_overrides,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            partition=partition,
            refs=self.ref,
            attributes=self.get_att,
        )

    # -- values -------------------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters' values: overrides, else the template's defaults."""
        return dict(self.resolver.parameters)

    def resolve(self, value: Any) -> Any:
        return self.resolver.resolve(value)

    def _resource(self, logical_id: str) -> PhysicalResource:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise ResolutionError(f"{logical_id}: no such resource (or not created yet)") from None

    def ref(self, logical_id: str) -> Any:
        """`Ref` of a resource: a table's name, a queue's URL, a secret's ARN, a function's name..."""
        if logical_id in self.resolver.parameters or logical_id.startswith("AWS::"):
            return self.resolver.ref(logical_id)
        return self._resource(logical_id).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """`Fn::GetAtt` of a resource: `Arn`, `QueueUrl`, `QueueName`, `StreamArn`, ..."""
        resource = self._resource(logical_id)
        if attribute in resource.attributes:
            return resource.attributes[attribute]
        if resource.created:
            raise ResolutionError(f"{logical_id} ({resource.type}) has no attribute {attribute}")
        return resource.ref

    def resource_template(self, logical_id: str) -> dict[str, Any]:
        return self.template["Resources"][logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties, resolved (created resources: as they were created)."""
        resource = self.resources.get(logical_id)
        if resource is not None and resource.properties is not None:
            return resource.properties
        return self.resolve(self.resource_template(logical_id).get("Properties") or {})

    def resources_of_type(self, *types: str) -> list[PhysicalResource]:
        return [resource for resource in self.resources.values() if resource.type in types]

    def find_resource(self, value: Any) -> PhysicalResource:
        """The resource whose `Ref` or an attribute is `value` (the queue an event source's ARN
        names, the function a schedule targets...)."""
        for resource in self.resources.values():
            if value == resource.ref or value in resource.attributes.values():
                return resource
        raise KeyError(f"no resource answers to {value!r}")

    def outputs(self) -> dict[str, Any]:
        """The template's Outputs, resolved (those whose condition holds)."""
        outputs = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.resolver.condition(output["Condition"]):
                continue
            outputs[name] = self.resolve(output["Value"])
        return outputs

    # -- functions ----------------------------------------------------------------------------
    def _function_properties(self, logical_id: str) -> dict[str, Any]:
        globals_ = (self.template.get("Globals") or {}).get("Function") or {}
        return merge_globals(globals_, self.resource_template(logical_id).get("Properties") or {})

    def _layer_paths(self, layers: list[Any]) -> list[Path]:
        paths = []
        for layer in layers:
            target = layer.get("Ref") if isinstance(layer, dict) else None
            if target not in self.template["Resources"]:
                continue  # a published layer: nothing local to put on the path
            content = (self.resource_template(target).get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                paths.append((self.base_dir / content).resolve())
        return paths

    def function(self, logical_id: str) -> FunctionSpec:
        """One function as the local stack runs it."""
        raw = self._function_properties(logical_id)
        props = self.resolve(raw)
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str) or "Handler" not in props:
            raise TemplateError(
                f"{logical_id}: only functions with a local CodeUri and a Handler run locally"
            )
        variables = (props.get("Environment") or {}).get("Variables") or {}
        resource = self._resource(logical_id)
        return FunctionSpec(
            logical_id=logical_id,
            function_name=str(resource.ref),
            arn=str(resource.attributes["Arn"]),
            code_uri=(self.base_dir / code_uri).resolve(),
            handler=props["Handler"],
            timeout=int(props.get("Timeout", _SAM_DEFAULT_TIMEOUT)),
            memory=int(props.get("MemorySize", _SAM_DEFAULT_MEMORY)),
            environment={name: _attribute_text(value) for name, value in variables.items()},
            events=props.get("Events") or {},
            layers=props.get("Layers") or [],
            layer_paths=self._layer_paths(raw.get("Layers") or []),
            runtime=props.get("Runtime"),
        )

    def functions(self) -> list[FunctionSpec]:
        """Every function that runs locally (a local CodeUri: not inline code, not an image)."""
        specs = []
        for resource in self.resources_of_type(*FUNCTION_TYPES):
            try:
                specs.append(self.function(resource.logical_id))
            except TemplateError as error:
                log.warning("skipping %s: %s", resource.logical_id, error)
        return specs

    def function_by_arn(self, arn_or_name: str) -> FunctionSpec:
        """The function an ARN (as an authorizer or a schedule target names it) or name points at."""
        for resource in self.resources_of_type(*FUNCTION_TYPES):
            if arn_or_name in (resource.ref, resource.attributes.get("Arn"), resource.logical_id):
                return self.function(resource.logical_id)
        raise KeyError(f"no function {arn_or_name}")

    def environment(self) -> dict[str, str]:
        """Every function's environment in one mapping, for one process hosting them all."""
        merged: dict[str, str] = {}
        owners: dict[str, str] = {}
        for spec in self.functions():
            for name, value in spec.environment.items():
                if name in merged and merged[name] != value:
                    raise EnvironmentConflictError(
                        f"{name} is {merged[name]!r} for {owners[name]} but {value!r} for {spec.logical_id}"
                    )
                merged[name] = value
                owners.setdefault(name, spec.logical_id)
        return merged

    # -- API ------------------------------------------------------------------------------------
    def http_apis(self) -> list[HttpApiSpec]:
        return [
            HttpApiSpec(
                resource.logical_id,
                str(resource.ref),
                self.properties(resource.logical_id)
                if resource.logical_id in self.template["Resources"]
                else {},
                implicit=resource.logical_id not in self.template["Resources"],
            )
            for resource in self.resources_of_type(*HTTP_API_TYPES)
        ]

    def http_api(self, logical_id: str | None = None) -> HttpApiSpec | None:
        """The HTTP API (its Auth holds the authorizers); name it when the template has several."""
        apis = self.http_apis()
        if logical_id is not None:
            matches = [api for api in apis if api.logical_id == logical_id]
            if not matches:
                raise KeyError(f"no HTTP API {logical_id}")
            return matches[0]
        if len(apis) > 1:
            raise ValueError(f"several HTTP APIs ({[api.logical_id for api in apis]}): name one")
        return apis[0] if apis else None


def _dependency_order(resources: Mapping[str, Any], function_globals: Any) -> list[str]:
    """Logical ids so that every resource comes after what it refers to (template order otherwise)."""
    dependencies: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn") or []
        names = referenced_names(resource.get("Properties") or {})
        if resource.get("Type") == "AWS::Serverless::Function":
            names |= referenced_names(function_globals)
        names |= set([depends_on] if isinstance(depends_on, str) else depends_on)
        dependencies[logical_id] = {name for name in names if name in resources and name != logical_id}
    ordered: list[str] = []
    placed: set[str] = set()
    while len(ordered) < len(resources):
        ready = [rid for rid in resources if rid not in placed and dependencies[rid] <= placed]
        if not ready:
            cycle = sorted(set(resources) - placed)
            raise TemplateError(f"circular dependency between {cycle}")
        ordered.extend(ready)
        placed.update(ready)
    return ordered


def create_resources(
    template: Mapping[str, Any],
    *,
    stack_name: str = "webhook-resend-local",
    parameter_overrides: Mapping[str, str] | None = None,
    session: boto3.Session | None = None,
    base_dir: Path | None = None,
) -> Stack:
    """Create the template's resources on the endpoint `session` talks to and describe the stack.

    `base_dir` is where relative `CodeUri`s start: by default the template file's folder.
    """
    session = session or boto3.Session()
    region = session.region_name or DEFAULT_REGION
    account_id = _client(session, "sts", region).get_caller_identity()["Account"]
    if base_dir is None:
        template_path = getattr(template, "path", None)
        base_dir = template_path.parent if template_path else Path.cwd()
    stack = Stack(
        template,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        base_dir=Path(base_dir),
        parameter_overrides=parameter_overrides,
    )
    ctx = _Context(session, stack_name, region, account_id, stack.resolver.partition)
    resources: Mapping[str, Any] = template.get("Resources") or {}

    for logical_id, resource_type in _implicit_resources(resources).items():
        stack.resources[logical_id] = stand_in(ctx, logical_id, resource_type)

    function_globals = (template.get("Globals") or {}).get("Function") or {}
    for logical_id in _dependency_order(resources, function_globals):
        resource = resources[logical_id]
        condition = resource.get("Condition")
        if condition and not stack.resolver.condition(condition):
            continue
        resource_type = resource["Type"]
        creator = CREATORS.get(resource_type)
        if creator is not None:
            props = stack.resolve(resource.get("Properties") or {})
            created = creator(ctx, logical_id, props)
            created.properties = props
            stack.resources[logical_id] = created
            continue
        name_property = _NAME_PROPERTIES.get(resource_type)
        raw_name = (resource.get("Properties") or {}).get(name_property) if name_property else None
        name = stack.resolve(raw_name) if raw_name is not None else None
        stack.resources[logical_id] = stand_in(ctx, logical_id, resource_type, name)
    return stack
