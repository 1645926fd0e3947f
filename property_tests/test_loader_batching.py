"""Load-Inventory's batching: whatever DynamoDB answers, every row is written once or failed.

The fake DynamoDB answers each call as hypothesis picks: any subset of the batch left in
`UnprocessedItems`, or a throttling error. Sleeping is a no-op that records the delays.
"""

from __future__ import annotations

import functools
import io
import math
from collections import Counter

import pytest
from aws_lambda_powertools import Logger, Metrics
from hypothesis import event, example, given
from hypothesis import strategies as st

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, Backoff, write_all
from inventory.csv_format import parse_inventory
from inventory.receipts import LOADED, ObjectRef, Receipt
from load_inventory import ingest
from load_inventory.aws import DynamoInventory
from load_inventory.ingest import Ingestor, RowsNotWrittenError
from tests.support.chaos import ChaosBatchStore, ChaosDynamoClient
from tests.support.fakes import (
    InMemoryObjects,
    InMemoryReceipts,
    InMemorySummaries,
    RecordingSleep,
)

pytestmark = pytest.mark.property

TABLE = "Inventory"
BUCKET = "uploads"
backoffs = st.builds(
    Backoff,
    attempts=st.integers(1, 8),
    base_s=st.floats(0, 1),
    cap_s=st.floats(0, 5),
)


# --- write_all against a BatchStore ---------------------------------------------------------


@given(n=st.integers(0, 120), backoff=backoffs, data=st.data())
def test_every_item_is_written_exactly_once_or_reported_failed(
    n: int, backoff: Backoff, data: st.DataObject
) -> None:
    # Given items and a store that throttles or leaves any items unprocessed, as it likes
    items = [{"id": i} for i in range(n)]
    store = ChaosBatchStore(data)
    sleep = RecordingSleep()

    # When they are written
    outcome = write_all(store, items, backoff, sleep)

    # Then no batch exceeds 25 items (nor is empty) ...
    assert all(1 <= len(batch) <= MAX_BATCH_ITEMS for batch in store.batches)
    # ... every item is written once or failed, never both, and nothing else is written
    failed = Counter(item["id"] for item in outcome.failed)
    assert all(times == 1 for times in store.writes.values())
    assert all(times == 1 for times in failed.values())
    assert not set(store.writes) & set(failed)
    assert set(store.writes) | set(failed) == set(range(n))
    # ... and the outcome says so
    assert outcome.written == sum(store.writes.values())
    assert outcome.batches == len(store.batches)
    # Every retry waited a jittered delay within the cap.
    assert len(sleep.delays) == outcome.retries
    assert all(0 <= delay <= backoff.cap_s for delay in sleep.delays)


@given(attempt=st.integers(min_value=0), backoff=backoffs, rand=st.floats(0, 1, exclude_max=True))
# Bug 2: from attempt 1024 on, `base_s * 2**attempt` raised OverflowError (int too large to
# convert to float), so a Backoff with that many attempts crashed the load instead of waiting.
@example(attempt=1024, backoff=Backoff(attempts=2000), rand=0.5)
def test_a_backoff_delay_is_between_zero_and_the_cap(
    attempt: int, backoff: Backoff, rand: float
) -> None:
    delay = backoff.delay(attempt, lambda: rand)
    assert math.isfinite(delay)
    assert 0 <= delay <= backoff.cap_s


# --- the Ingestor end to end, through the DynamoDB adapter ----------------------------------

names = st.text(st.sampled_from('abcé漢,"'), min_size=1, max_size=4)


@st.composite
def inventory_files(draw: st.DrawFn) -> bytes:
    """A file of up to 120 rows (several batches), with some duplicates and bad rows."""
    lines = ["store,item,count"]
    for _ in range(draw(st.integers(0, 120))):
        store, item = draw(names), draw(names)
        count = draw(st.integers(-1, 50))
        lines.append(",".join('"' + f.replace('"', '""') + '"' for f in (store, item, str(count))))
    return ("\n".join(lines) + "\n").encode("utf-8")


LOGGER = Logger(service="property-load-inventory", stream=io.StringIO())
METRICS = Metrics(namespace="PropertyTests", service="property-load-inventory")


@given(data=st.data(), file=inventory_files())
def test_the_ingestor_writes_every_row_once_or_fails_without_a_receipt(
    data: st.DataObject, file: bytes
) -> None:
    # Given an uploaded file and a DynamoDB that throttles or leaves items unprocessed
    ref = ObjectRef(
        BUCKET,
        "stores/berlin/2026-01-05/inventory-00000.csv",
        "0001",
        event_time="2026-01-05T10:00:00Z",
    )
    client = ChaosDynamoClient(data, TABLE)
    receipts = InMemoryReceipts()
    ingestor = Ingestor(
        InMemoryObjects({(BUCKET, ref.key): file}),
        DynamoInventory(client, TABLE),
        receipts,
        InMemorySummaries(),
        LOGGER,
        METRICS,
        clock=lambda: "2026-01-05T10:00:00.000+00:00",
        concurrency=1,  # hypothesis draws every answer: one thread, so examples replay
    )
    rows = {row.key: row for row in parse_inventory(file).rows}
    METRICS.clear_metrics()

    # When the file is ingested (retries sleep for no time)
    no_sleep = functools.partial(write_all, sleep=RecordingSleep())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingest, "write_all", no_sleep)
        try:
            receipt: Receipt | None = ingestor.ingest(ref)
        except RowsNotWrittenError as exc:
            receipt, error = None, str(exc)

    # Then no request exceeded 25 items, no row was written twice, nothing else was written
    assert all(1 <= size <= MAX_BATCH_ITEMS for size in client.request_sizes)
    assert all(times == 1 for times in client.writes.values())
    assert set(client.items) <= set(rows)
    for key, item in client.items.items():
        assert item[config.ATTR_COUNT] == {"N": str(rows[key].count)}
        assert item[config.ATTR_SOURCE_KEY] == {"S": ref.key}
    # ... and the invocation fails, with no receipt, exactly when some row was not written
    missing = set(rows) - set(client.items)
    event("some rows not written" if missing else "every row written")
    if missing:
        assert receipt is None and receipts.receipts == []
        assert error.startswith(f"{len(missing)} rows of {ref.key} were not written")
    else:
        assert receipt is not None and receipts.receipts == [receipt]
        assert receipt.status == LOADED
        assert receipt.rows_written == len(rows)
