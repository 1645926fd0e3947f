"""A small simulated run, uploaded to the deployed stack, verifies with zero differences."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from simulator.generate import MessyRates, generate
from simulator.upload import Pace, upload_run
from simulator.verify import verify_run

from .conftest import Pipeline

pytestmark = pytest.mark.integration


def test_simulated_run_of_20_stores_over_3_days_verifies_clean(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # Given 20 stores over 3 days, with every messy mode switched on now and then
    run_dir = tmp_path / "run"
    manifest = generate(
        run_dir, files=60, rows=25, seed=20261125, stores=20, days=3,
        messy=MessyRates.parse("all=0.1"),
    )  # fmt: skip
    console = Console(file=io.StringIO(), width=120)
    # When it is uploaded store by store
    state = upload_run(run_dir, pipeline.outputs, Pace(), concurrency=4, console=console)
    pipeline.uploaded.extend(u.key for u in state.uploads)  # the session's accounting covers it
    # Then the table, the receipts and the alerts are exactly what the manifest says
    diff = verify_run(run_dir, pipeline.outputs, console, timeout_s=60)
    assert diff.by_kind == {}, console.file.getvalue()  # type: ignore[attr-defined]
    assert len(state.uploads) == len(manifest.files) == 60
