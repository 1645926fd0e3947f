"""InventoryStack: S3 -> Load-Inventory -> DynamoDB stream -> Check-Stock -> SNS NoStock."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import variants
from infra.bundling import function_code
from inventory import config

# A runtime current on AWS; the embedded emulator runs its Lambdas on the same Python.
RUNTIME = lambda_.Runtime.PYTHON_3_13
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
NO_STOCK_FILTER = lambda_.FilterCriteria.filter(
    {"dynamodb": {"NewImage": {config.ATTR_COUNT: {"N": lambda_.FilterRule.is_equal("0")}}}}
)


@dataclass(frozen=True)
class Variant:
    """The function code and stream view one deployment runs; everything else is shared."""

    loader_handler: str  # "<package>.<module>.lambda_handler"; the package is bundled
    checker_handler: str
    stream_view: dynamodb.StreamViewType
    # The lab's checker finds NoStock by name with list_topics, and never reports partial
    # batch failures; ours gets the ARN and reports each failed record.
    lab_style: bool = False


VARIANTS = {
    variants.OURS: Variant(
        loader_handler="load_inventory.handler.lambda_handler",
        checker_handler="check_stock.handler.lambda_handler",
        stream_view=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    ),
    # The original lab, the "before" of `make bench`: lambdas/baseline/.
    variants.BASELINE: Variant(
        loader_handler="baseline.load_inventory.lambda_handler",
        checker_handler="baseline.check_stock.lambda_handler",
        stream_view=dynamodb.StreamViewType.NEW_IMAGE,
        lab_style=True,
    ),
}


def failure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that holds what could not be processed, for 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


class PipelineFunction(Construct):
    """A Python function from `lambdas/<package>`, with its own log group and retention.

    `handler` is `<package>.<module>.lambda_handler`; the asset holds that package and the domain.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: dict[str, str],
        timeout: Duration,
        memory_size: int,
        on_failure: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=handler,
            code=function_code(handler.split(".", 1)[0], RUNTIME),
            description=description,
            environment={"POWERTOOLS_LOG_LEVEL": "INFO", **environment},
            timeout=timeout,
            memory_size=memory_size,
            log_group=self.log_group,
            # Asynchronous invocations (S3 notifications): retried twice, then dead-lettered.
            retry_attempts=2 if on_failure else None,
            on_failure=destinations.SqsDestination(on_failure) if on_failure else None,
        )


class InventoryStack(Stack):
    """The whole pipeline as one stack; the same template deploys to the emulator and AWS.

    `variant` picks the function code (infra/variants.py): ours, or the lab-style baseline.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        variant: str = variants.DEFAULT_VARIANT,
        **kwargs: object,
    ) -> None:
        spec = VARIANTS[variants.check_variant(variant)]
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]

        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        bucket = s3.Bucket(
            self,
            "Uploads",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="uploads/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        table = dynamodb.Table(
            self,
            "Inventory",
            partition_key=dynamodb.Attribute(
                name=config.ATTR_STORE, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=config.ATTR_ITEM, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=spec.stream_view,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        receipts = dynamodb.Table(
            self,
            "IngestReceipts",
            partition_key=dynamodb.Attribute(
                name=config.ATTR_OBJECT_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=config.ATTR_RECEIPT_ID, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        topic = sns.Topic(
            self,
            "NoStock",
            display_name="NoStock",
            enforce_ssl=True,
            # The AWS-managed SNS key: encrypted at rest, with no key policy to maintain.
            master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
        )

        load_failures = failure_queue(self, "LoadInventoryFailures")
        check_failures = failure_queue(self, "CheckStockFailures")

        loader = PipelineFunction(
            self,
            "LoadInventory",
            handler=spec.loader_handler,
            description="Loads an uploaded inventory CSV into the Inventory table",
            environment={
                config.ENV_TABLE_NAME: table.table_name,
                config.ENV_RECEIPTS_TABLE_NAME: receipts.table_name,
            },
            # A 20,000-row file is 800 BatchWriteItem calls; the timeout leaves ample room.
            timeout=Duration.seconds(120),
            memory_size=1024,
            on_failure=load_failures,
        ).function
        bucket.grant_read(loader)
        table.grant_write_data(loader)
        receipts.grant_write_data(loader)
        bucket.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(loader))

        checker = PipelineFunction(
            self,
            "CheckStock",
            handler=spec.checker_handler,
            description="Publishes NoStock when an item's count becomes 0",
            environment=(
                {config.ENV_TOPIC_NAME: topic.topic_name}
                if spec.lab_style
                else {config.ENV_TOPIC_ARN: topic.topic_arn}
            ),
            timeout=Duration.seconds(30),
            memory_size=512,
        ).function
        topic.grant_publish(checker)
        if spec.lab_style:
            # ListTopics has no resource to scope it to (infra/nag.py says so too).
            checker.add_to_role_policy(
                iam.PolicyStatement(actions=["sns:ListTopics"], resources=["*"])
            )
        checker.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                bisect_batch_on_error=True,
                retry_attempts=3,
                report_batch_item_failures=not spec.lab_style,
                on_failure=sources.SqsDlq(check_failures),
                # Only changes that leave an item at 0 can be due an alert; the rest never
                # invoke Check-Stock (fewer invocations, lower cost, less contention). The
                # lab-style baseline gets every record, as the lab did.
                filters=[] if spec.lab_style else [NO_STOCK_FILTER],
            )
        )

        outputs = {
            "BucketName": bucket.bucket_name,
            "TableName": table.table_name,
            "TopicArn": topic.topic_arn,
            "ReceiptsTableName": receipts.table_name,
            "LoadInventoryFunctionName": loader.function_name,
            "CheckStockFunctionName": checker.function_name,
            "LoadInventoryFailuresQueueUrl": load_failures.queue_url,
            "CheckStockFailuresQueueUrl": check_failures.queue_url,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value, export_name=None)
