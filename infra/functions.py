"""What every function is built from: `PackagedFunction`, `PipelineFunction`, `failure_queue`.

The constructs (ingest, alerts, and whatever comes next) share these, so a function's runtime,
logging and failure handling are decided here, once.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import function_code

# A runtime current on AWS; the embedded emulator runs its Lambdas on the same Python.
RUNTIME = lambda_.Runtime.PYTHON_3_13
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# X-Ray on AWS: each invocation's trace shows where its time went (its S3, DynamoDB and SNS
# calls, through the code's powertools Tracer). MiniStack has no X-Ray and ignores it.
TRACING = lambda_.Tracing.ACTIVE


def failure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that holds what could not be processed, for 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


class FunctionOptions(TypedDict):
    """What each function says about itself: its code, what it is told, its time and size."""

    handler: str  # `<package>.<module>.lambda_handler`; the asset holds that package
    description: str
    environment: dict[str, str]
    timeout: Duration
    memory_size: int


class PackagedFunction(Construct):
    """A Python function from `lambdas/<package>`, with its own log group, traced (X-Ray).

    The asset holds the handler's package and the domain (`FunctionOptions`). Invoked
    synchronously only (the query API): nothing is kept of a failed invocation, the caller
    sees it. Public: `function`, `log_group`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, **options: Unpack[FunctionOptions]
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        handler = options["handler"]
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=handler,
            code=function_code(handler.split(".", 1)[0], RUNTIME),
            description=options["description"],
            environment={"POWERTOOLS_LOG_LEVEL": "INFO", **options["environment"]},
            timeout=options["timeout"],
            memory_size=options["memory_size"],
            log_group=self.log_group,
            tracing=TRACING,
        )


class PipelineFunction(PackagedFunction):
    """A `PackagedFunction` of the pipeline, with a failure queue.

    What the function could not process goes to `failures`: asynchronous invocations through
    the on-failure destination (`invoked_asynchronously`), an event source by naming the queue
    as its own on-failure destination.
    Public: `function`, `log_group`, `failures`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        invoked_asynchronously: bool = False,
        **options: Unpack[FunctionOptions],
    ) -> None:
        super().__init__(scope, construct_id, **options)
        self.failures = failure_queue(self, "Failures")
        if invoked_asynchronously:
            # Asynchronous invocations (S3 notifications): retried twice, then dead-lettered.
            self.function.configure_async_invoke(
                retry_attempts=2, on_failure=destinations.SqsDestination(self.failures)
            )
