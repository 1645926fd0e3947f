"""The deployed stack on the emulator, end to end: S3 -> Load-Inventory -> table -> NoStock."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness import emulator, env
from inventory.csv_format import parse_inventory

from .conftest import Pipeline

pytestmark = pytest.mark.integration

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample-data"


def csv_bytes(
    rows: Sequence[tuple[str, str, object]], *, bom: bool = False, crlf: bool = False
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["store", "item", "count"])
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8")


def renamed_sample(path: Path, pipeline: Pipeline) -> tuple[str, bytes]:
    """A sample file with its store renamed to one no other run has touched."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    store = pipeline.unique(rows[1][0])
    return store, csv_bytes([(store, item, count) for _, item, count in rows[1:]])


@pytest.mark.parametrize("path", sorted(SAMPLE_DATA.glob("*.csv")), ids=lambda p: p.stem)
def test_sample_file_lands_with_its_values_and_one_alert_per_zero(
    pipeline: Pipeline, path: Path
) -> None:
    # Given a sample store file under a fresh store name
    store, body = renamed_sample(path, pipeline)
    expected = {row.item: row.count for row in parse_inventory(body).rows}
    key = f"it/{pipeline.run_id}/{path.name}"
    # When it is uploaded
    receipt = pipeline.upload_and_wait(key, body)
    # Then every row is in the table, stamped with its source, and each zero alerts once
    assert receipt.status == "loaded"
    assert receipt.rows_written == len(expected)
    items = pipeline.items(store)
    assert {i["Item"]: int(i["Count"]) for i in items} == expected
    assert {i["SourceKey"] for i in items} == {key}
    assert all(i["UpdatedAt"] for i in items)
    zeros = sorted(item for item, count in expected.items() if count == 0)
    alerts = pipeline.alerts_for_store(store, expected=len(zeros))
    assert sorted(a.body["item"] for a in alerts) == zeros
    assert all(a.body["previous_count"] is None and a.body["source_key"] == key for a in alerts)

    # When the same file is uploaded again, Then nothing alerts: 0 over 0 is not news
    pipeline.upload_and_wait(key, body)
    assert len(pipeline.alerts_for_store(store, expected=len(zeros) + 1, timeout_s=3)) == len(zeros)


def test_count_going_5_0_0_7_0_alerts_exactly_twice(pipeline: Pipeline) -> None:
    store = pipeline.unique("Sequence")
    for step, count in enumerate([5, 0, 0, 7, 0]):
        pipeline.upload_and_wait(
            f"it/{store}/step-{step}.csv", csv_bytes([(store, "Echo Dot", count)])
        )
    alerts = pipeline.alerts_for_store(store, expected=2)
    assert [a.body["previous_count"] for a in alerts] == [5, 7]
    assert [a.body["source_key"] for a in alerts] == [
        f"it/{store}/step-1.csv",
        f"it/{store}/step-4.csv",
    ]


def test_bad_rows_are_rejected_by_line_and_good_rows_still_load(pipeline: Pipeline) -> None:
    store = pipeline.unique("Mixed")
    body = (
        "store,item,count\n"
        f"{store},Kindle,4\n"
        f"{store},Echo Show,-2\n"
        f"{store},Echo Plus\n"
        f"{store},Fire TV,lots\n"
        f",Echo Spot,1\n"
        f"{store},Echo Look,9\n"
    ).encode()
    receipt = pipeline.upload_and_wait(f"it/{store}/mixed.csv", body)
    assert receipt.status == "loaded"
    assert receipt.rows_written == 2
    assert receipt.rows_rejected == 4
    assert [e.line for e in receipt.errors] == [3, 4, 5, 6]
    assert "count must be >= 0" in receipt.errors[0].reason
    assert pipeline.counts(store) == {"Kindle": 4, "Echo Look": 9}


def test_file_without_header_is_rejected_whole_and_the_next_file_loads(pipeline: Pipeline) -> None:
    store = pipeline.unique("NoHeader")
    rejected = pipeline.upload_and_wait(
        f"it/{store}/no-header.csv", f"{store},Kindle,4\n{store},Echo,0\n".encode()
    )
    assert rejected.status == "rejected"
    assert "header must be store,item,count" in (rejected.reason or "")
    assert rejected.rows_written == 0
    assert pipeline.counts(store) == {}
    loaded = pipeline.upload_and_wait(f"it/{store}/good.csv", csv_bytes([(store, "Kindle", 4)]))
    assert loaded.status == "loaded"
    assert pipeline.counts(store) == {"Kindle": 4}


def test_empty_object_is_rejected_with_a_reason(pipeline: Pipeline) -> None:
    receipt = pipeline.upload_and_wait(f"it/{pipeline.unique('empty')}/empty.csv", b"")
    assert receipt.status == "rejected"
    assert "empty file" in (receipt.reason or "")


def test_key_with_spaces_plus_and_non_ascii_is_decoded(pipeline: Pipeline) -> None:
    store = pipeline.unique("Köln")
    key = f"it/{store}/März Bestand+Ü (1).csv"
    receipt = pipeline.upload_and_wait(key, csv_bytes([(store, "Echo", 3)]))
    assert receipt.object_key == key
    assert pipeline.items(store)[0]["SourceKey"] == key


def test_bom_crlf_quoted_commas_and_non_ascii_load_exactly(pipeline: Pipeline) -> None:
    store = pipeline.unique("São Paulo, Centro")
    rows = [
        (store, 'Echo "Studio", 2nd gen', 3),
        (store, "Çay bardağı, 6'lı", 12),
        (store, "東京タワー模型", 0),
        (store, "Straße", 7),
    ]
    receipt = pipeline.upload_and_wait(
        f"it/{store}/messy.csv", csv_bytes(rows, bom=True, crlf=True)
    )
    assert receipt.status == "loaded" and receipt.rows_rejected == 0
    assert pipeline.counts(store) == {item: count for _, item, count in rows}


def test_twenty_thousand_rows_load_completely(pipeline: Pipeline) -> None:
    store = pipeline.unique("Warehouse")
    rows = [(store, f"SKU-{n:05d}", n % 50) for n in range(20_000)]
    receipt = pipeline.upload_and_wait(f"it/{store}/big.csv", csv_bytes(rows), timeout_s=180)
    assert receipt.status == "loaded"
    assert receipt.rows_written == 20_000
    pages = (
        env.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=pipeline.outputs.table_name,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "Store"},
            ExpressionAttributeValues={":s": {"S": store}},
            Select="COUNT",
        )
    )
    total = sum(page["Count"] for page in pages)
    assert total == 20_000


def test_functions_run_on_the_declared_runtime_from_their_own_bundles(pipeline: Pipeline) -> None:
    lambda_client = env.client("lambda")
    outputs = pipeline.outputs
    for name in (outputs.load_inventory_function_name, outputs.check_stock_function_name):
        config = lambda_client.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == f"python{emulator.RUNTIME_PYTHON}"
    if not emulator.PID_FILE.exists():
        pytest.skip("the emulator was not started by this project; its interpreter is unknown")
    python = emulator.VENV / "bin" / "python"
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert version == emulator.RUNTIME_PYTHON
    # powertools is not in the emulator's interpreter: the functions import it from their asset
    missing = subprocess.run([str(python), "-c", "import aws_lambda_powertools"], check=False)
    assert missing.returncode != 0


def test_zz_every_uploaded_object_is_accounted_for(pipeline: Pipeline) -> None:
    # Defined last, so it runs last: every upload has exactly one receipt per PUT.
    assert pipeline.uploaded, "the other tests uploaded nothing"
    for key in set(pipeline.uploaded):
        receipts = pipeline.observer.receipts(key)
        assert len(receipts) == pipeline.uploaded.count(key), key
    # and nothing this session did ended in a dead-letter queue
    assert pipeline.observer.dead_letter_depths() == pipeline.dead_letters_before
