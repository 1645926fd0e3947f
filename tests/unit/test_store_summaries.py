"""Store summaries and the loader's new stamps: the fold, the adapter, the refresh, the marks."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from aws_lambda_powertools import Logger, Metrics

from inventory import config, receipts, summaries
from inventory.csv_format import Row
from inventory.receipts import ObjectRef, Receipt
from inventory.summaries import ItemStamp, StoreSummary, computed_now, summarize
from load_inventory.aws import DynamoSummaries, to_item
from load_inventory.ingest import Ingestor
from query_api.reads import DynamoReads, ReadFailedError
from tests.support.fakes import (
    InMemoryObjects,
    InMemoryReceipts,
    InMemorySummaries,
    ScriptedTable,
    VersionedTable,
    client_error,
)

pytestmark = pytest.mark.unit

BUCKET = "uploads"

# --- the fold ------------------------------------------------------------------------------


def test_summarize_counts_items_zeros_and_the_newest_time() -> None:
    stamps = [ItemStamp(5, "2024-05-01T10:00"), ItemStamp(0, "2024-05-03T08:00")]
    stamps += [ItemStamp(0, "2024-05-02T23:59")]

    summary = summarize("Berlin", stamps, "2024-05-04T00:00:00.000001+00:00")

    assert summary == StoreSummary(
        "Berlin", 3, 2, "2024-05-03T08:00", "2024-05-04T00:00:00.000001+00:00"
    )


def test_a_store_without_items_summarizes_to_zero_and_no_time() -> None:
    assert summarize("Empty", [], "t") == StoreSummary("Empty", 0, 0, None, "t")


def test_summarize_reads_its_items_once_as_a_stream() -> None:
    stamps = (ItemStamp(n % 3, f"t{n:07}") for n in range(100_000))

    summary = summarize("Big", stamps, "t")

    assert (summary.items, summary.out_of_stock, summary.updated_at) == (
        100_000,
        33_334,
        "t0099999",
    )


def test_computed_at_has_microseconds_in_utc() -> None:
    now = computed_now()

    assert now.endswith("+00:00") and len(now.split(".")[1]) == len("123456+00:00")


def test_a_summary_item_reads_back_as_the_same_summary() -> None:
    summary = StoreSummary("Köln", 4, 1, "2024-05-01T10:00", "2024-05-01T10:00:00.000001+00:00")

    item = summaries.to_item(summary)
    stored = {k: Decimal(v) if isinstance(v, int) else v for k, v in item.items()}

    assert item[config.ATTR_SUMMARY_ITEMS] == 4
    assert summaries.from_item(stored) == summary
    assert config.ATTR_UPDATED_AT not in summaries.to_item(StoreSummary("s", computed_at="t"))


# --- the loader's marks --------------------------------------------------------------------


def test_a_row_at_zero_is_marked_for_the_out_of_stock_index() -> None:
    zero = to_item(Row("Köln", "Äpfel", 0, line=2), "k.csv", "t", "v")
    some = to_item(Row("Köln", "Äpfel", 1, line=2), "k.csv", "t", "v")

    assert zero[config.ATTR_OUT_OF_STOCK_STORE] == {"S": "Köln"}
    assert config.ATTR_OUT_OF_STOCK_STORE not in some


def test_a_receipt_is_filed_under_its_processed_day() -> None:
    receipt = Receipt("k.csv", "01", "loaded", 1, 0, processed_at="2024-05-01T23:59:59.999+00:00")

    item = receipts.to_item(receipt)

    assert item[config.ATTR_PROCESSED_DAY] == "2024-05-01"
    assert receipts.from_item(item) == receipt  # the day is derived, not a field
    unprocessed = receipts.to_item(Receipt("k.csv", "01", "loaded", 1, 0))
    assert config.ATTR_PROCESSED_DAY not in unprocessed  # an index key may not be empty


# --- DynamoSummaries -----------------------------------------------------------------------


def test_stamps_page_through_a_consistent_projected_query_of_the_store() -> None:
    inventory = ScriptedTable(
        [
            {
                "Items": [{"Count": Decimal(0), "UpdatedAt": "t1"}],
                "LastEvaluatedKey": {"Store": "B", "Item": "a"},
            },
            {"Items": [{"Count": Decimal(4), "UpdatedAt": "t2"}]},
        ]
    )

    stamps = list(DynamoSummaries(inventory, ScriptedTable()).stamps("B"))

    assert stamps == [ItemStamp(0, "t1"), ItemStamp(4, "t2")]
    first, second = inventory.requests
    assert first["ConsistentRead"] is True
    assert first["ExpressionAttributeValues"] == {":s": "B"}
    assert first["ProjectionExpression"] == "#c, #u"
    assert set(first["ExpressionAttributeNames"].values()) == {"Store", "Count", "UpdatedAt"}
    assert "ExclusiveStartKey" not in first
    assert second["ExclusiveStartKey"] == {"Store": "B", "Item": "a"}


def test_a_summary_is_put_only_over_an_older_one() -> None:
    table = ScriptedTable()
    summary = StoreSummary("B", 2, 1, "t", "2024-05-01T10:00:00.000001+00:00")

    assert DynamoSummaries(ScriptedTable(), table).put(summary) is True

    (put,) = table.puts
    assert put["Item"] == summaries.to_item(summary)
    assert put["ConditionExpression"] == "attribute_not_exists(#s) OR #at < :at"
    assert put["ExpressionAttributeValues"] == {":at": summary.computed_at}


def test_a_summary_computed_earlier_than_the_stored_one_is_dropped() -> None:
    table = ScriptedTable(put_error=client_error("ConditionalCheckFailedException", "PutItem"))

    assert DynamoSummaries(ScriptedTable(), table).put(StoreSummary("B")) is False


def test_other_summary_put_errors_fail_the_load() -> None:
    table = ScriptedTable(put_error=client_error("ProvisionedThroughputExceededException"))

    with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
        DynamoSummaries(ScriptedTable(), table).put(StoreSummary("B"))


# --- the refresh in the Ingestor -----------------------------------------------------------


def ingestor(
    table: VersionedTable,
    objects: InMemoryObjects,
    summaries: InMemorySummaries,
    receipts: InMemoryReceipts | None = None,
) -> Ingestor:
    logger = Logger(service="summaries-test", stream=io.StringIO())
    metrics = Metrics(namespace="Test", service="summaries-test")
    clock = iter(f"2024-05-01T10:00:00.{n:06}+00:00" for n in range(1, 1000))
    return Ingestor(
        objects,
        table,
        receipts if receipts is not None else InMemoryReceipts(),
        summaries,
        logger,
        metrics,
        clock=lambda: "2024-05-01T10:00:00.000+00:00",
        summary_clock=lambda: next(clock),
    )


class ReceiptsFirst(InMemorySummaries):
    """Summaries that note, at each put, how many receipts were kept by then."""

    def __init__(self, table: VersionedTable, receipts: InMemoryReceipts) -> None:
        super().__init__(lambda: table.items.values())
        self.receipts = receipts
        self.receipts_before: list[int] = []
        self.fail_next = False

    def put(self, summary: StoreSummary) -> bool:
        self.receipts_before.append(len(self.receipts.receipts))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the invocation died here")
        return super().put(summary)


def test_each_store_in_the_file_is_recounted_from_the_table_after_the_receipt() -> None:
    # Given a table that already holds an item of Berlin, and a file for Berlin and Köln
    table = VersionedTable()
    objects = InMemoryObjects()
    kept = InMemorySummaries(lambda: table.items.values())
    load = ingestor(table, objects, kept)
    objects.objects[(BUCKET, "old.csv")] = b"store,item,count\nBerlin,Figs,0\n"
    load.ingest(ObjectRef(BUCKET, "old.csv", "01", event_time="2024-05-01T09:00:00Z"))
    objects.objects[(BUCKET, "new.csv")] = (
        b"store,item,count\nBerlin,Apples,5\nK\xc3\xb6ln,Pears,0\nBerlin,bad,x\n"
    )

    # When the file is loaded
    receipt = load.ingest(ObjectRef(BUCKET, "new.csv", "02", event_time="2024-05-01T09:30:00Z"))

    # Then each store's summary counts all its items, the older ones too
    assert receipt.rows_written == 2
    assert kept.summaries["Berlin"].items == 2
    assert kept.summaries["Berlin"].out_of_stock == 1
    assert kept.summaries["Köln"] == StoreSummary(
        "Köln", 1, 1, "2024-05-01T10:00:00.000+00:00", kept.summaries["Köln"].computed_at
    )
    assert [s.store for s in kept.puts] == ["Berlin", "Berlin", "Köln"]
    assert receipt.stores == ("Berlin", "Köln")


def test_the_receipt_is_kept_before_the_recount_and_a_retry_recounts() -> None:
    # Given a loader that dies while recounting, after its receipt was kept
    table, objects, receipts = VersionedTable(), InMemoryObjects(), InMemoryReceipts()
    kept = ReceiptsFirst(table, receipts)
    objects.objects[(BUCKET, "a.csv")] = b"store,item,count\nBerlin,Apples,0\n"
    ref = ObjectRef(BUCKET, "a.csv", "01", event_time="2024-05-01T09:00:00Z")
    kept.fail_next = True
    with pytest.raises(RuntimeError, match="died"):
        ingestor(table, objects, kept, receipts).ingest(ref)
    assert kept.receipts_before == [1] and kept.summaries == {}

    # When the event is delivered again
    receipt = ingestor(table, objects, kept, receipts).ingest(ref)

    # Then the upload is not applied twice, but its store is recounted
    assert receipts.receipts == [receipt] and receipt.stores == ("Berlin",)
    assert kept.summaries["Berlin"].out_of_stock == 1


def test_stores_too_many_to_name_in_the_receipt_are_recounted_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a file whose store names take more bytes than a receipt keeps
    monkeypatch.setattr("inventory.receipts.MAX_STORES_BYTES", 8)
    table, objects, receipts = VersionedTable(), InMemoryObjects(), InMemoryReceipts()
    kept = ReceiptsFirst(table, receipts)
    objects.objects[(BUCKET, "a.csv")] = b"store,item,count\nBerlin,A,1\nPotsdam,B,0\n"

    # When it is loaded
    ref = ObjectRef(BUCKET, "a.csv", "01", event_time="2024-05-01T09:00:00Z")
    receipt = ingestor(table, objects, kept, receipts).ingest(ref)

    # Then both stores were recounted before the receipt, which names none
    assert kept.receipts_before == [0, 0]
    assert set(kept.summaries) == {"Berlin", "Potsdam"}
    assert receipt.stores == ()


def test_a_retried_load_whose_rows_are_all_stale_still_refreshes_its_stores() -> None:
    # Given a load whose rows were written but whose summaries were never refreshed
    table = VersionedTable()
    objects = InMemoryObjects()
    objects.objects[(BUCKET, "a.csv")] = b"store,item,count\nBerlin,Apples,0\n"
    ref = ObjectRef(BUCKET, "a.csv", "01", event_time="2024-05-01T09:00:00Z")
    ingestor(table, objects, InMemorySummaries()).ingest(ref)  # its summaries were lost

    # When the invocation is retried (no receipt was kept)
    kept = InMemorySummaries(lambda: table.items.values())
    receipt = ingestor(table, objects, kept).ingest(ref)

    # Then nothing is written again, but the summary is made
    assert (receipt.rows_written, receipt.rows_stale) == (0, 1)
    assert kept.summaries["Berlin"].out_of_stock == 1


def test_a_rejected_file_refreshes_no_summary() -> None:
    objects = InMemoryObjects({(BUCKET, "x.csv"): b"not,a,header\n"})
    kept = InMemorySummaries()

    ref = ObjectRef(BUCKET, "x.csv", "01", event_time="2024-05-01T09:00:00Z")
    ingestor(VersionedTable(), objects, kept).ingest(ref)

    assert kept.puts == []


def test_an_older_refresh_never_overwrites_a_newer_one() -> None:
    kept = InMemorySummaries()

    assert kept.put(StoreSummary("B", 2, computed_at="2024-05-01T10:00:00.000002+00:00"))
    assert not kept.put(StoreSummary("B", 1, computed_at="2024-05-01T10:00:00.000001+00:00"))

    assert kept.summaries["B"].items == 2


# --- the query API's DynamoDB reads --------------------------------------------------------


def test_reads_page_lazily_and_resume_after_the_start_key() -> None:
    table = ScriptedTable(
        [{"Items": [{"n": 1}], "LastEvaluatedKey": {"Store": "a"}}, {"Items": [{"n": 2}]}]
    )
    reads = DynamoReads(ScriptedTable(), ScriptedTable(), table)

    found = reads.stores({"Store": "0"}, 2)
    assert table.requests == []  # nothing read until asked
    assert [i["n"] for i in found] == [1, 2]
    assert table.requests[0] == {"Limit": 2, "ExclusiveStartKey": {"Store": "0"}}
    assert table.requests[1]["ExclusiveStartKey"] == {"Store": "a"}


def test_receipts_are_read_from_the_day_index_newest_first() -> None:
    table = ScriptedTable()

    list(DynamoReads(ScriptedTable(), table, ScriptedTable()).receipts_on("2024-05-01", None, 5))

    (request,) = table.requests
    assert request["IndexName"] == config.INDEX_RECENT_RECEIPTS
    assert request["ScanIndexForward"] is False
    assert request["ExpressionAttributeValues"] == {":d": "2024-05-01"}


def test_out_of_stock_scans_the_sparse_index() -> None:
    table = ScriptedTable()

    list(DynamoReads(table, ScriptedTable(), ScriptedTable()).out_of_stock(None, 5))

    assert table.requests == [{"IndexName": config.INDEX_OUT_OF_STOCK, "Limit": 5}]


def test_a_dynamodb_error_becomes_read_failed() -> None:
    table = ScriptedTable([client_error("ResourceNotFoundException", "Query")])
    reads = DynamoReads(table, ScriptedTable(), ScriptedTable())

    with pytest.raises(ReadFailedError):
        list(reads.store_items("B", None, 5))
