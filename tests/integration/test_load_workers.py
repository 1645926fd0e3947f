"""`inventory load --workers 2`: locust's distributed mode, with the accounting still exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Pipeline
from .test_load_smoke import run_short_load

pytestmark = pytest.mark.integration


def test_two_workers_upload_and_the_master_accounts_for_every_file(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # Given the deployed stack, When a master and two worker processes run a short steady
    # load, with repeated and late deliveries injected on the master, Then it exits 0
    latest = run_short_load(
        tmp_path, "workers", "--workers", "2", "--faults", "duplicate=0.1,late=0.05"
    )
    summary = json.loads((latest / "summary.json").read_text())
    accounting = summary["accounting"]
    assert accounting["ok"] is True and summary["lost_files"] == 0
    # every file both workers uploaded is in the master's figures and its accounting
    generator = summary["generator"]
    assert generator["workers"] == 2
    started = generator["files_started_per_worker"]
    assert len(started) == 2 and min(started) > 0, generator
    assert summary["files_uploaded"] == accounting["uploaded"] == sum(started)
    assert accounting["receipts"] + accounting["dead_lettered"] == accounting["uploaded"]
    assert summary["files_ingested"] == summary["files_uploaded"]
    assert summary["alerts_received"] == summary["alerts_expected"]
    assert summary["ingest_ms"]["p99"] is not None
    records = [json.loads(line) for line in (latest / "files.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if r["ingest_ms"] is not None) == summary["files_ingested"]
    # the workers' PUTs reach locust's merged statistics on the master
    stats = (latest / "locust_stats.csv").read_text()
    assert "S3,PUT" in stats and "INGEST,receipt" in stats
    assert all((latest / f"worker-{n}.log").exists() for n in (1, 2))
