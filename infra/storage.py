"""Storage: the upload bucket (access-logged), Inventory and its stream, IngestReceipts, summaries.

Everything here is data or its audit trail: encrypted, TLS-only where it applies, and retained
when the stack is deleted.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from inventory import config


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    object_ownership: s3.ObjectOwnership | None = None,
    access_logs: s3.IBucket | None = None,
    access_logs_prefix: str | None = None,
) -> s3.Bucket:
    """An encrypted, private, TLS-only bucket that outlives the stack."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=object_ownership,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        removal_policy=RemovalPolicy.RETAIN,
    )


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _index(table: dynamodb.Table, name: str, *, partition_key: str, sort_key: str) -> None:
    """A global secondary index keyed by two strings, projecting whole items (what is read)."""
    table.add_global_secondary_index(
        index_name=name,
        partition_key=_string(partition_key),
        sort_key=_string(sort_key),
        projection_type=dynamodb.ProjectionType.ALL,
    )


def _table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: str,
    sort_key: str | None = None,
    stream: dynamodb.StreamViewType | None = None,
) -> dynamodb.Table:
    """An on-demand table keyed by strings, with point-in-time recovery, kept on delete."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=_string(partition_key),
        sort_key=_string(sort_key) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        stream=stream,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.RETAIN,
    )


class Storage(Construct):
    """The upload bucket, its access-logs bucket, Inventory, IngestReceipts and StoreSummaries.

    `stream_view` is what the Inventory table's stream carries (Check-Stock reads it).
    Public: `bucket` (uploads), `access_logs`, `table` (Inventory, streamed; the sparse
    OutOfStock index), `receipts` (the RecentReceipts index), `summaries` (one item per store).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, stream_view: dynamodb.StreamViewType
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = private_bucket(
            self, "AccessLogs", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED
        )
        self.bucket = private_bucket(
            self, "Uploads", access_logs=self.access_logs, access_logs_prefix="uploads/"
        )
        self.table = _table(
            self,
            "Inventory",
            partition_key=config.ATTR_STORE,
            sort_key=config.ATTR_ITEM,
            stream=stream_view,
        )
        # Sparse: only rows at 0 carry OutOfStockStore, so only they are in the index.
        _index(
            self.table,
            config.INDEX_OUT_OF_STOCK,
            partition_key=config.ATTR_OUT_OF_STOCK_STORE,
            sort_key=config.ATTR_ITEM,
        )
        # One receipt per uploaded object: what the loader made of it.
        self.receipts = _table(
            self,
            "IngestReceipts",
            partition_key=config.ATTR_OBJECT_KEY,
            sort_key=config.ATTR_RECEIPT_ID,
        )
        # GET /receipts walks the receipts day by day, newest first.
        _index(
            self.receipts,
            config.INDEX_RECENT_RECEIPTS,
            partition_key=config.ATTR_PROCESSED_DAY,
            sort_key=config.ATTR_PROCESSED_AT,
        )
        # What the dashboard lists: one item per store, refreshed by Load-Inventory.
        self.summaries = _table(self, "StoreSummaries", partition_key=config.ATTR_STORE)
