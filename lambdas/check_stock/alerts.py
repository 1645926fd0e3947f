"""From a table stream record to a NoStock message, and the SNS adapter that sends it."""

from __future__ import annotations

import json
from typing import Any, Protocol

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from inventory import config
from inventory.stock import NoStockAlert, alert_for

tracer = Tracer()  # the handler's (powertools shares one configuration)


def change_id(record: DynamoDBRecord) -> str:
    """What identifies the change a record carries, however often it is delivered.

    The new image's version (the upload and row it came from); without one (an item written
    by something other than the loader), the record's stream sequence number.
    """
    change = record.dynamodb
    new = change.new_image if change is not None else None
    if new and new.get(config.ATTR_VERSION):
        return str(new[config.ATTR_VERSION])
    return f"seq:{change.sequence_number if change is not None else ''}"


def correlation_id(record: DynamoDBRecord) -> str | None:
    """The upload that wrote the new image (its CorrelationId), or None."""
    change = record.dynamodb
    new = change.new_image if change is not None else None
    value = new.get(config.ATTR_CORRELATION_ID) if new else None
    return str(value) if value else None


class AlertPublisher(Protocol):
    def publish(self, alert: NoStockAlert) -> str:
        """Send the alert; return its message id."""
        ...


def _count(image: dict[str, Any] | None) -> int | None:
    if not image or config.ATTR_COUNT not in image:
        return None
    return int(image[config.ATTR_COUNT])


def alert_from_record(record: DynamoDBRecord) -> NoStockAlert | None:
    """Apply the stock rule to one change of an Inventory item."""
    change = record.dynamodb
    if change is None:
        return None
    new, old = change.new_image, change.old_image
    image = new or old or {}
    return alert_for(
        store=str(image.get(config.ATTR_STORE, "")),
        item=str(image.get(config.ATTR_ITEM, "")),
        previous=_count(old),
        current=_count(new),
        source_key=new.get(config.ATTR_SOURCE_KEY) if new else None,
        updated_at=new.get(config.ATTR_UPDATED_AT) if new else None,
        correlation_id=correlation_id(record),
    )


class SnsAlerts:
    """Publishes to NoStock; the topic ARN comes from settings, never from list_topics."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    @tracer.capture_method(capture_response=False)
    def publish(self, alert: NoStockAlert) -> str:
        """Publish the alert's message with its `store` attribute; return SNS's MessageId."""
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=alert.subject,
            Message=json.dumps(alert.message(), ensure_ascii=False),
            MessageAttributes={
                config.ALERT_ATTRIBUTE_STORE: {"DataType": "String", "StringValue": alert.store}
            },
        )
        return str(response.get("MessageId", ""))
