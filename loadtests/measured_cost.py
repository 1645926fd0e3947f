"""The AWS bill a run implies: usage measured in the run, projected with prices.toml.

Measured: files, rows written, alerts, bytes uploaded, the loader's own durations (receipts),
and both functions' invocations and durations from their REPORT log lines in CloudWatch Logs
(which MiniStack writes as AWS does). Assumed (cost.Assumptions): log bytes per invocation.
Emulator durations on a shared 2-core machine are not AWS durations; the projection says so.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from harness import env
from harness.measure import SEED_FILES_PER_DAY
from infra.outputs import StackOutputs
from loadtests.cost import (
    Assumptions,
    compare_with_seed_claim,
    load_prices,
    project_monthly,
    usage_from_run,
)

_DURATION = re.compile(r"\tDuration: ([0-9.]+) ms")


def function_usage(function_name: str, started: float, ended: float) -> tuple[int, float]:
    """(invocations, total billed-duration ms) of a function in [started, ended], epoch seconds.

    Read from the function's REPORT log lines (CloudWatch Logs), which AWS and MiniStack both
    write once per invocation; the log group comes from the function's LoggingConfig.
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
            filterPattern='"REPORT RequestId"',
        )
    )
    invocations, total_ms = 0, 0.0
    for page in pages:
        for event in page["events"]:
            found = _DURATION.search(event["message"])
            if found:
                invocations += 1
                total_ms += float(found.group(1))
    return invocations, total_ms


def memory_mb(function_name: str) -> int:
    config = env.client("lambda").get_function_configuration(FunctionName=function_name)
    return int(config["MemorySize"])


def projection(
    records: list[dict[str, Any]], outputs: StackOutputs, started: float, ended: float,
    files_per_day: float = SEED_FILES_PER_DAY,
) -> dict[str, Any]:  # fmt: skip
    """Per-file usage from this run, the monthly bill at `files_per_day`, and the seed's claim."""
    ingested = [r for r in records if r["ingest_ms"] is not None]
    if not ingested:
        return {"error": "no file was ingested; nothing to project"}
    loader, checker = outputs.load_inventory_function_name, outputs.check_stock_function_name
    loader_calls, loader_ms = function_usage(loader, started, ended)
    check_calls, check_ms = function_usage(checker, started, ended)
    assumptions = Assumptions()
    files = len(ingested)
    # Sums spread evenly over the calls (billing rounds each call up to 1 ms).
    loader_durations = (
        [loader_ms / loader_calls] * loader_calls
        if loader_calls
        else [r["duration_ms"] or 0.0 for r in ingested]
    )
    check_durations = [check_ms / check_calls] * check_calls if check_calls else []
    usage = usage_from_run(
        files=files,
        rows_written=sum(r["rows"] for r in ingested),
        loader_durations_ms=loader_durations,
        loader_memory_mb=memory_mb(loader),
        check_invocations=check_calls,
        check_durations_ms=check_durations,
        check_memory_mb=memory_mb(checker),
        alerts=sum(len(r["alert_ms"]) for r in ingested),
        bytes_uploaded=sum(r.get("bytes", 0) for r in ingested),
        log_bytes=assumptions.loader_log_bytes * max(loader_calls, files)
        + assumptions.check_log_bytes * check_calls,
        loader_invocations=loader_calls or None,
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
        },
        "usage_per_file": asdict(usage),
        "monthly": monthly,
        "total_usd_per_month": monthly["total_usd_per_month"],
        "seed_claim": compare_with_seed_claim(usage, prices),
        "prices_date": prices.date.isoformat(),
        "caveat": "durations measured on the emulator on a shared 2-core machine, not on AWS",
    }
