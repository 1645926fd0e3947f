"""`inventory load`: a headless locust run against the pipeline, with reports.

`python -m loadtests run ...` is the same command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXAMPLES = """
examples:
  inventory load --shape steady --duration 180 --speedup 100
  inventory load --shape ramp --duration 240 --ramp-start 2 --ramp-factor 1.5
  inventory load --shape spike --duration 120 --spike-peak 30
  inventory load --endpoint http://127.0.0.1:4566 ...   # any emulator
  inventory load --aws ...       # a real AWS deployment (uses your AWS credentials)
  inventory load --faults duplicate=0.05,late=0.02,sns-outage=10,throttle=0.2
  inventory load --workers 2     # locust's distributed mode: a master and 2 worker processes
  inventory load --aws --expect-workers 4 --master-bind-host 0.0.0.0 --master-port 5557
      # and on each other machine: locust -f loadtests/locustfile.py --worker --master-host HOST

Reports go to reports/<run>/ and reports/latest/: report.html (plots, SLO verdict),
summary.json, locust's CSV and HTML, and files.jsonl (every file's timings).
"""


MAX_LOCAL_WORKERS = 64


def worker_count(text: str) -> int:
    """argparse type: a whole number of workers, 0 or more, with a readable error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of worker processes, 0 or more (got {text!r})"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value}); 0 runs one process")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory load`."""
    parser.description = "Drive the deployed pipeline with locust and measure end-to-end latency."
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--shape", choices=["steady", "ramp", "spike"], default="steady")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument(
        "--speedup",
        type=float,
        default=100.0,
        help="steady: multiples of the seed's 10,000 files/day (default 100 = 11.6 files/s)",
    )
    parser.add_argument("--rows", type=int, default=50, help="rows per file (default 50)")
    parser.add_argument("--seed", type=int, help="simulator seed (default: random, recorded)")
    parser.add_argument("--ramp-start", type=float, default=2.0, help="ramp: first step, files/s")
    parser.add_argument(
        "--ramp-factor", type=float, default=1.5, help="ramp: rate multiplier per step"
    )
    parser.add_argument("--ramp-step", type=float, default=20.0, help="ramp: seconds per step")
    parser.add_argument("--spike-base", type=float, default=1.0, help="spike: base files/s")
    parser.add_argument("--spike-peak", type=float, default=20.0, help="spike: peak files/s")
    parser.add_argument("--spike-seconds", type=float, default=10.0, help="spike: burst length")
    parser.add_argument(
        "--endpoint", help="AWS_ENDPOINT_URL to target (default: the embedded emulator)"
    )
    parser.add_argument(
        "--aws", action="store_true", help="target AWS itself (no endpoint, no emulator)"
    )
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder")
    parser.add_argument("--label", default="", help="a word added to the run's folder name")
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="inject faults; the accounting must stay clean: duplicate=P (a file's delivery "
        "repeated after its receipt), late=P (delivered again after the store's next file), "
        "sns-outage=SECONDS (Check-Stock cannot publish, from the warm-up on), throttle=R "
        "(that fraction of Load-Inventory's DynamoDB writes throttled); e.g. "
        "duplicate=0.05,late=0.02,sns-outage=10",
    )
    parser.add_argument(
        "--workers",
        type=worker_count,
        default=0,
        metavar="N",
        help="locust's distributed mode: a master and N local worker processes (default 0: one "
        "process); the master keeps the observation and the accounting",
    )
    parser.add_argument(
        "--expect-workers",
        type=worker_count,
        default=0,
        metavar="N",
        help="also wait for N workers started elsewhere (`locust -f loadtests/locustfile.py "
        "--worker --master-host HOST --master-port PORT`)",
    )
    parser.add_argument(
        "--master-bind-host",
        default="127.0.0.1",
        help="the interface the master listens on for workers (0.0.0.0 for other machines)",
    )
    parser.add_argument(
        "--master-port",
        type=int,
        default=0,
        help="the master's port for workers (default: a free port; set it for --expect-workers)",
    )


def command(args: argparse.Namespace) -> int:
    """One load run; exit 1 when its accounting finds a loss or a mismatch."""
    if args.duration <= 0 or args.rows < 1:
        print("error: --duration must be > 0 and --rows >= 1", file=sys.stderr)
        return 2
    if args.workers > MAX_LOCAL_WORKERS:
        print(
            f"error: --workers {args.workers}: at most {MAX_LOCAL_WORKERS} local workers "
            f"(this machine has {os.cpu_count()} CPUs; one worker per core is plenty)",
            file=sys.stderr,
        )
        return 2
    if args.expect_workers and not args.master_port:
        print(
            "error: --expect-workers needs --master-port (the workers connect to it)",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.master_port <= 65535:
        print(f"error: --master-port {args.master_port} is not a TCP port", file=sys.stderr)
        return 2
    from harness.faults import Faults

    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        print(f"error: --faults: {exc}", file=sys.stderr)
        return 2
    import locust  # noqa: F401  (first: gevent's monkey-patching must precede boto3)
    from rich.console import Console
    from rich.table import Table

    from harness import stack
    from loadtests.runner import RunOptions
    from loadtests.runner import run as run_load

    console = Console(width=None if sys.stdout.isatty() else 120)
    if args.endpoint:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = args.endpoint
    outputs = stack.running(aws=args.aws)
    options = RunOptions(
        shape=args.shape, duration_s=args.duration, speedup=args.speedup, rows=args.rows,
        seed=args.seed, reports=args.reports, ramp_start=args.ramp_start,
        ramp_factor=args.ramp_factor, ramp_step_s=args.ramp_step, spike_base=args.spike_base,
        spike_peak=args.spike_peak, spike_s=args.spike_seconds, label=args.label,
        faults=faults.describe() if faults else "",
        workers=args.workers, expect_workers=args.expect_workers,
        master_bind_host=args.master_bind_host, master_port=args.master_port,
    )  # fmt: skip
    out = run_load(options, outputs, console)
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    table = Table(title=f"{summary['run_id']}: SLO {summary['slo']['verdict']}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, key in (("ingest ms", "ingest_ms"), ("alert ms", "alert_ms"), ("PUT ms", "put_ms")):
        s = summary[key]
        table.add_row(f"{label} p50 / p95 / p99", f"{s['p50']} / {s['p95']} / {s['p99']}")
    table.add_row(
        "files uploaded / ingested / lost",
        f"{summary['files_uploaded']} / {summary['files_ingested']} / {summary['lost_files']}",
    )
    table.add_row("throughput", f"{summary['files_per_s']} files/s, {summary['rows_per_s']} rows/s")
    table.add_row(
        "alerts expected / received", f"{summary['alerts_expected']} / {summary['alerts_received']}"
    )
    if "ramp" in summary:
        table.add_row(
            "max sustainable", f"{summary['ramp']['max_sustainable_files_per_s']} files/s"
        )
    if "faults" in summary:
        table.add_row("faults injected", summary["faults"]["summary"])
    if "generator" in summary:
        table.add_row("load generator", generator_line(summary["generator"]))
    table.add_row("accounting", "OK" if summary["accounting"]["ok"] else "LOSS OR MISMATCH")
    table.add_row("report", str(out / "report.html"))
    console.print(table)
    return 0 if summary["accounting"]["ok"] else 1


def generator_line(generator: dict[str, Any]) -> str:
    """`2 workers; CPU % of a core: master 31.0, worker-1 12.5, ...` for the summary table."""
    cpu = ", ".join(f"{role} {pct}" for role, pct in generator["cpu_percent"].items())
    workers = generator.get("workers", 0)
    return f"{workers or 'no'} workers; CPU % of one core: {cpu}"
