"""A short locust run against the deployed stack: every file accounted for, reports written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Pipeline

pytestmark = pytest.mark.integration

CONTRACT_KEYS = {
    "ingest_ms",
    "alert_ms",
    "files_per_s",
    "rows_per_s",
    "files_uploaded",
    "lost_files",
}


def run_short_load(reports: Path, label: str, *more: str) -> Path:
    """A 12 s steady load of 20-row files at 60x; asserts exit 0; its report folder."""
    command = [
        sys.executable, "-m", "loadtests", "run", "--shape", "steady", "--duration", "12",
        "--speedup", "60", "--rows", "20", "--reports", str(reports), "--label", label, *more,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=os.environ.copy(), check=False
    )
    # It exits 0 only when the accounting found nothing lost or wrong.
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return reports / "latest"


def test_short_steady_run_loses_nothing_and_writes_its_reports(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # Given the deployed stack (the fixture), When locust runs a short steady load,
    # Then it exits 0 (nothing lost or wrong), with its reports
    latest = run_short_load(tmp_path, "smoke")
    summary = json.loads((latest / "summary.json").read_text())
    assert summary.keys() >= CONTRACT_KEYS
    assert set(summary["ingest_ms"]) >= {"p50", "p95", "p99"}
    assert summary["files_uploaded"] > 0
    assert summary["lost_files"] == 0
    assert summary["accounting"]["ok"] is True
    assert summary["alerts_received"] == summary["alerts_expected"]
    for name in ("report.html", "locust.html", "locust_stats.csv", "files.jsonl"):
        assert (latest / name).exists(), name
    assert "SLO" in (latest / "report.html").read_text()
