"""In-memory fakes of the ports the lambdas talk to (no mocks library, no network)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, Throttled
from inventory.stock import NoStockAlert

# A scripted answer to one write_batch call: "ok", "throttle", or how many items to leave
# unprocessed (taken from the end of the batch).
Answer = str | int


class InMemoryBatchStore:
    """A BatchStore that keeps what it is given, answering from a script, then `then`."""

    def __init__(
        self,
        script: Sequence[Answer] = (),
        key: Callable[[Any], Any] = lambda item: item,
        then: Answer = "ok",
    ) -> None:
        self._script = list(script)
        self._key = key
        self._then = then
        self.calls: list[list[Any]] = []
        self.writes: list[Any] = []  # every item accepted, in order, duplicates kept

    @property
    def stored(self) -> dict[Any, Any]:
        return {self._key(item): item for item in self.writes}

    def write_batch(self, items: Sequence[Any]) -> Sequence[Any]:
        batch = list(items)
        if len(batch) > MAX_BATCH_ITEMS:
            raise AssertionError(f"batch of {len(batch)} exceeds {MAX_BATCH_ITEMS}")
        self.calls.append(batch)
        answer = self._script.pop(0) if self._script else self._then
        if answer == "throttle":
            raise Throttled("slow down")
        left = 0 if answer == "ok" else int(answer)
        kept, unprocessed = batch[: len(batch) - left], batch[len(batch) - left :]
        self.writes.extend(kept)
        return unprocessed


def inventory_key(item: dict[str, Any]) -> tuple[str, str]:
    """The (store, item) key of a DynamoDB-typed Inventory item."""
    return (item[config.ATTR_STORE]["S"], item[config.ATTR_ITEM]["S"])


class InMemoryObjects:
    """An ObjectSource backed by a dict of (bucket, key) -> bytes."""

    def __init__(self, objects: dict[tuple[str, str], bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.reads: list[tuple[str, str]] = []

    def read(self, bucket: str, key: str) -> bytes | None:
        self.reads.append((bucket, key))
        return self.objects.get((bucket, key))


class InMemoryReceipts:
    """A ReceiptStore that keeps every receipt it is given."""

    def __init__(self) -> None:
        self.receipts: list[dict[str, Any]] = []

    def put(self, receipt: dict[str, Any]) -> None:
        self.receipts.append(receipt)


@dataclass
class RecordingSleep:
    """Stands in for time.sleep: records the delays and returns at once."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_error(code: str, operation: str = "BatchWriteItem") -> ClientError:
    """A botocore ClientError with the given error code."""
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeDynamoClient:
    """A boto3-like DynamoDB client: batch_write_item answers from a script of responses."""

    def __init__(self, responses: Sequence[dict[str, Any] | Exception] = ()) -> None:
        self._responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        response = self._responses.pop(0) if self._responses else {"UnprocessedItems": {}}
        if isinstance(response, Exception):
            raise response
        return response


class FakeBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class FakeS3Client:
    """A boto3-like S3 client: get_object returns stored bytes or raises NoSuchKey."""

    def __init__(self, objects: dict[tuple[str, str], bytes], error: str = "NoSuchKey") -> None:
        self._objects = objects
        self._error = error

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self._objects:
            raise client_error(self._error, "GetObject")
        return {"Body": FakeBody(self._objects[(Bucket, Key)])}


class FakeResourceTable:
    """A boto3-like DynamoDB resource Table that keeps the items put into it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, *, Item: dict[str, Any]) -> None:
        self.items.append(Item)


class FakeSnsClient:
    """A boto3-like SNS client that keeps every publish call."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


class FailingAlerts:
    """An AlertPublisher that fails for chosen stores and keeps what it sent."""

    def __init__(self, failing_stores: set[str] | frozenset[str] = frozenset()) -> None:
        self.failing_stores = set(failing_stores)
        self.sent: list[NoStockAlert] = []

    def publish(self, alert: NoStockAlert) -> None:
        if alert.store in self.failing_stores:
            raise ConnectionError(f"SNS unavailable for {alert.store}")
        self.sent.append(alert)


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context object that powertools reads."""

    function_name: str = "unit-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:unit-test"
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/unit-test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# --- DynamoDB stream records shaped like the Inventory table's (NEW_AND_OLD_IMAGES) ---
STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/Inventory/stream/2024-05-01T00:00:00.000"
)


def image(
    store: str, item: str, count: int | None, source_key: str | None = "uploads/k.csv"
) -> dict[str, Any]:
    """A DynamoDB-typed Inventory item image."""
    attrs: dict[str, Any] = {
        config.ATTR_STORE: {"S": store},
        config.ATTR_ITEM: {"S": item},
        config.ATTR_UPDATED_AT: {"S": "2024-05-01T10:00:00.000+00:00"},
    }
    if count is not None:
        attrs[config.ATTR_COUNT] = {"N": str(count)}
    if source_key is not None:
        attrs[config.ATTR_SOURCE_KEY] = {"S": source_key}
    return attrs


def stream_record(
    store: str,
    item: str,
    old: int | None,
    new: int | None,
    sequence: str = "100",
    *,
    source_key: str = "uploads/k.csv",
) -> dict[str, Any]:
    """One change: old None means INSERT, new None means REMOVE, otherwise MODIFY."""
    if old is None and new is None:
        raise ValueError("a change needs an old or a new count")
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": 1714557600,
        "Keys": {config.ATTR_STORE: {"S": store}, config.ATTR_ITEM: {"S": item}},
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = image(store, item, new, source_key)
    if old is not None:
        change["OldImage"] = image(store, item, old, "uploads/earlier.csv")
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }
