"""Ingestor.ingest: one uploaded object -> rows in the table and exactly one receipt."""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, write_all
from inventory.csv_format import RowError
from inventory.receipts import MAX_ERRORS_KEPT, ObjectRef
from load_inventory import ingest as ingest_module
from load_inventory.ingest import Ingestor, RowsNotWrittenError
from tests.support.events import inventory_item
from tests.support.fakes import (
    InMemoryBatchStore,
    InMemoryObjects,
    InMemoryReceipts,
    InMemorySummaries,
    RecordingSleep,
    VersionedTable,
    inventory_key,
)

pytestmark = pytest.mark.unit

BUCKET = "uploads"
NOW = "2024-05-01T10:00:00.000+00:00"


def ref(key: str = "stores/berlin.csv", receipt_id: str = "0055AED6DCD90281E5") -> ObjectRef:
    return ObjectRef(
        bucket=BUCKET,
        key=key,
        receipt_id=receipt_id,
        size=10,
        event_time="2024-05-01T09:59:59.000Z",
    )


class World:
    """The Ingestor wired to in-memory fakes."""

    def __init__(
        self, logger: Logger, metrics: Metrics, store: InMemoryBatchStore | None = None
    ) -> None:
        self.objects = InMemoryObjects()
        self.inventory = store if store is not None else InMemoryBatchStore(key=inventory_key)
        self.receipts = InMemoryReceipts()
        self.summaries = InMemorySummaries(lambda: self.inventory.stored.values())
        self.ingestor = Ingestor(
            self.objects,
            self.inventory,
            self.receipts,
            self.summaries,
            logger,
            metrics,
            clock=lambda: NOW,
        )

    def upload(self, key: str, data: bytes) -> ObjectRef:
        self.objects.objects[(BUCKET, key)] = data
        return ref(key)


@pytest.fixture
def world(logger: Logger, metrics: Metrics) -> World:
    return World(logger, metrics)


@pytest.fixture
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> RecordingSleep:
    """The Ingestor retries with real backoff; give it a sleep that returns at once."""
    sleep = RecordingSleep()
    monkeypatch.setattr(ingest_module, "write_all", functools.partial(write_all, sleep=sleep))
    return sleep


def test_valid_rows_are_written_stamped_and_one_loaded_receipt_is_kept(world: World) -> None:
    # Given an uploaded file with two good rows, one bad row and a duplicate
    obj = world.upload(
        "stores/berlin.csv",
        b"store,item,count\nBerlin,Apples,5\nBerlin,Pears,x\nBerlin,Figs,0\nBerlin,Apples,7\n",
    )

    # When it is ingested
    receipt = world.ingestor.ingest(obj)

    # Then the valid rows (last one wins) are in the table, stamped with source and time
    stamped = functools.partial(inventory_item, source_key="stores/berlin.csv", updated_at=NOW)
    upload = "2024-05-01T09:59:59.000000Z|00000000000000" + "0055AED6DCD90281E5"
    assert world.inventory.stored == {
        ("Berlin", "Apples"): stamped("Berlin", "Apples", 7, version=f"{upload}|0000000005"),
        ("Berlin", "Figs"): stamped("Berlin", "Figs", 0, version=f"{upload}|0000000004"),
    }
    assert len(world.inventory.writes) == 2  # the superseded row is never written
    # And exactly one receipt says what happened
    assert world.receipts.receipts == [receipt]
    assert receipt.status == "loaded"
    assert receipt.reason is None
    assert receipt.object_key == "stores/berlin.csv"
    assert receipt.receipt_id == "0055AED6DCD90281E5"
    assert receipt.bucket == BUCKET
    assert receipt.rows_written == 2
    assert receipt.rows_rejected == 1
    assert receipt.errors == (RowError(3, "count must be a whole number, got 'x'"),)
    assert receipt.duplicates == 1
    assert receipt.processed_at == NOW
    assert receipt.duration_ms >= 0


def test_the_receipt_is_json_serialisable(world: World) -> None:
    receipt = world.ingestor.ingest(world.upload("a.csv", b"store,item,count\ns,i,1\n"))

    assert json.loads(json.dumps(receipt.as_dict())) == receipt.as_dict()


def test_a_rejected_file_writes_no_rows_and_gets_a_rejected_receipt(world: World) -> None:
    # Given a file whose header is wrong
    obj = world.upload("stores/bad.csv", b"shop,product,qty\nBerlin,Apples,5\n")

    # When it is ingested
    receipt = world.ingestor.ingest(obj)

    # Then nothing reaches the table and the receipt gives the reason
    assert world.inventory.calls == []
    assert world.receipts.receipts == [receipt]
    assert receipt.status == "rejected"
    assert "header" in (receipt.reason or "")
    assert receipt.rows_written == 0


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_empty_binary_and_nul_files_are_rejected(world: World, data: bytes) -> None:
    receipt = world.ingestor.ingest(world.upload("x.csv", data))

    assert receipt.status == "rejected"
    assert receipt.reason
    assert world.inventory.calls == []
    assert len(world.receipts.receipts) == 1


def test_a_missing_object_gets_a_rejected_receipt(world: World) -> None:
    # Given an object deleted before the loader read it
    obj = ref("stores/gone.csv")

    # When it is ingested
    receipt = world.ingestor.ingest(obj)

    # Then it is accounted for as rejected, and nothing is written
    assert world.objects.reads == [(BUCKET, "stores/gone.csv")]
    assert world.receipts.receipts == [receipt]
    assert receipt.status == "rejected"
    assert "not found" in (receipt.reason or "")
    assert receipt.rows_written == 0
    assert world.inventory.calls == []


def test_a_file_of_only_bad_rows_is_loaded_with_zero_rows(world: World) -> None:
    receipt = world.ingestor.ingest(world.upload("k.csv", b"store,item,count\na,b,-1\n,c,1\n"))

    assert receipt.status == "loaded"
    assert receipt.rows_written == 0
    assert receipt.rows_rejected == 2
    assert [e.line for e in receipt.errors] == [2, 3]


def test_the_receipt_keeps_the_first_errors_and_counts_them_all(world: World) -> None:
    lines = ["store,item,count"] + [f"s,i{n},bad" for n in range(50)] + ["s,ok,1"]
    receipt = world.ingestor.ingest(world.upload("k.csv", "\n".join(lines).encode()))

    assert receipt.rows_rejected == 50
    assert len(receipt.errors) == MAX_ERRORS_KEPT
    assert receipt.errors[0] == RowError(2, "count must be a whole number, got 'bad'")
    assert receipt.rows_written == 1


def test_a_large_file_is_written_completely_in_batches(world: World) -> None:
    lines = ["store,item,count"] + [f"s,i{n},{n}" for n in range(1000)]

    receipt = world.ingestor.ingest(world.upload("big.csv", "\n".join(lines).encode()))

    assert receipt.rows_written == 1000
    assert len(world.inventory.stored) == 1000
    assert max(len(batch) for batch in world.inventory.calls) == MAX_BATCH_ITEMS


def test_rows_left_unprocessed_once_are_retried_and_the_file_still_loads(
    logger: Logger, metrics: Metrics, no_real_sleep: RecordingSleep
) -> None:
    world = World(logger, metrics, InMemoryBatchStore(script=[1, "throttle"], key=inventory_key))

    receipt = world.ingestor.ingest(world.upload("k.csv", b"store,item,count\ns,a,1\ns,b,2\n"))

    assert receipt.status == "loaded"
    assert receipt.rows_written == 2
    assert set(world.inventory.stored) == {("s", "a"), ("s", "b")}
    assert len(no_real_sleep.delays) == 2


def test_rows_that_never_get_written_raise_and_leave_no_receipt(
    logger: Logger, metrics: Metrics, no_real_sleep: RecordingSleep
) -> None:
    # Given a table that throttles every write
    store = InMemoryBatchStore(then="throttle")
    world = World(logger, metrics, store)
    obj = world.upload("stores/berlin.csv", b"store,item,count\nBerlin,Apples,5\nBerlin,Figs,0\n")

    # When the object is ingested
    # Then the invocation fails (so Lambda retries it, then dead-letters it) ...
    with pytest.raises(
        RowsNotWrittenError,
        match=r"2 rows of stores/berlin\.csv were not written \(after 0 written\)",
    ):
        world.ingestor.ingest(obj)

    # ... after every attempt, and no receipt claims the file was handled
    assert len(store.calls) == 8  # the default attempts
    assert world.receipts.receipts == []


def test_partially_written_rows_still_raise_without_a_receipt(
    logger: Logger, metrics: Metrics, no_real_sleep: RecordingSleep
) -> None:
    # Given a table that always leaves the last row of a batch unprocessed
    store = InMemoryBatchStore(key=inventory_key, then=1)
    world = World(logger, metrics, store)
    obj = world.upload("k.csv", b"store,item,count\ns,a,1\ns,b,2\ns,c,3\n")

    with pytest.raises(
        RowsNotWrittenError, match=r"1 rows of k\.csv were not written \(after 2 written\)"
    ):
        world.ingestor.ingest(obj)

    assert world.receipts.receipts == []


def test_each_upload_of_the_same_key_gets_its_own_receipt(world: World) -> None:
    world.upload("k.csv", b"store,item,count\ns,a,1\n")

    first = world.ingestor.ingest(ref("k.csv", receipt_id="001"))
    second = world.ingestor.ingest(ref("k.csv", receipt_id="002"))

    assert [r.receipt_id for r in world.receipts.receipts] == ["001", "002"]
    assert first.status == second.status == "loaded"


def test_ingest_logs_and_counts_what_happened(
    world: World, metrics: Metrics, log_stream: io.StringIO
) -> None:
    world.ingestor.ingest(world.upload("k.csv", b"store,item,count\ns,a,1\ns,b,x\n"))
    world.ingestor.ingest(ref("missing.csv"))

    emitted: dict[str, Any] = dict(metrics.serialize_metric_set())
    assert emitted["RowsWritten"] == [1.0, 0.0]
    assert emitted["RowsRejected"] == [1.0, 0.0]
    assert emitted["FilesLoaded"] == [1.0]
    assert emitted["FilesRejected"] == [1.0]
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [(log["message"], log["object_key"]) for log in lines] == [
        ("ingest started", "k.csv"),
        ("ingested", "k.csv"),
        ("ingest started", "missing.csv"),
        ("ingested", "missing.csv"),
    ]
    logs = [log for log in lines if log["message"] == "ingested"]
    assert [log["status"] for log in logs] == ["loaded", "rejected"]
    assert logs[0]["first_errors"] == [
        {"line": 3, "reason": "count must be a whole number, got 'x'"}
    ]


def test_a_nul_in_one_row_rejects_that_row_and_keeps_the_others(world: World) -> None:
    receipt = world.ingestor.ingest(world.upload("x.csv", b"store,item,count\na,\x00,1\na,b,2\n"))

    assert receipt.status == "loaded"
    assert (receipt.rows_written, receipt.rows_rejected) == (1, 1)
    assert list(world.inventory.stored) == [("a", "b")]


def test_a_repeated_delivery_returns_the_first_receipt_and_writes_nothing(world: World) -> None:
    # Given an upload already applied
    obj = world.upload("stores/berlin.csv", b"store,item,count\nBerlin,Apples,5\n")
    first = world.ingestor.ingest(obj)
    calls = len(world.inventory.calls)

    # When its event is delivered again
    again = world.ingestor.ingest(obj)

    # Then nothing is written, and the first receipt is the answer (the object was opened
    # while the receipt was looked up, and is left unread)
    assert again == first
    assert len(world.inventory.calls) == calls
    assert world.receipts.receipts == [first]


def test_a_late_event_for_an_older_upload_changes_nothing(logger: Logger, metrics: Metrics) -> None:
    # Given today's snapshot applied (Apples restocked to 6)
    table = VersionedTable()
    objects = InMemoryObjects()
    summaries = InMemorySummaries(lambda: table.items.values())
    ingestor = Ingestor(
        objects, table, InMemoryReceipts(), summaries, logger, metrics, clock=lambda: NOW
    )
    objects.objects[(BUCKET, "today.csv")] = b"store,item,count\nBerlin,Apples,6\n"
    objects.objects[(BUCKET, "yesterday.csv")] = b"store,item,count\nBerlin,Apples,0\n"
    ingestor.ingest(ObjectRef(BUCKET, "today.csv", "02", event_time="2024-05-02T08:00:00Z"))

    # When yesterday's event arrives only now
    late = ingestor.ingest(
        ObjectRef(BUCKET, "yesterday.csv", "01", event_time="2024-05-01T08:00:00Z")
    )

    # Then its row is stale: the count stays 6, and no change was made (so no alert)
    assert (late.rows_written, late.rows_stale) == (0, 1)
    assert table.items[("Berlin", "Apples")][config.ATTR_COUNT] == {"N": "6"}
    assert len(table.changes) == 1


def test_an_event_whose_key_was_re_uploaded_is_superseded(world: World) -> None:
    # Given a key re-uploaded since the event was sent (S3 holds the newer body)
    world.objects.objects[(BUCKET, "k.csv")] = b"store,item,count\ns,i,1\n"
    old = ObjectRef(BUCKET, "k.csv", "01", etag="an-older-etag", event_time=NOW)

    # When the old event arrives
    receipt = world.ingestor.ingest(old)

    # Then nothing of it is applied: the newer upload's own event loads the key
    assert receipt.superseded
    assert receipt.rows_written == 0
    assert world.inventory.calls == []


def test_a_file_over_the_size_limit_is_rejected_without_being_read(world: World) -> None:
    obj = ObjectRef(
        BUCKET, "huge.csv", "01", size=ingest_module.MAX_OBJECT_BYTES + 1, event_time=NOW
    )

    receipt = world.ingestor.ingest(obj)

    assert receipt.status == "rejected"
    assert "file too large" in (receipt.reason or "")
    assert world.objects.reads == []


class ClosableChunks:
    """Chunks that remember whether they were read or closed."""

    def __init__(self, data: bytes) -> None:
        self._chunks = iter([data])
        self.read = False
        self.closed = False

    def __iter__(self) -> ClosableChunks:
        return self

    def __next__(self) -> bytes:
        self.read = True
        return next(self._chunks)

    def close(self) -> None:
        self.closed = True


def test_an_object_opened_for_an_upload_already_applied_is_closed_unread(world: World) -> None:
    # Given an upload already applied
    obj = world.upload("stores/berlin.csv", b"store,item,count\nBerlin,Apples,5\n")
    world.ingestor.ingest(obj)
    opened: list[ClosableChunks] = []

    def reopen(bucket: str, key: str, etag: str = "") -> ClosableChunks:
        opened.append(ClosableChunks(world.objects.objects[(bucket, key)]))
        return opened[-1]

    world.objects.open = reopen  # type: ignore[method-assign,assignment]

    # When its event is delivered again
    world.ingestor.ingest(obj)

    # Then the object opened meanwhile is closed without being read
    assert [(c.read, c.closed) for c in opened] == [(False, True)]
