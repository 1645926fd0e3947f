"""Watch the deployed pipeline from outside: receipts, table rows and NoStock messages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from harness import env
from inventory import config

POLL_INTERVAL_S = 0.01
_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def receipts_for(receipts_table: str, key: str) -> list[dict[str, Any]]:
    """Every receipt recorded for an object key (one per upload), oldest first."""
    response = env.client("dynamodb").query(
        TableName=receipts_table,
        KeyConditionExpression="#k = :k",
        ExpressionAttributeNames={"#k": config.ATTR_OBJECT_KEY},
        ExpressionAttributeValues={":k": {"S": key}},
        ConsistentRead=True,
    )
    return [as_receipt(item) for item in response["Items"]]


def as_receipt(item: dict[str, Any]) -> dict[str, Any]:
    """A stored receipt in the shape Load-Inventory built it (keys renamed back, ints as int)."""
    receipt = plain(item)
    receipt["object_key"] = receipt.pop(config.ATTR_OBJECT_KEY)
    receipt["receipt_id"] = receipt.pop(config.ATTR_RECEIPT_ID)
    for name in ("size", "rows_written", "rows_rejected", "duplicates"):
        if name in receipt:
            receipt[name] = int(receipt[name])
    return receipt


def wait_for_receipts(
    receipts_table: str, key: str, count: int = 1, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """Poll (every 10 ms, one consistent Query) until `count` receipts exist for the key."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = receipts_for(receipts_table, key)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(POLL_INTERVAL_S)


def counts(table: str, store: str | None = None) -> dict[tuple[str, str], int]:
    """Current counts by (store, item), for one store (Query) or all of them (Scan)."""
    ddb = env.client("dynamodb")
    if store is None:
        pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    else:
        pages = ddb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#s = :s",  # STORE is a DynamoDB reserved word
            ExpressionAttributeNames={"#s": config.ATTR_STORE},
            ExpressionAttributeValues={":s": {"S": store}},
            ConsistentRead=True,
        )
    result: dict[tuple[str, str], int] = {}
    for page in pages:
        for raw in page["Items"]:
            item = plain(raw)
            result[(item[config.ATTR_STORE], item[config.ATTR_ITEM])] = int(item[config.ATTR_COUNT])
    return result


def receive_alerts(queue_url: str, wait_s: int = 1) -> list[dict[str, Any]]:
    """One long poll of a queue subscribed to NoStock (raw delivery); the messages are deleted.

    Each returned body is the alert's JSON, plus `_store_attribute`: the SNS message attribute
    `store` as the subscriber saw it.
    """
    sqs = env.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_s,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    bodies = []
    for message in messages:
        body = json.loads(message["Body"])
        attribute = message.get("MessageAttributes", {}).get(config.ALERT_ATTRIBUTE_STORE, {})
        body["_store_attribute"] = attribute.get("StringValue")
        bodies.append(body)
    if messages:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return bodies


@dataclass
class Alert:
    """One NoStock message as a subscriber received it."""

    body: dict[str, Any]
    store_attribute: str | None
    received_at: float  # time.perf_counter() when it arrived


@dataclass
class AlertInbox:
    """An SQS queue subscribed to NoStock (raw delivery), drained by a background thread.

    This is how a real subscriber sees the topic, so the alerts counted are the ones sent.
    """

    topic_arn: str
    name: str = field(default_factory=lambda: f"nostock-inbox-{uuid.uuid4().hex[:12]}")
    alerts: list[Alert] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.queue_url = ""
        self.subscription_arn = ""

    def __enter__(self) -> AlertInbox:
        sqs, sns = env.client("sqs"), env.client("sns")
        self.queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sqs.set_queue_attributes(
            QueueUrl=self.queue_url,
            Attributes={"Policy": json.dumps(_allow_topic(queue_arn, self.topic_arn))},
        )
        self.subscription_arn = sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._thread = threading.Thread(target=self._drain, name=self.name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        env.client("sns").unsubscribe(SubscriptionArn=self.subscription_arn)
        env.client("sqs").delete_queue(QueueUrl=self.queue_url)

    def _drain(self) -> None:
        while not self._stop.is_set():
            bodies = receive_alerts(self.queue_url)
            now = time.perf_counter()
            with self._lock:
                self.alerts += [Alert(b, b.pop("_store_attribute"), now) for b in bodies]

    def snapshot(self) -> list[Alert]:
        with self._lock:
            return list(self.alerts)

    def for_source(self, key: str) -> list[Alert]:
        return [a for a in self.snapshot() if a.body.get("source_key") == key]

    def wait_for(self, key: str, count: int, timeout_s: float = 15.0) -> list[Alert]:
        """Wait until `count` alerts from this source key arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.for_source(key)) < count and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        return found

    def settle(self, quiet_s: float = 2.0) -> list[Alert]:
        """Wait until no new alert has arrived for `quiet_s` seconds; return all of them."""
        seen = -1
        while seen != len(self.snapshot()):
            seen = len(self.snapshot())
            time.sleep(quiet_s)
        return self.snapshot()


def _allow_topic(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    # Needed on AWS: the queue must let the topic send to it.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
