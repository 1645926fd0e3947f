"""`inventory simulate generate|upload|verify|bench`: realistic store uploads, and a check of them.

`python -m simulator ...` is the same command line.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from harness.faults import Faults
    from infra.outputs import StackOutputs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

EXAMPLES = """
examples:
  inventory simulate generate --files 200 --rows 50 --seed 7 --out runs/demo --messy all=0.05
  inventory simulate upload runs/demo --files-per-day 10000 --day-minutes 5
  inventory simulate upload runs/demo --duplicate-rate 0.05 --late-rate 0.02 --sns-outage 10
  inventory simulate verify runs/demo
  inventory simulate bench --files 10000 --rows 50

The endpoint is AWS_ENDPOINT_URL (the embedded emulator by default: start it with `make up`).
`make simulate` does all three with defaults and ends with "0 differences".
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    """Add generate, upload, verify and bench to `inventory simulate`."""
    from simulator.bench import add_arguments as add_bench_arguments
    from simulator.generate import MODES

    parser.description = (
        "A faker-built world of stores producing inventory CSVs, uploaded and checked."
    )
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="simulate_command", required=True, metavar="COMMAND")

    gen = commands.add_parser(
        "generate",
        help="write N CSV snapshots and manifest.json (same seed, same bytes)",
        description="Build the world once, then write one snapshot per store per day.",
    )
    gen.add_argument("--files", type=_positive_int, required=True, help="number of files")
    gen.add_argument(
        "--rows", type=_positive_int, required=True, help="items per store (rows per file)"
    )
    gen.add_argument("--seed", type=int, required=True, help="random seed; same seed, same bytes")
    gen.add_argument(
        "--out", type=Path, required=True, help="output folder (created; must be empty)"
    )
    gen.add_argument(
        "--stores", type=_positive_int, help="number of stores (default: from --files)"
    )
    gen.add_argument("--days", type=_positive_int, help="simulated days (default: min(7, files))")
    gen.add_argument(
        "--stockout-rate",
        type=_rate,
        default=0.03,
        help="chance per day that an in-stock item runs out (default 0.03)",
    )
    gen.add_argument(
        "--restock-rate",
        type=_rate,
        default=0.5,
        help="chance per day that a sold-out item comes back (default 0.5)",
    )
    gen.add_argument(
        "--messy",
        default="none",
        help=f"messy modes and their per-file rates: 'none', 'all=0.05', or e.g. "
        f"'bom_crlf=0.1,bad_rows=0.05'. Modes: {', '.join(MODES)}",
    )
    gen.add_argument(
        "--start-date",
        type=date.fromisoformat,
        default=date(2026, 1, 5),
        help="the first simulated day (default 2026-01-05)",
    )

    up = commands.add_parser(
        "upload",
        help="upload a generated folder to the deployed bucket, store by store, in order",
        description="Bounded concurrency; a store's next file waits for its previous receipt.",
    )
    up.add_argument("dir", type=Path, help="a folder made by `generate`")
    pace = up.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_positive_float, help="target files per second")
    pace.add_argument(
        "--files-per-day",
        type=_positive_int,
        help="with --day-minutes: play a day of this many files in that many minutes",
    )
    up.add_argument("--day-minutes", type=_positive_float, help="see --files-per-day")
    up.add_argument(
        "--concurrency", type=_positive_int, default=8, help="parallel uploads (default 8)"
    )
    faults = up.add_argument_group(
        "faults",
        "Inject faults while uploading; `verify` must still find 0 differences. What was "
        "injected is in the summary and in DIR/faults.json. SNS and DynamoDB faults are "
        "injected at the SDK inside the functions (INVENTORY_FAULTS), the same on MiniStack "
        "and on AWS, and switched off again afterwards.",
    )
    faults.add_argument(
        "--duplicate-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="chance per file that S3's delivery is repeated after its receipt (Load-Inventory "
        "invoked again with the same event)",
    )
    faults.add_argument(
        "--late-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="chance per file that its event is delivered again after the store's next file "
        "is in (an older upload's event arriving late)",
    )
    faults.add_argument(
        "--sns-outage",
        type=_positive_float,
        metavar="SECONDS",
        help="Check-Stock's SNS Publish fails (503) for this long from the start of the upload",
    )
    faults.add_argument(
        "--throttle",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="this fraction of Load-Inventory's DynamoDB writes is throttled, for the whole upload",
    )
    faults.add_argument(
        "--faults",
        metavar="SPEC",
        help="the same as one spec, as `inventory load --faults` takes it: "
        "duplicate=0.05,late=0.02,sns-outage=10,throttle=0.2 (not with the flags above)",
    )

    ver = commands.add_parser(
        "verify",
        help="compare table, receipts and NoStock messages with the manifest",
        description="Lists missing, extra and mismatched rows, receipts and alerts; "
        "exits 1 on any difference.",
    )
    ver.add_argument("dir", type=Path, help="a folder that `upload` has uploaded")
    ver.add_argument(
        "--timeout",
        type=_positive_float,
        default=120.0,
        help="seconds to wait for the expected alerts (default 120)",
    )
    ver.add_argument(
        "--keep-queue", action="store_true", help="keep the alert queue after a clean verify"
    )
    ver.set_defaults(simulate_handler=verify_command)
    gen.set_defaults(simulate_handler=generate_command)
    up.set_defaults(simulate_handler=upload_command)
    bench = commands.add_parser(
        "bench",
        help="time generating files (a benchmark, not a test)",
        description="Time `generate` alone: world building, rendering and writing.",
    )
    add_bench_arguments(bench)
    bench.set_defaults(simulate_handler=bench_command)


def generate_command(args: argparse.Namespace, console: Console) -> int:
    from simulator.generate import MessyRates, generate, make_plan

    if args.out.exists() and any(args.out.iterdir()):
        console.print(f"[red]error:[/] {args.out} is not empty; choose a new --out folder")
        return 2
    try:
        messy = MessyRates.parse(args.messy)
    except ValueError as exc:
        console.print(f"[red]error:[/] --messy: {exc}")
        return 2
    options = {
        "files": args.files,
        "rows": args.rows,
        "seed": args.seed,
        "stores": args.stores,
        "days": args.days,
        "stockout_rate": args.stockout_rate,
        "restock_rate": args.restock_rate,
        "messy": messy,
        "start_date": args.start_date,
    }
    make_plan(**options)  # bad combinations fail here, before any progress bar
    started = time.perf_counter()
    columns = (TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("generate", total=args.files)
        manifest = generate(
            args.out, progress=lambda n: progress.update(task, advance=n), **options
        )
    elapsed = time.perf_counter() - started
    rows = sum(f.expect.rows_written + f.expect.rows_rejected for f in manifest.files)
    rejected = sum(1 for f in manifest.files if f.expect.status == "rejected")
    console.print(
        f"Wrote {len(manifest.files)} files ({rows} rows, {len(manifest.stores)} stores, "
        f"{rejected} to be rejected, {len(manifest.alerts)} NoStock alerts expected) "
        f"and manifest.json to {args.out} in {elapsed:.1f} s"
    )
    return 0


def _outputs() -> StackOutputs:
    from harness import stack

    return stack.running()


def upload_faults(args: argparse.Namespace) -> Faults:
    """The faults the upload flags ask for (a bad --faults spec raises ValueError)."""
    from harness.faults import Faults

    flags = Faults(
        duplicate=args.duplicate_rate,
        late=args.late_rate,
        sns_outage_s=args.sns_outage or 0.0,
        throttle=args.throttle,
    )
    if args.faults is None:
        return flags
    if flags:
        raise ValueError("give the faults either as --faults SPEC or as flags, not both")
    return Faults.parse(args.faults)


def upload_command(args: argparse.Namespace, console: Console) -> int:
    from simulator.manifest import Manifest
    from simulator.upload import Pace, upload_run

    if (args.files_per_day is None) != (args.day_minutes is None):
        console.print("[red]error:[/] --files-per-day and --day-minutes go together")
        return 2
    if args.files_per_day:
        pace = Pace.compressed_day(args.files_per_day, args.day_minutes)
    else:
        pace = Pace(args.rate)
    try:
        faults = upload_faults(args)
    except ValueError as exc:
        console.print(f"[red]error:[/] --faults: {exc}")
        return 2
    Manifest.load(args.dir)  # a folder that is not a run fails here, before any deploy
    state = upload_run(args.dir, _outputs(), pace, args.concurrency, console, faults)
    missing = sum(1 for u in state.uploads if u.status is None)
    if missing:
        console.print(f"[red]{missing} files have no receipt yet[/]; `verify` will list them")
    return 0


def verify_command(args: argparse.Namespace, console: Console) -> int:
    from simulator.manifest import Manifest
    from simulator.state import UploadState
    from simulator.verify import cleanup, verify_run

    Manifest.load(args.dir)  # a folder that is not a run fails here, before any deploy
    UploadState.load(args.dir)
    diff = verify_run(args.dir, _outputs(), console, timeout_s=args.timeout)
    if diff.total == 0 and not args.keep_queue:
        cleanup(UploadState.load(args.dir))
    return 0 if diff.total == 0 else 1


def bench_command(args: argparse.Namespace, console: Console) -> int:
    from simulator.bench import command

    return command(args)


def run(args: argparse.Namespace) -> int:
    """Run the chosen `simulate` command; bad input gets a one-line error and exit code 2."""
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        code: int = args.simulate_handler(args, console)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    return code
