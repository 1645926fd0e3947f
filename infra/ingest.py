"""Ingest: an upload to the bucket invokes Load-Inventory, which fills the tables."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from infra.functions import PipelineFunction
from infra.storage import Storage
from inventory import config


class Ingest(Construct):
    """Load-Inventory on every object created in `storage.bucket`, with its on-failure queue.

    `handler` is the loader's code (`<package>.<module>.lambda_handler`). It may read the
    bucket, write the Inventory table, and write and read IngestReceipts; with
    `refresh_summaries` (ours, for the dashboard) also query Inventory and put StoreSummaries;
    nothing else.
    Public: `function` (Load-Inventory), `log_group`, `failures` (LoadInventoryFailures).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        handler: str,
        refresh_summaries: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        loader = PipelineFunction(
            self,
            "LoadInventory",
            handler=handler,
            description="Loads an uploaded inventory CSV into the Inventory table",
            environment={
                config.ENV_TABLE_NAME: storage.table.table_name,
                config.ENV_RECEIPTS_TABLE_NAME: storage.receipts.table_name,
            },
            # Lambda's maximum: a file up to the loader's size limit (MAX_OBJECT_BYTES) loads
            # in one invocation well within it (docs/design.md, "Large files").
            timeout=Duration.minutes(15),
            memory_size=1024,
            # S3 invokes the loader asynchronously: retried twice, then the event is queued.
            invoked_asynchronously=True,
        )
        self.function = loader.function
        self.log_group = loader.log_group
        self.failures = loader.failures  # LoadInventoryFailures
        storage.bucket.grant_read(self.function)
        storage.table.grant_write_data(self.function)
        storage.receipts.grant_write_data(self.function)
        # A receipt is read back to tell a repeated delivery from a new upload.
        storage.receipts.grant(self.function, "dynamodb:GetItem")
        storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(self.function)
        )
        if refresh_summaries:
            self._refresh_summaries(storage)

    def _refresh_summaries(self, storage: Storage) -> None:
        """Recount a store's partition of Inventory and put its StoreSummaries item."""
        self.function.add_environment(
            config.ENV_STORE_SUMMARIES_TABLE_NAME, storage.summaries.table_name
        )
        # The base table only: the count is a consistent read, which no index offers.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[storage.table.table_arn])
        )
        # A conditional put (newer ComputedAt wins); no index on the table, so exactly it.
        storage.summaries.grant(self.function, "dynamodb:PutItem")
