"""End-of-run accounting: every upload has a receipt or a dead letter; rows and alerts match.

Expected rows and alerts are replayed (`harness.observe.Expected`) from the files actually
uploaded, in their order, over what the table held for those stores before the run; the
comparison is `harness.observe.diff`, the same one `simulator verify` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.observe import ROW_KINDS, Alert, Expected, ItemKey, Observer, diff, observe
from infra.outputs import StackOutputs
from inventory.csv_format import parse_inventory
from loadtests.tracker import FileTiming


@dataclass
class Accounting:
    """What the run lost or got wrong; `ok` only when every list is empty."""

    uploaded: int = 0
    receipts: int = 0
    dead_lettered: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    row_differences: list[str] = field(default_factory=list)
    missing_alerts: list[str] = field(default_factory=list)
    extra_alerts: list[str] = field(default_factory=list)
    mismatched_alerts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.row_differences
            or self.missing_alerts
            or self.extra_alerts
            or self.mismatched_alerts
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "receipts": self.receipts,
            "dead_lettered": len(self.dead_lettered),
            "lost_files": len(self.lost),
            "row_differences": len(self.row_differences),
            "missing_alerts": len(self.missing_alerts),
            "extra_alerts": len(self.extra_alerts),
            "mismatched_alerts": len(self.mismatched_alerts),
            "ok": self.ok,
            "examples": {
                "lost": self.lost[:10],
                "dead_lettered": self.dead_lettered[:10],
                "rows": self.row_differences[:10],
                "missing_alerts": self.missing_alerts[:10],
                "extra_alerts": self.extra_alerts[:10],
            },
        }


def account(
    files: list[FileTiming],
    bodies_dir: Path,
    prefix: str,
    before: dict[ItemKey, int],
    alerts_received: list[Alert],
    outputs: StackOutputs,
) -> Accounting:
    """Check the run against what was uploaded (files in the order they were started)."""
    observer = Observer(outputs)
    # One receipts query per file. A PUT that failed on the client may still have landed,
    # so whatever has a receipt counts as uploaded.
    receipts = observer.newest_receipts(f.key for f in files)
    uploaded = [
        f
        for f in files
        if (f.put_ms is not None and not (f.error or "").startswith("PUT"))
        or receipts[f.key] is not None
    ]
    # Only the stores of the uploaded files are compared (the run's files touch no others).
    stores = {f.store for f in uploaded}
    expected = Expected(table={k: v for k, v in before.items() if k[0] in stores})
    for timing in uploaded:
        if receipts[timing.key] is None:
            expected.receipts[timing.key] = None  # accounted for below: lost or dead-lettered
            continue
        body = (bodies_dir / timing.key.removeprefix(prefix + "/")).read_bytes()
        expected.apply(timing.key, parse_inventory(body).rows)
    observed = observe(
        observer,
        expected,
        alerts_received,
        stores,
        receipts={f.key: receipts[f.key] for f in uploaded},
    )
    found = diff(expected, observed)
    return Accounting(
        uploaded=len(uploaded),
        receipts=sum(1 for f in uploaded if receipts[f.key] is not None),
        dead_lettered=found.of("dead-lettered"),
        lost=found.of("missing receipt"),
        row_differences=found.of(*ROW_KINDS),
        missing_alerts=found.of("missing alert"),
        extra_alerts=found.of("extra alert"),
        mismatched_alerts=found.of("mismatched alert"),
    )
