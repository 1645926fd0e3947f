"""The lab-style baseline, deployed beside ours: it loads like the lab and alerts like the lab.

The baseline (`-c variant=baseline`, InventoryBaselineStack) is the "before" that `make bench`
measures. Its NEW_IMAGE stream cannot tell "became 0" from "was already 0", so re-uploading a
file alerts again for each zero: the duplicate alert ours does not send.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import pytest

from harness import stack
from harness.observe import Alert, Observer

from .conftest import Pipeline

pytestmark = pytest.mark.integration


def csv_bytes(rows: Sequence[tuple[str, str, object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["store", "item", "count"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def baseline(pipeline: Pipeline) -> Iterator[Pipeline]:
    """InventoryBaselineStack on the session's emulator, with an SQS inbox on its topic."""
    outputs = stack.running("baseline", redeploy=True)
    assert outputs.bucket_name != pipeline.outputs.bucket_name  # its own stack
    with Observer(outputs).inbox() as inbox:
        yield Pipeline(outputs=outputs, inbox=inbox, run_id=pipeline.run_id)


def test_baseline_loads_rows_and_writes_a_receipt_like_ours(baseline: Pipeline) -> None:
    # Given a file with a bad count between two good rows
    store = baseline.unique("Baseline")
    key = f"it/baseline/{store}/inventory.csv"
    body = csv_bytes([(store, "Echo Dot", 4), (store, "Kindle", "many"), (store, "Fire TV", 0)])
    # When it is uploaded to the baseline's bucket
    receipt = baseline.upload_and_wait(key, body)
    # Then the good rows are in its table, stamped like ours, and the bad one was dropped
    assert receipt.status == "loaded"
    assert (receipt.rows_written, receipt.rows_rejected) == (2, 1)
    assert [error.line for error in receipt.errors] == [3]
    items = baseline.items(store)
    assert {i["Item"]: int(i["Count"]) for i in items} == {"Echo Dot": 4, "Fire TV": 0}
    assert {i["SourceKey"] for i in items} == {key}
    assert all(i["UpdatedAt"] for i in items)


def upload_twice(variant: Pipeline, name: str) -> tuple[str, list[Alert]]:
    """Upload a file with one zero, then the same file again; return its store and alerts."""
    store = variant.unique(name)
    key = f"it/baseline/{store}/inventory.csv"
    body = csv_bytes([(store, "Echo Dot", 0), (store, "Kindle", 3)])
    variant.upload_and_wait(key, body)
    assert len(variant.alerts_for_store(store, expected=1)) == 1, "no alert for the first zero"
    variant.upload_and_wait(key, body)
    alerts = variant.alerts_for_store(store, expected=2, timeout_s=5)
    assert {a.body["source_key"] for a in alerts} == {key}
    return store, alerts


def test_reuploading_a_file_alerts_again_on_the_baseline(baseline: Pipeline) -> None:
    # Given a file with one zero, uploaded to the baseline, When it is uploaded again unchanged
    store, alerts = upload_twice(baseline, "Rerun-baseline")
    # Then the baseline alerted on both writes of the zero, 0 over 0 included: a duplicate
    assert [a.body["item"] for a in alerts] == ["Echo Dot", "Echo Dot"]
    # in our message shape, with no previous count (a NEW_IMAGE record carries none)
    for alert in alerts:
        assert alert.store_attribute == alert.body["store"] == store
        assert alert.body["count"] == 0 and alert.body["previous_count"] is None
        assert alert.body["updated_at"]


def test_the_same_reupload_alerts_once_on_ours(pipeline: Pipeline) -> None:
    # The contrast `make bench` reports: ours sees the old image and skips 0 over 0.
    _, alerts = upload_twice(pipeline, "Rerun-ours")
    assert [a.body["item"] for a in alerts] == ["Echo Dot"]
