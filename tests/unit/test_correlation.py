"""The correlation id: one upload followed through the loader, the table, Check-Stock and SNS.

Each upload's id is the S3 request id of its event (the sequencer when there is none). It
is on the loader's log lines for that upload, on every item and the receipt it writes, on
the stream records (they carry the item), on Check-Stock's log lines and in the NoStock
message. The loader also emits IngestLatency once per receipt it writes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, S3Event

from check_stock.alerts import SnsAlerts, alert_from_record, correlation_id
from check_stock.sending import AlertSender, idempotency_config
from inventory import config
from inventory.receipts import ObjectRef, Receipt, from_item, ingest_latency_ms, to_item
from inventory.stock import NoStockAlert
from load_inventory.aws import object_ref
from load_inventory.ingest import Ingestor
from tests.support.events import FakeLambdaContext, change_record
from tests.support.fakes import (
    FailingAlerts,
    FakeSnsClient,
    InMemoryObjects,
    InMemoryPersistence,
    InMemoryReceipts,
    InMemorySummaries,
    VersionedTable,
    etag_of,
    message_id,
)

pytestmark = pytest.mark.unit

BUCKET = "uploads"
EVENT_TIME = "2024-05-01T09:59:59.250Z"
PROCESSED_AT = "2024-05-01T10:00:00.000+00:00"
TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:NoStock"


def s3_record(key: str, sequencer: str, request_id: str | None, data: bytes) -> dict[str, Any]:
    """One ObjectCreated record; `request_id` None leaves out responseElements."""
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": EVENT_TIME,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
            "object": {
                "key": key,
                "size": len(data),
                "eTag": etag_of(data),
                "sequencer": sequencer,
            },
        },
    }
    if request_id is not None:
        record["responseElements"] = {"x-amz-request-id": request_id, "x-amz-id-2": "id2"}
    return record


def ref_of(record: dict[str, Any]) -> ObjectRef:
    return object_ref(next(S3Event({"Records": [record]}).records))


class Loader:
    """The Ingestor on in-memory fakes, with a table that keeps its changes like a stream."""

    def __init__(
        self, logger: Logger, metrics: Metrics, receipts: InMemoryReceipts | None = None
    ) -> None:
        self.objects = InMemoryObjects()
        self.table = VersionedTable()
        self.receipts = receipts if receipts is not None else InMemoryReceipts()
        self.ingestor = Ingestor(
            self.objects,
            self.table,
            self.receipts,
            InMemorySummaries(lambda: self.table.items.values()),
            logger,
            metrics,
            clock=lambda: PROCESSED_AT,
        )

    def upload(self, key: str, data: bytes, sequencer: str, request_id: str | None) -> ObjectRef:
        self.objects.objects[(BUCKET, key)] = data
        return ref_of(s3_record(key, sequencer, request_id, data))


@pytest.fixture
def loader(logger: Logger, metrics: Metrics) -> Loader:
    return Loader(logger, metrics)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def capture_logs(logger: Logger, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Send a handler's log lines to a new stream (its logger was built on the real stdout)."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return stream


# --- the id of an upload ----------------------------------------------------------------------


def test_an_uploads_correlation_id_is_the_s3_request_id_of_its_event() -> None:
    ref = ref_of(s3_record("k.csv", "0055AED6DCD90281E5", "C3D13FE58DE4C810", b""))

    assert ref.correlation_id == "C3D13FE58DE4C810"
    assert ref.receipt_id == "0055AED6DCD90281E5"


@pytest.mark.parametrize("elements", [None, {}, {"x-amz-request-id": ""}])
def test_without_a_request_id_the_sequencer_is_the_correlation_id(elements: Any) -> None:
    record = s3_record("k.csv", "0055AED6DCD90281E5", None, b"")
    if elements is not None:
        record["responseElements"] = elements

    assert ref_of(record).correlation_id == "0055AED6DCD90281E5"


# --- the loader -------------------------------------------------------------------------------


def test_every_item_and_the_receipt_carry_the_uploads_correlation_id(loader: Loader) -> None:
    ref = loader.upload("k.csv", b"store,item,count\ns,a,1\ns,b,0\n", "01", "REQ-A")

    receipt = loader.ingestor.ingest(ref)

    assert receipt.correlation_id == "REQ-A"
    assert [item[config.ATTR_CORRELATION_ID] for item in loader.table.items.values()] == [
        {"S": "REQ-A"},
        {"S": "REQ-A"},
    ]


def test_the_receipt_keeps_its_correlation_id_in_the_table() -> None:
    receipt = Receipt("k.csv", "01", "loaded", 1, 0, correlation_id="REQ-A")

    assert to_item(receipt)["correlation_id"] == "REQ-A"
    assert from_item(to_item(receipt)) == receipt


def test_a_receipt_written_before_correlation_ids_reads_back_with_none() -> None:
    item = to_item(Receipt("k.csv", "01", "loaded", 1, 0))
    del item["correlation_id"]

    assert from_item(item).correlation_id == ""


def test_each_uploads_log_lines_carry_its_own_correlation_id(
    loader: Loader, log_stream: Any
) -> None:
    # Given one event naming two uploads (S3 sends one each; a re-drive or test may send more)
    first = loader.upload("a.csv", b"store,item,count\ns,a,1\n", "01", "REQ-A")
    second = loader.upload("b.csv", b"store,item,count\ns,b,x\n", "02", "REQ-B")

    # When both are ingested, one after the other as the handler does
    loader.ingestor.ingest(first)
    loader.ingestor.ingest(second)

    # Then each line names the upload it is about, from its start to its end
    lines = [
        (line["message"], line["object_key"], line["correlation_id"])
        for line in log_lines(log_stream)
    ]
    assert lines == [
        ("ingest started", "a.csv", "REQ-A"),
        ("ingested", "a.csv", "REQ-A"),
        ("ingest started", "b.csv", "REQ-B"),
        ("ingested", "b.csv", "REQ-B"),
    ]


def test_the_handler_sets_the_correlation_id_per_record(
    monkeypatch: pytest.MonkeyPatch,
    import_fresh: Callable[[str], ModuleType],
) -> None:
    # Given the function after a cold start, on in-memory fakes
    for name, value in {
        config.ENV_TABLE_NAME: "Inventory",
        config.ENV_RECEIPTS_TABLE_NAME: "Receipts",
        config.ENV_STORE_SUMMARIES_TABLE_NAME: "StoreSummaries",
    }.items():
        monkeypatch.setenv(name, value)
    handler = import_fresh("load_inventory.handler")
    loader = Loader(handler.logger, handler.metrics)
    monkeypatch.setattr(handler, "ingestor", loader.ingestor)
    data = b"store,item,count\ns,a,0\n"
    loader.objects.objects[(BUCKET, "a.csv")] = data
    loader.objects.objects[(BUCKET, "b.csv")] = data
    event = {
        "Records": [
            s3_record("a.csv", "01", "REQ-A", data),
            s3_record("b.csv", "02", None, data),
        ]
    }
    stream = capture_logs(handler.logger, monkeypatch)

    # When one event names both uploads
    response = handler.lambda_handler(event, FakeLambdaContext())

    # Then each upload's lines and receipt carry its own id (the sequencer, lacking a request id)
    assert [r["correlation_id"] for r in response["receipts"]] == ["REQ-A", "02"]
    ingest_lines = [line for line in log_lines(stream) if "object_key" in line]
    assert {(line["object_key"], line["correlation_id"]) for line in ingest_lines} == {
        ("a.csv", "REQ-A"),
        ("b.csv", "02"),
    }


# --- IngestLatency ----------------------------------------------------------------------------


def latencies(metrics: Metrics) -> list[float]:
    emitted: dict[str, Any] = dict(metrics.serialize_metric_set())
    return list(emitted.get("IngestLatency", []))


def test_ingest_latency_is_from_the_s3_event_to_the_receipt() -> None:
    receipt = Receipt(
        "k.csv", "01", "loaded", 1, 0, event_time=EVENT_TIME, processed_at=PROCESSED_AT
    )

    assert ingest_latency_ms(receipt) == 750.0


@pytest.mark.parametrize(("event_time", "processed_at"), [("", PROCESSED_AT), (EVENT_TIME, "x")])
def test_ingest_latency_is_unknown_without_both_times(event_time: str, processed_at: str) -> None:
    receipt = Receipt(
        "k.csv", "01", "loaded", 1, 0, event_time=event_time, processed_at=processed_at
    )

    assert ingest_latency_ms(receipt) is None


def test_the_loader_emits_ingest_latency_once_per_receipt_written(
    loader: Loader, metrics: Metrics
) -> None:
    # Given an upload delivered twice (S3 delivers at least once), and a rejected one
    ref = loader.upload("k.csv", b"store,item,count\ns,a,1\n", "01", "REQ-A")
    bad = loader.upload("bad.csv", b"not,a,header\n", "02", "REQ-B")

    # When every delivery is ingested
    loader.ingestor.ingest(ref)
    loader.ingestor.ingest(ref)
    loader.ingestor.ingest(bad)

    # Then each receipt written counted once, in milliseconds since its event
    assert latencies(metrics) == [750.0, 750.0]
    unit = next(
        m["Unit"]
        for m in metrics.serialize_metric_set()["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if m["Name"] == "IngestLatency"
    )
    assert unit == "Milliseconds"


class RacedReceipts(InMemoryReceipts):
    """Receipts where another delivery of the upload keeps its receipt after this one looked."""

    def __init__(self, theirs: Receipt) -> None:
        super().__init__()
        self.theirs = theirs

    def get(self, object_key: str, receipt_id: str) -> Receipt | None:
        if not self.receipts:  # this delivery's first look: none yet; then the other wins
            self.receipts.append(self.theirs)
            return None
        return super().get(object_key, receipt_id)


def test_a_delivery_that_lost_the_race_for_the_receipt_emits_no_latency(
    logger: Logger, metrics: Metrics
) -> None:
    # Given another delivery of the same upload keeps its receipt while this one is loading
    theirs = Receipt("k.csv", "01", "loaded", 1, 0, correlation_id="REQ-A")
    loader = Loader(logger, metrics, receipts=RacedReceipts(theirs))
    ref = loader.upload("k.csv", b"store,item,count\ns,a,1\n", "01", "REQ-A")

    # When this delivery finishes, its conditional put keeps the other's receipt
    kept = loader.ingestor.ingest(ref)

    # Then it is not counted a second time
    assert kept is theirs
    assert latencies(metrics) == []


# --- Check-Stock ------------------------------------------------------------------------------


def zero_record(store: str, item: str, sequence: str, correlation: str | None) -> dict[str, Any]:
    raw = change_record(store, item, 5, 0, sequence, source_key=f"{store}.csv")
    if correlation is not None:
        raw["dynamodb"]["NewImage"][config.ATTR_CORRELATION_ID] = {"S": correlation}
    return raw


def test_the_alert_carries_the_correlation_id_of_the_new_image() -> None:
    record = next(DynamoDBStreamEvent({"Records": [zero_record("s", "i", "1", "REQ-A")]}).records)

    alert = alert_from_record(record)

    assert correlation_id(record) == "REQ-A"
    assert alert is not None and alert.correlation_id == "REQ-A"
    assert alert.message()["correlation_id"] == "REQ-A"


def test_an_item_written_without_a_correlation_id_alerts_with_none() -> None:
    record = next(DynamoDBStreamEvent({"Records": [zero_record("s", "i", "1", None)]}).records)

    assert correlation_id(record) is None
    alert = alert_from_record(record)
    assert alert is not None and alert.message()["correlation_id"] is None


def test_the_nostock_message_keeps_its_fields_and_adds_the_correlation_id() -> None:
    client = FakeSnsClient()
    alert = NoStockAlert("Berlin", "Apples", 3, "berlin.csv", "2024-05-01T10:00:00Z", "REQ-A")

    sent_id = SnsAlerts(client, TOPIC_ARN).publish(alert)

    [call] = client.published
    assert json.loads(call["Message"]) == {
        "store": "Berlin",
        "item": "Apples",
        "count": 0,
        "previous_count": 3,
        "source_key": "berlin.csv",
        "updated_at": "2024-05-01T10:00:00Z",
        "correlation_id": "REQ-A",
    }
    assert call["MessageAttributes"][config.ALERT_ATTRIBUTE_STORE]["StringValue"] == "Berlin"
    assert sent_id == message_id(1)


def test_check_stock_logs_each_alert_with_its_upload_and_message_id(
    check_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Check-Stock on an in-memory SNS and AlertsSent
    alerts = FailingAlerts()
    sender = AlertSender(
        alerts, InMemoryPersistence(), idempotency_config(3600), on_sent=check_handler._sent
    )
    monkeypatch.setattr(check_handler, "sender", sender)
    stream = capture_logs(check_handler.logger, monkeypatch)
    event = {
        "Records": [
            zero_record("Berlin", "Apples", "1", "REQ-A"),
            zero_record("Paris", "Figs", "2", "REQ-B"),
        ]
    }

    # When a batch of two uploads' changes to 0 arrives
    check_handler.lambda_handler(event, FakeLambdaContext())

    # Then each record's lines carry its upload, and each publish is logged with its message id
    lines = log_lines(stream)
    assert [(line["message"], line.get("correlation_id")) for line in lines] == [
        ("alert due", "REQ-A"),
        ("no stock", "REQ-A"),
        ("alert due", "REQ-B"),
        ("no stock", "REQ-B"),
    ]
    published = [line for line in lines if line["message"] == "no stock"]
    assert [(p["store"], p["item"], p["source_key"], p["message_id"]) for p in published] == [
        ("Berlin", "Apples", "Berlin.csv", message_id(1)),
        ("Paris", "Figs", "Paris.csv", message_id(2)),
    ]
    assert [a.correlation_id for a in alerts.sent] == ["REQ-A", "REQ-B"]
