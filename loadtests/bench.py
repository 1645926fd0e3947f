"""`make bench`: ours against the lab-style baseline and the emulator's raw write rate, one run.

Everything is measured in the same run on the same machine, and reported as ratios, because
absolute times on these machines are noisy:
- the same load (same seed, same 500-row files, same offered rate) through our stack and
  through the baseline stack (PutItem per row, list_topics per alert, NEW_IMAGE stream that
  alerts on every zero), each with the locust runner;
- raw BatchWriteItem from the client into a scratch table: the emulator's physical limit;
- our parser against bare csv.reader over the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.measure import SEED_FILES_PER_S


def duplicate_alerts(report_dir: Path) -> dict[str, int]:
    """Alerts received beyond the transitions into zero that were due (0 over 0, repeats)."""
    records = [json.loads(line) for line in (report_dir / "files.jsonl").read_text().splitlines()]
    due = sum(r["expected_alerts"] for r in records)
    received = sum(len(r["alert_ms"]) for r in records)
    summary = json.loads((report_dir / "summary.json").read_text())
    extra = summary["accounting"]["extra_alerts"]
    return {"due": due, "received": received, "duplicates": max(received - due, 0, extra)}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory bench`."""
    parser.add_argument(
        "--rate", type=float, default=12.0, help="offered files/s (default 12: past both)"
    )
    parser.add_argument(
        "--duration", type=float, default=40.0, help="seconds per stack (default 40)"
    )
    parser.add_argument("--rows", type=int, default=500, help="rows per file (default 500)")
    parser.add_argument("--seed", type=int, default=500, help="same files for both (default 500)")
    parser.add_argument("--reports", type=Path, default=Path("reports"))


def command(args: argparse.Namespace) -> int:
    """Deploy both stacks, run the same load through each, then the reference figures."""
    import locust  # noqa: F401  (first: gevent's monkey-patching must precede boto3)

    from harness import stack
    from loadtests.parser_bench import bench_parser
    from loadtests.raw_writes import DEFAULT_CONCURRENCY, measure_raw_writes, scratch_table
    from loadtests.runner import RunOptions, run

    console = Console(width=None if sys.stdout.isatty() else 120)

    with console.status("Deploying our stack and the lab-style baseline ..."):
        ours_outputs = stack.running("ours", redeploy=True)
        baseline_outputs = stack.running("baseline", redeploy=True)

    # Files per day that give the offered rate: steady shape, speedup = rate / seed rate.
    speedup = args.rate / SEED_FILES_PER_S
    common = {"shape": "steady", "duration_s": args.duration, "speedup": speedup,
              "rows": args.rows, "reports": args.reports}  # fmt: skip
    results: dict[str, Any] = {}
    for name, outputs in (("ours", ours_outputs), ("baseline", baseline_outputs)):
        # The same seed: the same files, uploaded in the same order, into separate stacks.
        options = RunOptions(**common, seed=args.seed, label=f"bench-{name}")  # type: ignore[arg-type]
        report_dir = run(options, outputs, console)
        summary = json.loads((report_dir / "summary.json").read_text())
        results[name] = {
            "report": str(report_dir),
            "summary": summary,
            **duplicate_alerts(report_dir),
        }

    with console.status("Raw BatchWriteItem into a scratch table ..."), scratch_table() as table:
        raw = max(
            (
                measure_raw_writes(table, 20_000, DEFAULT_CONCURRENCY, cleanup=False)
                for _ in range(2)
            ),
            key=lambda r: r["rows_per_s"],
        )
    with console.status("Parser against csv.reader ..."):
        parser_result = bench_parser()

    ours, base = results["ours"]["summary"], results["baseline"]["summary"]
    bench = {
        "rows_per_s_ratio_vs_baseline": _ratio(ours["rows_per_s"], base["rows_per_s"]),
        "rows_per_s_ratio_vs_raw_writes": _ratio(ours["rows_per_s"], raw["rows_per_s"]),
        "parser_ratio_vs_csv_reader": round(parser_result["parser_ratio_vs_csv_reader"], 3),
        "duplicate_alerts_ours": results["ours"]["duplicates"],
        "duplicate_alerts_baseline": results["baseline"]["duplicates"],
        "ingest_p50_ratio_vs_baseline": _ratio(ours["ingest_ms"]["p50"], base["ingest_ms"]["p50"]),
        "ingest_p99_ratio_vs_baseline": _ratio(ours["ingest_ms"]["p99"], base["ingest_ms"]["p99"]),
        "alerts_sent_ratio_vs_baseline": _ratio(ours["alerts_received"], base["alerts_received"]),
        "offered": {"files_per_s": args.rate, "rows_per_file": args.rows, "seconds": args.duration},
        "ours": {k: ours[k] for k in ("rows_per_s", "files_per_s", "ingest_ms", "alert_ms",
                                       "alerts_received", "lost_files")}
        | {"report": results["ours"]["report"]},
        "baseline": {k: base[k] for k in ("rows_per_s", "files_per_s", "ingest_ms", "alert_ms",
                                           "alerts_received", "lost_files")}
        | {"report": results["baseline"]["report"]},
        "raw_writes": raw,
        "parser": parser_result,
    }  # fmt: skip
    latest = args.reports / "latest"
    (latest / "bench.json").write_text(json.dumps(bench, indent=2, ensure_ascii=False), "utf-8")
    show(console, bench)
    return 0


def show(console: Console, bench: dict[str, Any]) -> None:
    table = Table(title="make bench: ratios measured in one run")
    for column in ("figure", "ours", "baseline / reference", "ratio"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    ours, base = bench["ours"], bench["baseline"]
    table.add_row(
        "rows/s (500-row files)",
        f"{ours['rows_per_s']:.0f}",
        f"{base['rows_per_s']:.0f}",
        f"{bench['rows_per_s_ratio_vs_baseline']}x",
    )
    table.add_row(
        "ingest p50 ms",
        str(ours["ingest_ms"]["p50"]),
        str(base["ingest_ms"]["p50"]),
        str(bench["ingest_p50_ratio_vs_baseline"]),
    )
    table.add_row(
        "ingest p99 ms",
        str(ours["ingest_ms"]["p99"]),
        str(base["ingest_ms"]["p99"]),
        str(bench["ingest_p99_ratio_vs_baseline"]),
    )
    table.add_row(
        "alerts sent",
        str(ours["alerts_received"]),
        str(base["alerts_received"]),
        str(bench["alerts_sent_ratio_vs_baseline"]),
    )
    table.add_row(
        "duplicate alerts",
        str(bench["duplicate_alerts_ours"]),
        str(bench["duplicate_alerts_baseline"]),
        "",
    )
    table.add_row(
        "rows/s vs raw BatchWriteItem",
        f"{ours['rows_per_s']:.0f}",
        f"{bench['raw_writes']['rows_per_s']:.0f}",
        f"{bench['rows_per_s_ratio_vs_raw_writes']}",
    )
    table.add_row(
        "parser rows/s vs csv.reader",
        f"{bench['parser']['ours_rows_per_s']:.0f}",
        f"{bench['parser']['csv_reader_rows_per_s']:.0f}",
        f"{bench['parser_ratio_vs_csv_reader']}",
    )
    console.print(table)  # fmt: skip
