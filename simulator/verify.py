"""Compare what the pipeline did with what the manifest says it should have done.

Receipts (per file), the table (per store) and the NoStock messages a subscriber received
are each compared; every difference is listed, and any difference makes the exit non-zero.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import env, observe
from inventory.receipts import MAX_ERRORS_KEPT
from simulator.manifest import Manifest
from simulator.state import UploadState

RECEIVED_NAME = "alerts-received.jsonl"
AlertKey = tuple[str, str, int | None, str]  # store, item, previous_count, source_key


@dataclass
class Differences:
    """Every way the pipeline's result differs from the manifest, by kind."""

    by_kind: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        self.by_kind.setdefault(kind, []).append(detail)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_kind.values())


def expected_alerts(manifest: Manifest, before: dict[tuple[str, str], int]) -> list[AlertKey]:
    """The manifest's alerts, adjusted for what the table held before the upload.

    The manifest assumes the run's items are new. An item already in the table changes only
    its first alert: already 0 means no alert (0 over 0); above 0 means a known previous count.
    """
    seen: set[tuple[str, str]] = set()
    result: list[AlertKey] = []
    for alert in manifest.alerts:
        key = (alert.store, alert.item)
        previous = alert.previous_count
        if previous is None and key not in seen and key in before:
            if before[key] == 0:
                seen.add(key)
                continue
            previous = before[key]
        seen.add(key)
        result.append((alert.store, alert.item, previous, alert.source_key))
    return result


def _alert_key(body: dict[str, Any]) -> AlertKey:
    return (body["store"], body["item"], body.get("previous_count"), body.get("source_key", ""))


def collect_alerts(
    run_dir: Path, state: UploadState, expected: int, timeout_s: float, quiet_s: float
) -> list[dict[str, Any]]:
    """Drain the run's queue into alerts-received.jsonl until enough arrived and all is quiet."""
    path = run_dir / RECEIVED_NAME
    received = (
        [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []
    )
    deadline = time.monotonic() + timeout_s
    last_message = time.monotonic()
    with path.open("a", encoding="utf-8") as sink:
        while time.monotonic() < deadline:
            if len(received) >= expected and time.monotonic() - last_message >= quiet_s:
                break
            bodies = observe.receive_alerts(state.queue_url)
            for body in bodies:
                received.append(body)
                sink.write(json.dumps(body, ensure_ascii=False) + "\n")
            if bodies:
                last_message = time.monotonic()
    return received


def compare_receipts(manifest: Manifest, outputs: dict[str, str], diff: Differences) -> None:
    for entry in manifest.files:
        receipts = observe.receipts_for(outputs["ReceiptsTableName"], entry.key)
        if not receipts:
            diff.add("missing receipt", entry.key)
            continue
        got, want = receipts[-1], entry.expect
        lines = [int(e["line"]) for e in got.get("errors", [])]
        checks = {
            "status": (got["status"], want.status),
            "rows_written": (got["rows_written"], want.rows_written),
            "rows_rejected": (got["rows_rejected"], want.rows_rejected),
            "duplicates": (got.get("duplicates", 0), want.duplicates),
            "rejected lines": (lines, want.rejected_lines[:MAX_ERRORS_KEPT]),
        }
        for name, (actual, expected) in checks.items():
            if actual != expected:
                diff.add(
                    "receipt mismatch", f"{entry.key}: {name} is {actual}, expected {expected}"
                )
        if want.reason_contains and want.reason_contains not in (got.get("reason") or ""):
            diff.add(
                "receipt mismatch",
                f"{entry.key}: reason {got.get('reason')!r} lacks {want.reason_contains!r}",
            )


def compare_table(
    manifest: Manifest,
    outputs: dict[str, str],
    before: dict[tuple[str, str], int],
    diff: Differences,
) -> None:
    expected = dict(before)
    expected.update({(s, i): c for s, i, c in manifest.final_state})
    for store in manifest.stores:
        actual = observe.counts(outputs["TableName"], store)
        for key in sorted(set(expected) | set(actual)):
            if key[0] != store:
                continue
            if key not in actual:
                diff.add("missing row", f"{key[0]} / {key[1]} (expected {expected[key]})")
            elif key not in expected:
                diff.add("extra row", f"{key[0]} / {key[1]} = {actual[key]}")
            elif actual[key] != expected[key]:
                diff.add(
                    "mismatched row",
                    f"{key[0]} / {key[1]}: {actual[key]}, expected {expected[key]}",
                )


def compare_alerts(
    expected: list[AlertKey], received: list[dict[str, Any]], diff: Differences
) -> None:
    want, got = Counter(expected), Counter(_alert_key(b) for b in received)
    for key, n in (want - got).items():
        diff.add(
            "missing alert",
            f"{key[0]} / {key[1]} from {key[3]} (previous {key[2]})" + (f" x{n}" if n > 1 else ""),
        )
    for key, n in (got - want).items():
        diff.add(
            "extra alert",
            f"{key[0]} / {key[1]} from {key[3]} (previous {key[2]})" + (f" x{n}" if n > 1 else ""),
        )
    for body in received:
        if body.get("_store_attribute") != body["store"]:
            diff.add(
                "mismatched alert",
                f"store attribute {body.get('_store_attribute')!r} != {body['store']!r}",
            )


def verify_run(
    run_dir: Path,
    outputs: dict[str, str],
    console: Console,
    timeout_s: float = 120.0,
    quiet_s: float = 3.0,
) -> Differences:
    """Check receipts, table and alerts; print the differences and return them."""
    manifest = Manifest.load(run_dir)
    state = UploadState.load(run_dir)
    before = {(s, i): c for s, i, c in state.before}
    expected = expected_alerts(manifest, before)
    diff = Differences()
    with console.status(f"Collecting NoStock messages ({len(expected)} expected) ..."):
        received = collect_alerts(run_dir, state, len(expected), timeout_s, quiet_s)
    with console.status("Comparing receipts and table ..."):
        compare_receipts(manifest, outputs, diff)
        compare_table(manifest, outputs, before, diff)
    compare_alerts(expected, received, diff)
    show(console, manifest, expected, received, diff)
    return diff


def show(
    console: Console,
    manifest: Manifest,
    expected: list[AlertKey],
    received: list[dict[str, Any]],
    diff: Differences,
) -> None:
    overview = Table(title="Verify: pipeline vs manifest")
    for column in ("checked", "expected", "differences"):
        overview.add_column(column, justify="left" if column == "checked" else "right")

    def count(*kinds: str) -> str:
        return str(sum(len(diff.by_kind.get(kind, [])) for kind in kinds))

    overview.add_row(
        "receipts", str(len(manifest.files)), count("missing receipt", "receipt mismatch")
    )
    overview.add_row(
        "table rows",
        str(len(manifest.final_state)),
        count("missing row", "extra row", "mismatched row"),
    )
    overview.add_row(
        f"NoStock alerts ({len(received)} received)",
        str(len(expected)),
        count("missing alert", "extra alert", "mismatched alert"),
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
    env.client("sns").unsubscribe(SubscriptionArn=state.subscription_arn)
    env.client("sqs").delete_queue(QueueUrl=state.queue_url)
