"""In-memory fakes of the ports the lambdas talk to, driven by hypothesis (no mocks).

Each fake keeps what it was asked to do, so a test can account for every item.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import strategies as st

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, Throttled
from inventory.stock import NoStockAlert

THROTTLE_CODES = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
)


def unprocessed_or_throttle(size: int) -> st.SearchStrategy[frozenset[int] | None]:
    """One answer to a batch of `size`: None (throttled) or the positions left unprocessed."""
    positions = (
        st.frozensets(st.integers(0, size - 1), max_size=size) if size else st.just(frozenset())
    )
    return st.one_of(st.none(), st.just(frozenset()), positions)


class ChaosBatchStore:
    """A BatchStore whose every answer hypothesis picks: throttle, or any unprocessed subset.

    Unprocessed items come back as copies, as DynamoDB returns them, so the caller cannot
    rely on object identity.
    """

    def __init__(self, data: st.DataObject, key: str = "id") -> None:
        self._data = data
        self._key = key
        self.batches: list[list[Any]] = []
        self.writes: Counter[Any] = Counter()  # how often each item was stored

    def write_batch(self, items: Sequence[Any]) -> Sequence[Any]:
        batch = list(items)
        self.batches.append(batch)
        if len(batch) > MAX_BATCH_ITEMS:
            return batch  # the test reports this; DynamoDB would refuse the call
        left = self._data.draw(unprocessed_or_throttle(len(batch)), label="answer")
        if left is None:
            raise Throttled("slow down")
        for i, item in enumerate(batch):
            if i not in left:
                self.writes[item[self._key]] += 1
        return [copy.deepcopy(item) for i, item in enumerate(batch) if i in left]


class ChaosDynamoClient:
    """A boto3-like DynamoDB client whose batch_write_item answers are picked by hypothesis.

    It stores what it accepts by (Store, Item), answers UnprocessedItems as DynamoDB does,
    and throttles with the ClientError codes DynamoDB uses.
    """

    def __init__(self, data: st.DataObject, table: str) -> None:
        self._data = data
        self._table = table
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: Counter[tuple[str, str]] = Counter()
        self.request_sizes: list[int] = []

    def batch_write_item(self, *, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        assert list(RequestItems) == [self._table]
        requests = RequestItems[self._table]
        self.request_sizes.append(len(requests))
        if not 1 <= len(requests) <= MAX_BATCH_ITEMS:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "1-25 items"}},
                "BatchWriteItem",
            )
        left = self._data.draw(unprocessed_or_throttle(len(requests)), label="answer")
        if left is None:
            code = self._data.draw(st.sampled_from(THROTTLE_CODES), label="throttle")
            raise ClientError({"Error": {"Code": code, "Message": code}}, "BatchWriteItem")
        for i, request in enumerate(requests):
            if i not in left:
                item = request["PutRequest"]["Item"]
                key = (item[config.ATTR_STORE]["S"], item[config.ATTR_ITEM]["S"])
                self.items[key] = copy.deepcopy(item)
                self.writes[key] += 1
        unprocessed = [copy.deepcopy(r) for i, r in enumerate(requests) if i in left]
        return {"UnprocessedItems": {self._table: unprocessed} if unprocessed else {}}


class InMemoryObjects:
    """An ObjectSource backed by a dict of (bucket, key) -> bytes."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def read(self, bucket: str, key: str) -> bytes | None:
        return self.objects.get((bucket, key))


class InMemoryReceipts:
    """A ReceiptStore that keeps every receipt it is given."""

    def __init__(self) -> None:
        self.receipts: list[dict[str, Any]] = []

    def put(self, receipt: dict[str, Any]) -> None:
        self.receipts.append(receipt)


@dataclass
class NoSleep:
    """Stands in for time.sleep: records each delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FlakyPublisher:
    """An AlertPublisher that fails for the alerts of chosen source keys, and keeps the rest."""

    def __init__(self, failing_sources: set[str]) -> None:
        self.failing_sources = failing_sources
        self.sent: list[NoStockAlert] = []
        self.attempts: list[str | None] = []

    def publish(self, alert: NoStockAlert) -> None:
        self.attempts.append(alert.source_key)
        if alert.source_key in self.failing_sources:
            raise ConnectionError(f"SNS unavailable for {alert.source_key}")
        self.sent.append(alert)


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context that powertools reads."""

    aws_request_id: str = "req-1"
    function_name: str = "property-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:property-test"
    log_group_name: str = "/aws/lambda/property-test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# --- DynamoDB stream records, as the Inventory table's stream (NEW_AND_OLD_IMAGES) sends them

STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/Inventory/stream/2026-01-05T00:00:00.000"
)


def stream_record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: str
) -> dict[str, Any]:
    """One change of an item between two DynamoDB-typed images (None: absent)."""
    image = new or old
    assert image is not None, "a change needs an old or a new image"
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767571200,
        "Keys": {
            config.ATTR_STORE: image[config.ATTR_STORE],
            config.ATTR_ITEM: image[config.ATTR_ITEM],
        },
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }
