"""Adapters between Load-Inventory's flow and S3 / DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from botocore.exceptions import ClientError

from inventory import config, paging, receipts, summaries
from inventory.batching import BatchResult, Throttled
from inventory.csv_format import Row
from inventory.receipts import ObjectRef, Receipt
from inventory.summaries import ItemStamp, StoreSummary

_THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
# Per-item cancellation reasons of TransactWriteItems: stale, or worth another try.
_STALE = "ConditionalCheckFailed"
_RETRY_REASONS = {"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
READ_CHUNK_BYTES = 1 << 16
Item = dict[str, Any]
# The handler's Tracer (powertools shares one configuration); without X-Ray it does nothing.
# Responses are not captured: they hold the file's rows. Row writes are left to the SDK's
# own subsegments: they are many, and run on worker threads.
tracer = Tracer()


def object_ref(record: S3EventRecord) -> ObjectRef:
    """The object an S3 notification record names. Keys arrive URL-encoded (`+` is a space)."""
    obj = record.s3.get_object
    # The sequencer orders uploads of one key, so it tells two uploads of the same key apart.
    receipt_id = obj.get("sequencer") or f"{record.event_time}/{obj.etag}"
    return ObjectRef(
        bucket=record.s3.bucket.name,
        key=unquote_plus(obj.key),
        receipt_id=receipt_id,
        size=int(obj.get("size") or 0),
        etag=obj.etag,
        event_time=record.event_time,
        correlation_id=correlation_id(record) or receipt_id,
    )


def correlation_id(record: S3EventRecord) -> str:
    """The S3 request id of the upload a record announces ("" when the event has none)."""
    elements = record.get("responseElements") or {}
    return str(elements.get("x-amz-request-id") or "")


def to_item(
    row: Row, source_key: str, updated_at: str, version: str, correlation_id: str = ""
) -> Item:
    """The DynamoDB item for a row, stamped with where it came from, when, and its version.

    It also carries the upload's correlation id (when it has one), which the table's stream
    hands on to Check-Stock.

    A row at 0 also carries `OutOfStockStore` (the store), which puts it in the sparse
    OutOfStock index; a put replaces the whole item, so a later count above 0 drops it.
    """
    item = {
        config.ATTR_STORE: {"S": row.store},
        config.ATTR_ITEM: {"S": row.item},
        config.ATTR_COUNT: {"N": str(row.count)},
        config.ATTR_SOURCE_KEY: {"S": source_key},
        config.ATTR_UPDATED_AT: {"S": updated_at},
        config.ATTR_VERSION: {"S": version},
    }
    if correlation_id:
        item[config.ATTR_CORRELATION_ID] = {"S": correlation_id}
    if row.count == 0:
        item[config.ATTR_OUT_OF_STOCK_STORE] = {"S": row.store}
    return item


class ObjectReplacedError(Exception):
    """The key holds another version of the object than the event names."""


class S3Objects:
    """Streams objects in chunks: memory stays bounded whatever the object's size."""

    def __init__(self, client: Any, chunk_bytes: int = READ_CHUNK_BYTES) -> None:
        self._client = client
        self._chunk_bytes = chunk_bytes

    @tracer.capture_method(capture_response=False)
    def open(self, bucket: str, key: str, etag: str = "") -> Iterator[bytes] | None:
        """The object's bytes as chunks, or None when it no longer exists.

        With `etag`, only that version of the object: ObjectReplacedError if the key now
        holds another (a newer upload, whose own event will load it).
        """
        conditions = {"IfMatch": f'"{etag.strip(chr(34))}"'} if etag else {}
        try:
            response = self._client.get_object(Bucket=bucket, Key=key, **conditions)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"NoSuchKey", "404"}:
                return None
            if code in {"PreconditionFailed", "412"}:
                raise ObjectReplacedError(f"{key} no longer has ETag {etag}") from exc
            raise
        return ObjectChunks(response["Body"], self._chunk_bytes)


class ObjectChunks(Iterator[bytes]):
    """An object's body as chunks; `close` releases its connection unread."""

    def __init__(self, body: Any, chunk_bytes: int) -> None:
        self._body = body
        self._chunks: Iterator[bytes] = body.iter_chunks(chunk_bytes)

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._body.close()


class DynamoInventory:
    """Conditional writes to the Inventory table (a `BatchStore` of DynamoDB items).

    Each batch is one TransactWriteItems of up to 100 puts, each conditional on the stored
    version being older (or absent). When a condition fails DynamoDB cancels the whole
    transaction and says, per item, why: the items whose condition failed are stale (a newer
    version is stored) and are dropped; the rest are left to be tried again.
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _put(self, item: Item) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#v) OR #v < :v",
                "ExpressionAttributeNames": {"#v": config.ATTR_VERSION},
                "ExpressionAttributeValues": {":v": item[config.ATTR_VERSION]},
            }
        }

    def write_batch(self, items: Sequence[Item]) -> BatchResult[Item]:
        try:
            self._client.transact_write_items(TransactItems=[self._put(i) for i in items])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _THROTTLE_CODES:
                raise Throttled(str(exc)) from exc
            if code != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if len(reasons) != len(items):
                raise  # no per-item answer: nothing can be told apart, so fail loudly
            codes = [reason.get("Code", "None") for reason in reasons]
            unknown = sorted({c for c in codes if c != _STALE and c not in _RETRY_REASONS})
            if unknown:
                raise RuntimeError(f"TransactWriteItems cancelled: {', '.join(unknown)}") from exc
            stale = [item for item, c in zip(items, codes, strict=True) if c == _STALE]
            left = [item for item, c in zip(items, codes, strict=True) if c != _STALE]
            return BatchResult(left=left, stale=stale)
        return BatchResult()


class DynamoReceipts:
    """Ingest receipts, one item per uploaded object version."""

    def __init__(self, resource_table: Any) -> None:
        self._table = resource_table

    @tracer.capture_method(capture_response=False)
    def get(self, object_key: str, receipt_id: str) -> Receipt | None:
        """The receipt of an upload already applied, or None (a strongly consistent read)."""
        response = self._table.get_item(
            Key={config.ATTR_OBJECT_KEY: object_key, config.ATTR_RECEIPT_ID: receipt_id},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return receipts.from_item(item) if item else None

    @tracer.capture_method(capture_response=False)
    def put(self, receipt: Receipt) -> Receipt:
        """Keep the receipt unless one for the same upload exists; return the one kept."""
        try:
            self._table.put_item(
                Item=receipts.to_item(receipt),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": config.ATTR_OBJECT_KEY},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.get(receipt.object_key, receipt.receipt_id) or receipt
        return receipt


class DynamoSummaries:
    """Store summaries: a store's items read back from Inventory, its count put conditionally.

    Both tables through DynamoDB's resource layer (plain values, numbers as Decimal).
    """

    def __init__(self, inventory_table: Any, summaries_table: Any) -> None:
        self._inventory = inventory_table
        self._summaries = summaries_table

    def stamps(self, store: str) -> Iterator[ItemStamp]:
        """Every item of the store, page by page (a strongly consistent Query): count, time."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "#s = :s",
            "ProjectionExpression": "#c, #u",
            "ExpressionAttributeNames": {
                "#s": config.ATTR_STORE,
                "#c": config.ATTR_COUNT,
                "#u": config.ATTR_UPDATED_AT,
            },
            "ExpressionAttributeValues": {":s": store},
            "ConsistentRead": True,
        }
        for item in paging.items(self._inventory.query, request):
            yield ItemStamp(int(item[config.ATTR_COUNT]), str(item.get(config.ATTR_UPDATED_AT, "")))

    @tracer.capture_method(capture_response=False)
    def put(self, summary: StoreSummary) -> bool:
        """Keep the summary unless a later-computed one is stored; False when one was."""
        try:
            self._summaries.put_item(
                Item=summaries.to_item(summary),
                ConditionExpression="attribute_not_exists(#s) OR #at < :at",
                ExpressionAttributeNames={
                    "#s": config.ATTR_STORE,
                    "#at": config.ATTR_SUMMARY_COMPUTED_AT,
                },
                ExpressionAttributeValues={":at": summary.computed_at},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True
