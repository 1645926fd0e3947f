"""The emulator's physical write limit: BatchWriteItem straight from the client.

Rows go 25 per call (the BatchWriteItem maximum, as the loader writes them) from a thread
pool, with no S3, no Lambda and no parsing in the way. The rows/s this reaches is the ceiling
any loader can approach on this machine, so the pipeline's rows/s is reported as a ratio to it.

By default they go to a scratch table with the Inventory table's key schema and no stream,
created for the measurement and deleted after it: writing into the deployed table would feed
its stream thousands of records that Check-Stock then works through for minutes, delaying the
alerts of whatever runs next. The rows have the loader's attributes (so items are the same
size), in one fresh store `raw-bench-<hex>`.

`python -m loadtests.raw_writes [--rows N] [--concurrency C ...] [--keep]`
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from inventory import config

BATCH = 25  # BatchWriteItem's limit per call
# Threads: on this 2-core machine (MiniStack 1.5.33, 20,000 rows, best of 3, interleaved,
# two sweeps) 1 -> 6,300-6,700 rows/s, 2 -> 10,500-11,500, 4 -> 10,900-11,300,
# 8 -> 11,000-11,200. From 2 threads on, the client (boto3 serialisation) and the emulator
# (one Python process) each keep a core busy, so the rate is flat within noise; 4 had the
# highest median and the smallest spread.
DEFAULT_CONCURRENCY = 4
MAX_ATTEMPTS = 8  # per chunk, for UnprocessedItems; throttling errors are botocore's retries
STORE_PREFIX = "raw-bench-"

Request = dict[str, Any]


class UnprocessedError(RuntimeError):
    """Items were still unprocessed after every retry."""


def bench_items(store: str, rows: int, source_key: str) -> list[dict[str, Any]]:
    """`rows` items of one store, shaped like the loader's, every count >= 1."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return [
        {
            config.ATTR_STORE: {"S": store},
            config.ATTR_ITEM: {"S": f"item-{i:07d}"},
            config.ATTR_COUNT: {"N": str(1 + i % 97)},
            config.ATTR_SOURCE_KEY: {"S": source_key},
            config.ATTR_UPDATED_AT: {"S": stamp},
        }
        for i in range(rows)
    ]


def write_chunk(client: Any, table_name: str, requests: list[Request]) -> int:
    """One BatchWriteItem, then retries of its UnprocessedItems; returns the calls made."""
    pending = requests
    for attempt in range(MAX_ATTEMPTS):
        response = client.batch_write_item(RequestItems={table_name: pending})
        pending = response.get("UnprocessedItems", {}).get(table_name, [])
        if not pending:
            return attempt + 1
        time.sleep(random.uniform(0, min(1.0, 0.01 * 2**attempt)))  # full-jitter backoff
    raise UnprocessedError(f"{len(pending)} items unprocessed after {MAX_ATTEMPTS} calls")


def _write_all(client: Any, table_name: str, requests: list[Request], concurrency: int) -> int:
    chunks = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]
    with ThreadPoolExecutor(concurrency, thread_name_prefix="raw-writes") as pool:
        return sum(pool.map(lambda chunk: write_chunk(client, table_name, chunk), chunks))


def _keys(store: str, rows: int) -> list[dict[str, Any]]:
    """The keys `bench_items` gives a store's rows (deterministic, so no list is kept)."""
    return [
        {config.ATTR_STORE: {"S": store}, config.ATTR_ITEM: {"S": f"item-{i:07d}"}}
        for i in range(rows)
    ]


def delete_rows(
    table_name: str,
    store: str,
    rows: int,
    concurrency: int = DEFAULT_CONCURRENCY,
    client: Any = None,
) -> None:
    """Delete what a measurement wrote for `store` (BatchWriteItem DeleteRequests, untimed)."""
    client = client or _default_client()
    deletes = [{"DeleteRequest": {"Key": key}} for key in _keys(store, rows)]
    _write_all(client, table_name, deletes, concurrency)


def _default_client() -> Any:
    from harness import env

    return env.client("dynamodb")


@contextmanager
def scratch_table(
    client: Any = None,
    keys: tuple[str, ...] = (config.ATTR_STORE, config.ATTR_ITEM),
    prefix: str = "raw-writes",
) -> Iterator[str]:
    """A fresh on-demand table keyed by one or two strings (by default like Inventory: Store,
    Item), without a stream; deleted afterwards."""
    client = client or _default_client()
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": key, "KeyType": kind}
            for key, kind in zip(keys, ("HASH", "RANGE")[: len(keys)], strict=True)
        ],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    try:
        yield name
    finally:
        client.delete_table(TableName=name)


def measure_raw_writes(
    table_name: str,
    rows: int = 20_000,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    cleanup: bool = True,
    client: Any = None,
) -> dict[str, Any]:
    """Write `rows` fresh items with BatchWriteItem from `concurrency` threads; time it."""
    if rows < 1 or concurrency < 1:
        raise ValueError(f"rows and concurrency must be >= 1, got {rows} and {concurrency}")
    client = client or _default_client()
    store = f"{STORE_PREFIX}{uuid.uuid4().hex[:12]}"
    puts = [{"PutRequest": {"Item": item}} for item in bench_items(store, rows, f"{store}/raw")]
    client.describe_table(TableName=table_name)  # fail early, and open a connection untimed
    try:
        started = time.perf_counter()
        calls = _write_all(client, table_name, puts, concurrency)
        seconds = time.perf_counter() - started
    finally:
        if cleanup:  # also after a failure: whatever was written goes
            delete_rows(table_name, store, rows, concurrency, client)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "calls": calls,
        "concurrency": concurrency,
        "store": store,
    }


def sweep(
    table_name: str,
    rows: int,
    concurrencies: Sequence[int],
    repeats: int = 1,
    *,
    cleanup: bool = True,
    client: Any = None,
) -> list[dict[str, Any]]:
    """Measure each concurrency `repeats` times, interleaved; the best run of each, in order.

    Each result also lists every run's rows/s (`all_rows_per_s`), to show the noise.

    Deletions wait until the end: a deletion is a stream record too, and Check-Stock handling
    one run's deletions would slow the next run's writes.
    """
    client = client or _default_client()
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(repeats):
            for concurrency in concurrencies:
                runs.append(
                    measure_raw_writes(table_name, rows, concurrency, cleanup=False, client=client)
                )
    finally:
        if cleanup:
            for run in runs:
                delete_rows(table_name, run["store"], run["rows"], run["concurrency"], client)
    results = []
    for concurrency in dict.fromkeys(concurrencies):
        mine = [run for run in runs if run["concurrency"] == concurrency]
        best = max(mine, key=lambda run: run["rows_per_s"])
        rates = [run["rows_per_s"] for run in mine]
        results.append(best | {"repeats": repeats, "all_rows_per_s": rates})
    return results


def report(results: Sequence[dict[str, Any]], console: Console) -> None:
    """Print one line per measured concurrency as a rich table."""
    table = Table(title="Raw BatchWriteItem (25 items per call, best run)")
    for name in ("concurrency", "rows", "calls", "seconds", "rows/s", "all runs, rows/s"):
        table.add_column(name, justify="right")
    best = max(r["rows_per_s"] for r in results)
    for r in results:
        rate = f"{r['rows_per_s']:,.0f}"
        runs = ", ".join(f"{x:,.0f}" for x in r.get("all_rows_per_s", [r["rows_per_s"]]))
        table.add_row(
            str(r["concurrency"]), f"{r['rows']:,}", f"{r['calls']:,}", f"{r['seconds']:.2f}",
            f"[bold]{rate}[/bold]" if r["rows_per_s"] == best and len(results) > 1 else rate,
            runs,
        )  # fmt: skip
    console.print(table)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory bench-writes`."""
    parser.add_argument("--rows", type=_positive_int, default=20_000)
    parser.add_argument(
        "--concurrency", type=_positive_int, nargs="+", default=[DEFAULT_CONCURRENCY],
        help="threads; several values measure each in turn (e.g. --concurrency 1 2 4 8)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=_positive_int, default=1, help="best of N, interleaved")
    parser.add_argument("--keep", action="store_true", help="do not delete the written rows")
    parser.add_argument(
        "--inventory-table", action="store_true",
        help="write into the deployed Inventory table, not a scratch table (feeds its stream)",
    )  # fmt: skip


def command(args: argparse.Namespace) -> int:
    """Run it with parsed options; the exit code."""
    from harness import env, stack

    env.use_emulator_defaults()
    if args.inventory_table:
        table = stack.running().table_name
        results = sweep(table, args.rows, args.concurrency, args.repeats, cleanup=not args.keep)
    else:
        with scratch_table() as table:
            results = sweep(table, args.rows, args.concurrency, args.repeats, cleanup=False)
    report(results, Console())
    return 0
