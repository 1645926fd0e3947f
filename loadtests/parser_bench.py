"""The pure parser against the physical floor: `parse_inventory` vs bare `csv.reader`.

Both read the same bytes, a realistic snapshot built from the simulator's world (store names
in ten locales, product names with commas and quotes, so some fields are quoted). The two are
timed in one process, interleaved (the order alternates every repeat, so drift on a noisy
machine hits both) and the best of N is kept for each. The floor decodes the bytes the same
way and iterates every record without looking at it; the ratio says what validation,
duplicate detection and building `Row`s cost on top of splitting CSV.

`python -m loadtests.parser_bench [--rows N] [--repeats N] [--profile]`
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import csv
import gc
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from inventory.csv_format import HEADER, parse_inventory
from simulator.cliargs import add_int_options
from simulator.world import StoreStock, build_world

ROWS_PER_STORE = 5_000  # a large store's snapshot; a 200,000-row input is 40 stores
STOCKOUT_RATE = 0.03  # the simulator's default, so some counts are 0
RESTOCK_RATE = 0.5


def build_csv(rows: int, seed: int = 7, rows_per_store: int = ROWS_PER_STORE) -> bytes:
    """`rows` data rows plus the header, distinct (store, item) keys, as the simulator writes."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    per_store = min(rows, rows_per_store)
    stores = -(-rows // per_store)
    world = build_world(seed, stores, per_store)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # minimal quoting, LF: the clean files
    writer.writerow(HEADER)
    left = rows
    for index, store in enumerate(world.stores):
        stock = StoreStock(store, world.catalog, seed, index, STOCKOUT_RATE, RESTOCK_RATE)
        names = world.item_names(store)[:left]
        writer.writerows(zip([store.name] * len(names), names, stock.counts, strict=False))
        left -= len(names)
    return buf.getvalue().encode()


def _parse_ours(data: bytes) -> int:
    result = parse_inventory(data)
    return len(result.rows) + len(result.errors)


def _parse_floor(data: bytes) -> int:
    # Decode as the parser does, then split every record and drop it: nothing is kept.
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    collections.deque(reader, maxlen=0)
    return reader.line_num - 1  # minus the header; no field here holds a line break


def _timed(parse: Callable[[bytes], int], data: bytes, rows: int) -> float:
    gc.collect()  # start each run from the same heap; GC during the run is part of its cost
    started = time.perf_counter()
    seen = parse(data)
    elapsed = time.perf_counter() - started
    if seen != rows:
        raise AssertionError(f"{parse.__name__} saw {seen} rows, expected {rows}")
    return elapsed


def bench_parser(rows: int = 200_000, repeats: int = 5, seed: int = 7) -> dict[str, Any]:
    """Best-of-`repeats` rows/s of `parse_inventory` and of bare `csv.reader` on the same bytes."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    data = build_csv(rows, seed)
    ours: list[float] = []
    floor: list[float] = []
    for repeat in range(repeats):
        pair = [(ours, _parse_ours), (floor, _parse_floor)]
        for times, parse in pair if repeat % 2 == 0 else reversed(pair):
            times.append(_timed(parse, data, rows))
    ours_rate = rows / min(ours)
    floor_rate = rows / min(floor)
    return {
        "ours_rows_per_s": ours_rate,
        "csv_reader_rows_per_s": floor_rate,
        "parser_ratio_vs_csv_reader": ours_rate / floor_rate,
        "rows": rows,
        "repeats": repeats,
        "bytes": len(data),
    }


def profile_parser(rows: int = 200_000, seed: int = 7, top: int = 15) -> str:
    """cProfile of one `parse_inventory` call: the `top` functions by their own time."""
    data = build_csv(rows, seed)
    profiler = cProfile.Profile()
    profiler.runcall(parse_inventory, data)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def report(result: dict[str, Any], console: Console) -> None:
    """Print the two rates and their ratio as a rich table."""
    table = Table(
        title=f"Parser: {result['rows']:,} rows ({result['bytes'] / 1e6:.1f} MB), "
        f"best of {result['repeats']}, interleaved"
    )
    table.add_column("parser")
    table.add_column("rows/s", justify="right")
    table.add_column("ratio", justify="right")
    floor = result["csv_reader_rows_per_s"]
    table.add_row("parse_inventory (ours)", f"{result['ours_rows_per_s']:,.0f}",
                  f"{result['parser_ratio_vs_csv_reader']:.2f}")  # fmt: skip
    table.add_row("csv.reader (floor)", f"{floor:,.0f}", "1.00")
    console.print(table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory bench-parser`."""
    add_int_options(parser, rows=200_000, repeats=5, seed=7)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile summary")


def command(args: argparse.Namespace) -> int:
    """Run it with parsed options; the exit code."""
    console = Console()
    report(bench_parser(args.rows, args.repeats, args.seed), console)
    if args.profile:
        console.print(profile_parser(args.rows, args.seed), markup=False, highlight=False)
    return 0
