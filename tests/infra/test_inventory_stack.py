"""Template assertions on InventoryStack: storage, functions, wiring, permissions and outputs."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from inventory import config

pytestmark = pytest.mark.infra

LOADER_HANDLER = "load_inventory.handler.lambda_handler"
CHECKER_HANDLER = "check_stock.handler.lambda_handler"
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
Statement = dict[str, Any]


# --- helpers: find resources by what they are, never by their generated logical ids ---


def only_resource(
    template: Template, resource_type: str, props: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the one resource of this type (with these properties)."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {list(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, dict(resource.get("Properties", {}))


def only_id(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> str:
    return only_resource(template, resource_type, props)[0]


def bucket_ids(template: Template) -> list[str]:
    return list(template.find_resources("AWS::S3::Bucket"))


def uploads_bucket_id(template: Template) -> str:
    """The bucket S3 notifications are configured on (the other one only holds access logs)."""
    notifications = only_resource(template, "Custom::S3BucketNotifications")[1]
    return str(notifications["BucketName"]["Ref"])


def inventory_table_id(template: Template) -> str:
    return only_id(
        template,
        "AWS::DynamoDB::Table",
        {"KeySchema": Match.array_with([{"AttributeName": config.ATTR_STORE, "KeyType": "HASH"}])},
    )


def receipts_table_id(template: Template) -> str:
    key = {"AttributeName": config.ATTR_OBJECT_KEY, "KeyType": "HASH"}
    return only_id(template, "AWS::DynamoDB::Table", {"KeySchema": Match.array_with([key])})


def topic_id(template: Template) -> str:
    return only_id(template, "AWS::SNS::Topic")


def function_id(template: Template, handler: str) -> str:
    return only_id(template, "AWS::Lambda::Function", {"Handler": handler})


def function_props(template: Template, handler: str) -> dict[str, Any]:
    return only_resource(template, "AWS::Lambda::Function", {"Handler": handler})[1]


def loader_invoke_config(template: Template) -> dict[str, Any]:
    """The loader's asynchronous-invocation settings (S3 invokes it asynchronously)."""
    loader = {"Ref": function_id(template, LOADER_HANDLER)}
    return only_resource(template, "AWS::Lambda::EventInvokeConfig", {"FunctionName": loader})[1]


def checker_event_source(template: Template) -> dict[str, Any]:
    """The checker's DynamoDB stream event source mapping."""
    checker = {"Ref": function_id(template, CHECKER_HANDLER)}
    return only_resource(template, "AWS::Lambda::EventSourceMapping", {"FunctionName": checker})[1]


def on_failure_queue_id(template: Template, props: dict[str, Any]) -> str:
    """The SQS queue an on-failure destination names, checked to be a queue of this stack."""
    name, attribute = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert name in template.find_resources("AWS::SQS::Queue"), f"{name} is not an SQS queue"
    return str(name)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def execution_role_id(template: Template, handler: str) -> str:
    return str(function_props(template, handler)["Role"]["Fn::GetAtt"][0])


def role_statements(template: Template, handler: str) -> list[Statement]:
    """Every statement of every inline policy of the function's execution role."""
    role_id = execution_role_id(template, handler)
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    documents += [
        policy["Properties"]["PolicyDocument"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    return [statement for document in documents for statement in document["Statement"]]


def managed_policy_arns(template: Template, handler: str) -> list[Any]:
    role = template.find_resources("AWS::IAM::Role")[execution_role_id(template, handler)]
    return list(role["Properties"].get("ManagedPolicyArns", []))


def allows(statement: Statement, action: str) -> bool:
    """Whether an Allow statement covers this action, IAM wildcards included."""
    patterns = as_list(statement.get("Action", []))
    return statement["Effect"] == "Allow" and any(
        fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns
    )


# --- storage ---


def test_every_bucket_is_encrypted_and_blocks_public_access(template: Template) -> None:
    assert len(bucket_ids(template)) == 2  # uploads and its access logs
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


@pytest.mark.parametrize("which", ["uploads", "access logs"])
def test_every_bucket_denies_requests_without_tls(template: Template, which: str) -> None:
    uploads = uploads_bucket_id(template)
    (bucket,) = [b for b in bucket_ids(template) if (b == uploads) == (which == "uploads")]
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


def test_uploads_are_access_logged_to_the_other_bucket(template: Template) -> None:
    uploads = uploads_bucket_id(template)
    (logs,) = [b for b in bucket_ids(template) if b != uploads]
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LoggingConfiguration": {"DestinationBucketName": {"Ref": logs}}},
    )


def test_inventory_table_is_keyed_by_store_and_item_and_streams_both_images(
    template: Template,
) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": config.ATTR_STORE, "KeyType": "HASH"},
                    {"AttributeName": config.ATTR_ITEM, "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": Match.array_with(
                    [
                        {"AttributeName": config.ATTR_STORE, "AttributeType": "S"},
                        {"AttributeName": config.ATTR_ITEM, "AttributeType": "S"},
                    ]
                ),
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            # Inventory is data: deleting the stack must not delete it.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_receipts_table_is_keyed_by_object_key_and_receipt_id(template: Template) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": config.ATTR_OBJECT_KEY, "KeyType": "HASH"},
                    {"AttributeName": config.ATTR_RECEIPT_ID, "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.resource_count_is("AWS::DynamoDB::Table", 2)


def test_no_stock_topic_is_encrypted(template: Template) -> None:
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.has_resource_properties(
        "AWS::SNS::Topic", {"DisplayName": "NoStock", "KmsMasterKeyId": Match.any_value()}
    )


# --- functions ---


def test_loader_runs_the_load_inventory_handler_with_both_table_names(template: Template) -> None:
    props = function_props(template, LOADER_HANDLER)
    assert props["Runtime"] == RUNTIME
    assert props["Environment"]["Variables"] == {
        "POWERTOOLS_LOG_LEVEL": "INFO",
        config.ENV_TABLE_NAME: {"Ref": inventory_table_id(template)},
        config.ENV_RECEIPTS_TABLE_NAME: {"Ref": receipts_table_id(template)},
    }


def test_checker_runs_the_check_stock_handler_with_the_topic_arn(template: Template) -> None:
    props = function_props(template, CHECKER_HANDLER)
    assert props["Runtime"] == RUNTIME
    assert props["Environment"]["Variables"] == {
        "POWERTOOLS_LOG_LEVEL": "INFO",
        config.ENV_TOPIC_ARN: {"Ref": topic_id(template)},
    }


@pytest.mark.parametrize("handler", [LOADER_HANDLER, CHECKER_HANDLER])
def test_each_function_logs_to_its_own_group_with_retention(
    template: Template, handler: str
) -> None:
    log_group_id = function_props(template, handler)["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = template.find_resources("AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30
    other = CHECKER_HANDLER if handler == LOADER_HANDLER else LOADER_HANDLER
    assert function_props(template, other)["LoggingConfig"]["LogGroup"]["Ref"] != log_group_id


def test_no_log_group_keeps_logs_forever(template: Template) -> None:
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": Match.any_value()})


# --- wiring: S3 -> loader, stream -> checker, and where failures go ---


def test_uploads_bucket_notifies_the_loader_on_every_object_created(template: Template) -> None:
    loader = function_id(template, LOADER_HANDLER)
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
    # Unbounded (-1, the default), one poison record would hold up its shard until it expires.
    assert 0 <= props["MaximumRetryAttempts"] <= 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
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
        for s in role_statements(template, CHECKER_HANDLER)
    )


@pytest.mark.parametrize("action", TABLE_WRITES)
def test_checker_cannot_write_any_table(template: Template, action: str) -> None:
    granted = [s for s in role_statements(template, CHECKER_HANDLER) if allows(s, action)]
    assert granted == []


def test_loader_can_write_the_inventory_and_receipts_tables(template: Template) -> None:
    statements = role_statements(template, LOADER_HANDLER)
    for table in (inventory_table_id(template), receipts_table_id(template)):
        arn = {"Fn::GetAtt": [table, "Arn"]}
        for action in ("dynamodb:BatchWriteItem", "dynamodb:PutItem"):
            assert any(allows(s, action) and arn in as_list(s["Resource"]) for s in statements), (
                f"the loader may not {action} on {table}"
            )


def test_loader_cannot_publish(template: Template) -> None:
    statements = role_statements(template, LOADER_HANDLER)
    assert [s for s in statements if allows(s, "sns:Publish")] == []


@pytest.mark.parametrize("handler", [LOADER_HANDLER, CHECKER_HANDLER])
def test_functions_get_no_wildcard_actions_or_broad_managed_policies(
    template: Template, handler: str
) -> None:
    for statement in role_statements(template, handler):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{handler} may {action}"
    (managed,) = managed_policy_arns(template, handler)  # logs only, nothing else
    assert "service-role/AWSLambdaBasicExecutionRole" in str(managed)


# --- outputs ---

OUTPUTS = {
    "BucketName",
    "TableName",
    "TopicArn",
    "ReceiptsTableName",
    "LoadInventoryFunctionName",
    "CheckStockFunctionName",
    "LoadInventoryFailuresQueueUrl",
    "CheckStockFailuresQueueUrl",
}


def test_outputs_have_the_fixed_names_others_rely_on(template: Template) -> None:
    assert set(template.find_outputs("*")) == OUTPUTS


def test_outputs_point_at_the_right_resources(template: Template) -> None:
    template.has_output("BucketName", {"Value": {"Ref": uploads_bucket_id(template)}})
    template.has_output("TableName", {"Value": {"Ref": inventory_table_id(template)}})
    template.has_output("TopicArn", {"Value": {"Ref": topic_id(template)}})
    template.has_output("ReceiptsTableName", {"Value": {"Ref": receipts_table_id(template)}})
    for name, handler in (
        ("LoadInventoryFunctionName", LOADER_HANDLER),
        ("CheckStockFunctionName", CHECKER_HANDLER),
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
