"""template.yaml follows the rules of STYLE.md ("Template") and SPEC §2, §4, §6, §10.

The template is read with devstack's own loader (short-form tags in long form), so these checks
see exactly what the local stack and the integration tests build from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
FUNCTION_GLOBALS: dict[str, Any] = (TEMPLATE.get("Globals") or {}).get("Function") or {}
RUNTIME = "python3.11"

FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
QUEUES = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue")
LAYERS = sorted(
    k
    for k, v in RESOURCES.items()
    if v["Type"] in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
)
# Properties that fix a resource's physical name: with them a stack cannot be deployed twice in
# one account, and a replacement of the resource fails.
NAME_PROPERTIES = {
    "TableName",
    "QueueName",
    "FunctionName",
    "RoleName",
    "AlarmName",
    "BucketName",
    "TopicName",
    "LayerName",
    "StateMachineName",
}
# Resource types whose `Name` property is their physical name.
NAMED_BY_NAME = {"AWS::SecretsManager::Secret", "AWS::Scheduler::ScheduleGroup", "AWS::Scheduler::Schedule"}


# -- helpers ------------------------------------------------------------------------------------------
def _props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id].get("Properties") or {}


def _get_att_target(value: Any, attribute: str) -> str | None:
    """The logical id a `Fn::GetAtt [X, attribute]` points at, else None."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        resource, got = value["Fn::GetAtt"]
        if got == attribute:
            return str(resource)
    return None


def _timeout(function: str) -> int:
    return int(_props(function).get("Timeout", FUNCTION_GLOBALS.get("Timeout", 3)))


def _sqs_event_sources() -> list[tuple[str, str]]:
    """(function, queue) for every SQS event of every function."""
    found = []
    for function in FUNCTIONS:
        for event in (_props(function).get("Events") or {}).values():
            if event.get("Type") == "SQS":
                queue = _get_att_target(event["Properties"]["Queue"], "Arn")
                assert queue is not None, f"{function}: SQS event queue is not !GetAtt <queue>.Arn"
                found.append((function, queue))
    return found


def _dead_letter_queues() -> set[str]:
    found = set()
    for queue in QUEUES:
        policy = _props(queue).get("RedrivePolicy")
        if policy:
            target = _get_att_target(policy.get("deadLetterTargetArn"), "Arn")
            assert target is not None, f"{queue}: deadLetterTargetArn is not !GetAtt <queue>.Arn"
            found.add(target)
    return found


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM policy statement anywhere in the resources (roles, inline function policies)."""
    for logical_id, resource in RESOURCES.items():
        for node in _walk(resource):
            if isinstance(node, dict) and "Statement" in node:
                statements = node["Statement"]
                for statement in statements if isinstance(statements, list) else [statements]:
                    yield logical_id, statement


def _stem(function: str) -> str:
    """The function's entry module (`resend_api.handler` → `resend_api`): what its events are named by."""
    return str(_props(function)["Handler"]).rsplit(".", 1)[0].lower()


# -- runtime ------------------------------------------------------------------------------------------
def test_template_globals_runtime_is_python311() -> None:
    assert FUNCTION_GLOBALS.get("Runtime") == RUNTIME


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_runtime_is_python311(function: str) -> None:
    assert _props(function).get("Runtime", FUNCTION_GLOBALS.get("Runtime")) == RUNTIME


@pytest.mark.parametrize("layer", LAYERS)
def test_template_layer_is_built_for_python311_only(layer: str) -> None:
    assert _props(layer).get("CompatibleRuntimes") == [RUNTIME]
    build = (RESOURCES[layer].get("Metadata") or {}).get("BuildMethod")
    assert build in (None, RUNTIME), build


def test_template_has_functions_and_layers() -> None:
    assert len(FUNCTIONS) >= 7
    assert LAYERS


# -- queues -------------------------------------------------------------------------------------------
def test_template_has_sqs_event_sources() -> None:
    assert {function for function, _ in _sqs_event_sources()} >= {"DeliverFunction", "FanoutFunction"}


@pytest.mark.parametrize(("function", "queue"), _sqs_event_sources())
def test_template_event_source_queue_visibility_is_six_times_the_function_timeout(
    function: str, queue: str
) -> None:
    visibility = int(_props(queue)["VisibilityTimeout"])

    assert visibility >= 6 * _timeout(function), (queue, visibility, function, _timeout(function))


@pytest.mark.parametrize(
    ("function", "queue"), [(f, q) for f, q in _sqs_event_sources() if q not in _dead_letter_queues()]
)
def test_template_event_source_queue_has_a_dead_letter_queue(function: str, queue: str) -> None:
    policy = _props(queue).get("RedrivePolicy")

    assert policy, f"{queue} (read by {function}) has no RedrivePolicy"
    target = _get_att_target(policy["deadLetterTargetArn"], "Arn")
    assert target in QUEUES, target
    assert target != queue
    assert policy.get("maxReceiveCount") is not None


@pytest.mark.parametrize(("function", "queue"), _sqs_event_sources())
def test_template_event_source_reports_partial_batch_failures(function: str, queue: str) -> None:
    events = _props(function)["Events"].values()
    [event] = [
        e for e in events if e["Type"] == "SQS" and _get_att_target(e["Properties"]["Queue"], "Arn") == queue
    ]

    assert "ReportBatchItemFailures" in (event["Properties"].get("FunctionResponseTypes") or [])


def test_template_has_dead_letter_queues() -> None:
    assert _dead_letter_queues() >= {"DeliveryDeadLetterQueue", "FanoutDeadLetterQueue"}


def _queue_metrics(alarm: dict[str, Any], queue: str) -> set[str]:
    """The AWS/SQS metrics of `queue` an alarm reads, alone or in its metric math."""
    props = alarm["Properties"]
    metrics = [props] + [(m.get("MetricStat") or {}).get("Metric") or {} for m in props.get("Metrics") or []]
    return {
        str(metric["MetricName"])
        for metric in metrics
        if metric.get("Namespace") == "AWS/SQS"
        and any(
            d.get("Name") == "QueueName" and _get_att_target(d.get("Value"), "QueueName") == queue
            for d in metric.get("Dimensions") or []
        )
    }


@pytest.mark.parametrize("dlq", sorted(_dead_letter_queues()))
def test_template_dead_letter_queue_has_a_depth_alarm(dlq: str) -> None:
    alarms = [
        resource
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and _queue_metrics(resource, dlq)
    ]

    assert alarms, f"no alarm watches {dlq}"
    props = alarms[0]["Properties"]
    assert float(props["Threshold"]) == 0
    assert props["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    ("function", "dlq"), [(f, q) for f, q in _sqs_event_sources() if q in _dead_letter_queues()]
)
def test_template_dead_letter_queue_read_by_a_function_alarms_on_messages_in_flight_too(
    function: str, dlq: str
) -> None:
    # What the function cannot read stays in the queue, received again after each visibility
    # timeout: in flight nearly all the time, hardly ever visible.
    [alarm] = [
        resource
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and _queue_metrics(resource, dlq)
    ]

    assert _queue_metrics(alarm, dlq) == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
    }
    [expression] = [m for m in alarm["Properties"]["Metrics"] if m.get("ReturnData", True)]
    assert set(expression["Expression"].replace("+", " ").split()) == {
        m["Id"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m
    }


def test_template_dead_letter_queues_are_read_by_the_dead_letter_function() -> None:
    read = {queue for function, queue in _sqs_event_sources() if function == "DeadLetterFunction"}

    assert read == {"DeliveryDeadLetterQueue", "FanoutDeadLetterQueue"}


def test_template_dead_letter_queue_keeps_messages_as_long_as_sqs_allows() -> None:
    for dlq in _dead_letter_queues():
        assert int(_props(dlq).get("MessageRetentionPeriod", 0)) == 1209600, dlq


def test_template_max_receive_count_default_outlasts_the_retry_schedule() -> None:
    # A delivery must be recorded failed before SQS dead-letters its message.
    schedule = str(PARAMETERS["RetrySchedule"]["Default"]).split(",")

    assert int(PARAMETERS["DeliveryMaxReceiveCount"]["Default"]) > len(schedule) + 1


# -- a delivery batch fits its function (SPEC §15) ----------------------------------------------------
# Room before a batch's first attempt: its reads (two BatchGetItem rounds, well under a second on
# DynamoDB) and the sender's setup.
READS_SECONDS = 5.0


def _deliver_batch_size() -> int:
    [event] = [e for e in _props("DeliverFunction")["Events"].values() if e["Type"] == "SQS"]
    return int(event["Properties"]["BatchSize"])


def _max_urls_per_webhook() -> int:
    """The most URLs a webhook may have, as the API's model allows (a task has 2 targets)."""
    from webhook_resend.models.bodies import WebhookIn

    [limit] = [m.max_length for m in WebhookIn.model_fields["urls"].metadata if hasattr(m, "max_length")]
    return int(limit)


def _delivery_timeouts() -> range:
    """Every whole DeliveryTimeoutSeconds the template accepts (MinValue..MaxValue)."""
    parameter = PARAMETERS["DeliveryTimeoutSeconds"]
    return range(int(parameter["MinValue"]), int(parameter["MaxValue"]) + 1)


def _worst_case_seconds(delivery_timeout: float) -> float:
    """A full batch of webhooks with the most URLs, every receiver silent to its timeout: the
    attempts go out in waves of the sender's slots, each wave lasting one timeout, then the commit."""
    from webhook_resend.delivery.deliverer import COMMIT_MARGIN_SECONDS
    from webhook_resend.delivery.sender import CONCURRENCY

    waves = math.ceil(_deliver_batch_size() * _max_urls_per_webhook() / CONCURRENCY)
    return waves * delivery_timeout + COMMIT_MARGIN_SECONDS


@pytest.mark.parametrize("delivery_timeout", _delivery_timeouts())
def test_template_deliver_timeout_lets_the_time_guard_start_a_full_wave(delivery_timeout: int) -> None:
    """A batch never outlives its Lambda: over the allowed range of DeliveryTimeoutSeconds it is
    the time guard that makes this hold, not the sizes alone. The static worst case (see
    `_worst_case_seconds`: ceil(BatchSize 25 x 10 URLs / 100 slots) = 3 waves) is 3 x 30 + 3 = 93 s
    at the range's top, over the function's 60 s; the deliverer starts an attempt only once it
    holds a slot and its whole timeout plus COMMIT_MARGIN_SECONDS is still left, and hands the rest
    back to SQS unattempted. For the guard to let a batch make progress, one attempt's timeout
    plus the commit margin must fit the function's timeout after the batch's reads, at every
    allowed value: then each invocation starts at least one full wave of the sender's slots."""
    from webhook_resend.delivery.deliverer import COMMIT_MARGIN_SECONDS

    timeout = _timeout("DeliverFunction")

    assert READS_SECONDS + delivery_timeout + COMMIT_MARGIN_SECONDS <= timeout, (delivery_timeout, timeout)


def test_template_full_batch_fits_the_deliver_timeout_at_the_default_delivery_timeout() -> None:
    """With the template's default DeliveryTimeoutSeconds the static worst case fits by itself
    (3 waves x 10 s + 3 s = 33 s of 60 s): the guard never has to hand a message back. Raising
    BatchSize (past 50 at 10 URLs and 100 slots) or the default timeout (past 19 s) breaks this."""
    default = float(PARAMETERS["DeliveryTimeoutSeconds"]["Default"])

    assert _worst_case_seconds(default) <= _timeout("DeliverFunction"), _worst_case_seconds(default)


# -- API ----------------------------------------------------------------------------------------------
def test_template_http_api_throttling_comes_from_parameters() -> None:
    [api] = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::HttpApi"]
    settings = _props(api).get("DefaultRouteSettings") or {}

    for name in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        value = settings.get(name)
        assert isinstance(value, dict), (name, value)
        assert set(value) == {"Ref"}, (name, value)
        assert value["Ref"] in PARAMETERS, (name, value)


# -- IAM and names ------------------------------------------------------------------------------------
def test_template_has_iam_statements_to_check() -> None:
    assert any(True for _ in _statements())


@pytest.mark.parametrize(("logical_id", "statement"), list(_statements()))
def test_template_iam_statement_has_no_wildcard_resource(logical_id: str, statement: dict[str, Any]) -> None:
    resource = statement.get("Resource")
    resources = resource if isinstance(resource, list) else [resource]

    assert "*" not in resources, (logical_id, statement)
    assert "NotResource" not in statement, (logical_id, statement)


@pytest.mark.parametrize("logical_id", sorted(RESOURCES))
def test_template_resource_has_no_hard_coded_physical_name(logical_id: str) -> None:
    props = _props(logical_id)

    assert not NAME_PROPERTIES & set(props), (logical_id, sorted(NAME_PROPERTIES & set(props)))
    if RESOURCES[logical_id]["Type"] in NAMED_BY_NAME:
        assert "Name" not in props, (logical_id, props["Name"])
    # A log group may be named after its function, never by a fixed string.
    if "LogGroupName" in props:
        assert not isinstance(props["LogGroupName"], str), (logical_id, props["LogGroupName"])


# -- logs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_has_a_log_group_with_retention(function: str) -> None:
    groups = [
        props
        for props in (_props(k) for k, v in RESOURCES.items() if v["Type"] == "AWS::Logs::LogGroup")
        if props.get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    ]
    logging_config = _props(function).get("LoggingConfig") or {}
    if logging_config.get("LogGroup"):
        target = logging_config["LogGroup"]
        groups += [_props(target["Ref"])] if isinstance(target, dict) and "Ref" in target else []

    assert len(groups) == 1, f"{function}: {len(groups)} log groups"
    assert groups[0].get("RetentionInDays"), groups[0]


# -- parameters ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_template_parameter_has_a_description(name: str) -> None:
    assert str(PARAMETERS[name].get("Description") or "").strip(), name


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_template_parameter_has_a_constraint(name: str) -> None:
    spec = PARAMETERS[name]
    constraints = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue", "MinLength", "MaxLength"}

    assert constraints & set(spec), f"{name} accepts any value"


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_template_parameter_default_satisfies_its_own_constraint(name: str) -> None:
    spec = PARAMETERS[name]
    if "Default" not in spec:
        return
    default = spec["Default"]
    if "AllowedValues" in spec:
        assert str(default) in [str(v) for v in spec["AllowedValues"]], (name, default)
    if "MinValue" in spec:
        assert float(default) >= float(spec["MinValue"]), (name, default)
    if "MaxValue" in spec:
        assert float(default) <= float(spec["MaxValue"]), (name, default)


def test_template_max_pairs_per_request_defaults_to_100000() -> None:
    assert str(PARAMETERS["MaxPairsPerRequest"]["Default"]) == "100000"


def test_template_allow_private_urls_defaults_to_false() -> None:
    spec = PARAMETERS["AllowPrivateUrls"]

    assert spec["Default"] == "false"
    assert sorted(spec["AllowedValues"]) == ["false", "true"]


def test_template_functions_get_allow_private_urls_from_the_parameter() -> None:
    variables = FUNCTION_GLOBALS["Environment"]["Variables"]

    assert variables["ALLOW_PRIVATE_URLS"] == {"Ref": "AllowPrivateUrls"}


# -- data ---------------------------------------------------------------------------------------------
def test_template_data_table_has_ttl() -> None:
    ttl = _props("DataTable")["TimeToLiveSpecification"]

    assert ttl["Enabled"] is True
    assert ttl["AttributeName"]


def test_template_data_table_has_point_in_time_recovery() -> None:
    pitr = _props("DataTable")["PointInTimeRecoverySpecification"]

    assert pitr["PointInTimeRecoveryEnabled"] is True


def test_template_data_table_is_retained_on_stack_deletion() -> None:
    assert RESOURCES["DataTable"].get("DeletionPolicy") == "Retain"


# -- sample events ------------------------------------------------------------------------------------
EVENTS = ROOT / "events"


def test_template_events_folder_lists_its_sample_events() -> None:
    found = sorted(p.name for p in EVENTS.glob("*.json"))

    assert found, "events/ holds no sample event"
    for path in EVENTS.glob("*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path.name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_has_a_sample_event(function: str) -> None:
    # `events/<entry module>.json` or `events/<entry module>_<case>.json`, for `sam local invoke -e`.
    stem = _stem(function)
    samples = sorted(p.name for p in EVENTS.glob("*.json") if p.stem == stem or p.stem.startswith(f"{stem}_"))

    present = sorted(p.name for p in EVENTS.glob("*.json"))
    assert samples, f"{function} ({stem}) has no sample event; events/ has {present}"


def _route_keys(function: str) -> set[str]:
    keys = set()
    for event in (_props(function).get("Events") or {}).values():
        if event.get("Type") == "HttpApi":
            props = event.get("Properties") or {}
            path = props.get("Path")
            keys.add(f"{props.get('Method', 'ANY').upper()} {path}" if path else "$default")
    return keys


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_sample_event_is_shaped_like_its_trigger(function: str) -> None:
    stem = _stem(function)
    samples = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in EVENTS.glob("*.json")
        if p.stem == stem or p.stem.startswith(f"{stem}_")
    ]
    events = (_props(function).get("Events") or {}).values()
    kinds = {e.get("Type") for e in events}

    if "SQS" in kinds:
        assert any(
            s.get("Records") and all(r.get("eventSource") == "aws:sqs" for r in s["Records"]) for s in samples
        ), function
    if "HttpApi" in kinds:
        assert any(
            s.get("version") == "2.0" and s.get("routeKey") in _route_keys(function) for s in samples
        ), (
            function,
            _route_keys(function),
        )
    if not kinds:  # the authorizer: an HTTP API REQUEST authorizer event, payload 2.0
        assert any(s.get("type") == "REQUEST" and s.get("version") == "2.0" for s in samples), function
