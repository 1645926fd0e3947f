"""Last writer wins: whatever order S3 delivers a store's uploads in, and however often.

A store's uploads are snapshots with increasing event times. Each is delivered at least once,
in any order (S3 guarantees neither order nor uniqueness). The real Ingestor writes through
a table fake that applies the loader's condition (write only over an older version) and
records each change it makes, as the stream would; alerts are the stock rule applied to
those changes, as Check-Stock applies it.

Two properties:
- For any order and duplication, the table ends equal to applying the uploads in upload
  order, no change alerts twice, and no item alerts more often than in upload order (the
  states applied are a subsequence of upload order's, since versions only ever rise).
- When each upload's first delivery comes in upload order (later deliveries are repeats or
  late re-deliveries, anywhere), the alerts are exactly upload order's transitions into 0.
  With first deliveries out of order, an upload whose data is already superseded is never
  applied, so the transitions it would have made never happen: no alert is late or repeated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from aws_lambda_powertools import Logger, Metrics
from hypothesis import given
from hypothesis import strategies as st

from inventory import config
from inventory.csv_format import parse_inventory
from inventory.receipts import ObjectRef
from inventory.stock import alert_due
from inventory.versions import upload_of
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
STORE = "Berlin"
ITEMS = ("apples", "figs", "pears")
LOGGER = Logger(service="property-last-writer-wins", stream=io.StringIO())
METRICS = Metrics(namespace="PropertyTests", service="property-last-writer-wins")


@dataclass(frozen=True)
class Upload:
    body: bytes
    ref: ObjectRef


@st.composite
def uploads(draw: st.DrawFn) -> list[Upload]:
    """1-5 snapshots of one store, in upload (event time) order; some re-use a key."""
    result = []
    for number in range(draw(st.integers(1, 5))):
        rows = draw(st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(0, 2)), max_size=5))
        body = "store,item,count\n" + "".join(f"{STORE},{item},{n}\n" for item, n in rows)
        # Sometimes an earlier day's key again (a re-upload), sometimes a new key.
        day = draw(st.integers(0, number))
        millis = draw(st.integers(0, 999))
        ref = ObjectRef(
            BUCKET,
            f"stores/{STORE}/day-{day}.csv",
            receipt_id=f"{number + 1:018X}",  # S3's sequencers grow with uploads
            etag=etag_of(body.encode()),
            event_time=f"2026-01-05T10:00:{number:02d}.{millis:03d}Z",
        )
        result.append(Upload(body.encode(), ref))
    return result


Alert = tuple[str, int | None, str]  # item, previous count, the upload (receipt id) that made it 0


def in_upload_order(batch: list[Upload]) -> tuple[dict[str, int], list[Alert]]:
    """The table and the alerts when the uploads are applied once each, in upload order."""
    table: dict[str, int] = {}
    alerts = []
    for upload in batch:
        for row in parse_inventory(upload.body).rows:
            previous = table.get(row.item)
            if alert_due(previous, row.count):
                alerts.append((row.item, previous, upload.ref.receipt_id))
            table[row.item] = row.count
    return table, alerts


def deliver(batch: list[Upload], order: list[int]) -> tuple[dict[str, int], list[Alert]]:
    """Deliver the uploads by index in `order` to the real Ingestor; the table and alerts.

    Every upload happened before the first delivery (the events are what is late), so S3
    holds each key's newest body: an event for an older upload of a key finds it replaced.
    """
    objects = InMemoryObjects()
    for upload in batch:  # in upload order: the newest body of each key stays
        objects.objects[(BUCKET, upload.ref.key)] = upload.body
    table = VersionedTable()
    summaries = InMemorySummaries(lambda: table.items.values())
    ingestor = Ingestor(
        objects, table, InMemoryReceipts(), summaries, LOGGER, METRICS, concurrency=1
    )
    for index in order:
        ingestor.ingest(batch[index].ref)
    METRICS.clear_metrics()
    alerts = []
    for old, new in table.changes:
        previous = int(old[config.ATTR_COUNT]["N"]) if old else None
        if alert_due(previous, int(new[config.ATTR_COUNT]["N"])):
            sequencer = upload_of(new[config.ATTR_VERSION]["S"]).split("|")[1][-18:]
            alerts.append((new[config.ATTR_ITEM]["S"], previous, sequencer))
    counts = {item: int(v[config.ATTR_COUNT]["N"]) for (_, item), v in table.items.items()}
    return counts, alerts


@st.composite
def deliveries(draw: st.DrawFn, size: int, first_in_order: bool) -> list[int]:
    """Every upload delivered 1-3 times; the order of first deliveries is upload order or any."""
    firsts = list(range(size)) if first_in_order else draw(st.permutations(range(size)))
    order = list(firsts)
    for index in range(size):
        for _ in range(draw(st.integers(0, 2))):  # repeats, inserted after the first delivery
            after = order.index(index) + 1
            order.insert(draw(st.integers(after, len(order))), index)
    return order


def current_uploads(batch: list[Upload]) -> list[Upload]:
    """The uploads still current when the events arrive: those whose key still holds their
    body (the loader skips an event whose key was re-uploaded since, as superseded; S3 tells
    a re-upload apart by its ETag, so one of the same bytes is still current)."""
    newest = {upload.ref.key: upload.ref.etag for upload in batch}
    return [upload for upload in batch if newest[upload.ref.key] == upload.ref.etag]


@given(data=st.data(), batch=uploads())
def test_any_order_and_duplication_ends_as_upload_order_and_never_alerts_late_or_twice(
    data: st.DataObject, batch: list[Upload]
) -> None:
    # Given a store's uploads, delivered in any order, some more than once
    order = data.draw(deliveries(len(batch), first_in_order=False), label="order")

    # When the loader applies each delivery
    table, alerts = deliver(batch, order)

    # Then the table is upload order's, and each alert is one upload order sends, once
    expected_table, expected_alerts = in_upload_order(current_uploads(batch))
    assert table == expected_table
    # The states applied are a subsequence of upload order's (versions only ever rise), so
    # an item cannot run out more often than in upload order; and no change alerts twice.
    for item in ITEMS:
        assert sum(a[0] == item for a in alerts) <= sum(a[0] == item for a in expected_alerts)
    assert len(alerts) == len(set(alerts))


@given(data=st.data(), batch=uploads())
def test_first_deliveries_in_upload_order_alert_exactly_as_upload_order(
    data: st.DataObject, batch: list[Upload]
) -> None:
    # Given a store's uploads whose first deliveries come in order, with repeats and late
    # re-deliveries anywhere after them
    order = data.draw(deliveries(len(batch), first_in_order=True), label="order")

    # When the loader applies each delivery
    table, alerts = deliver(batch, order)

    # Then the table and the alerts are exactly upload order's
    assert (table, alerts) == in_upload_order(current_uploads(batch))
