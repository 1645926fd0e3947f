"""`make demo`: upload sample-data/ to the deployed stack and show what happened, measured."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import env
from harness.measure import describe
from harness.observe import Alert, Expected, Observer
from infra.outputs import StackOutputs
from inventory.csv_format import parse_inventory
from inventory.receipts import Receipt

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample-data"


@dataclass
class FileRun:
    """One uploaded file: what the pipeline did with it and how long each step took."""

    key: str
    started: float = 0.0  # time.perf_counter() just before the PUT
    put_ms: float = 0.0
    ingest_ms: float | None = None
    receipt: Receipt | None = None
    expected_alerts: int = 0
    alert_ms: list[float] = field(default_factory=list)


def upload_and_measure(observer: Observer, path: Path, prefix: str) -> FileRun:
    """Upload one file, then wait until its receipt is visible (one consistent Query / 10 ms)."""
    data = path.read_bytes()
    run = FileRun(key=f"{prefix}/{path.name}")
    rows = parse_inventory(data).rows
    expected = Expected(table=observer.counts_of(row.store for row in rows))
    run.expected_alerts = len(expected.apply(run.key, rows))
    run.started = time.perf_counter()
    env.client("s3").put_object(Bucket=observer.outputs.bucket_name, Key=run.key, Body=data)
    run.put_ms = (time.perf_counter() - run.started) * 1000
    run.receipt = observer.wait_for_receipt(run.key)
    if run.receipt is not None:
        run.ingest_ms = (time.perf_counter() - run.started) * 1000
    return run


def run_demo(outputs: StackOutputs, console: Console | None = None) -> list[FileRun]:
    """Upload every sample file one at a time and print the results."""
    console = console or Console()
    observer = Observer(outputs)
    files = sorted(SAMPLE_DATA.glob("*.csv"))
    prefix = f"demo/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    runs: list[FileRun] = []
    with observer.inbox() as inbox:
        with console.status("Uploading sample-data/ ...") as status:
            for path in files:
                status.update(f"Uploading {path.name} and waiting for its receipt ...")
                runs.append(upload_and_measure(observer, path, prefix))
            status.update("Waiting for the NoStock messages ...")
            for run in runs:
                alerts = inbox.wait_for(run.key, run.expected_alerts)
                run.alert_ms = [(a.received_at - run.started) * 1000 for a in alerts]
        alerts = [a for a in inbox.snapshot() if a.source_key.startswith(prefix)]
    show(console, observer, runs, alerts)
    return runs


def show(console: Console, observer: Observer, runs: list[FileRun], alerts: list[Alert]) -> None:
    """Three tables (files, stores, messages) and the measured latencies."""
    outputs = observer.outputs
    prefix = runs[0].key.rsplit("/", 1)[0] if runs else ""
    per_file = Table(title=f"Files under s3://{outputs.bucket_name}/{prefix}/")
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
            r.status if r else "NO RECEIPT",
            str(r.rows_written) if r else "-",
            str(r.rows_rejected) if r else "-",
            f"{run.put_ms:.0f}",
            f"{run.ingest_ms:.0f}" if run.ingest_ms is not None else "timeout",
            f"{len(run.alert_ms)}/{run.expected_alerts}",
            ", ".join(f"{ms:.0f}" for ms in run.alert_ms) or "-",
        )
    console.print(per_file)

    table = observer.counts()
    stores = Table(title=f"Inventory table ({outputs.table_name})")
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
        f"[bold]Measured on this machine[/] (ms, p50 / p95 / p99): upload -> rows visible "
        f"{describe(ingest)}; upload -> NoStock received {describe(alert_ms)}; "
        f"{len(alert_ms)} of {expected} expected alerts, "
        f"{sum(1 for r in runs if r.receipt)} of {len(runs)} receipts."
    )
