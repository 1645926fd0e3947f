"""Check-Stock: Inventory stream -> one NoStock message when an item's count becomes 0.

Records are handled in stream order. The first that fails stops the batch: the invocation
fails, so the whole batch is retried (and, if it keeps failing, queued in CheckStockFailures
after the mapping's age limit). Alerts sent before the failure are not sent again on the
retry (check_stock.sending). Partial batch responses are not used: MiniStack ignores them
for DynamoDB streams and drops the records reported as failed; failing the invocation is
retried the same way on MiniStack and on AWS.
"""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from check_stock.alerts import SnsAlerts, alert_from_record, change_id, correlation_id
from check_stock.sending import AlertSender, idempotency_config
from check_stock.settings import CheckSettings
from inventory import config, faults
from inventory.stock import NoStockAlert

settings = CheckSettings.from_env(os.environ)  # fails the cold start if a setting is missing
logger = Logger(service=config.CHECK_SERVICE)
metrics = Metrics(namespace=config.METRICS_NAMESPACE, service=config.CHECK_SERVICE)
tracer = Tracer(service=config.CHECK_SERVICE)
# A short outage is absorbed by the SDK's retries; a longer one fails the batch, which the
# stream retries (and the sender keeps from sending twice).
sns = boto3.client("sns", config=Config(retries={"mode": "standard", "max_attempts": 3}))
faults.install(sns)  # does nothing unless a rehearsal set INVENTORY_FAULTS


class AlertNotSentError(RuntimeError):
    """An alert could not be published; the batch fails and is retried."""


def _sent(alert: NoStockAlert, message_id: str) -> None:
    """One line per alert published: what `inventory trace` shows as the NoStock publish."""
    logger.info("no stock", extra={**alert.message(), "message_id": message_id})
    metrics.add_metric("NoStockAlerts", MetricUnit.Count, 1)


sender = AlertSender(
    SnsAlerts(sns, settings.topic_arn),
    DynamoDBPersistenceLayer(table_name=settings.alerts_sent_table_name),
    idempotency_config(settings.alerts_sent_ttl_seconds),
    on_sent=_sent,
)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context  # the correlation id is each record's upload: set below
@event_source(data_class=DynamoDBStreamEvent)
def lambda_handler(event: DynamoDBStreamEvent, context: LambdaContext) -> dict:
    sender.register(context)
    sent = repeated = 0
    for record in event.records:
        logger.set_correlation_id(correlation_id(record))
        alert = alert_from_record(record)
        if alert is None:
            continue
        change = change_id(record)
        logger.info("alert due", extra={"store": alert.store, "item": alert.item, "change": change})
        try:
            if sender.send(alert, change):
                sent += 1
            else:
                repeated += 1
                logger.info("alert already sent", extra={"store": alert.store, "item": alert.item})
        except Exception as exc:
            metrics.add_metric("AlertsNotSent", MetricUnit.Count, 1)
            raise AlertNotSentError(
                f"NoStock for {alert.item!r} at {alert.store!r} was not sent "
                f"({type(exc).__name__}: {exc}); the batch will be retried"
            ) from exc
    logger.set_correlation_id(None)
    if repeated:
        logger.info("alerts already sent", extra={"repeated": repeated})
        metrics.add_metric("RepeatedAlerts", MetricUnit.Count, repeated)
    return {"sent": sent, "repeated": repeated}
