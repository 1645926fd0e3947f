"""Check-Stock: Inventory stream -> one NoStock message when an item's count becomes 0."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from check_stock.alerts import SnsAlerts, alert_from_record
from check_stock.settings import CheckSettings
from inventory import config

settings = CheckSettings.from_env(os.environ)  # fails the cold start if a setting is missing
logger = Logger(service=config.CHECK_SERVICE)
metrics = Metrics(namespace=config.METRICS_NAMESPACE, service=config.CHECK_SERVICE)
# A batch in which every record failed is reported like any partial failure (all its records
# in batchItemFailures); raising instead would make it a function error without a response.
processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
)
alerts = SnsAlerts(boto3.client("sns"), settings.topic_arn)


def record_handler(record: DynamoDBRecord) -> None:
    alert = alert_from_record(record)
    if alert is not None:
        alerts.publish(alert)
        logger.info("no stock", extra=alert.message())
        metrics.add_metric("NoStockAlerts", MetricUnit.Count, 1)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
