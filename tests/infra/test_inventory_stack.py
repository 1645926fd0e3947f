"""Template assertions on InventoryStack: storage, functions, wiring, permissions and outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.outputs import StackOutputs
from inventory import config
from tests.infra.queries import (
    OUR_CHECKER,
    OUR_LOADER,
    access_logs_bucket_id,
    alerts_sent_table_id,
    allows,
    as_list,
    bucket_ids,
    event_source,
    function_id,
    function_props,
    inventory_table_id,
    invoke_config,
    managed_policy_arns,
    on_failure_queue_id,
    receipts_table_id,
    role_statements,
    summaries_table_id,
    topic_id,
    uploads_bucket_id,
)

pytestmark = pytest.mark.infra

RUNTIME = "python3.13"
TABLE_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def loader_invoke_config(template: Template) -> dict[str, Any]:
    return invoke_config(template, OUR_LOADER)


def checker_event_source(template: Template) -> dict[str, Any]:
    return event_source(template, OUR_CHECKER)


# --- storage ---


def test_every_bucket_is_encrypted_and_blocks_public_access(template: Template) -> None:
    # uploads, the access logs, the dashboard's page, the trail's log files
    assert len(bucket_ids(template)) == 4
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )


def test_every_bucket_denies_requests_without_tls(template: Template) -> None:
    for bucket in bucket_ids(template):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Principal": {"AWS": "*"},
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_the_other_buckets_are_access_logged_to_the_logs_bucket(template: Template) -> None:
    logs = access_logs_bucket_id(template)
    buckets = template.find_resources("AWS::S3::Bucket")
    for bucket in set(buckets) - {logs}:
        logging = buckets[bucket]["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": logs}, bucket


# The (partition, sort) keys of each table, and what else it has: Inventory streams both images.
TABLES = {
    "inventory": (
        config.ATTR_STORE,
        config.ATTR_ITEM,
        {"StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}},
    ),
    "receipts": (config.ATTR_OBJECT_KEY, config.ATTR_RECEIPT_ID, {}),
}


@pytest.mark.parametrize("table", TABLES)
def test_each_table_is_keyed_on_demand_recoverable_and_retained(
    template: Template, table: str
) -> None:
    partition_key, sort_key, extra = TABLES[table]
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": partition_key, "KeyType": "HASH"},
                    {"AttributeName": sort_key, "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": Match.array_with(
                    [
                        {"AttributeName": partition_key, "AttributeType": "S"},
                        {"AttributeName": sort_key, "AttributeType": "S"},
                    ]
                ),
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                **extra,
            },
            # Inventory and receipts are data: deleting the stack must not delete them.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_there_are_exactly_the_four_tables(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 4)
    tables = {
        inventory_table_id(template),
        receipts_table_id(template),
        alerts_sent_table_id(template),
        summaries_table_id(template),
    }
    assert len(tables) == 4


def test_alerts_sent_forgets_by_ttl(template: Template) -> None:
    table = template.find_resources("AWS::DynamoDB::Table")[alerts_sent_table_id(template)]
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }


def test_no_stock_topic_is_encrypted(template: Template) -> None:
    template.resource_count_is("AWS::SNS::Topic", 2)  # NoStock, and the ops topic (monitoring)
    template.has_resource_properties(
        "AWS::SNS::Topic", {"DisplayName": "NoStock", "KmsMasterKeyId": Match.any_value()}
    )


# --- functions ---


# What each function is told beyond POWERTOOLS_LOG_LEVEL: the loader both table names, the
# checker the topic's ARN and where (and how long) it remembers the alerts it sent.
ENVIRONMENTS: dict[str, Callable[[Template], dict[str, Any]]] = {
    OUR_LOADER: lambda template: {
        config.ENV_TABLE_NAME: {"Ref": inventory_table_id(template)},
        config.ENV_RECEIPTS_TABLE_NAME: {"Ref": receipts_table_id(template)},
        config.ENV_STORE_SUMMARIES_TABLE_NAME: {"Ref": summaries_table_id(template)},
    },
    OUR_CHECKER: lambda template: {
        config.ENV_TOPIC_ARN: {"Ref": topic_id(template)},
        config.ENV_ALERTS_SENT_TABLE_NAME: {"Ref": alerts_sent_table_id(template)},
        config.ENV_ALERTS_SENT_TTL_SECONDS: str(15 * 86400),
    },
}


@pytest.mark.parametrize("handler", ENVIRONMENTS)
def test_each_function_runs_its_handler_told_only_what_it_needs(
    template: Template, handler: str
) -> None:
    props = function_props(template, handler)
    assert props["Runtime"] == RUNTIME
    assert props["Environment"]["Variables"] == {
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **ENVIRONMENTS[handler](template),
    }


@pytest.mark.parametrize("handler", [OUR_LOADER, OUR_CHECKER])
def test_each_function_logs_to_its_own_group_with_retention(
    template: Template, handler: str
) -> None:
    log_group_id = function_props(template, handler)["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = template.find_resources("AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30
    other = OUR_CHECKER if handler == OUR_LOADER else OUR_LOADER
    assert function_props(template, other)["LoggingConfig"]["LogGroup"]["Ref"] != log_group_id


def test_no_log_group_keeps_logs_forever(template: Template) -> None:
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": Match.any_value()})


# --- wiring: S3 -> loader, stream -> checker, and where failures go ---


def test_uploads_bucket_notifies_the_loader_on_every_object_created(template: Template) -> None:
    loader = function_id(template, OUR_LOADER)
    bucket = uploads_bucket_id(template)
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": bucket},
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "LambdaFunctionArn": {"Fn::GetAtt": [loader, "Arn"]},
                    }
                ]
            },
        },
    )
    # S3 may invoke the loader, for this bucket only.
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [loader, "Arn"]},
            "Principal": "s3.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [bucket, "Arn"]},
        },
    )


def test_failed_loads_are_retried_then_sent_to_a_queue(template: Template) -> None:
    props = loader_invoke_config(template)
    assert 0 < props["MaximumRetryAttempts"] <= 2  # Lambda's limit for async retries
    on_failure_queue_id(template, props)


def test_checker_reads_the_stream_in_bounded_bisecting_batches(template: Template) -> None:
    props = checker_event_source(template)
    assert props["EventSourceArn"] == {"Fn::GetAtt": [inventory_table_id(template), "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert 1 <= props["BatchSize"] <= 1000
    assert props["BisectBatchOnFunctionError"] is True
    # Unbounded (-1, the default), one poison record would hold up its shard until it expires;
    # the age bounds it where retries are not counted (MiniStack honours only the age).
    assert 0 <= props["MaximumRetryAttempts"] <= 10
    assert props["MaximumRecordAgeInSeconds"] == 60
    # A failed batch fails whole (MiniStack drops records reported in a partial response).
    assert "FunctionResponseTypes" not in props
    on_failure_queue_id(template, props)


def test_each_function_fails_into_its_own_queue(template: Template) -> None:
    loader_queue = on_failure_queue_id(template, loader_invoke_config(template))
    checker_queue = on_failure_queue_id(template, checker_event_source(template))
    assert loader_queue != checker_queue


def test_failure_queues_are_encrypted_tls_only_and_kept_14_days(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    assert len(queues) == 2
    template.all_resources_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 86400}
    )
    for queue in queues:
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


# --- least privilege ---


def test_checker_can_publish_to_the_topic(template: Template) -> None:
    topic = {"Ref": topic_id(template)}
    assert any(
        allows(s, "sns:Publish") and topic in as_list(s["Resource"])
        for s in role_statements(template, OUR_CHECKER)
    )


@pytest.mark.parametrize("action", TABLE_WRITES)
def test_checker_cannot_write_the_inventory_or_the_receipts(
    template: Template, action: str
) -> None:
    data = [
        {"Fn::GetAtt": [t, "Arn"]}
        for t in (inventory_table_id(template), receipts_table_id(template))
    ]
    granted = [s for s in role_statements(template, OUR_CHECKER) if allows(s, action)]
    assert all(arn not in as_list(s["Resource"]) for s in granted for arn in data)
    assert all("*" not in as_list(s["Resource"]) for s in granted)


def test_checker_writes_only_alerts_sent(template: Template) -> None:
    alerts_sent = {"Fn::GetAtt": [alerts_sent_table_id(template), "Arn"]}
    writes = [s for s in role_statements(template, OUR_CHECKER) if allows(s, "dynamodb:PutItem")]
    assert writes and all(as_list(s["Resource"])[0] == alerts_sent for s in writes)


def test_loader_can_write_the_inventory_and_receipts_tables(template: Template) -> None:
    statements = role_statements(template, OUR_LOADER)
    for table in (inventory_table_id(template), receipts_table_id(template)):
        arn = {"Fn::GetAtt": [table, "Arn"]}
        for action in ("dynamodb:PutItem",):
            assert any(allows(s, action) and arn in as_list(s["Resource"]) for s in statements), (
                f"the loader may not {action} on {table}"
            )


def test_loader_cannot_publish(template: Template) -> None:
    statements = role_statements(template, OUR_LOADER)
    assert [s for s in statements if allows(s, "sns:Publish")] == []


@pytest.mark.parametrize("handler", [OUR_LOADER, OUR_CHECKER])
def test_functions_get_no_wildcard_actions_or_broad_managed_policies(
    template: Template, handler: str
) -> None:
    for statement in role_statements(template, handler):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{handler} may {action}"
    (managed,) = managed_policy_arns(template, handler)  # logs only, nothing else
    assert "service-role/AWSLambdaBasicExecutionRole" in str(managed)


# --- outputs ---


def test_outputs_have_the_fixed_names_others_rely_on(template: Template) -> None:
    assert set(template.find_outputs("*")) == set(StackOutputs.names())


def test_outputs_point_at_the_right_resources(template: Template) -> None:
    template.has_output("BucketName", {"Value": {"Ref": uploads_bucket_id(template)}})
    template.has_output("TableName", {"Value": {"Ref": inventory_table_id(template)}})
    template.has_output("TopicArn", {"Value": {"Ref": topic_id(template)}})
    template.has_output("ReceiptsTableName", {"Value": {"Ref": receipts_table_id(template)}})
    for name, handler in (
        ("LoadInventoryFunctionName", OUR_LOADER),
        ("CheckStockFunctionName", OUR_CHECKER),
    ):
        template.has_output(name, {"Value": {"Ref": function_id(template, handler)}})
    # A queue's Ref is its URL.
    loader_queue = on_failure_queue_id(template, loader_invoke_config(template))
    checker_queue = on_failure_queue_id(template, checker_event_source(template))
    template.has_output("LoadInventoryFailuresQueueUrl", {"Value": {"Ref": loader_queue}})
    template.has_output("CheckStockFailuresQueueUrl", {"Value": {"Ref": checker_queue}})


def test_outputs_are_not_exported(template: Template) -> None:
    # An export would pin the stack: CloudFormation refuses to change an exported value in use.
    for name, output in template.find_outputs("*").items():
        assert "Export" not in output, name
