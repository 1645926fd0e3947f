"""Load-Inventory: S3 ObjectCreated -> rows in the Inventory table and one receipt per object."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from inventory import config, faults
from load_inventory.aws import DynamoInventory, DynamoReceipts, S3Objects, object_ref
from load_inventory.ingest import Ingestor
from load_inventory.settings import LoadSettings

settings = LoadSettings.from_env(os.environ)  # fails the cold start if a setting is missing
logger = Logger(service=config.LOAD_SERVICE)
metrics = Metrics(namespace=config.METRICS_NAMESPACE, service=config.LOAD_SERVICE)
# The loader retries what DynamoDB refuses itself (inventory.batching, with backoff), so the
# SDK's own retries stay few: two layers of ten would wait minutes on a throttled table.
dynamodb = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))
faults.install(dynamodb)  # does nothing unless a rehearsal set INVENTORY_FAULTS
ingestor = Ingestor(
    S3Objects(boto3.client("s3")),
    DynamoInventory(dynamodb, settings.table_name),
    DynamoReceipts(boto3.resource("dynamodb").Table(settings.receipts_table_name)),
    logger,
    metrics,
)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path='Records[0].responseElements."x-amz-request-id"')
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict:
    refs = [object_ref(record) for record in event.records]  # every record, not just [0]
    return {"receipts": [ingestor.ingest(ref).as_dict() for ref in refs]}
