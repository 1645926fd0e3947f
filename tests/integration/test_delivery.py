"""Delivery guarantees on the deployed stack: late and repeated events, an SNS outage, a poison
record, and re-drive. The faults are the harness's own (harness.faults), as a user rehearses them.

Absence is checked with a barrier, not a sleep: the table's stream is processed in order, so
once a later change to the same store has alerted, anything an earlier change could have
sent has been sent too.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

import pytest
from rich.console import Console

from harness import env, faults, redrive
from harness.observe import Alert
from inventory.receipts import Receipt

from .conftest import Pipeline
from .test_pipeline import csv_bytes

pytestmark = pytest.mark.integration

DEAD_LETTER_WAIT_S = 150.0  # the mapping's 60 s age limit, plus the emulator's retry pace


def invoke_loader(pipeline: Pipeline, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver an S3 event to Load-Inventory synchronously; the receipts it answers with."""
    response = env.client("lambda").invoke(
        FunctionName=pipeline.outputs.load_inventory_function_name,
        Payload=json.dumps(event).encode(),
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    receipts: list[dict[str, Any]] = payload["receipts"]
    return receipts


def barrier(pipeline: Pipeline, store: str, seen: int) -> list[Alert]:
    """Upload one more change to `store` that alerts and wait for it; then every alert the
    store's earlier changes could cause has arrived. Returns the store's alerts before it."""
    item = f"barrier-{uuid.uuid4().hex[:6]}"
    pipeline.upload_and_wait(f"it/{pipeline.run_id}/{item}.csv", csv_bytes([(store, item, 0)]))
    alerts = pipeline.alerts_for_store(store, expected=seen + 1, timeout_s=60)
    assert item in {a.body["item"] for a in alerts}, f"the barrier's alert never came: {alerts}"
    return [a for a in alerts if a.body["item"] != item]


def test_a_late_event_for_an_older_snapshot_neither_regresses_nor_alerts_again(
    pipeline: Pipeline,
) -> None:
    # Given yesterday's snapshot (Apples ran out, one alert) and today's restock to 6
    store = pipeline.unique("late")
    yesterday = pipeline.upload_and_wait(
        f"it/{pipeline.run_id}/{store}/yesterday.csv", csv_bytes([(store, "Apples", 0)])
    )
    assert len(pipeline.alerts_for_store(store, expected=1)) == 1
    pipeline.upload_and_wait(
        f"it/{pipeline.run_id}/{store}/today.csv", csv_bytes([(store, "Apples", 6)])
    )

    # When yesterday's event arrives late: again, and as a first delivery S3 held back
    # (an event of the same upload time that the loader has never seen)
    again = invoke_loader(pipeline, faults.s3_event(yesterday))
    held_back = dataclasses.replace(yesterday, receipt_id=f"{yesterday.receipt_id}F")
    late = invoke_loader(pipeline, faults.s3_event(held_back))
    pipeline.uploaded.append(yesterday.object_key)  # an upload of its own: it has a receipt

    # Then the repeat is answered with the first receipt, the late one is all stale,
    assert again[0]["receipt_id"] == yesterday.receipt_id
    assert again[0]["rows_written"] == 1
    assert (late[0]["rows_written"], late[0]["rows_stale"]) == (0, 1)
    # Apples stay restocked, and no second alert was sent
    assert pipeline.counts(store) == {"Apples": 6}
    assert [a.body["item"] for a in barrier(pipeline, store, seen=1)] == ["Apples"]


def test_a_repeated_event_does_nothing(pipeline: Pipeline) -> None:
    # Given an upload applied once (Figs ran out)
    store = pipeline.unique("repeat")
    key = f"it/{pipeline.run_id}/{store}.csv"
    receipt = pipeline.upload_and_wait(key, csv_bytes([(store, "Figs", 0), (store, "Kiwis", 3)]))
    items_before = pipeline.items(store)

    # When S3 delivers its event twice more
    answers = [invoke_loader(pipeline, faults.s3_event(receipt))[0] for _ in range(2)]

    # Then both get the first receipt, the table is untouched, and there is one receipt and
    # one alert
    assert {a["processed_at"] for a in answers} == {receipt.processed_at}
    assert pipeline.items(store) == items_before
    assert pipeline.observer.receipts(key) == [receipt]
    assert [a.body["item"] for a in barrier(pipeline, store, seen=1)] == ["Figs"]


def test_a_ten_second_sns_outage_loses_no_alert_and_duplicates_none(pipeline: Pipeline) -> None:
    store = pipeline.unique("outage")
    depths_before = pipeline.observer.dead_letter_depths()
    # Given NoStock unreachable from Check-Stock for 10 s
    with faults.sns_outage(pipeline.outputs, 10.0) as until:
        # When three items run out during it
        rows = [(store, f"item-{n}", 0) for n in range(3)]
        pipeline.upload_and_wait(f"it/{pipeline.run_id}/{store}.csv", csv_bytes(rows))
        assert time.time() < until, "the upload outlasted the outage; nothing was tested"
    # Then each alert arrives once SNS answers again, exactly once, and nothing is dead-lettered
    alerts = pipeline.alerts_for_store(store, expected=3, timeout_s=90)
    assert sorted(a.body["item"] for a in barrier(pipeline, store, seen=3)) == [
        "item-0",
        "item-1",
        "item-2",
    ]
    assert len(alerts) == 3
    assert pipeline.observer.dead_letter_depths() == depths_before


def wait_for_depth(pipeline: Pipeline, queue: str, at_least: int) -> None:
    deadline = time.monotonic() + DEAD_LETTER_WAIT_S
    while pipeline.observer.dead_letter_depths()[queue] < at_least:
        assert time.monotonic() < deadline, f"nothing reached {queue} in {DEAD_LETTER_WAIT_S} s"
        time.sleep(1.0)


def redrive_now(pipeline: Pipeline, queue: str) -> redrive.QueueResult:
    """`inventory redrive` for one queue, as a user runs it once the cause is fixed."""
    [result] = redrive.redrive(redrive.Targets.of(pipeline.outputs), [queue], Console(quiet=True))
    return result


def test_a_poison_record_reaches_check_stock_failures_and_comes_home_by_re_drive(
    pipeline: Pipeline,
) -> None:
    store = pipeline.unique("poison")
    queue = "CheckStockFailuresQueueUrl"
    depth = pipeline.observer.dead_letter_depths()[queue]
    # Given SNS refusing every alert of one store (a record that fails however often it is
    # retried)
    with faults.sns_reject_store(pipeline.outputs, store):
        pipeline.upload_and_wait(
            f"it/{pipeline.run_id}/{store}.csv", csv_bytes([(store, "Pears", 0)])
        )
        # Then its batch is queued in CheckStockFailures within the mapping's age limit
        wait_for_depth(pipeline, queue, depth + 1)
    assert pipeline.alerts_for_store(store, expected=1, timeout_s=2) == []

    # And once the cause is gone, re-driving the queue sends the alert, once
    result = redrive_now(pipeline, redrive.CHECKER_QUEUE)

    assert result.ok, result
    assert [a.body["item"] for a in barrier(pipeline, store, seen=1)] == ["Pears"]
    assert pipeline.observer.dead_letter_depths()[queue] == depth


def test_re_drive_brings_a_dead_lettered_file_home(pipeline: Pipeline) -> None:
    store = pipeline.unique("redrive")
    key = f"it/{pipeline.run_id}/{store}.csv"
    # Given a file whose every write was throttled, so its event was dead-lettered
    with faults.dynamodb_throttle(pipeline.outputs, 1.0):
        pipeline.upload(key, csv_bytes([(store, "Plums", 0), (store, "Limes", 4)]))
        deadline = time.monotonic() + DEAD_LETTER_WAIT_S
        while key not in pipeline.observer.dead_lettered_keys():
            assert time.monotonic() < deadline, f"{key} was never dead-lettered"
            time.sleep(1.0)
    assert pipeline.observer.receipts(key) == []

    # When the queue is re-driven
    result = redrive_now(pipeline, redrive.LOADER_QUEUE)

    # Then the file is home: one receipt, its rows, its alert, and it left the queue
    assert result.ok, result
    [receipt] = pipeline.observer.receipts(key)
    assert isinstance(receipt, Receipt) and receipt.rows_written == 2
    assert pipeline.counts(store) == {"Plums": 0, "Limes": 4}
    assert [a.body["item"] for a in barrier(pipeline, store, seen=1)] == ["Plums"]
    assert key not in pipeline.observer.dead_lettered_keys()
