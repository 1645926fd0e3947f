"""The loader as the function runs it: its clients, their SDK settings, and the Ingestor.

The handler builds it at cold start; `loadtests.loader_probe` builds the same one against
scratch tables, so what it measures is the function's own set-up.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

from inventory import faults
from load_inventory.aws import DynamoInventory, DynamoReceipts, DynamoSummaries, S3Objects
from load_inventory.ingest import Ingestor
from load_inventory.settings import LoadSettings

# The loader retries what DynamoDB refuses itself (inventory.batching, with backoff), so the
# SDK's own retries stay few: two layers of ten would wait minutes on a throttled table.
DYNAMODB_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def build_ingestor(settings: LoadSettings, logger: Logger, metrics: Metrics) -> Ingestor:
    """The Ingestor on real S3 and DynamoDB clients, for the tables `settings` names."""
    dynamodb = boto3.client("dynamodb", config=DYNAMODB_CONFIG)
    faults.install(dynamodb)  # does nothing unless a rehearsal set INVENTORY_FAULTS
    tables = boto3.resource("dynamodb")
    return Ingestor(
        S3Objects(boto3.client("s3")),
        DynamoInventory(dynamodb, settings.table_name),
        DynamoReceipts(tables.Table(settings.receipts_table_name)),
        DynamoSummaries(
            tables.Table(settings.table_name), tables.Table(settings.store_summaries_table_name)
        ),
        logger,
        metrics,
    )
