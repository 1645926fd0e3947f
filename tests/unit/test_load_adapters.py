"""Load-Inventory's AWS adapters, driven with S3 events and boto3-shaped fakes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.exceptions import ClientError

from inventory import config
from inventory.batching import Throttled
from inventory.csv_format import Row, RowError
from inventory.receipts import Receipt, from_item
from load_inventory.aws import (
    DynamoInventory,
    DynamoReceipts,
    ObjectReplacedError,
    S3Objects,
    object_ref,
    to_item,
)
from tests.support.fakes import FakeDynamoClient, FakeResourceTable, FakeS3Client, client_error

pytestmark = pytest.mark.unit

TABLE = "Inventory"


def s3_event(*keys: str, sequencer: str | None = "0055AED6DCD90281E5", size: int = 42) -> S3Event:
    """An S3 ObjectCreated notification as Lambda receives it (keys already URL-encoded)."""
    records = []
    for n, key in enumerate(keys):
        obj: dict[str, Any] = {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e"}
        if sequencer is not None:
            obj["sequencer"] = f"{sequencer}{n}"
        records.append(
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2024-05-01T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "REQ", "x-amz-id-2": "ID2"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "upload",
                    "bucket": {
                        "name": "inventory-uploads",
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": "arn:aws:s3:::inventory-uploads",
                    },
                    "object": obj,
                },
            }
        )
    return S3Event({"Records": records})


# --- object_ref ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("stores/berlin.csv", "stores/berlin.csv"),
        ("stores/new+york.csv", "stores/new york.csv"),
        ("stores/m%C3%BCnchen.csv", "stores/münchen.csv"),
        ("stores/a%2Bb.csv", "stores/a+b.csv"),
        ("stores/50%25+off%2C+really.csv", "stores/50% off, really.csv"),
        ("%E6%9D%B1%E4%BA%AC/%E5%BA%97.csv", "東京/店.csv"),
    ],
)
def test_object_ref_url_decodes_the_key(encoded: str, decoded: str) -> None:
    record = next(s3_event(encoded).records)

    ref = object_ref(record)

    assert ref.key == decoded


def test_object_ref_carries_bucket_sequencer_size_etag_and_time() -> None:
    record = next(s3_event("k.csv", sequencer="00AB", size=1234).records)

    ref = object_ref(record)

    assert ref.bucket == "inventory-uploads"
    assert ref.receipt_id == "00AB0"
    assert ref.size == 1234
    assert ref.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert ref.event_time == "2024-05-01T10:00:00.000Z"


def test_object_ref_without_a_sequencer_falls_back_to_time_and_etag() -> None:
    ref = object_ref(next(s3_event("k.csv", sequencer=None).records))

    assert ref.receipt_id == "2024-05-01T10:00:00.000Z/d41d8cd98f00b204e9800998ecf8427e"


def test_every_record_of_an_event_gets_its_own_ref() -> None:
    refs = [object_ref(r) for r in s3_event("a.csv", "b+c.csv", "d.csv").records]

    assert [r.key for r in refs] == ["a.csv", "b c.csv", "d.csv"]
    assert len({r.receipt_id for r in refs}) == 3


# --- to_item -------------------------------------------------------------------------------


def test_to_item_is_a_typed_dynamodb_item_stamped_with_source_time_and_version() -> None:
    row = Row("Köln", "Äpfel", 10**37, line=2)

    item = to_item(row, "in/köln.csv", "2024-05-01T10:00:00Z", "v1")

    assert item == {
        config.ATTR_STORE: {"S": "Köln"},
        config.ATTR_ITEM: {"S": "Äpfel"},
        config.ATTR_COUNT: {"N": "1" + "0" * 37},
        config.ATTR_SOURCE_KEY: {"S": "in/köln.csv"},
        config.ATTR_UPDATED_AT: {"S": "2024-05-01T10:00:00Z"},
        config.ATTR_VERSION: {"S": "v1"},
    }


# --- DynamoInventory -----------------------------------------------------------------------


def items(n: int) -> list[dict[str, Any]]:
    return [to_item(Row("s", f"i{k}", k, line=k + 2), "k.csv", "t", f"v{k}") for k in range(n)]


def cancelled(*codes: str) -> ClientError:
    """TransactWriteItems' cancellation, with one reason per item, as DynamoDB sends it."""
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def test_write_batch_puts_each_item_only_over_an_older_version() -> None:
    client = FakeDynamoClient()
    batch = items(3)

    result = DynamoInventory(client, TABLE).write_batch(batch)

    assert (list(result.left), list(result.stale)) == ([], [])
    [request] = client.requests
    puts = [entry["Put"] for entry in request["TransactItems"]]
    assert [put["Item"] for put in puts] == batch
    assert {put["TableName"] for put in puts} == {TABLE}
    assert {put["ConditionExpression"] for put in puts} == {"attribute_not_exists(#v) OR #v < :v"}
    assert [put["ExpressionAttributeValues"][":v"] for put in puts] == [
        item[config.ATTR_VERSION] for item in batch
    ]


def test_a_cancelled_transaction_splits_into_stale_items_and_items_to_retry() -> None:
    batch = items(4)
    reasons = ("None", "ConditionalCheckFailed", "TransactionConflict", "ConditionalCheckFailed")
    client = FakeDynamoClient([cancelled(*reasons)])

    result = DynamoInventory(client, TABLE).write_batch(batch)

    assert list(result.stale) == [batch[1], batch[3]]
    assert list(result.left) == [batch[0], batch[2]]


def test_a_cancellation_for_another_reason_fails_loudly() -> None:
    client = FakeDynamoClient([cancelled("None", "ValidationError")])

    with pytest.raises(RuntimeError, match="ValidationError"):
        DynamoInventory(client, TABLE).write_batch(items(2))


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_throttling_errors_become_throttled(code: str) -> None:
    client = FakeDynamoClient([client_error(code, "TransactWriteItems")])

    with pytest.raises(Throttled) as raised:
        DynamoInventory(client, TABLE).write_batch(items(1))

    assert isinstance(raised.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "code", ["ValidationException", "ResourceNotFoundException", "AccessDeniedException"]
)
def test_other_client_errors_propagate_unchanged(code: str) -> None:
    client = FakeDynamoClient([client_error(code, "TransactWriteItems")])

    with pytest.raises(ClientError) as raised:
        DynamoInventory(client, TABLE).write_batch(items(1))

    assert raised.value.response["Error"]["Code"] == code


# --- S3Objects -----------------------------------------------------------------------------


def test_s3_objects_stream_the_bytes_in_chunks() -> None:
    objects = S3Objects(FakeS3Client({("b", "k.csv"): b"store,item,count\n"}), chunk_bytes=5)

    chunks = objects.open("b", "k.csv")

    assert chunks is not None
    assert list(chunks) == [b"store", b",item", b",coun", b"t\n"]


def test_s3_objects_ask_for_the_version_the_event_names() -> None:
    client = FakeS3Client({("b", "k.csv"): b"x"})

    S3Objects(client).open("b", "k.csv", etag="abc")

    assert client.requests[-1]["IfMatch"] == '"abc"'


@pytest.mark.parametrize("code", ["PreconditionFailed", "412"])
def test_s3_objects_say_when_the_key_holds_another_version(code: str) -> None:
    with pytest.raises(ObjectReplacedError):
        S3Objects(FakeS3Client({}, error=code)).open("b", "k.csv", etag="abc")


@pytest.mark.parametrize("code", ["NoSuchKey", "404"])
def test_s3_objects_return_none_for_a_missing_object(code: str) -> None:
    assert S3Objects(FakeS3Client({}, error=code)).open("b", "gone.csv") is None


def test_s3_objects_propagate_other_errors() -> None:
    with pytest.raises(ClientError):
        S3Objects(FakeS3Client({}, error="AccessDenied")).open("b", "k.csv")


# --- DynamoReceipts ------------------------------------------------------------------------


RECEIPT = Receipt(
    object_key="k.csv",
    receipt_id="00AB",
    status="loaded",
    rows_written=3,
    rows_rejected=1,
    errors=(RowError(2, "count is empty"),),
    duration_ms=12.345,
)


def test_receipts_are_keyed_by_object_key_and_receipt_id_with_floats_as_decimals() -> None:
    table = FakeResourceTable()

    DynamoReceipts(table).put(RECEIPT)

    assert len(table.items) == 1
    item = table.items[0]
    assert item[config.ATTR_OBJECT_KEY] == "k.csv"
    assert item[config.ATTR_RECEIPT_ID] == "00AB"
    assert "object_key" not in item and "receipt_id" not in item
    assert item["status"] == "loaded"
    assert item["reason"] is None
    assert item["rows_written"] == 3
    assert item["errors"] == [{"line": 2, "reason": "count is empty"}]
    assert item["duration_ms"] == Decimal("12.345")
    assert not any(isinstance(v, float) for v in item.values())


def test_a_stored_receipt_reads_back_as_the_same_receipt() -> None:
    table = FakeResourceTable()
    receipt = dataclasses.replace(
        RECEIPT,
        object_key="in/köln.csv",
        status="rejected",
        reason="not UTF-8 text",
        errors=(RowError(2, "count is empty"), RowError(5, "store is empty")),
        duplicates=1,
        bucket="b",
        size=42,
    )

    DynamoReceipts(table).put(receipt)

    assert from_item(table.items[0]) == receipt


def test_a_second_receipt_for_the_same_upload_keeps_the_first() -> None:
    # Given an upload whose receipt is kept (two deliveries of one event raced)
    table = FakeResourceTable()
    receipts = DynamoReceipts(table)
    first = receipts.put(RECEIPT)

    # When the other delivery keeps its own receipt for the same upload
    kept = receipts.put(dataclasses.replace(RECEIPT, rows_written=0, rows_stale=3))

    # Then the first stays, and is what both deliveries report
    assert first == kept == RECEIPT
    assert len(table.items) == 1
    assert receipts.get("k.csv", "00AB") == RECEIPT
    assert receipts.get("k.csv", "other") is None
