"""Large files: the loader's peak memory for 1, 10 and 100 MB files, and a 100 MB file through
the deployed pipeline.

Memory: each file is loaded by the loader's own code (`Ingestor` with the S3 and DynamoDB
adapters the function uses), in a fresh process of its own, from a scratch bucket into
scratch tables (no stream, so nothing downstream is fed), and the process's peak resident
memory is read from the kernel (`ru_maxrss`). The figure before loading (interpreter, boto3,
powertools) is reported apart, so the loader's own share shows.

Pipeline: the largest file is uploaded to the deployed bucket and timed until its receipt,
so the real function, its timeout and the emulator's stream all take part. Its rows stay in
the Inventory table (they are a fresh store each run, every count above 0, so no alert).

`inventory bench-large [--sizes 1 10 100] [--no-pipeline]`; writes reports/latest/large.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from inventory import config

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
DEFAULT_SIZES = (1, 10, 100)
PIPELINE_TIMEOUT_S = 16 * 60  # a little over Lambda's 15 minutes: a timeout must show


def write_csv(path: Path, size_mb: float, store: str) -> int:
    """A valid inventory file of about `size_mb` MB (about 40 bytes a row); its row count.

    Every (store, item) is distinct and every count is at least 1, so each row is written.
    """
    target = int(size_mb * MB)
    rows = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("store,item,count\n")
        written = 17
        while written < target:
            block = "".join(
                f"{store}-{n % 100:02d},sku-{n:010d}-organic,{1 + n % 97}\n"
                for n in range(rows, rows + 10_000)
            )
            out.write(block)
            written += len(block)
            rows += 10_000
    return rows


@contextmanager
def scratch_bucket(s3: Any, prefix: str = "large-files") -> Iterator[str]:
    """A bucket for a measurement, `<prefix>-<hex>`, emptied and deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)


def probe(
    bucket: str, key: str, size: int, table: str, receipts: str, summaries: str
) -> dict[str, Any]:
    """Run the loader's code on one object in a fresh process; its receipt and memory."""
    command = [
        sys.executable, "-m", "loadtests.loader_probe",
        "--bucket", bucket, "--key", key, "--size", str(size),
        "--table", table, "--receipts", receipts, "--summaries", summaries,
    ]  # fmt: skip
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=environ, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"the loader probe failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_memory(
    files: Sequence[tuple[float, Path, int]], console: Console
) -> list[dict[str, Any]]:
    """Each file loaded by the loader's code in its own process: rows/s and peak memory."""
    from harness import env
    from loadtests.raw_writes import scratch_table

    s3, dynamodb = env.client("s3"), env.client("dynamodb")
    results = []
    receipt_keys = (config.ATTR_OBJECT_KEY, config.ATTR_RECEIPT_ID)
    with (
        scratch_bucket(s3) as bucket,
        scratch_table(dynamodb) as table,
        scratch_table(dynamodb, receipt_keys, "large-receipts") as receipts,
        scratch_table(dynamodb, (config.ATTR_STORE,), "large-summaries") as summaries,
    ):
        for size_mb, path, rows in files:
            key = path.name
            s3.upload_file(str(path), bucket, key)
            with _status(console, f"loading {size_mb:g} MB ({rows:,} rows) in a probe"):
                result = probe(bucket, key, path.stat().st_size, table, receipts, summaries)
            results.append({"size_mb": size_mb, "bytes": path.stat().st_size} | result)
    return results


def through_pipeline(path: Path, rows: int, console: Console) -> dict[str, Any]:
    """Upload one file to the deployed bucket and time it until its receipt."""
    from harness import env, stack
    from harness.observe import Observer

    outputs = stack.running()
    observer = Observer(outputs)
    key = f"bench-large/{uuid.uuid4().hex[:8]}/{path.name}"
    started = time.perf_counter()
    with _status(console, f"uploading {path.name} to the deployed bucket"):
        env.client("s3").upload_file(str(path), outputs.bucket_name, key)
    uploaded = time.perf_counter()
    with _status(console, f"waiting for {path.name}'s receipt (at most {PIPELINE_TIMEOUT_S} s)"):
        receipt = observer.wait_for_receipt(key, timeout_s=PIPELINE_TIMEOUT_S, poll_s=2.0)
    if receipt is None:
        dead = key in observer.dead_lettered_keys()
        raise RuntimeError(
            f"no receipt for {key} in {PIPELINE_TIMEOUT_S} s"
            + (" (its event is in LoadInventoryFailures)" if dead else "")
        )
    return {
        "key": key,
        "bytes": path.stat().st_size,
        "rows": rows,
        "status": receipt.status,
        "rows_written": receipt.rows_written,
        "upload_s": uploaded - started,
        "loader_s": receipt.duration_ms / 1000,
        "until_receipt_s": time.perf_counter() - uploaded,
        "rows_per_s": receipt.rows_written / (receipt.duration_ms / 1000),
    }


@contextmanager
def _status(console: Console, text: str) -> Iterator[None]:
    columns = (SpinnerColumn(), TextColumn(text), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(text, total=None)
        yield


def show(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="The loader's peak memory (its own process, scratch tables)")
    for name in ("file", "rows", "rows/s", "before loading", "peak", "peak - before"):
        table.add_column(name, justify="right")
    for r in report["memory"]:
        table.add_row(
            f"{r['size_mb']:g} MB", f"{r['rows_written']:,}", f"{r['rows_per_s']:,.0f}",
            f"{r['rss_before_mb']:.0f} MB", f"{r['rss_peak_mb']:.0f} MB",
            f"{r['rss_peak_mb'] - r['rss_before_mb']:.0f} MB",
        )  # fmt: skip
    console.print(table)
    pipeline = report.get("pipeline")
    if pipeline:
        console.print(
            f"Through the deployed pipeline: {pipeline['bytes'] / MB:.0f} MB, "
            f"{pipeline['rows_written']:,} of {pipeline['rows']:,} rows {pipeline['status']}, "
            f"loader {pipeline['loader_s']:.0f} s ({pipeline['rows_per_s']:,.0f} rows/s), "
            f"receipt {pipeline['until_receipt_s']:.0f} s after the upload "
            f"(Lambda allows 900 s)."
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory bench-large`."""
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=list(DEFAULT_SIZES), metavar="MB",
        help="file sizes to measure, in MB (default: 1 10 100)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pipeline", action="store_true",
        help="only the memory probes; do not send the largest file through the pipeline",
    )  # fmt: skip
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder")


def command(args: argparse.Namespace) -> int:
    from harness import env, stack

    console = Console()
    if any(size <= 0 for size in args.sizes):
        console.print("[red]error:[/] --sizes must be above 0")
        return 2
    env.use_emulator_defaults()
    stack.running()  # starts the emulator (and deploys) when needed
    store = f"large-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="inventory-large-") as folder:
        files = []
        for size_mb in sorted(args.sizes):
            path = Path(folder) / f"inventory-{size_mb:g}MB.csv"
            with _status(console, f"writing {path.name}"):
                files.append((size_mb, path, write_csv(path, size_mb, store)))
        report: dict[str, Any] = {"memory": measure_memory(files, console)}
        if not args.no_pipeline:
            size_mb, path, rows = files[-1]
            report["pipeline"] = through_pipeline(path, rows, console)
    show(console, report)
    out = args.reports / "latest" / "large.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"Written to {out}")
    return 0
