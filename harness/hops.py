"""Where one file's time goes: a load run's files, hop by hop (`python -m harness.hops RUN`).

Joins what a run recorded (`reports/<run>/files.jsonl`: the PUT's start, when the receipt and
each alert were seen) with each file's receipt (S3's `eventTime`, `processed_at`) and the
functions' log lines (powertools timestamps, found by the upload's correlation id; REPORT
lines for each invocation's duration). Every clock is this machine's. docs/load-testing.md,
"Where one file's time goes", shows what it prints and what each hop is.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import env
from harness.measure import percentile
from harness.stack import outputs
from inventory import config

_REPORT = re.compile(r"REPORT RequestId: (\S+)\tDuration: (\d+)")


def _powertools_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


def _iso_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _events(group: str, start: float, end: float) -> Iterator[str]:
    logs = env.client("logs")
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "startTime": int(start * 1000),
        "endTime": int(end * 1000),
    }
    while True:
        page = logs.filter_log_events(**kwargs)
        yield from (event["message"].strip() for event in page["events"])
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def _log_group(function_name: str) -> str:
    found = env.client("lambda").get_function_configuration(FunctionName=function_name)
    return str((found.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{function_name}")


def hops(run: Path) -> dict[str, list[float]]:
    """Each hop's durations in ms, over the run's files (one value per file, or per alert)."""
    files = [json.loads(line) for line in (run / "files.jsonl").read_text().splitlines() if line]
    stack = outputs()
    start = min(f["started_at"] for f in files) - 5
    end = max(f["started_at"] for f in files) + 120
    lines: dict[str, list[dict[str, Any]]] = {}
    durations: dict[str, float] = {}
    for function in (stack.load_inventory_function_name, stack.check_stock_function_name):
        for message in _events(_log_group(function), start, end):
            report = _REPORT.match(message)
            if report:
                durations[report.group(1)] = float(report.group(2))
                continue
            try:
                line = json.loads(message)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("correlation_id") and "timestamp" in line:
                lines.setdefault(str(line["correlation_id"]), []).append(line)
    found: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        found.setdefault(name, []).append(seconds * 1000)

    dynamodb = env.client("dynamodb")
    for file in files:
        if file.get("ingest_ms") is None or file.get("error"):
            continue
        items = dynamodb.query(
            TableName=stack.receipts_table_name,
            ConsistentRead=True,
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": config.ATTR_OBJECT_KEY},
            ExpressionAttributeValues={":k": {"S": file["key"]}},
        )["Items"]
        if not items:
            continue
        receipt = items[-1]
        put = file["started_at"]
        event = _iso_time(receipt["event_time"]["S"])
        processed = _iso_time(receipt[config.ATTR_PROCESSED_AT]["S"])
        mine = sorted(
            lines.get(receipt.get("correlation_id", {}).get("S", ""), []),
            key=lambda line: _powertools_time(line["timestamp"]),
        )

        def first(service: str, message: str, among: list[dict[str, Any]] = mine) -> float | None:
            return next(
                (
                    _powertools_time(line["timestamp"])
                    for line in among
                    if line.get("service") == service and line.get("message") == message
                ),
                None,
            )

        add("S3 PUT (client)", file["put_ms"] / 1000)
        add("PUT start -> S3 event time", event - put)
        started = first(config.LOAD_SERVICE, "ingest started")
        if started is not None:
            add("S3 event time -> loader's first line", started - event)
            add("loader's first line -> receipt's processed_at", processed - started)
            request = next(
                (
                    line.get("function_request_id")
                    for line in mine
                    if line.get("service") == config.LOAD_SERVICE
                ),
                None,
            )
            if request in durations:
                add("Load-Inventory REPORT Duration", durations[str(request)] / 1000)
        add(
            "processed_at -> receipt seen (harness poll)",
            put + file["ingest_ms"] / 1000 - processed,
        )
        add("ingest (harness)", file["ingest_ms"] / 1000)
        due = first(config.CHECK_SERVICE, "alert due")
        sent = first(config.CHECK_SERVICE, "no stock")
        if due is not None and sent is not None and file.get("alert_ms"):
            add("processed_at -> Check-Stock's 'alert due'", due - processed)
            add("'alert due' -> 'no stock' (AlertsSent, Publish)", sent - due)
            add(
                "'no stock' -> message seen in the SQS inbox",
                put + min(file["alert_ms"]) / 1000 - sent,
            )
        for alert_ms in file.get("alert_ms") or []:
            add("alert (harness)", alert_ms / 1000)
    return found


def main(argv: list[str] | None = None) -> None:
    """Print the hop table of a run folder (default reports/latest)."""
    args = sys.argv[1:] if argv is None else argv
    env.use_emulator_defaults()  # region and credentials, as `inventory` sets them
    run = Path(args[0] if args else "reports/latest")
    print(f"{'hop':52} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7}")
    for name, values in hops(run).items():
        p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
        print(f"{name:52} {len(values):5d} {p50:7.1f} {p95:7.1f} {p99:7.1f}")


if __name__ == "__main__":
    main()
