"""devstack.resources under moto: the template's own tables, queues and secrets, built as declared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from devstack.cfn import load_template, parse_template
from devstack.resources import (
    EnvironmentConflictError,
    Stack,
    create_resources,
    overrides_from_env,
)

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
STACK_NAME = "webhook-resend-local"


@pytest.fixture
def template() -> dict:
    return load_template(TEMPLATE_PATH)


@pytest.fixture
def stack(aws: None, template: dict) -> Stack:
    return create_resources(template)


def resources_of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def by_index_name(indexes: list[dict]) -> dict[str, dict]:
    return {index["IndexName"]: index for index in indexes}


# -- tables -----------------------------------------------------------------------------------------
def test_create_resources_builds_every_table_with_the_templates_keys(template: dict, stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert tables

    for logical_id, resource in tables.items():
        declared = resource["Properties"]
        table = dynamodb.describe_table(TableName=stack.ref(logical_id))["Table"]

        assert table["KeySchema"] == declared["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            declared["AttributeDefinitions"], key=str
        )
        assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]


def test_create_resources_builds_the_templates_global_secondary_indexes(template: dict, stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")

    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        declared = by_index_name(resource["Properties"].get("GlobalSecondaryIndexes", []))
        table = dynamodb.describe_table(TableName=stack.ref(logical_id))["Table"]
        built = by_index_name(table.get("GlobalSecondaryIndexes", []))

        assert set(built) == set(declared)
        for name, index in declared.items():
            assert built[name]["KeySchema"] == index["KeySchema"]
            assert built[name]["Projection"] == index["Projection"]


def test_create_resources_enables_the_templates_ttl(template: dict, stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")

    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        declared = resource["Properties"].get("TimeToLiveSpecification")
        if not declared:
            continue
        ttl = dynamodb.describe_time_to_live(TableName=stack.ref(logical_id))["TimeToLiveDescription"]

        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": declared["AttributeName"]}


def test_create_resources_enables_point_in_time_recovery_by_default(template: dict, stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")

    for logical_id in resources_of_type(template, "AWS::DynamoDB::Table"):
        backups = dynamodb.describe_continuous_backups(TableName=stack.ref(logical_id))
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]

        assert recovery["PointInTimeRecoveryStatus"] == "ENABLED", logical_id


def test_create_resources_leaves_point_in_time_recovery_off_when_the_parameter_says_so(
    aws: None, template: dict
) -> None:
    stack = create_resources(template, parameter_overrides={"PointInTimeRecovery": "false"})
    backups = boto3.client("dynamodb").describe_continuous_backups(TableName=stack.ref("DataTable"))

    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "DISABLED"


def test_create_resources_leaves_tables_on_dynamodb_s_own_key_without_a_kms_key(
    template: dict, stack: Stack
) -> None:
    # Without KmsKeyArn the template says SSEEnabled: false, DynamoDB's default (an AWS owned key)
    dynamodb = boto3.client("dynamodb")
    for logical_id in resources_of_type(template, "AWS::DynamoDB::Table"):
        table = dynamodb.describe_table(TableName=stack.ref(logical_id))["Table"]
        assert "SSEDescription" not in table, logical_id
    # and no KMS key is made for them (moto makes the AWS managed one for an SSESpecification)
    assert boto3.client("kms").list_keys()["Keys"] == []


def test_create_resources_builds_every_resource_under_a_customer_key(aws: None, template: dict) -> None:
    # Given KmsKeyArn, the local stack still creates the tables, queues and secret, under the key.
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    stack = create_resources(template, parameter_overrides={"KmsKeyArn": key})

    sqs = boto3.client("sqs")
    for logical_id in resources_of_type(template, "AWS::SQS::Queue"):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(logical_id), AttributeNames=["All"])
        assert attributes["Attributes"]["KmsMasterKeyId"] == key, logical_id
    dynamodb = boto3.client("dynamodb")
    for logical_id in resources_of_type(template, "AWS::DynamoDB::Table"):
        sse = dynamodb.describe_table(TableName=stack.ref(logical_id))["Table"]["SSEDescription"]
        assert sse["KMSMasterKeyArn"] == key, logical_id
    secret = boto3.client("secretsmanager").describe_secret(SecretId=stack.ref("AdminTokenSecret"))
    assert secret["KmsKeyId"] == key
    assert "KmsKeyUsePolicy" in stack.resources


def test_create_resources_names_resources_like_cloudformation(stack: Stack) -> None:
    assert re.fullmatch(rf"{STACK_NAME}-DataTable-[A-Z0-9]{{12}}", stack.ref("DataTable"))


# -- queues -----------------------------------------------------------------------------------------
def test_create_resources_points_each_redrive_policy_at_its_dead_letter_queue(
    template: dict, stack: Stack
) -> None:
    sqs = boto3.client("sqs")
    redriven = {
        logical_id: resource
        for logical_id, resource in resources_of_type(template, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in resource["Properties"]
    }
    assert redriven

    for logical_id, resource in redriven.items():
        target = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(logical_id), AttributeNames=["All"])[
            "Attributes"
        ]
        policy = json.loads(attributes["RedrivePolicy"])

        assert policy["deadLetterTargetArn"] == stack.get_att(target, "Arn")
        declared = stack.properties(logical_id)["RedrivePolicy"]["maxReceiveCount"]
        assert policy["maxReceiveCount"] == int(declared)


def test_create_resources_sets_queue_properties_as_attributes(template: dict, stack: Stack) -> None:
    sqs = boto3.client("sqs")

    for logical_id, resource in resources_of_type(template, "AWS::SQS::Queue").items():
        attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(logical_id), AttributeNames=["All"])[
            "Attributes"
        ]
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if name in resource["Properties"]:
                assert attributes[name] == str(resource["Properties"][name])
        assert attributes["SqsManagedSseEnabled"] == "true", logical_id
        assert "KmsMasterKeyId" not in attributes, logical_id


def test_stack_get_att_answers_queue_arn_name_and_url(stack: Stack) -> None:
    url = stack.ref("DeliveryQueue")

    assert stack.get_att("DeliveryQueue", "QueueUrl") == url
    assert url.endswith("/" + stack.get_att("DeliveryQueue", "QueueName"))
    assert stack.get_att("DeliveryQueue", "Arn").endswith(":" + stack.get_att("DeliveryQueue", "QueueName"))


# -- secrets ----------------------------------------------------------------------------------------
def test_create_resources_generates_secrets_of_the_declared_length(template: dict, stack: Stack) -> None:
    secretsmanager = boto3.client("secretsmanager")

    for logical_id, resource in resources_of_type(template, "AWS::SecretsManager::Secret").items():
        spec = resource["Properties"]["GenerateSecretString"]
        value = secretsmanager.get_secret_value(SecretId=stack.ref(logical_id))["SecretString"]

        assert len(value) == int(spec["PasswordLength"])
        if spec.get("ExcludePunctuation"):
            assert value.isalnum()


# -- parameters and environment ---------------------------------------------------------------------
def test_overrides_from_env_reads_parameters_in_upper_snake_case(template: dict) -> None:
    env = {"RETRY_SCHEDULE": "1,2,3", "ALLOW_PRIVATE_URLS": "true", "UNRELATED": "x"}

    assert overrides_from_env(template, env) == {"RetrySchedule": "1,2,3", "AllowPrivateUrls": "true"}


def test_create_resources_applies_parameter_overrides_to_the_environment(aws: None, template: dict) -> None:
    stack = create_resources(
        template, parameter_overrides=overrides_from_env(template, {"RETRY_SCHEDULE": "1,2"})
    )

    assert stack.parameters["RetrySchedule"] == "1,2"
    assert stack.environment()["RETRY_SCHEDULE"] == "1,2"


def test_stack_environment_resolves_table_name_to_the_created_table(stack: Stack) -> None:
    table_name = stack.environment()["TABLE_NAME"]

    assert table_name == stack.ref("DataTable")
    assert boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["TableStatus"] == "ACTIVE"


def test_stack_environment_resolves_the_queue_url_to_the_created_queue(stack: Stack) -> None:
    url = stack.environment()["DELIVERY_QUEUE_URL"]

    assert (
        boto3.client("sqs").get_queue_url(QueueName=stack.get_att("DeliveryQueue", "QueueName"))["QueueUrl"]
        == url
    )


# -- functions ----------------------------------------------------------------------------------------
def test_stack_functions_merge_globals_and_resolve_paths(template: dict, stack: Stack) -> None:
    specs = {spec.logical_id: spec for spec in stack.functions()}
    admin = specs["AdminFunction"]

    assert set(specs) == set(resources_of_type(template, "AWS::Serverless::Function"))
    assert admin.code_uri == TEMPLATE_PATH.parent / "functions" / "admin"
    assert admin.handler == "admin.handler"
    assert admin.timeout == template["Globals"]["Function"]["Timeout"]
    assert admin.environment["ADMIN_TOKEN_SECRET_ARN"] == stack.ref("AdminTokenSecret")
    assert admin.environment["POWERTOOLS_LOG_LEVEL"] == stack.parameters["LogLevel"]
    assert TEMPLATE_PATH.parent / "layers" / "common" in admin.layer_paths


def test_stack_http_api_resolves_the_authorizer_function(stack: Stack) -> None:
    api = stack.http_api()

    assert api is not None
    authorizer = api.auth["Authorizers"][api.auth["DefaultAuthorizer"]]
    assert stack.function_by_arn(authorizer["FunctionArn"]).logical_id == "AuthorizerFunction"


def test_stack_find_resource_maps_an_arn_back_to_its_queue(stack: Stack) -> None:
    arn = stack.get_att("DeliveryQueue", "Arn")

    assert stack.find_resource(arn).logical_id == "DeliveryQueue"


def test_stack_skipped_resources_still_resolve(stack: Stack) -> None:
    assert stack.ref("AuthorizerFunction") == "AuthorizerFunction"
    assert stack.properties("AuthorizerFunctionLogs")["LogGroupName"] == "/aws/lambda/AuthorizerFunction"


# -- other resource shapes (a template of its own) --------------------------------------------------
OTHER_TEMPLATE = """
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDlq.Arn
        maxReceiveCount: 3
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Events:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PROVISIONED
      ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 2 }
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
        - { AttributeName: sk, AttributeType: S }
        - { AttributeName: at, AttributeType: N }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
        - { AttributeName: sk, KeyType: RANGE }
      LocalSecondaryIndexes:
        - IndexName: by_time
          KeySchema:
            - { AttributeName: pk, KeyType: HASH }
            - { AttributeName: at, KeyType: RANGE }
          Projection: { ProjectionType: KEYS_ONLY }
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
  Schedules:
    Type: AWS::Scheduler::ScheduleGroup
  Given:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: '{"k": "v"}'
"""


@pytest.fixture
def other_stack(aws: None) -> Stack:
    return create_resources(parse_template(OTHER_TEMPLATE), stack_name="other", base_dir=Path("/"))


def test_create_resources_orders_a_queue_after_its_dead_letter_queue(other_stack: Stack) -> None:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=other_stack.ref("Jobs"), AttributeNames=["All"]
    )

    assert json.loads(attributes["Attributes"]["RedrivePolicy"])[
        "deadLetterTargetArn"
    ] == other_stack.get_att("JobsDlq", "Arn")


def test_create_resources_names_fifo_queues_with_the_fifo_suffix(other_stack: Stack) -> None:
    assert other_stack.get_att("Jobs", "QueueName").endswith(".fifo")


def test_create_resources_builds_local_indexes_and_streams(other_stack: Stack) -> None:
    table = boto3.client("dynamodb").describe_table(TableName=other_stack.ref("Events"))["Table"]

    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by_time"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert other_stack.get_att("Events", "StreamArn") == table["LatestStreamArn"]


def test_create_resources_creates_schedule_groups(other_stack: Stack) -> None:
    group = boto3.client("scheduler").get_schedule_group(Name=other_stack.ref("Schedules"))

    assert group["Arn"] == other_stack.get_att("Schedules", "Arn")


def test_create_resources_stores_a_given_secret_string(other_stack: Stack) -> None:
    value = boto3.client("secretsmanager").get_secret_value(SecretId=other_stack.ref("Given"))["SecretString"]

    assert value == '{"k": "v"}'


def test_stack_environment_rejects_conflicting_function_variables(aws: None, tmp_path: Path) -> None:
    template = parse_template(
        """
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties: { CodeUri: a/, Handler: a.handler, Environment: { Variables: { MODE: fast } } }
  Two:
    Type: AWS::Serverless::Function
    Properties: { CodeUri: b/, Handler: b.handler, Environment: { Variables: { MODE: slow } } }
"""
    )
    stack = create_resources(template, base_dir=tmp_path)

    with pytest.raises(EnvironmentConflictError, match="MODE"):
        stack.environment()
