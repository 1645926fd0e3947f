"""Store summaries: whatever files arrive, in whatever order and however often, each store's
summary is a recount of its rows in the table.

The real Ingestor loads files of several stores through a table fake with the loader's
version condition and an in-memory StoreSummaries with the put's condition; a dict model
applies the same files once each in upload order. After every delivery, each summary must
count exactly the store's rows of the model (items, items at 0), and its `UpdatedAt` must be
the newest of the store's rows.
"""

from __future__ import annotations

import io
from itertools import count

import pytest
from aws_lambda_powertools import Logger, Metrics
from hypothesis import given, note
from hypothesis import strategies as st

from inventory import config
from inventory.receipts import ObjectRef
from inventory.summaries import StoreSummary
from load_inventory.ingest import Ingestor
from tests.support.fakes import (
    InMemoryObjects,
    InMemoryReceipts,
    InMemorySummaries,
    VersionedTable,
    etag_of,
)

pytestmark = pytest.mark.property

BUCKET = "uploads"
STORES = ("Berlin", "Köln", "New York")
ITEMS = ("apples", "figs", "pears")
LOGGER = Logger(service="property-summaries", stream=io.StringIO())
METRICS = Metrics(namespace="PropertyTests", service="property-summaries")

Row = tuple[str, str, int]  # store, item, count


files = st.lists(
    st.lists(
        st.tuples(st.sampled_from(STORES), st.sampled_from(ITEMS), st.integers(0, 2)),
        max_size=6,
    ),
    min_size=1,
    max_size=5,
)


def upload(number: int, rows: list[Row]) -> tuple[ObjectRef, bytes]:
    body = ("store,item,count\n" + "".join(f"{s},{i},{n}\n" for s, i, n in rows)).encode()
    ref = ObjectRef(
        BUCKET,
        f"uploads/file-{number}.csv",
        receipt_id=f"{number + 1:018X}",
        etag=etag_of(body),
        event_time=f"2026-01-05T10:00:{number:02d}.000Z",
    )
    return ref, body


def model(batch: list[list[Row]]) -> dict[str, dict[str, int]]:
    """Each store's items and counts, the files applied once each in upload order."""
    stores: dict[str, dict[str, int]] = {}
    for rows in batch:
        for store, item, n in rows:
            stores.setdefault(store, {})[item] = n
    return stores


@given(batch=files, data=st.data())
def test_every_summary_is_a_recount_of_its_store_after_any_deliveries(
    batch: list[list[Row]], data: st.DataObject
) -> None:
    # Given files of several stores, delivered in any order, some more than once
    repeats = data.draw(st.lists(st.sampled_from(range(len(batch))), max_size=len(batch)))
    order = data.draw(st.permutations([*range(len(batch)), *repeats]))  # each at least once
    note(f"files {batch}, delivered in the order {order}")
    refs = [upload(number, rows) for number, rows in enumerate(batch)]
    objects = InMemoryObjects({(BUCKET, ref.key): body for ref, body in refs})
    table = VersionedTable()
    kept = InMemorySummaries(lambda: table.items.values())
    ticks = count(1)
    ingestor = Ingestor(
        objects,
        table,
        InMemoryReceipts(),
        kept,
        LOGGER,
        METRICS,
        clock=lambda: f"2026-01-05T11:00:{next(ticks):02d}.000+00:00",
        concurrency=1,
        summary_clock=lambda: f"2026-01-05T12:00:00.{next(ticks):06d}+00:00",
    )

    # When the loader takes each delivery
    for index in order:
        ingestor.ingest(refs[index][0])
    METRICS.clear_metrics()

    # Then each store with rows has a summary that recounts the model's rows
    expected = model(batch)
    assert set(kept.summaries) == set(expected)
    for store, items in expected.items():
        newest = max(
            stored[config.ATTR_UPDATED_AT]["S"]
            for (name, _), stored in table.items.items()
            if name == store
        )
        assert kept.summaries[store] == StoreSummary(
            store,
            items=len(items),
            out_of_stock=sum(n == 0 for n in items.values()),
            updated_at=newest,
            computed_at=kept.summaries[store].computed_at,
        )


@given(
    summaries=st.lists(
        st.builds(StoreSummary, st.just("Berlin"), st.integers(0, 5), st.integers(0, 5)),
        min_size=1,
    ),
    data=st.data(),
)
def test_whatever_order_refreshes_finish_in_the_last_computed_one_is_kept(
    summaries: list[StoreSummary], data: st.DataObject
) -> None:
    # Given refreshes computed one after another, and put in any order
    computed = [
        StoreSummary(s.store, s.items, s.out_of_stock, computed_at=f"t{n:04}")
        for n, s in enumerate(summaries)
    ]
    kept = InMemorySummaries()

    for summary in data.draw(st.permutations(computed)):
        kept.put(summary)

    # Then the one computed last is what stays
    assert kept.summaries["Berlin"] == computed[-1]
