"""Alerts: Check-Stock reads the Inventory stream and publishes to the NoStock topic.

`Alerts` is ours. `LabStyleAlerts` is the same construct configured as the original lab's
checker (the "before" of `make bench`): same topic, queue, function and stream wiring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.functions import LOG_RETENTION, PipelineFunction
from inventory import config

# Only changes that leave an item at 0 can be due an alert; the rest never invoke Check-Stock
# (fewer invocations, lower cost, less contention).
NO_STOCK_FILTER = lambda_.FilterCriteria.filter(
    {"dynamodb": {"NewImage": {config.ATTR_COUNT: {"N": lambda_.FilterRule.is_equal("0")}}}}
)

TopicEnvironment = Callable[[sns.ITopic], dict[str, str]]

# How long Check-Stock remembers an alert it sent: longer than anything that can deliver the
# same change again (stream retries last at most MAX_RECORD_AGE; a batch kept in
# CheckStockFailures, 14 days, can be re-driven until then).
ALERTS_SENT_TTL = Duration.days(15)
# A batch that keeps failing is sent to CheckStockFailures after this long (AWS's minimum; the
# only bound MiniStack honours), or after RETRY_ATTEMPTS retries on AWS, whichever is first.
MAX_RECORD_AGE = Duration.seconds(60)
RETRY_ATTEMPTS = 10
# The subscribers whose deliveries SNS logs: the inbox and any alert queue (SQS), a function,
# a webhook. Every success is logged, not a sample: one line per alert, so `inventory trace`
# can say when each alert reached each subscriber.
LOGGED_PROTOCOLS = (sns.LoggingProtocol.SQS, sns.LoggingProtocol.LAMBDA, sns.LoggingProtocol.HTTP)
DELIVERY_SUCCESS_SAMPLE_RATE = 100
# What SNS does with its feedback role (AWS's documented policy for delivery status logging).
DELIVERY_LOGGING_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:PutMetricFilter",
    "logs:PutRetentionPolicy",
)


def delivery_log_group_names(scope: Construct, topic: sns.ITopic) -> tuple[str, str]:
    """Where SNS logs a topic's deliveries: `sns/<region>/<account>/<topic>`, and `/Failure`."""
    stack = Stack.of(scope)
    successes = f"sns/{stack.region}/{stack.account}/{topic.topic_name}"
    return successes, f"{successes}/Failure"


def topic_arn_environment(topic: sns.ITopic) -> dict[str, str]:
    """The checker is told the topic's ARN and publishes to it directly."""
    return {config.ENV_TOPIC_ARN: topic.topic_arn}


def topic_name_environment(topic: sns.ITopic) -> dict[str, str]:
    """The checker is told the topic's name and looks the ARN up (the lab's way)."""
    return {config.ENV_TOPIC_NAME: topic.topic_name}


class Alerts(Construct):
    """The NoStock topic and Check-Stock on `table`'s stream, with its on-failure queue.

    `handler` is the checker's code (`<package>.<module>.lambda_handler`). The options say how
    it is told about the topic (`environment`), what it may do beyond publishing to it
    (`statements`), which stream records invoke it (`filters`) and whether it reports each
    failed record (`report_batch_item_failures`); their defaults are ours.
    Public: `topic` (NoStock), `function` (Check-Stock), `log_group`, `event_source`,
    `failures` (CheckStockFailures), `alerts_sent` (AlertsSent, when `remember_alerts`),
    `delivery_logs` (the log groups of NoStock's deliveries, when `log_deliveries`).

    Delivery: a batch in which any record fails is failed as a whole (Check-Stock raises) and
    retried; alerts already sent are not sent again, because Check-Stock remembers each one
    in AlertsSent (keyed by the change) before it returns. Partial batch responses are not
    used: MiniStack ignores them for streams and drops the records reported as failed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        handler: str,
        environment: TopicEnvironment = topic_arn_environment,
        statements: Sequence[iam.PolicyStatement] = (),
        filters: Sequence[Mapping[str, Any]] = (NO_STOCK_FILTER,),
        report_batch_item_failures: bool = False,
        remember_alerts: bool = True,
        log_deliveries: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "NoStock",
            display_name="NoStock",
            enforce_ssl=True,
            # The AWS-managed SNS key: encrypted at rest, with no key policy to maintain.
            master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
        )
        self.delivery_logs: tuple[logs.LogGroup, ...] = ()
        if log_deliveries:
            self.delivery_logs = self._log_deliveries()
        checker = PipelineFunction(
            self,
            "CheckStock",
            handler=handler,
            description="Publishes NoStock when an item's count becomes 0",
            environment=environment(self.topic),
            timeout=Duration.seconds(30),
            memory_size=512,
        )
        self.function = checker.function
        self.log_group = checker.log_group
        self.failures = checker.failures  # CheckStockFailures
        self.topic.grant_publish(self.function)
        self.alerts_sent: dynamodb.Table | None = None
        if remember_alerts:
            self.alerts_sent = self._alerts_sent_table()
            self.alerts_sent.grant_read_write_data(self.function)
            self.function.add_environment(
                config.ENV_ALERTS_SENT_TABLE_NAME, self.alerts_sent.table_name
            )
            self.function.add_environment(
                config.ENV_ALERTS_SENT_TTL_SECONDS, str(int(ALERTS_SENT_TTL.to_seconds()))
            )
        for statement in statements:
            self.function.add_to_role_policy(statement)
        self.event_source = sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=100,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            report_batch_item_failures=report_batch_item_failures,
            # Batches that still fail after the retries, or past the age, are queued.
            on_failure=sources.SqsDlq(self.failures),
            # No filter at all, rather than an empty list, which CloudFormation refuses.
            filters=list(filters) or None,
        )
        self.function.add_event_source(self.event_source)

    def _log_deliveries(self) -> tuple[logs.LogGroup, logs.LogGroup]:
        """SNS logs each delivery of NoStock (every success, every failure) to CloudWatch Logs.

        The two log groups SNS writes to are made here, so they keep logs a month like the
        functions' and go with the stack. SNS's feedback role may write to them and nothing else.
        """
        names = delivery_log_group_names(self, self.topic)
        groups = tuple(
            logs.LogGroup(
                self,
                construct_id,
                log_group_name=name,
                retention=LOG_RETENTION,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for construct_id, name in zip(
                ("DeliveryLogs", "DeliveryFailureLogs"), names, strict=True
            )
        )
        feedback = iam.Role(
            self,
            "DeliveryLogging",
            assumed_by=iam.ServicePrincipal("sns.amazonaws.com"),
            description="Lets SNS log the NoStock topic's deliveries to its subscribers",
        )
        # The success group, the `/Failure` group, and their streams; nothing else.
        stack = Stack.of(self)
        feedback.add_to_policy(
            iam.PolicyStatement(
                actions=list(DELIVERY_LOGGING_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{names[0]}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        for protocol in LOGGED_PROTOCOLS:
            self.topic.add_logging_config(
                protocol=protocol,
                success_feedback_role=feedback,
                failure_feedback_role=feedback,
                success_feedback_sample_rate=DELIVERY_SUCCESS_SAMPLE_RATE,
            )
        return groups[0], groups[1]

    def _alerts_sent_table(self) -> dynamodb.Table:
        """AlertsSent: one item per alert sent (powertools idempotency), expiring by TTL."""
        return dynamodb.Table(
            self,
            "AlertsSent",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,  # a memory of recent sends, not data
        )


class LabStyleAlerts(Alerts):
    """`Alerts` as the original lab's checker: the baseline `make bench` measures against.

    It finds NoStock by name with `sns:ListTopics`, gets every stream record (no filter) and
    keeps no memory of the alerts it sent (no AlertsSent), so a retried batch alerts again,
    and NoStock logs no deliveries (the lab had no such logging).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, handler: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            table=table,
            handler=handler,
            environment=topic_name_environment,
            # ListTopics has no resource to scope it to (infra/nag.py says so too).
            statements=[iam.PolicyStatement(actions=["sns:ListTopics"], resources=["*"])],
            filters=(),  # every record invokes the checker, as in the lab
            report_batch_item_failures=False,
            remember_alerts=False,
            log_deliveries=False,
        )
