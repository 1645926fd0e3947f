"""Load-Inventory: S3 ObjectCreated -> rows in the Inventory table and one receipt per object."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory import config
from load_inventory.aws import object_ref
from load_inventory.settings import LoadSettings
from load_inventory.wiring import build_ingestor

settings = LoadSettings.from_env(os.environ)  # fails the cold start if a setting is missing
logger = Logger(service=config.LOAD_SERVICE)
metrics = Metrics(namespace=config.METRICS_NAMESPACE, service=config.LOAD_SERVICE)
tracer = Tracer(service=config.LOAD_SERVICE)
ingestor = build_ingestor(settings, logger, metrics)


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # receipts quote rows of the file
@logger.inject_lambda_context  # the correlation id is each upload's: the Ingestor sets it
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict:
    refs = [object_ref(record) for record in event.records]  # every record, not just [0]
    return {"receipts": [ingestor.ingest(ref).as_dict() for ref in refs]}
