"""Compare what the pipeline did with what the manifest says it should have done.

Receipts (per file), the table (per store) and the NoStock messages a subscriber received
are each compared; every difference is listed, and any difference makes the exit non-zero.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.observe import (
    ALERT_KINDS,
    RECEIPT_KINDS,
    ROW_KINDS,
    Alert,
    AlertInbox,
    AlertKey,
    Differences,
    Expected,
    ItemKey,
    Observer,
    diff,
    observe,
)
from infra.outputs import StackOutputs
from inventory.stock import alert_due
from simulator.manifest import Manifest
from simulator.state import UploadState

RECEIVED_NAME = "alerts-received.jsonl"


def expected_alerts(manifest: Manifest, before: dict[ItemKey, int]) -> list[AlertKey]:
    """The manifest's alerts, adjusted for what the table held before the upload.

    The manifest assumes the run's items are new. An item already in the table changes only
    its first alert, by the stock rule: already 0 means no alert (0 over 0); above 0 means a
    known previous count.
    """
    seen: set[ItemKey] = set()
    result: list[AlertKey] = []
    for alert in manifest.alerts:
        key = (alert.store, alert.item)
        previous = alert.previous_count
        if previous is None and key not in seen and key in before:
            previous = before[key]
            if not alert_due(previous, 0):
                seen.add(key)
                continue
        seen.add(key)
        result.append((alert.store, alert.item, previous, alert.source_key))
    return result


def expected_outcome(manifest: Manifest, before: dict[ItemKey, int]) -> Expected:
    """What the run should leave: the table as before plus the manifest's final state, its
    alerts, and each file's receipt as the manifest describes it."""
    table = dict(before)
    table.update({(s, i): c for s, i, c in manifest.final_state})
    return Expected(
        table=table,
        alerts=expected_alerts(manifest, before),
        receipts={entry.key: entry.expect for entry in manifest.files},
    )


def collect_alerts(
    run_dir: Path, inbox: AlertInbox, expected: int, timeout_s: float, quiet_s: float
) -> list[Alert]:
    """Drain the run's inbox into alerts-received.jsonl until enough arrived and all is quiet.

    The file keeps what earlier `verify` calls drained, so a second call sees every alert.
    """
    path = run_dir / RECEIVED_NAME
    received = (
        [Alert.from_json(json.loads(line)) for line in path.read_text("utf-8").splitlines()]
        if path.exists()
        else []
    )
    deadline = time.monotonic() + timeout_s
    last_message = time.monotonic()
    with path.open("a", encoding="utf-8") as sink:
        while time.monotonic() < deadline:
            if len(received) >= expected and time.monotonic() - last_message >= quiet_s:
                break
            alerts = inbox.receive()
            for alert in alerts:
                received.append(alert)
                sink.write(json.dumps(alert.as_json(), ensure_ascii=False) + "\n")
            if alerts:
                last_message = time.monotonic()
    return received


def _inbox(state: UploadState) -> AlertInbox:
    return AlertInbox(state.queue_url, state.subscription_arn)


def verify_run(
    run_dir: Path,
    outputs: StackOutputs,
    console: Console,
    timeout_s: float = 120.0,
    quiet_s: float = 3.0,
) -> Differences:
    """Check receipts, table and alerts; print the differences and return them."""
    manifest = Manifest.load(run_dir)
    state = UploadState.load(run_dir)
    before = {(s, i): c for s, i, c in state.before}
    expected = expected_outcome(manifest, before)
    with console.status(f"Collecting NoStock messages ({len(expected.alerts)} expected) ..."):
        received = collect_alerts(run_dir, _inbox(state), len(expected.alerts), timeout_s, quiet_s)
    with console.status("Comparing receipts and table ..."):
        observed = observe(Observer(outputs), expected, received, manifest.stores)
    differences = diff(expected, observed)
    show(console, manifest, expected, received, differences)
    return differences


def show(
    console: Console,
    manifest: Manifest,
    expected: Expected,
    received: list[Alert],
    diff: Differences,
) -> None:
    """An overview (checked, expected, differences), then each kind's first 20 details."""
    overview = Table(title="Verify: pipeline vs manifest")
    for column in ("checked", "expected", "differences"):
        overview.add_column(column, justify="left" if column == "checked" else "right")

    overview.add_row("receipts", str(len(manifest.files)), str(len(diff.of(*RECEIPT_KINDS))))
    overview.add_row("table rows", str(len(manifest.final_state)), str(len(diff.of(*ROW_KINDS))))
    overview.add_row(
        f"NoStock alerts ({len(received)} received)",
        str(len(expected.alerts)),
        str(len(diff.of(*ALERT_KINDS))),
    )
    console.print(overview)
    for kind, details in diff.by_kind.items():
        listing = Table(title=f"{kind} ({len(details)})", show_header=False)
        listing.add_column()
        for detail in details[:20]:
            listing.add_row(detail)
        if len(details) > 20:
            listing.add_row(f"... and {len(details) - 20} more")
        console.print(listing)
    colour = "green" if diff.total == 0 else "red"
    console.print(f"[bold {colour}]{diff.total} differences[/]")


def cleanup(state: UploadState) -> None:
    """Remove the run's alert subscription and queue (after a clean verify)."""
    _inbox(state).close()
