"""devstack.cfn: short-form tags in long form, and intrinsic functions resolved like a deploy."""

from __future__ import annotations

import base64

import pytest

from devstack.cfn import (
    NO_VALUE,
    ParameterError,
    ResolutionError,
    Resolver,
    parameter_env_name,
    parse_template,
    referenced_names,
)

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Retention:
    Type: Number
    Default: 30
    MinValue: 1
    MaxValue: 365
  Zones:
    Type: CommaDelimitedList
    Default: "a, b"
Mappings:
  Sizes:
    dev: { Memory: 128 }
    prod: { Memory: 1024 }
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  DevWithLongRetention: !And [!Condition IsDev, !Equals [!Ref Retention, 90]]
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def resolver(**overrides: str) -> Resolver:
    refs = {"Queue": "https://sqs/queue", "Table": "table-name"}
    attributes = {"Queue.Arn": "arn:aws:sqs:us-east-1:123456789012:queue", "Db.Endpoint.Address": "db.local"}
    return Resolver(
        parse_template(TEMPLATE),
        parameter_overrides=overrides,
        region="eu-west-1",
        account_id="111122223333",
        stack_name="demo",
        refs=refs,
        attributes=attributes,
    )


# -- tags ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("!Ref Queue", {"Ref": "Queue"}),
        ("!GetAtt Queue.Arn", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("!GetAtt Db.Endpoint.Address", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
        ("!GetAtt [Queue, Arn]", {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("!Sub 'x-${AWS::Region}'", {"Fn::Sub": "x-${AWS::Region}"}),
        ("!Sub ['${A}', {A: !Ref Queue}]", {"Fn::Sub": ["${A}", {"A": {"Ref": "Queue"}}]}),
        ("!Join [',', [a, b]]", {"Fn::Join": [",", ["a", "b"]]}),
        ("!Select [0, !GetAZs '']", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
        ("!Split [',', 'a,b']", {"Fn::Split": [",", "a,b"]}),
        ("!If [IsProd, 1, 2]", {"Fn::If": ["IsProd", 1, 2]}),
        ("!Equals [a, b]", {"Fn::Equals": ["a", "b"]}),
        ("!Not [!Condition IsProd]", {"Fn::Not": [{"Condition": "IsProd"}]}),
        ("!And [!Condition A, !Condition B]", {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!Or [!Condition A, !Condition B]", {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!FindInMap [Sizes, dev, Memory]", {"Fn::FindInMap": ["Sizes", "dev", "Memory"]}),
        ("!Base64 hello", {"Fn::Base64": "hello"}),
        ("!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
    ],
)
def test_parse_template_turns_short_form_tags_into_long_form(yaml_text: str, expected: dict) -> None:
    # Given a value written with a short-form tag
    template = parse_template(f"Value: {yaml_text}\n")

    # Then it reads as the long form CloudFormation itself uses
    assert template["Value"] == expected


def test_parse_template_keeps_the_format_version_a_string() -> None:
    template = parse_template("AWSTemplateFormatVersion: 2010-09-09\n")

    assert template["AWSTemplateFormatVersion"] == "2010-09-09"


def test_parse_template_rejects_an_unknown_tag() -> None:
    with pytest.raises(ValueError, match="!Bogus"):
        parse_template("Value: !Bogus x\n")


# -- parameters ------------------------------------------------------------------------------------
def test_resolver_parameters_take_defaults_as_strings() -> None:
    assert resolver().parameters == {"Stage": "dev", "Retention": "30", "Zones": ["a", "b"]}


def test_resolver_parameters_take_overrides() -> None:
    assert resolver(Stage="prod").parameters["Stage"] == "prod"


def test_resolver_parameters_reject_a_value_outside_allowed_values() -> None:
    with pytest.raises(ParameterError, match="Stage"):
        resolver(Stage="qa")


def test_resolver_parameters_reject_a_number_above_max_value() -> None:
    with pytest.raises(ParameterError, match="Retention"):
        resolver(Retention="400")


def test_resolver_parameters_reject_an_unknown_override() -> None:
    with pytest.raises(ParameterError, match="Nope"):
        resolver(Nope="1")


@pytest.mark.parametrize(
    ("parameter", "variable"),
    [
        ("RetrySchedule", "RETRY_SCHEDULE"),
        ("AllowPrivateUrls", "ALLOW_PRIVATE_URLS"),
        ("SQSQueueName", "SQS_QUEUE_NAME"),
        ("LogLevel", "LOG_LEVEL"),
    ],
)
def test_parameter_env_name_is_upper_snake_case(parameter: str, variable: str) -> None:
    assert parameter_env_name(parameter) == variable


# -- intrinsic functions ---------------------------------------------------------------------------
def test_resolver_ref_answers_parameters_pseudo_parameters_and_resources() -> None:
    value = resolver().resolve(
        [{"Ref": "Stage"}, {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, {"Ref": "Queue"}]
    )

    assert value == ["dev", "eu-west-1", "111122223333", "https://sqs/queue"]


def test_resolver_pseudo_parameters_cover_stack_name_partition_and_url_suffix() -> None:
    value = resolver().resolve(
        {"Fn::Sub": "${AWS::StackName}|${AWS::Partition}|${AWS::URLSuffix}"},
    )

    assert value == "demo|aws|amazonaws.com"


def test_resolver_sub_replaces_resource_attributes_and_pseudo_parameters() -> None:
    value = resolver().resolve({"Fn::Sub": "${Queue.Arn} in ${AWS::Region} (${Stage}) ${!Literal}"})

    assert value == "arn:aws:sqs:us-east-1:123456789012:queue in eu-west-1 (dev) ${Literal}"


def test_resolver_sub_with_a_variable_map_prefers_the_map() -> None:
    value = resolver().resolve(
        {"Fn::Sub": ["${Stage}-${Name}", {"Stage": "override", "Name": {"Ref": "Table"}}]}
    )

    assert value == "override-table-name"


def test_resolver_join_joins_resolved_items() -> None:
    value = resolver().resolve({"Fn::Join": ["/", [{"Ref": "Stage"}, "x", {"Fn::GetAtt": ["Queue", "Arn"]}]]})

    assert value == "dev/x/arn:aws:sqs:us-east-1:123456789012:queue"


def test_resolver_get_att_reads_dotted_attribute_names() -> None:
    assert resolver().resolve({"Fn::GetAtt": ["Db", "Endpoint.Address"]}) == "db.local"


def test_resolver_select_split_and_get_azs_compose() -> None:
    value = resolver().resolve(
        [
            {"Fn::Select": ["1", {"Fn::Split": [",", "a,b,c"]}]},
            {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            {"Fn::Select": [1, {"Ref": "Zones"}]},
        ]
    )

    assert value == ["b", "eu-west-1a", "b"]


def test_resolver_if_follows_an_equals_condition() -> None:
    template_value = {"Fn::If": ["IsProd", "big", "small"]}

    assert resolver().resolve(template_value) == "small"
    assert resolver(Stage="prod").resolve(template_value) == "big"


def test_resolver_conditions_combine_with_not_and_and() -> None:
    assert resolver().condition("IsDev") is True
    assert resolver(Retention="90").condition("DevWithLongRetention") is True
    assert resolver(Stage="prod", Retention="90").condition("DevWithLongRetention") is False


def test_resolver_no_value_removes_the_property_and_the_list_item() -> None:
    value = resolver().resolve(
        {
            "Kept": 1,
            "Dropped": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
            "List": ["a", {"Ref": "AWS::NoValue"}],
        }
    )

    assert value == {"Kept": 1, "List": ["a"]}
    assert NO_VALUE not in value.values()


def test_resolver_find_in_map_reads_mappings() -> None:
    assert resolver(Stage="prod").resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 1024


def test_resolver_base64_encodes() -> None:
    assert base64.b64decode(resolver().resolve({"Fn::Base64": "hi"})) == b"hi"


def test_resolver_unknown_ref_raises() -> None:
    with pytest.raises(ResolutionError, match="Missing"):
        resolver().resolve({"Ref": "Missing"})


def test_resolver_import_value_without_an_export_raises() -> None:
    with pytest.raises(ResolutionError, match="shared-vpc"):
        resolver().resolve({"Fn::ImportValue": "shared-vpc"})


def test_resolver_get_att_calls_a_callback() -> None:
    calls: list[tuple[str, str]] = []

    def attributes(logical_id: str, attribute: str) -> str:
        calls.append((logical_id, attribute))
        return f"{logical_id}:{attribute}"

    callback_resolver = Resolver(parse_template(TEMPLATE), attributes=attributes)

    assert callback_resolver.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "Fn:Arn"
    assert calls == [("Fn", "Arn")]


def test_referenced_names_finds_ref_get_att_and_sub_targets() -> None:
    value = {
        "A": {"Ref": "Table"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "${Fn.Arn}/${AWS::Region}/${!Skip}"},
        "D": {"Fn::Sub": ["${Local}-${Other}", {"Local": "x"}]},
    }

    assert referenced_names(value) == {"Table", "Queue", "Fn", "AWS::Region", "Other"}
