"""Benchmark the generator: `python -m simulator.bench [--files 10000 --rows 50]`.

Generates a run into a temporary folder (deleted afterwards) the way `generate()` does, and
reports the wall time of each phase, files/s and rows/s. The target is 10,000 files of
50 rows in at most 10 s on a 2-core machine; this prints the figure, it does not enforce it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulator.cliargs import add_int_options
from simulator.generate import MessyRates, make_plan, prepare_out_dir, write_files
from simulator.world import build_world

TARGET_SECONDS = 10.0  # for 10,000 files x 50 rows (README, issue 3)


@dataclass(frozen=True)
class BenchResult:
    """Wall times in seconds of one generated run, and what it produced."""

    world_s: float
    files_s: float
    manifest_s: float
    files: int
    rows: int  # CSV data rows written, rejected ones included (0 for rejected files)
    stores: int
    days: int

    @property
    def total_s(self) -> float:
        return self.world_s + self.files_s + self.manifest_s


def run(
    files: int, rows: int, seed: int, messy: MessyRates, tmp_dir: Path | None = None
) -> BenchResult:
    """Generate one run into a temporary folder, timing each phase; delete the folder."""
    plan = make_plan(files=files, rows=rows, seed=seed, messy=messy)
    tmp = Path(tempfile.mkdtemp(prefix="simulator-bench-", dir=tmp_dir))
    try:
        out = tmp / "run"
        started = time.perf_counter()
        prepare_out_dir(out)
        world = build_world(plan.seed, plan.stores, plan.rows, plan.messy.large)
        built = time.perf_counter()
        manifest = write_files(out, plan, world)
        written = time.perf_counter()
        manifest.save(out)
        saved = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data_rows = sum(
        f.expect.rows_written + f.expect.rows_rejected + f.expect.duplicates for f in manifest.files
    )
    return BenchResult(
        world_s=built - started,
        files_s=written - built,
        manifest_s=saved - written,
        files=len(manifest.files),
        rows=data_rows,
        stores=plan.stores,
        days=plan.days,
    )


def report(result: BenchResult, console: Console, title: str) -> None:
    """Print the phases and rates as a rich table."""
    table = Table(title=title)
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    phases = (
        ("world build (faker pools, catalog, assortments)", result.world_s),
        ("evolve, render and write CSV files", result.files_s),
        ("write manifest.json", result.manifest_s),
    )
    for name, seconds in phases:
        table.add_row(name, f"{seconds:.3f}", f"{seconds / result.total_s:.0%}")
    table.add_row("[bold]total (generate)", f"[bold]{result.total_s:.3f}", "100%")
    console.print(table)
    console.print(
        f"{result.files:,} files ({result.stores:,} stores x {result.days} days), "
        f"{result.rows:,} rows: [bold]{result.files / result.total_s:,.0f} files/s[/], "
        f"[bold]{result.rows / result.total_s:,.0f} rows/s[/]"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory simulate bench`."""
    add_int_options(parser, files=10_000, rows=50, seed=1)
    parser.add_argument("--messy", default="none", help="e.g. 'all=0.05' (default: none)")
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="where to make the temporary folder (default: the system's); e.g. /dev/shm "
        "to leave the disk out of the figure",
    )


def command(args: argparse.Namespace) -> int:
    """Run it with parsed options; the exit code."""
    console = Console()
    try:
        messy = MessyRates.parse(args.messy)
        result = run(args.files, args.rows, args.seed, messy, args.tmp_dir)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    report(
        result,
        console,
        f"generate --files {args.files} --rows {args.rows} --seed {args.seed} --messy {args.messy}",
    )
    if (args.files, args.rows) == (10_000, 50):
        verdict = "within" if result.total_s <= TARGET_SECONDS else "[red]over[/]"
        console.print(f"target: <= {TARGET_SECONDS:.0f} s for 10,000 x 50 rows: {verdict}")
    return 0
