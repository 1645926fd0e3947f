"""In-memory fakes of the ports the lambdas talk to (no mocks library, no network).

Each fake keeps what it was asked to do, so a test can account for every item.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, Throttled
from inventory.receipts import Receipt
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
    """An ObjectSource backed by a dict of (bucket, key) -> bytes; it keeps every read."""

    def __init__(self, objects: dict[tuple[str, str], bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.reads: list[tuple[str, str]] = []

    def read(self, bucket: str, key: str) -> bytes | None:
        self.reads.append((bucket, key))
        return self.objects.get((bucket, key))


class InMemoryReceipts:
    """A ReceiptStore that keeps every receipt it is given."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []

    def put(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)


@dataclass
class RecordingSleep:
    """Stands in for time.sleep: records each delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FailingAlerts:
    """An AlertPublisher that fails for chosen stores and/or source keys.

    `attempts` keeps every alert it was asked to publish, in order; `sent`, those it published.
    """

    def __init__(
        self,
        failing_stores: Collection[str] = frozenset(),
        failing_sources: Collection[str | None] = frozenset(),
    ) -> None:
        self.failing_stores = set(failing_stores)
        self.failing_sources = set(failing_sources)
        self.attempts: list[NoStockAlert] = []
        self.sent: list[NoStockAlert] = []

    def publish(self, alert: NoStockAlert) -> None:
        self.attempts.append(alert)
        if alert.store in self.failing_stores:
            raise ConnectionError(f"SNS unavailable for {alert.store}")
        if alert.source_key in self.failing_sources:
            raise ConnectionError(f"SNS unavailable for {alert.source_key}")
        self.sent.append(alert)


# --- boto3-shaped clients -------------------------------------------------------------------


def client_error(
    code: str, operation: str = "BatchWriteItem", message: str | None = None
) -> ClientError:
    """A botocore ClientError with the given error code (and message: the code by default)."""
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


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
