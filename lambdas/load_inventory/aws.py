"""Adapters between Load-Inventory's flow and S3 / DynamoDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from botocore.exceptions import ClientError

from inventory import config, receipts
from inventory.batching import Throttled
from inventory.csv_format import Row
from inventory.receipts import ObjectRef, Receipt

_THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
Item = dict[str, Any]


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
    )


def to_item(row: Row, source_key: str, updated_at: str) -> Item:
    """The DynamoDB item for a row, stamped with where and when it came from."""
    return {
        config.ATTR_STORE: {"S": row.store},
        config.ATTR_ITEM: {"S": row.item},
        config.ATTR_COUNT: {"N": str(row.count)},
        config.ATTR_SOURCE_KEY: {"S": source_key},
        config.ATTR_UPDATED_AT: {"S": updated_at},
    }


class S3Objects:
    """Reads whole objects into memory: no temp files, so concurrent invocations never clash."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def read(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it no longer exists."""
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        body: bytes = response["Body"].read()
        return body


class DynamoInventory:
    """BatchWriteItem against the Inventory table (a `BatchStore` of DynamoDB items)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def write_batch(self, items: Sequence[Item]) -> Sequence[Item]:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        try:
            response = self._client.batch_write_item(RequestItems={self._table: requests})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _THROTTLE_CODES:
                raise Throttled(str(exc)) from exc
            raise
        unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
        return [request["PutRequest"]["Item"] for request in unprocessed]


class DynamoReceipts:
    """Ingest receipts, one item per uploaded object version."""

    def __init__(self, resource_table: Any) -> None:
        self._table = resource_table

    def put(self, receipt: Receipt) -> None:
        self._table.put_item(Item=receipts.to_item(receipt))
