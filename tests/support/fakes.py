"""In-memory fakes of the ports the lambdas talk to (no mocks library, no network).

Each fake keeps what it was asked to do, so a test can account for every item.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import (
    STATUS_CONSTANTS,
    BasePersistenceLayer,
    DataRecord,
)
from botocore.exceptions import ClientError

from infra.outputs import StackOutputs
from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, BatchResult, Throttled
from inventory.receipts import Receipt
from inventory.stock import NoStockAlert
from inventory.summaries import ItemStamp, StoreSummary
from load_inventory.aws import ObjectReplacedError

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

    def write_batch(self, items: Sequence[Any]) -> BatchResult[Any]:
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
        return BatchResult(left=unprocessed)


class VersionedTable:
    """A BatchStore that writes an Inventory item only over an older version, as DynamoDB's
    condition does, and records each change it makes (old and new item), like a stream."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.changes: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []

    def write_batch(self, items: Sequence[Any]) -> BatchResult[Any]:
        keys = [inventory_key(item) for item in items]
        if len(set(keys)) != len(keys):
            raise AssertionError("a transaction may not name an item twice")
        stale = []
        for item, key in zip(items, keys, strict=True):
            stored = self.items.get(key)
            version = item[config.ATTR_VERSION]["S"]
            if stored is not None and not stored[config.ATTR_VERSION]["S"] < version:
                stale.append(item)
        if stale:  # the transaction is cancelled: nothing is written, the rest is retried
            return BatchResult(left=[i for i in items if i not in stale], stale=stale)
        for item, key in zip(items, keys, strict=True):
            self.changes.append((self.items.get(key), item))
            self.items[key] = item
        return BatchResult()


def inventory_key(item: dict[str, Any]) -> tuple[str, str]:
    """The (store, item) key of a DynamoDB-typed Inventory item."""
    return (item[config.ATTR_STORE]["S"], item[config.ATTR_ITEM]["S"])


def etag_of(data: bytes) -> str:
    """S3's ETag of a single-part upload: the MD5 of its bytes."""
    return hashlib.md5(data).hexdigest()


class InMemoryObjects:
    """An ObjectSource backed by a dict of (bucket, key) -> bytes; it keeps every read.

    Objects come back in chunks of `chunk_bytes`, as the S3 adapter streams them.
    """

    def __init__(
        self, objects: dict[tuple[str, str], bytes] | None = None, chunk_bytes: int = 7
    ) -> None:
        self.objects = dict(objects or {})
        self.reads: list[tuple[str, str]] = []
        self.chunk_bytes = chunk_bytes

    def open(self, bucket: str, key: str, etag: str = "") -> Iterator[bytes] | None:
        self.reads.append((bucket, key))
        data = self.objects.get((bucket, key))
        if data is None:
            return None
        if etag and etag != etag_of(data):
            raise ObjectReplacedError(f"{key} holds another version")
        size = self.chunk_bytes
        return iter([data[i : i + size] for i in range(0, len(data), size)])


class InMemoryReceipts:
    """A ReceiptStore that keeps the first receipt of each upload, as the conditional put does."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []

    def get(self, object_key: str, receipt_id: str) -> Receipt | None:
        for receipt in self.receipts:
            if (receipt.object_key, receipt.receipt_id) == (object_key, receipt_id):
                return receipt
        return None

    def put(self, receipt: Receipt) -> Receipt:
        kept = self.get(receipt.object_key, receipt.receipt_id)
        if kept is None:
            self.receipts.append(receipt)
            return receipt
        return kept


class InMemorySummaries:
    """A SummaryStore over DynamoDB-typed Inventory items, with the conditional put's rule.

    `items` gives the table's items as they are now (e.g. `lambda: table.items.values()`);
    `summaries` holds the one kept per store, `puts` every summary offered, in order.
    """

    def __init__(self, items: Callable[[], Iterable[dict[str, Any]]] = lambda: ()) -> None:
        self._items = items
        self.summaries: dict[str, StoreSummary] = {}
        self.puts: list[StoreSummary] = []

    def stamps(self, store: str) -> Iterator[ItemStamp]:
        for item in list(self._items()):
            if item[config.ATTR_STORE]["S"] == store:
                yield ItemStamp(
                    int(item[config.ATTR_COUNT]["N"]), item[config.ATTR_UPDATED_AT]["S"]
                )

    def put(self, summary: StoreSummary) -> bool:
        self.puts.append(summary)
        kept = self.summaries.get(summary.store)
        if kept is not None and not kept.computed_at < summary.computed_at:
            return False
        self.summaries[summary.store] = summary
        return True


class InMemoryPersistence(BasePersistenceLayer):
    """powertools idempotency records in a dict, with the DynamoDB layer's conditions."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        try:
            return self.records[idempotency_key]
        except KeyError as exc:
            raise IdempotencyItemNotFoundError from exc

    def _put_record(self, data_record: DataRecord) -> None:
        old = self.records.get(data_record.idempotency_key)
        if old is not None and not old.is_expired:
            in_progress_over = (
                old.status == STATUS_CONSTANTS["INPROGRESS"]
                and old.in_progress_expiry_timestamp is not None
                and old.in_progress_expiry_timestamp < time.time() * 1000
            )
            if not in_progress_over:
                raise IdempotencyItemAlreadyExistsError(old_data_record=old)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


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

    def publish(self, alert: NoStockAlert) -> str:
        self.attempts.append(alert)
        if alert.store in self.failing_stores:
            raise ConnectionError(f"SNS unavailable for {alert.store}")
        if alert.source_key in self.failing_sources:
            raise ConnectionError(f"SNS unavailable for {alert.source_key}")
        self.sent.append(alert)
        return message_id(len(self.sent))


class FlakyAlerts:
    """An AlertPublisher that fails a number of times per source key, then publishes.

    `outages` maps a source key to how many publishes of its alert fail first (a transient
    SNS outage); a key mapped to -1 always fails (a poison record).
    """

    def __init__(self, outages: dict[str | None, int] | None = None) -> None:
        self.outages = dict(outages or {})
        self.attempts: list[NoStockAlert] = []
        self.sent: list[NoStockAlert] = []

    def publish(self, alert: NoStockAlert) -> str:
        self.attempts.append(alert)
        left = self.outages.get(alert.source_key, 0)
        if left != 0:
            self.outages[alert.source_key] = left - 1 if left > 0 else left
            raise ConnectionError(f"SNS unavailable for {alert.source_key}")
        self.sent.append(alert)
        return message_id(len(self.sent))


def message_id(n: int) -> str:
    """The MessageId a fake SNS gives its n-th message."""
    return f"message-{n}"


# --- boto3-shaped clients -------------------------------------------------------------------


def client_error(
    code: str, operation: str = "BatchWriteItem", message: str | None = None
) -> ClientError:
    """A botocore ClientError with the given error code (and message: the code by default)."""
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


class FakeDynamoClient:
    """A boto3-like DynamoDB client: transact_write_items answers from a script of responses."""

    def __init__(self, responses: Sequence[dict[str, Any] | Exception] = ()) -> None:
        self._responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        response = self._responses.pop(0) if self._responses else {}
        if isinstance(response, Exception):
            raise response
        return response


class FakeBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        for start in range(0, len(self._data), chunk_size):
            yield self._data[start : start + chunk_size]


class FakeS3Client:
    """A boto3-like S3 client: get_object returns stored bytes or raises NoSuchKey."""

    def __init__(self, objects: dict[tuple[str, str], bytes], error: str = "NoSuchKey") -> None:
        self._objects = objects
        self._error = error
        self.requests: list[dict[str, Any]] = []

    def get_object(self, *, Bucket: str, Key: str, **conditions: Any) -> dict[str, Any]:
        self.requests.append({"Bucket": Bucket, "Key": Key, **conditions})
        if (Bucket, Key) not in self._objects:
            raise client_error(self._error, "GetObject")
        return {"Body": FakeBody(self._objects[(Bucket, Key)])}


class FakeResourceTable:
    """A boto3-like DynamoDB resource Table that keeps the items put into it.

    A put with a ConditionExpression (the receipts' "not there yet") fails as DynamoDB's
    does when an item with the same key exists; `key` names the key attributes.
    """

    def __init__(
        self, key: Sequence[str] = (config.ATTR_OBJECT_KEY, config.ATTR_RECEIPT_ID)
    ) -> None:
        self.items: list[dict[str, Any]] = []
        self._key = tuple(key)

    def _find(self, key: dict[str, Any]) -> dict[str, Any] | None:
        for item in self.items:
            if all(item.get(name) == key.get(name) for name in self._key):
                return item
        return None

    def put_item(self, *, Item: dict[str, Any], **conditions: Any) -> None:
        if conditions.get("ConditionExpression") and self._find(Item) is not None:
            raise client_error("ConditionalCheckFailedException", "PutItem")
        self.items.append(Item)

    def get_item(self, *, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        found = self._find(Key)
        return {"Item": found} if found is not None else {}


class FakeSnsClient:
    """A boto3-like SNS client that keeps every publish call."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": message_id(len(self.published))}


class ScriptedTable:
    """A boto3-like resource Table whose query/scan answer pages from a script, in order.

    An Exception in the script is raised instead; `requests` keeps every call's arguments,
    and `put_item` raises `put_error` when one is set.
    """

    def __init__(
        self,
        pages: Sequence[dict[str, Any] | Exception] = (),
        put_error: Exception | None = None,
    ) -> None:
        self._pages = list(pages)
        self.put_error = put_error
        self.requests: list[dict[str, Any]] = []
        self.puts: list[dict[str, Any]] = []

    def _answer(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        page = self._pages.pop(0) if self._pages else {"Items": []}
        if isinstance(page, Exception):
            raise page
        return page

    query = scan = _answer

    def put_item(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)
        if self.put_error is not None:
            raise self.put_error


class InMemoryReads:
    """The query API's InventoryReads over plain (resource-layer) items, in DynamoDB's order.

    Each read resumes after its exclusive start key as DynamoDB does; `failing` makes every
    read raise ReadFailedError; `page_sizes` keeps the page size each read asked for.
    """

    def __init__(
        self,
        inventory: Iterable[dict[str, Any]] = (),
        receipts: Iterable[dict[str, Any]] = (),
        summaries: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.inventory = list(inventory)
        self.receipts = list(receipts)
        self.summaries = list(summaries)
        self.failing = False
        self.page_sizes: list[int] = []

    def _read(
        self,
        items: Iterable[dict[str, Any]],
        order: Sequence[str],
        start: dict[str, str] | None,
        page_size: int,
        newest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        from query_api.reads import ReadFailedError

        self.page_sizes.append(page_size)
        if self.failing:
            raise ReadFailedError("DynamoDB is unavailable")

        def position(item: dict[str, Any]) -> tuple[str, ...]:
            return tuple(str(item[name]) for name in order)

        ordered = sorted(items, key=position, reverse=newest_first)
        if start is not None:
            after = position(start)
            ordered = [
                i for i in ordered if (position(i) < after if newest_first else position(i) > after)
            ]
        yield from ordered

    def stores(self, start: dict[str, str] | None, page_size: int) -> Iterator[dict[str, Any]]:
        return self._read(self.summaries, (config.ATTR_STORE,), start, page_size)

    def store_items(
        self, store: str, start: dict[str, str] | None, page_size: int
    ) -> Iterator[dict[str, Any]]:
        items = [i for i in self.inventory if i[config.ATTR_STORE] == store]
        return self._read(items, (config.ATTR_STORE, config.ATTR_ITEM), start, page_size)

    def out_of_stock(
        self, start: dict[str, str] | None, page_size: int
    ) -> Iterator[dict[str, Any]]:
        items = [i for i in self.inventory if config.ATTR_OUT_OF_STOCK_STORE in i]
        order = (config.ATTR_OUT_OF_STOCK_STORE, config.ATTR_ITEM, config.ATTR_STORE)
        return self._read(items, order, start, page_size)

    def receipts_on(
        self, day: str, start: dict[str, str] | None, page_size: int
    ) -> Iterator[dict[str, Any]]:
        items = [r for r in self.receipts if r.get(config.ATTR_PROCESSED_DAY) == day]
        order = (config.ATTR_PROCESSED_AT, config.ATTR_OBJECT_KEY, config.ATTR_RECEIPT_ID)
        return self._read(items, order, start, page_size, newest_first=True)


def fake_outputs(**overrides: str) -> StackOutputs:
    """The outputs of a stack that was never deployed, for tests that only need names."""
    values = {
        "bucket_name": "uploads",
        "table_name": "Inventory",
        "topic_arn": "arn:aws:sns:us-east-1:000000000000:NoStock",
        "receipts_table_name": "Receipts",
        "load_inventory_function_name": "Loader",
        "check_stock_function_name": "Checker",
        "load_inventory_failures_queue_url": "http://q/LoadInventoryFailures",
        "check_stock_failures_queue_url": "http://q/CheckStockFailures",
    }
    return StackOutputs(**{**values, **overrides})
