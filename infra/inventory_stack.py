"""InventoryStack: S3 -> Load-Inventory -> DynamoDB stream -> Check-Stock -> SNS NoStock.

The stack composes one construct per concern: `Storage` (infra/storage.py), `Ingest`
(infra/ingest.py), `Alerts` (infra/alerts.py) and, for ours, `Dashboard` (infra/dashboard.py),
`Monitoring` and `UploadAudit` (infra/monitoring.py). The lab-style baseline composes the same
constructs with the lab's code and `LabStyleAlerts`, and none of ours. Later constructs take
what they need from `stack.storage`, `stack.ingest` and `stack.alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import variants
from infra.alerts import Alerts, LabStyleAlerts
from infra.dashboard import Dashboard
from infra.ingest import Ingest
from infra.monitoring import Monitoring, UploadAudit
from infra.outputs import StackOutputs
from infra.storage import Storage


@dataclass(frozen=True)
class Variant:
    """What differs between deployments: the functions' code, the stream view, the alerts."""

    loader_handler: str  # "<package>.<module>.lambda_handler"; the package is bundled
    checker_handler: str
    stream_view: dynamodb.StreamViewType
    # Ours gets the topic's ARN and remembers the alerts it sent (AlertsSent); the lab's finds
    # NoStock by name with list_topics and remembers nothing.
    alerts: type[Alerts] = Alerts
    # Ours has the dashboard, whose summaries the loader refreshes; the lab had neither.
    dashboard: bool = True
    # Ours has alarms, the operations dashboard and the uploads' trail; the lab had none.
    monitoring: bool = True


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
        alerts=LabStyleAlerts,
        dashboard=False,
        monitoring=False,
    ),
}


class InventoryStack(Stack):
    """The whole pipeline as one stack; the same template deploys to the emulator and AWS.

    `variant` picks the function code (infra/variants.py): ours, or the lab-style baseline.
    The query API also allows the origins of the `dashboard_origins` context (CORS); the
    `audit` context (default true) says whether ours records the uploads with CloudTrail.
    Public: `storage`, `ingest`, `alerts`, `dashboard`, `monitoring`, `audit` (the constructs;
    the baseline has none of the last three; `audit` is None with `-c audit=false`) and
    `outputs` (the stack's outputs, as CDK tokens).
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

        self.storage = Storage(self, "Storage", stream_view=spec.stream_view)
        self.ingest = Ingest(
            self,
            "Ingest",
            storage=self.storage,
            handler=spec.loader_handler,
            refresh_summaries=spec.dashboard,
        )
        self.alerts = spec.alerts(
            self, "Alerts", table=self.storage.table, handler=spec.checker_handler
        )
        self.dashboard: Dashboard | None = None
        if spec.dashboard:
            origins = self.node.try_get_context(variants.DASHBOARD_ORIGINS_CONTEXT_KEY)
            self.dashboard = Dashboard(
                self,
                "Dashboard",
                storage=self.storage,
                extra_origins=variants.dashboard_origins(origins),
            )
        self.monitoring: Monitoring | None = None
        self.audit: UploadAudit | None = None
        if spec.monitoring:
            self.monitoring = Monitoring(
                self,
                "Monitoring",
                ingest=self.ingest,
                alerts=self.alerts,
                query=self.dashboard.function if self.dashboard else None,
            )
            if variants.audit_enabled(self.node.try_get_context(variants.AUDIT_CONTEXT_KEY)):
                self.audit = UploadAudit(self, "Audit", storage=self.storage)

        self.outputs = StackOutputs(
            bucket_name=self.storage.bucket.bucket_name,
            table_name=self.storage.table.table_name,
            topic_arn=self.alerts.topic.topic_arn,
            receipts_table_name=self.storage.receipts.table_name,
            load_inventory_function_name=self.ingest.function.function_name,
            check_stock_function_name=self.alerts.function.function_name,
            load_inventory_failures_queue_url=self.ingest.failures.queue_url,
            check_stock_failures_queue_url=self.alerts.failures.queue_url,
            **(self._dashboard_outputs(self.dashboard) if self.dashboard else {}),
            # The summaries only the dashboard reads (the smoke test deletes its own by key).
            **(
                {"summaries_table_name": self.storage.summaries.table_name}
                if self.dashboard
                else {}
            ),
            **(self._monitoring_outputs(self.monitoring) if self.monitoring else {}),
        )
        for name, value in self.outputs.as_outputs().items():
            CfnOutput(self, name, value=value)

    @staticmethod
    def _dashboard_outputs(dashboard: Dashboard) -> dict[str, str]:
        return {
            "dashboard_url": dashboard.dashboard_url,
            "api_url": dashboard.api_url,
            "user_pool_id": dashboard.user_pool.user_pool_id,
            "user_pool_client_id": dashboard.client.user_pool_client_id,
        }

    @staticmethod
    def _monitoring_outputs(monitoring: Monitoring) -> dict[str, str]:
        return {
            "ops_topic_arn": monitoring.topic.topic_arn,
            "operations_dashboard_name": monitoring.dashboard.dashboard_name,
        }
