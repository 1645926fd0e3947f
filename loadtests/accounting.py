"""End-of-run accounting: every upload has a receipt or a dead letter; rows and alerts match.

Expected rows and alerts are replayed from the files actually uploaded, in their order, over
what the table held for those stores before the run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from harness import env, observe
from inventory.csv_format import parse_inventory
from loadtests.tracker import FileTiming

AlertKey = tuple[str, str, int | None, str]


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

    @property
    def ok(self) -> bool:
        return not (self.lost or self.row_differences or self.missing_alerts or self.extra_alerts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "receipts": self.receipts,
            "dead_lettered": len(self.dead_lettered),
            "lost_files": len(self.lost),
            "row_differences": len(self.row_differences),
            "missing_alerts": len(self.missing_alerts),
            "extra_alerts": len(self.extra_alerts),
            "ok": self.ok,
            "examples": {
                "lost": self.lost[:10],
                "dead_lettered": self.dead_lettered[:10],
                "rows": self.row_differences[:10],
                "missing_alerts": self.missing_alerts[:10],
                "extra_alerts": self.extra_alerts[:10],
            },
        }


def dead_lettered_keys(queue_url: str) -> set[str]:
    """Object keys named by the S3 events in the loader's on-failure queue (left in place)."""
    sqs = env.client("sqs")
    keys: set[str] = set()
    for _ in range(20):  # bounded: each receive returns up to 10
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            for record in _records(message.get("Body", "")):
                keys.add(unquote_plus(record.get("s3", {}).get("object", {}).get("key", "")))
    return keys


def _records(body: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    payload = data.get("requestPayload", data)
    records = payload.get("Records", []) if isinstance(payload, dict) else []
    return [r for r in records if isinstance(r, dict)]


def account(
    files: list[FileTiming],
    bodies_dir: Path,
    prefix: str,
    before: dict[tuple[str, str], int],
    alerts_received: list[dict[str, Any]],
    outputs: dict[str, str],
) -> Accounting:
    """Check the run against what was uploaded (files in the order they were started)."""
    result = Accounting()
    # One receipts query per file. A PUT that failed on the client may still have landed,
    # so whatever has a receipt counts as uploaded.
    receipted = {
        f.key: bool(observe.receipts_for(outputs["ReceiptsTableName"], f.key)) for f in files
    }
    uploaded = [
        f
        for f in files
        if (f.put_ms is not None and not (f.error or "").startswith("PUT")) or receipted[f.key]
    ]
    result.uploaded = len(uploaded)
    dead = dead_lettered_keys(outputs["LoadInventoryFailuresQueueUrl"])
    expected = dict(before)
    expected_alerts: list[AlertKey] = []
    for timing in uploaded:
        if receipted[timing.key]:
            result.receipts += 1
        elif timing.key in dead:
            result.dead_lettered.append(timing.key)
            continue
        else:
            result.lost.append(timing.key)
            continue
        body = (bodies_dir / timing.key.removeprefix(prefix + "/")).read_bytes()
        for row in parse_inventory(body).rows:
            previous = expected.get(row.key)
            if row.count == 0 and (previous is None or previous > 0):
                expected_alerts.append((row.store, row.item, previous, timing.key))
            expected[row.key] = row.count
    stores = {f.store for f in uploaded}
    for store in sorted(stores):
        actual = observe.counts(outputs["TableName"], store)
        want = {k: v for k, v in expected.items() if k[0] == store}
        for key in sorted(set(want) | set(actual)):
            if actual.get(key) != want.get(key):
                result.row_differences.append(
                    f"{key[0]} / {key[1]}: table {actual.get(key)}, expected {want.get(key)}"
                )
    ours = {f.key for f in uploaded}
    got = Counter(
        (a["store"], a["item"], a.get("previous_count"), a["source_key"])
        for a in alerts_received
        if a.get("source_key") in ours
    )
    want_alerts = Counter(expected_alerts)
    result.missing_alerts = [f"{k[0]} / {k[1]} from {k[3]}" for k in (want_alerts - got)]
    result.extra_alerts = [f"{k[0]} / {k[1]} from {k[3]}" for k in (got - want_alerts)]
    return result
