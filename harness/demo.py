"""`make demo`: upload sample-data/ to the deployed stack and show what happened, measured."""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import env, observe
from inventory.csv_format import parse_inventory
from inventory.stock import alert_due

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample-data"


@dataclass
class FileRun:
    """One uploaded file: what the pipeline did with it and how long each step took."""

    key: str
    started: float = 0.0  # time.perf_counter() just before the PUT
    put_ms: float = 0.0
    ingest_ms: float | None = None
    receipt: dict = field(default_factory=dict)
    expected_alerts: int = 0
    alert_ms: list[float] = field(default_factory=list)


def expected_alerts(table: str, data: bytes) -> int:
    """How many NoStock messages this file should cause, given the table as it is now."""
    parsed = parse_inventory(data)
    before: dict[tuple[str, str], int] = {}
    for store in {row.store for row in parsed.rows}:
        before.update(observe.counts(table, store))
    return sum(alert_due(before.get(row.key), row.count) for row in parsed.rows)


def upload_and_measure(outputs: dict[str, str], path: Path, prefix: str) -> FileRun:
    """Upload one file, then wait until its receipt is visible (one consistent Query / 10 ms)."""
    data = path.read_bytes()
    run = FileRun(key=f"{prefix}/{path.name}")
    run.expected_alerts = expected_alerts(outputs["TableName"], data)
    run.started = time.perf_counter()
    env.client("s3").put_object(Bucket=outputs["BucketName"], Key=run.key, Body=data)
    run.put_ms = (time.perf_counter() - run.started) * 1000
    receipts = observe.wait_for_receipts(outputs["ReceiptsTableName"], run.key)
    if receipts:
        run.ingest_ms = (time.perf_counter() - run.started) * 1000
        run.receipt = receipts[-1]
    return run


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {statistics.median(values):.0f} ms, max {max(values):.0f} ms"


def run_demo(outputs: dict[str, str], console: Console | None = None) -> list[FileRun]:
    """Upload every sample file one at a time and print the results."""
    console = console or Console()
    files = sorted(SAMPLE_DATA.glob("*.csv"))
    prefix = f"demo/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    runs: list[FileRun] = []
    with observe.AlertInbox(outputs["TopicArn"]) as inbox:
        with console.status("Uploading sample-data/ ...") as status:
            for path in files:
                status.update(f"Uploading {path.name} and waiting for its receipt ...")
                runs.append(upload_and_measure(outputs, path, prefix))
            status.update("Waiting for the NoStock messages ...")
            for run in runs:
                alerts = inbox.wait_for(run.key, run.expected_alerts)
                run.alert_ms = [(a.received_at - run.started) * 1000 for a in alerts]
        alerts = [
            a for a in inbox.snapshot() if str(a.body.get("source_key", "")).startswith(prefix)
        ]
    show(console, outputs, runs, alerts)
    return runs


def show(
    console: Console, outputs: dict[str, str], runs: list[FileRun], alerts: list[observe.Alert]
) -> None:
    prefix = runs[0].key.rsplit("/", 1)[0] if runs else ""
    per_file = Table(title=f"Files under s3://{outputs['BucketName']}/{prefix}/")
    for column in (
        "file",
        "status",
        "rows",
        "rejected",
        "PUT ms",
        "ingest ms",
        "alerts",
        "alert ms",
    ):
        per_file.add_column(column, justify="left" if column in {"file", "status"} else "right")
    for run in runs:
        r = run.receipt
        per_file.add_row(
            run.key.rsplit("/", 1)[-1],
            str(r.get("status", "NO RECEIPT")),
            str(r.get("rows_written", "-")),
            str(r.get("rows_rejected", "-")),
            f"{run.put_ms:.0f}",
            f"{run.ingest_ms:.0f}" if run.ingest_ms is not None else "timeout",
            f"{len(run.alert_ms)}/{run.expected_alerts}",
            ", ".join(f"{ms:.0f}" for ms in run.alert_ms) or "-",
        )
    console.print(per_file)

    table = observe.counts(outputs["TableName"])
    stores = Table(title=f"Inventory table ({outputs['TableName']})")
    for column in ("store", "items", "units", "out of stock"):
        stores.add_column(
            column, justify="left" if column in {"store", "out of stock"} else "right"
        )
    for store in sorted({s for s, _ in table}):
        items = {i: c for (s, i), c in table.items() if s == store}
        empty = sorted(i for i, c in items.items() if c == 0)
        stores.add_row(store, str(len(items)), str(sum(items.values())), ", ".join(empty) or "-")
    console.print(stores)

    messages = Table(title=f"NoStock messages received through SQS ({len(alerts)})")
    for column in ("store (attribute)", "item", "previous count", "source file"):
        messages.add_column(column)
    for alert in sorted(alerts, key=lambda a: (a.body["store"], a.body["item"])):
        previous = alert.body.get("previous_count")
        messages.add_row(
            str(alert.store_attribute),
            alert.body["item"],
            "new item" if previous is None else str(previous),
            str(alert.body.get("source_key", "")).rsplit("/", 1)[-1],
        )
    console.print(messages)

    ingest = [r.ingest_ms for r in runs if r.ingest_ms is not None]
    alert_ms = [ms for r in runs for ms in r.alert_ms]
    expected = sum(r.expected_alerts for r in runs)
    console.print(
        f"[bold]Measured on this machine:[/] upload -> rows visible {_ms(ingest)}; "
        f"upload -> NoStock received {_ms(alert_ms)}; "
        f"{len(alert_ms)} of {expected} expected alerts, "
        f"{sum(1 for r in runs if r.receipt)} of {len(runs)} receipts."
    )
