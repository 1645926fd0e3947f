"""Monitoring and audit: alarms to an ops topic, the operations dashboard, the uploads' trail.

`Monitoring` (ours only) watches the functions, the stream, the failure queues and the
pipeline's own metrics (the EMF lines the functions print through powertools' `Metrics`),
sends every alarm (and its recovery) to the `OpsTopic`, and draws the `InventoryOperations`
dashboard. `UploadAudit` (ours only, `-c audit=false` leaves it out) records who wrote what
to the upload bucket with CloudTrail data events. The names here are the tests' too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import (
    ArnFormat,
    CfnCondition,
    CfnParameter,
    CfnResource,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import variants
from infra.alerts import MAX_RECORD_AGE, Alerts
from infra.ingest import Ingest
from infra.storage import Storage, private_bucket
from inventory import config

# --- metrics ---

LAMBDA_NAMESPACE = "AWS/Lambda"
SQS_NAMESPACE = "AWS/SQS"
# The pipeline's own metrics: powertools' `Metrics` in each function, dimension `service`.
NAMESPACE = config.METRICS_NAMESPACE
SERVICE_DIMENSION = "service"  # powertools' default dimension: the function's service name
FILES_LOADED = "FilesLoaded"
FILES_REJECTED = "FilesRejected"
ROWS_WRITTEN = "RowsWritten"
ROWS_REJECTED = "RowsRejected"
ROWS_STALE = "RowsStale"
INGEST_LATENCY = "IngestLatency"  # ms from the S3 event's time to the receipt (the loader)
NO_STOCK_ALERTS = "NoStockAlerts"  # service check-stock, like ALERTS_NOT_SENT
ALERTS_NOT_SENT = "AlertsNotSent"
LOADER_METRICS = (FILES_LOADED, FILES_REJECTED, ROWS_WRITTEN, ROWS_REJECTED, ROWS_STALE)
CHECKER_METRICS = (NO_STOCK_ALERTS, ALERTS_NOT_SENT)
PERIOD = Duration.minutes(5)  # every alarm and graph but the iterator age's
ITERATOR_AGE_PERIOD = Duration.minutes(1)  # the stream's lag counts in seconds

# --- thresholds ---

# p99 Duration over which a function is slow for what it does. The loader: a day's uploads are
# small files (the ingest target is p99 50 ms, docs/design.md "Targets and percentiles"); 5 s is
# a 30,000-row file, so a p99 above it means ordinary files got slow, long before the
# 15-minute timeout. Check-Stock: a batch is at most 100 records of a put and a publish each
# (the alert target is p99 250 ms); at 2 s the stream starts to fall behind. The query API:
# the page polls every 5 s; over 1 s it feels stuck and its polls overlap.
LOADER_P99 = Duration.seconds(5)
CHECKER_P99 = Duration.seconds(2)
QUERY_P99 = Duration.seconds(1)
# Half the age at which the stream mapping gives records up (to CheckStockFailures): the
# metric is the age of records delivered, so it never reaches MAX_RECORD_AGE itself (older
# records are discarded, not delivered); at half of it there is still time to act.
ITERATOR_AGE_LIMIT = Duration.seconds(MAX_RECORD_AGE.to_seconds() // 2)
# p99 from the upload's event time to its receipt: five times the SLO (200 ms upload to rows
# visible), so a slow S3 notification or a loader that queues is seen, not every blip.
INGEST_LATENCY_LIMIT = Duration.seconds(1)

# --- names ---

DASHBOARD_NAME = "InventoryOperations"
ALARM_PREFIX = "InventoryPipeline"
# The functions, by the name their alarms and graph lines carry.
LOADER = "LoadInventory"
CHECKER = "CheckStock"
QUERY = "Query"
# What each function's alarms watch; the stream, the queues and the metrics have their own.
ERRORS = "Errors"
THROTTLES = "Throttles"
DURATION_P99 = "DurationP99"
ITERATOR_AGE = "IteratorAge"
QUEUE_DEPTH = "Messages"
INGEST_LATENCY_P99 = "IngestLatencyP99"
LOADER_FAILURES = "LoadInventoryFailures"
CHECKER_FAILURES = "CheckStockFailures"


def alarm_name(subject: str, condition: str) -> str:
    """`InventoryPipeline-<subject>-<condition>`, e.g. InventoryPipeline-CheckStock-Errors."""
    return f"{ALARM_PREFIX}-{subject}-{condition}"


def _own_names(scope: Construct) -> bool:
    """Whether the stack is a copy under another name (`-c stack_name=...`, a rehearsal): its
    alarms and dashboard are then named after it, so that it never overwrites (or, destroyed,
    deletes) InventoryStack's in the same account."""
    return Stack.of(scope).stack_name != variants.stack_name(variants.OURS)


def alarm_prefix(scope: Construct) -> str:
    """`InventoryPipeline` in InventoryStack; the stack's name in a copy under another name."""
    return Stack.of(scope).stack_name if _own_names(scope) else ALARM_PREFIX


def dashboard_name(scope: Construct) -> str:
    """`InventoryOperations` in InventoryStack; `<stack>-Operations` in a copy."""
    return f"{Stack.of(scope).stack_name}-Operations" if _own_names(scope) else DASHBOARD_NAME


@dataclass(frozen=True)
class Watched:
    """A function to watch: its name in alarms and graphs, the function, its p99 limit, and
    what became of a failed invocation (for the Errors alarm's reader)."""

    name: str
    function: lambda_.IFunction
    p99_limit: Duration
    failed: str


def lambda_metric(
    function: lambda_.IFunction, metric: str, statistic: str, period: Duration = PERIOD
) -> cloudwatch.Metric:
    """One of Lambda's own metrics for one function."""
    return cloudwatch.Metric(
        namespace=LAMBDA_NAMESPACE,
        metric_name=metric,
        dimensions_map={"FunctionName": function.function_name},
        statistic=statistic,
        period=period,
    )


def pipeline_metric(metric: str, service: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """One of the pipeline's EMF metrics, as powertools emits it for `service`."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric,
        dimensions_map={SERVICE_DIMENSION: service},
        statistic=statistic,
        period=PERIOD,
    )


def queue_depth(queue: sqs.IQueue) -> cloudwatch.Metric:
    """How many messages wait in a queue (the most seen in the period)."""
    return cloudwatch.Metric(
        namespace=SQS_NAMESPACE,
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions_map={"QueueName": queue.queue_name},
        statistic="Maximum",
        period=PERIOD,
    )


def ops_topic(scope: Construct, construct_id: str) -> sns.Topic:
    """A TLS-only topic the stack's alarms (and only they, as CloudWatch) may publish to.

    Encrypted with its own key rather than the AWS-managed `alias/aws/sns` of NoStock:
    CloudWatch must be allowed to use the key to publish, and the AWS-managed key's policy
    cannot be changed, so alarms would never reach a topic encrypted with it.
    """
    key = kms.Key(
        scope,
        f"{construct_id}Key",
        description="Encrypts the ops topic the inventory pipeline's alarms publish to",
        enable_key_rotation=True,
        pending_window=Duration.days(7),
        removal_policy=RemovalPolicy.DESTROY,  # it protects notifications in flight, no data
    )
    topic = sns.Topic(
        scope, construct_id, display_name="InventoryOps", enforce_ssl=True, master_key=key
    )
    stack = Stack.of(scope)
    alarms = stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=f"{alarm_prefix(scope)}-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    # Publish on the topic and use of its key, for this account's pipeline alarms only.
    topic.grant_publish(
        iam.PrincipalWithConditions(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"),
            {
                "ArnLike": {"aws:SourceArn": alarms},
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        )
    )
    return topic


class Monitoring(Construct):
    """Alarms on the pipeline's health, all notifying `topic` (OpsTopic), and its dashboard.

    Every alarm says what to do in its description, treats missing data as fine (a quiet
    pipeline is a healthy one) and notifies the topic when it fires and when it recovers.
    Public: `topic`, `alarms` (by name), `dashboard`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingest: Ingest,
        alerts: Alerts,
        query: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = ops_topic(self, "OpsTopic")
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        functions = [
            Watched(
                LOADER,
                ingest.function,
                LOADER_P99,
                f"S3's event is retried twice, then kept in {LOADER_FAILURES} to re-drive",
            ),
            Watched(
                CHECKER,
                alerts.function,
                CHECKER_P99,
                f"the stream retries the batch, then keeps it in {CHECKER_FAILURES} to re-drive",
            ),
            *(
                [Watched(QUERY, query, QUERY_P99, "the dashboard got a 500 and polls again")]
                if query
                else []
            ),
        ]
        queues = {LOADER_FAILURES: ingest.failures, CHECKER_FAILURES: alerts.failures}
        for watched in functions:
            self._function_alarms(watched)
        self._alarm(
            alarm_name(CHECKER, ITERATOR_AGE),
            lambda_metric(alerts.function, "IteratorAge", "Maximum", ITERATOR_AGE_PERIOD),
            ITERATOR_AGE_LIMIT.to_milliseconds(),
            f"Check-Stock reads the Inventory stream more than {ITERATOR_AGE_LIMIT.to_seconds()} s "
            f"late; at {MAX_RECORD_AGE.to_seconds()} s records go to CheckStockFailures unalerted. "
            "Look for Check-Stock errors, throttles or slow SNS publishes; re-drive the queue.",
        )
        for name, queue in queues.items():
            self._alarm(
                alarm_name(name, QUEUE_DEPTH),
                queue_depth(queue),
                0,
                f"{name} holds work that failed all its retries. Read the messages and the "
                "function's logs for the cause, fix it, then re-drive them.",
            )
        self._alarm(
            alarm_name(LOADER, FILES_REJECTED),
            pipeline_metric(FILES_REJECTED, config.LOAD_SERVICE),
            0,
            "An uploaded file was rejected as a whole. Its receipt (`inventory trace KEY`, or "
            "the dashboard's receipts) gives the reason; tell the store that sent it.",
        )
        self._alarm(
            alarm_name(LOADER, INGEST_LATENCY_P99),
            pipeline_metric(INGEST_LATENCY, config.LOAD_SERVICE, "p99"),
            INGEST_LATENCY_LIMIT.to_milliseconds(),
            f"p99 from upload to receipt is over {INGEST_LATENCY_LIMIT.to_milliseconds()} ms. "
            "Check Load-Inventory's duration and throttles and DynamoDB's throttled writes.",
        )
        self.dashboard = self._dashboard(functions, queues, alerts.function)

    def _function_alarms(self, watched: Watched) -> None:
        """Errors, throttles and a slow p99 of one function."""
        name, function = watched.name, watched.function
        self._alarm(
            alarm_name(name, ERRORS),
            lambda_metric(function, "Errors", "Sum"),
            0,
            f"{name} failed invocations ({watched.failed}). Its log group has the exception "
            "and its X-Ray traces the failing call; fix the cause.",
        )
        self._alarm(
            alarm_name(name, THROTTLES),
            lambda_metric(function, "Throttles", "Sum"),
            0,
            f"{name} was throttled: the account's or its concurrency limit was reached. Check "
            "the account's concurrent executions; ask for a higher limit if load is real.",
        )
        limit_ms = watched.p99_limit.to_milliseconds()
        self._alarm(
            alarm_name(name, DURATION_P99),
            lambda_metric(function, "Duration", "p99"),
            limit_ms,
            f"{name}'s p99 duration is over {limit_ms} ms. Its X-Ray traces show which call "
            "got slow (S3, DynamoDB, SNS); check for throttling or unusually large inputs.",
        )

    def _alarm(
        self, name: str, metric: cloudwatch.Metric, threshold: float, description: str
    ) -> None:
        """An alarm on `metric` > `threshold` over one period, notifying the ops topic."""
        alarm = metric.create_alarm(
            self,
            name.removeprefix(f"{ALARM_PREFIX}-").replace("-", ""),
            alarm_name=name.replace(ALARM_PREFIX, alarm_prefix(self), 1),
            alarm_description=description,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        notify = actions.SnsAction(self.topic)
        alarm.add_alarm_action(notify)
        alarm.add_ok_action(notify)
        self.alarms[name] = alarm

    def _dashboard(
        self,
        functions: Sequence[Watched],
        queues: Mapping[str, sqs.IQueue],
        checker: lambda_.IFunction,
    ) -> cloudwatch.Dashboard:
        """The operations dashboard: what went through, how fast, what failed, the alarms."""

        def graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)

        def per_function(metric: str, statistic: str) -> list[cloudwatch.IMetric]:
            return [
                lambda_metric(f.function, metric, statistic).with_(label=f.name) for f in functions
            ]

        def loader(metric: str) -> cloudwatch.Metric:
            return pipeline_metric(metric, config.LOAD_SERVICE)

        latency = [
            pipeline_metric(INGEST_LATENCY, config.LOAD_SERVICE, p).with_(label=f"{p} (ms)")
            for p in ("p50", "p95", "p99")
        ]
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name(self),
            default_interval=Duration.hours(3),
            widgets=[
                [
                    graph("Files loaded and rejected", [loader(m) for m in LOADER_METRICS[:2]]),
                    graph("Rows written, rejected, stale", [loader(m) for m in LOADER_METRICS[2:]]),
                    graph(
                        "NoStock alerts sent and not sent",
                        [pipeline_metric(m, config.CHECK_SERVICE) for m in CHECKER_METRICS],
                    ),
                ],
                [
                    graph("Ingest latency, upload to receipt", latency),
                    graph("Duration p99 (ms)", per_function("Duration", "p99")),
                    graph("Errors", per_function("Errors", "Sum")),
                ],
                [
                    graph(
                        "Check-Stock iterator age (ms)",
                        [lambda_metric(checker, "IteratorAge", "Maximum", ITERATOR_AGE_PERIOD)],
                    ),
                    graph(
                        "Failure queues (messages)",
                        [queue_depth(q).with_(label=name) for name, q in queues.items()],
                    ),
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=list(self.alarms.values()), width=8, height=6
                    ),
                ],
            ],
        )


# CloudTrail data events are $0.10 per 100,000. Writes only, at 10,000 files a day: one
# PutObject each (a multipart upload adds its parts), about 300,000 events a month, about
# $0.30 a month; reads as well would about double it (the loader's GetObject per file) for
# nothing the upload bucket's access logs do not already say. The log files themselves are a
# few MB a month in S3.
AUDITED_WRITES = cloudtrail.ReadWriteType.WRITE_ONLY


class UploadAudit(Construct):
    """A CloudTrail trail of every write to `storage.bucket` (who uploaded or deleted what).

    Writes only (AUDITED_WRITES): reads are mostly the loader's own and the access logs have
    them. No management events (the account's own trail, if any, has those) and one region.
    The log files go to their own private, TLS-only bucket, retained, and CloudTrail signs
    them (log file validation), so a changed or deleted log file shows.
    Unless the stack parameter `AuditUploads` is false: MiniStack 1.5.33's CloudFormation has
    no AWS::CloudTrail::Trail, so the harness deploys with it false (the bucket stays).
    Public: `trail`, `bucket` (its log files).
    """

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self, "Logs", access_logs=storage.access_logs, access_logs_prefix="trail/"
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            enable_file_validation=True,
            is_multi_region_trail=False,
            include_global_service_events=False,
            management_events=cloudtrail.ReadWriteType.NONE,
        )
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=storage.bucket)],
            read_write_type=AUDITED_WRITES,
            include_management_events=False,
        )
        self._switch(cast(CfnResource, self.trail.node.default_child))

    def _switch(self, trail: CfnResource) -> None:
        """Make the trail conditional on the `AuditUploads` parameter (true unless told)."""
        audit = CfnParameter(
            Stack.of(self),
            variants.AUDIT_UPLOADS_PARAMETER,
            type="String",
            allowed_values=["true", "false"],
            default="true",
            description="Record the upload bucket's writes with CloudTrail (false on the emulator)",
        )
        trail.cfn_options.condition = CfnCondition(
            self, "Auditing", expression=Fn.condition_equals(audit.value_as_string, "true")
        )
