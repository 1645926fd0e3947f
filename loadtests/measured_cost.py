"""The AWS bill a run implies: usage measured in the run, projected with prices.toml.

Measured: files, rows written, alerts, bytes uploaded, the loader's own durations (receipts),
and both functions' invocations and durations from their REPORT log lines in CloudWatch Logs
(which MiniStack writes as AWS does), only those of this run's uploads (`run_usage`); after
the run, each store's items as the summary's Query reads them (their count and DynamoDB
size: the Query's read units, and the write units of a row); the OutOfStock index writes,
replayed from the files in upload order (`replayed`).
Assumed (cost.Assumptions): log bytes per invocation and per NoStock delivery.
Emulator durations on a shared 2-core machine are not AWS durations; the projection says so.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import env
from harness.measure import SEED_FILES_PER_DAY
from infra.outputs import StackOutputs
from inventory import config
from inventory.csv_format import parse_inventory
from loadtests.cost import (
    READ_UNIT_BYTES,
    ROW_ITEM_BYTES,
    Assumptions,
    Replayed,
    compare_with_seed_claim,
    item_size,
    load_prices,
    project_monthly,
    replay,
    usage_from_run,
    write_units,
)

_REPORT = re.compile(r"REPORT RequestId: (\S+)\tDuration: ([0-9.]+) ms")


@dataclass
class Invocations:
    """A function's invocations seen in its log group: REPORT durations and what they named."""

    durations_ms: dict[str, float] = field(default_factory=dict)  # request id -> Duration
    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    correlations: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def of(self, ids: Iterable[str]) -> tuple[int, float]:
        """(invocations, total ms) of those request ids that have a REPORT line."""
        found = [self.durations_ms[i] for i in set(ids) if i in self.durations_ms]
        return len(found), sum(found)


def invocations(function_name: str, started: float, ended: float) -> Invocations:
    """A function's invocations in [started - 60 s, ended + 60 s] (epoch seconds).

    Read from its log group (its LoggingConfig): each REPORT line's duration, which AWS and
    MiniStack both write once per invocation, and from the powertools JSON lines (which carry
    the invocation's `function_request_id`) the object keys and correlation ids it handled.
    """
    config = env.client("lambda").get_function_configuration(FunctionName=function_name)
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{function_name}"
    pages = (
        env.client("logs")
        .get_paginator("filter_log_events")
        .paginate(
            logGroupName=group,
            startTime=int((started - 60) * 1000),
            endTime=int((ended + 60) * 1000),
        )
    )
    found = Invocations()
    for page in pages:
        for event in page["events"]:
            message = event["message"].strip()
            report = _REPORT.match(message)
            if report:
                found.durations_ms[report.group(1)] = float(report.group(2))
                continue
            if not message.startswith("{"):
                continue
            try:
                line = json.loads(message)
            except ValueError:
                continue
            request = line.get("function_request_id") if isinstance(line, dict) else None
            if not request:
                continue
            for name in ("object_key", "source_key"):
                if line.get(name):
                    found.keys[request].add(str(line[name]))
            if line.get("correlation_id"):
                found.correlations[request].add(str(line["correlation_id"]))
    return found


def run_usage(
    loader: Invocations, checker: Invocations, prefix: str
) -> tuple[tuple[int, float], tuple[int, float]]:
    """((invocations, ms) of the loader, (invocations, ms) of Check-Stock) for one run's files.

    The loader's invocations are those that named an object under `prefix`; Check-Stock's
    those that handled a record of one of those uploads (by correlation id: the S3 request id
    each upload's items and stream records carry). So the warm-up's cold starts and what
    other runs left behind are not counted.
    """
    ids = [r for r, keys in loader.keys.items() if any(k.startswith(prefix) for k in keys)]
    uploads = set().union(*(loader.correlations[r] for r in ids)) if ids else set()
    checks = [r for r, found in checker.correlations.items() if found & uploads]
    return loader.of(ids), checker.of(checks)


def memory_mb(function_name: str) -> int:
    config = env.client("lambda").get_function_configuration(FunctionName=function_name)
    return int(config["MemorySize"])


def store_sizes(
    outputs: StackOutputs, store_items: Mapping[str, int], sample: int = 200
) -> dict[str, dict[str, float]]:
    """Each store's items as the loader's summary Query reads them: count, bytes, write units.

    The count is the replay's (`replay`); the items' DynamoDB sizes are those of a sample of
    `sample` items, one strongly consistent page (reading a whole large store back is slow
    on the emulator, and tells no more). `read_units` is what one Query of the whole store
    costs (the items' sizes added up, a unit per started 4 KB); `write_units` a row's mean.
    """
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb").Table(outputs.table_name)  # plain values, as item_size
    sizes: dict[str, dict[str, float]] = {}
    for store, count in sorted(store_items.items()):
        page = table.query(
            KeyConditionExpression=Key(config.ATTR_STORE).eq(store),
            ConsistentRead=True,
            Limit=sample,
        )["Items"]
        found = [item_size(item) for item in page] or [ROW_ITEM_BYTES]
        mean = sum(found) / len(found)
        sizes[store] = {
            "items": count,
            "bytes": count * mean,
            "write_units": sum(write_units(size) for size in found) / len(found),
            "read_units": max(1, math.ceil(count * mean / READ_UNIT_BYTES)),  # even empty: 1
        }
    return sizes


def replayed(
    files: Iterable[tuple[str, str]], bodies_dir: Path, prefix: str, before: Mapping[Any, int]
) -> Replayed:
    """A run's files `(key, store)` in upload order, replayed over what the table held."""
    rows = (
        (
            (row.store, row.item, row.count)
            for row in parse_inventory(
                (bodies_dir / key.removeprefix(prefix + "/")).read_bytes()
            ).rows
        )
        for key, _store in files
    )
    return replay(before, rows)


def projection(
    records: list[dict[str, Any]], outputs: StackOutputs, started: float, ended: float,
    files_per_day: float = SEED_FILES_PER_DAY, *, replay: Replayed | None = None,
    prefix: str = "load/",
) -> dict[str, Any]:  # fmt: skip
    """Per-file usage from this run, the monthly bill at `files_per_day`, and the seed's claim.

    `prefix`: the run's object keys (`load/<run>/`), by which its invocations are told apart.
    `replay`: the run's files applied to the table (`replayed`): its OutOfStock index writes
    and its stores' sizes; without it the index writes are estimated and each store is taken
    to hold one file's rows.
    """
    ingested = [r for r in records if r["ingest_ms"] is not None]
    if not ingested:
        return {"error": "no file was ingested; nothing to project"}
    files = len(ingested)
    rows_per_file = sum(r["rows"] for r in ingested) / files
    counts = (
        replay.store_items
        if replay is not None
        else {r["store"]: round(rows_per_file) for r in ingested}
    )
    stores = store_sizes(outputs, {s: counts.get(s, 0) for s in {r["store"] for r in ingested}})
    items = sum(s["items"] for s in stores.values())
    row_units = sum(s["write_units"] * s["items"] for s in stores.values()) / max(items, 1)
    row_bytes = sum(s["bytes"] for s in stores.values()) / max(items, 1)
    index_writes = replay.index_writes if replay is not None else None
    loader, checker = outputs.load_inventory_function_name, outputs.check_stock_function_name
    (loader_calls, loader_ms), (check_calls, check_ms) = run_usage(
        invocations(loader, started, ended), invocations(checker, started, ended), prefix
    )
    assumptions = Assumptions()
    # Sums spread evenly over the calls (billing rounds each call up to 1 ms).
    loader_durations = (
        [loader_ms / loader_calls] * loader_calls
        if loader_calls
        else [r["duration_ms"] or 0.0 for r in ingested]
    )
    check_durations = [check_ms / check_calls] * check_calls if check_calls else []
    alerts = sum(len(r["alert_ms"]) for r in ingested)
    usage = usage_from_run(
        files=files,
        rows_written=sum(r["rows"] for r in ingested),
        loader_durations_ms=loader_durations,
        loader_memory_mb=memory_mb(loader),
        check_invocations=check_calls,
        check_durations_ms=check_durations,
        check_memory_mb=memory_mb(checker),
        alerts=alerts,
        bytes_uploaded=sum(r.get("bytes", 0) for r in ingested),
        log_bytes=assumptions.loader_log_bytes * max(loader_calls, files)
        + assumptions.check_log_bytes * check_calls
        + assumptions.delivery_log_bytes * alerts,
        loader_invocations=loader_calls or None,
        row_item_bytes=row_bytes or ROW_ITEM_BYTES,
        index_writes=index_writes,
        # Every invocation refreshes its file's store (a repeated delivery too), read as it
        # stands at the end of the run.
        summary_read_units=sum(stores[r["store"]]["read_units"] for r in ingested)
        * max(loader_calls, files)
        / files,
        summary_refreshes=max(loader_calls, files),
    )
    prices = load_prices()
    monthly = project_monthly(usage, files_per_day, prices)
    return {
        "files_per_day": files_per_day,
        "measured": {
            "files": files,
            "loader_invocations": loader_calls,
            "loader_duration_ms_total": round(loader_ms, 1),
            "check_invocations": check_calls,
            "check_duration_ms_total": round(check_ms, 1),
            "stores": len(stores),
            "store_items_mean": items / max(len(stores), 1),
            "row_item_bytes_mean": round(row_bytes, 1),
            "row_write_units": row_units,
            "index_writes": index_writes,
        },
        "usage_per_file": asdict(usage),
        "monthly": monthly,
        "total_usd_per_month": monthly["total_usd_per_month"],
        "seed_claim": compare_with_seed_claim(usage, prices),
        "prices_date": prices.date.isoformat(),
        "caveat": "durations measured on the emulator on a shared 2-core machine, not on AWS",
    }
