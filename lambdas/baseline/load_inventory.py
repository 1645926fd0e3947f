"""Lab-style Load-Inventory: one PutItem per row, the first record only, errors printed.

Deliberately the original lab's behaviour (the "before" in `make bench`); do not copy it:
- only `event["Records"][0]` is handled; any further record in the event is dropped;
- plain `csv.reader`, the header skipped unread, no validation beyond `int(count)`;
- one PutItem per row (no batching); a row that fails is printed and dropped.

Two departures from the lab, neither of which makes it faster: the object is read into
memory rather than downloaded to one fixed /tmp path (concurrent invocations would overwrite
each other's file there), and the table name comes from the environment. The receipt at the
end is instrumentation only: the harness sees when a file is done exactly as it sees ours.
"""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import boto3

from inventory import config
from inventory.csv_format import ParseResult, RowError
from inventory.receipts import ObjectRef, build_receipt, to_item

s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")
inventory_table = dynamodb.Table(os.environ[config.ENV_TABLE_NAME])
receipts_table = dynamodb.Table(os.environ[config.ENV_RECEIPTS_TABLE_NAME])


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def lambda_handler(event: dict[str, Any], context: Any) -> str:
    started = time.perf_counter()
    record = event["Records"][0]  # lab: the first record only
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    reader = csv.reader(io.StringIO(body.decode("utf-8")))
    next(reader, None)  # lab: the header is skipped, never checked
    updated_at = utc_now()
    written, errors = 0, []
    for row in reader:
        if not row:
            continue  # a blank line (the lab's DictReader skipped them too)
        try:
            store, item, count = row
            inventory_table.put_item(  # lab: one request per row
                Item={
                    config.ATTR_STORE: store,
                    config.ATTR_ITEM: item,
                    config.ATTR_COUNT: int(count),
                    config.ATTR_SOURCE_KEY: key,
                    config.ATTR_UPDATED_AT: updated_at,
                }
            )
            written += 1
        except Exception as exc:  # lab: print it and carry on with the next row
            print(f"Unable to insert line {reader.line_num} into DynamoDB table: {exc}")
            errors.append(RowError(reader.line_num, str(exc)))

    # Instrumentation, not lab behaviour: the same receipt ours writes (always "loaded").
    parsed = ParseResult(rows=(), errors=tuple(errors), duplicates=())
    receipt = build_receipt(
        object_ref(record, key), parsed, written, (time.perf_counter() - started) * 1000, utc_now()
    )
    receipts_table.put_item(Item=to_item(receipt))
    return f"{written} counts inserted"


def object_ref(record: dict[str, Any], key: str) -> ObjectRef:
    """The receipt's key: the object key plus the S3 sequencer, as ours records it."""
    obj = record["s3"]["object"]
    etag = obj.get("eTag", "")
    return ObjectRef(
        bucket=record["s3"]["bucket"]["name"],
        key=key,
        receipt_id=obj.get("sequencer") or f"{record.get('eventTime', '')}/{etag}",
        size=int(obj.get("size") or 0),
        etag=etag,
        event_time=record.get("eventTime", ""),
    )
