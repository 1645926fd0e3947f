"""What the measured load would cost on AWS: usage per file, times files/day, times list prices.

A run measures, per uploaded file, the billable units the pipeline used (`Usage`):
invocations and GB-seconds of both functions, DynamoDB write units, S3 requests, SNS
publishes and log bytes. `project_monthly` multiplies them by a files/day rate and by the
prices in `prices.toml` (one documented file, with its date and region) and breaks the
monthly bill down by service; `compare_with_seed_claim` sets it beside the seed's
"$25-50/month at 10,000 files/day".

Billing rules applied (AWS's, as documented on the pricing pages named in prices.toml):
- Lambda bills each invocation's duration rounded up to the next 1 ms, times the configured
  memory (GB = 1024 MB). Durations taken from receipts (`duration_ms`) are the handler's own
  measure, so they slightly undercount what Lambda bills (runtime overhead, and the INIT
  phase of cold starts, billed since August 2025): pass `init_durations_ms` to add them.
- DynamoDB on demand: one write unit per started 1 KB of each item written, and two for
  an item written in a transaction (the loader writes rows with TransactWriteItems, so
  each row costs twice its size in units; a cancelled transaction is billed too, which a
  clean run does not see). The receipt is one conditional put, plus one strongly
  consistent read (one read unit per started 4 KB) to tell a repeated delivery apart.
  Each alert is recorded in AlertsSent: a put and an update of a small item, two units.
  Stream reads by a Lambda trigger are free.
- Storage accumulates: uploads and receipts are retained (the stack has no lifecycle rule),
  logs expire after a month. The projection prices the steady state of `retention_days`
  of data, a choice stated in its output.
- Free tiers are ignored; only first-tier prices are used.

`python -m loadtests.cost --files-per-day 10000 --rows 50` prints a projection built from
the illustrative usage below (`Assumptions`); a run's measured usage replaces it later.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PRICES_PATH = Path(__file__).with_name("prices.toml")
DAYS_PER_MONTH = 730 / 24  # AWS prices a month as 730 hours
GB = 2**30  # AWS bills storage and log volume in binary gigabytes
WRITE_UNIT_BYTES = 1024  # one on-demand write request unit writes up to 1 KB
READ_UNIT_BYTES = 4096  # one read request unit reads up to 4 KB, strongly consistent
TRANSACTION_WRITE_FACTOR = 2  # an item written in TransactWriteItems costs two units per KB
ALERT_RECORD_WRITES = 2  # AlertsSent: the in-progress put and the completing update
from harness.measure import SEED_FILES_PER_DAY  # noqa: E402

SEED_CLAIM_USD = (25.0, 50.0)  # the seed's "$25-50/month at 10,000 files/day"
# The functions' powertools metrics, one custom metric each (namespace + service dimension):
# RowsWritten, RowsRejected, BatchRetries, FilesLoaded, FilesRejected; NoStockAlerts.
CUSTOM_METRICS = 6
RETENTION_DAYS = 30.0  # steady-state days of uploads and receipts priced as storage
LOG_RETENTION_DAYS = 30.0  # the stack's log groups keep one month


@dataclass(frozen=True)
class Prices:
    """On-demand list prices in USD (prices.toml), one field per billed dimension."""

    date: date
    region: str
    lambda_requests_per_million: float
    lambda_gb_second: float
    dynamodb_wru_per_million: float
    dynamodb_rru_per_million: float
    dynamodb_storage_gb_month: float
    dynamodb_pitr_gb_month: float
    s3_put_per_thousand: float
    s3_get_per_thousand: float
    s3_storage_gb_month: float
    sns_publishes_per_million: float
    sns_sqs_delivery_per_million: float
    sqs_requests_per_million: float
    logs_ingestion_gb: float
    logs_storage_gb_month: float
    custom_metric_month: float
    sources: tuple[str, ...] = ()


def load_prices(path: Path | str = PRICES_PATH) -> Prices:
    """Read the price table; fails on a missing price or a missing or non-date `date`."""
    with open(path, "rb") as fh:
        doc = tomllib.load(fh)
    meta = doc["meta"]
    if not isinstance(meta.get("date"), date):
        raise ValueError(f"{path}: [meta] date must be a TOML date such as 2026-11-25")
    lam, ddb, s3 = doc["lambda"], doc["dynamodb"], doc["s3"]
    logs, sns = doc["cloudwatch_logs"], doc["sns"]
    return Prices(
        date=meta["date"],
        region=meta["region"],
        lambda_requests_per_million=float(lam["requests_per_million"]),
        lambda_gb_second=float(lam["gb_second_x86"]),
        dynamodb_wru_per_million=float(ddb["write_request_units_per_million"]),
        dynamodb_rru_per_million=float(ddb["read_request_units_per_million"]),
        dynamodb_storage_gb_month=float(ddb["storage_gb_month"]),
        dynamodb_pitr_gb_month=float(ddb["pitr_gb_month"]),
        s3_put_per_thousand=float(s3["put_per_thousand"]),
        s3_get_per_thousand=float(s3["get_per_thousand"]),
        s3_storage_gb_month=float(s3["storage_gb_month"]),
        sns_publishes_per_million=float(sns["publishes_per_million"]),
        sns_sqs_delivery_per_million=float(sns["sqs_delivery_per_million"]),
        sqs_requests_per_million=float(doc["sqs"]["requests_per_million"]),
        logs_ingestion_gb=float(logs["ingestion_gb"]),
        logs_storage_gb_month=float(logs["storage_gb_month"]),
        custom_metric_month=float(doc["cloudwatch_metrics"]["custom_metric_month"]),
        sources=tuple(meta.get("sources", ())),
    )


@dataclass(frozen=True)
class Usage:
    """Billable units one uploaded file causes, on average over a run."""

    loader_invocations: float = 1.0
    loader_gb_s: float = 0.0
    check_invocations: float = 0.0
    check_gb_s: float = 0.0
    dynamodb_write_units: float = 0.0  # rows (transactional), the receipt, AlertsSent
    dynamodb_read_units: float = 0.0
    s3_put_requests: float = 1.0  # the upload
    s3_get_requests: float = 1.0  # the loader reading it
    sns_publishes: float = 0.0  # NoStock alerts
    sqs_requests: float = 0.0  # the pipeline's own queues (dead letters); 0 when healthy
    log_bytes: float = 0.0  # both functions' log lines, platform and EMF lines included
    s3_bytes: float = 0.0  # the object, kept
    dynamodb_bytes: float = 0.0  # the receipt, kept (the Inventory table's size is bounded)

    def scaled(self, factor: float) -> Usage:
        """Every unit times `factor` (e.g. files per month)."""
        return Usage(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


# --- measured numbers -> Usage ---------------------------------------------------------------


def billed_gb_seconds(durations_ms: Sequence[float], memory_mb: int) -> float:
    """GB-seconds Lambda bills: each duration rounded up to the next 1 ms, times memory."""
    billed_ms = sum(math.ceil(d) for d in durations_ms)
    return billed_ms / 1000 * memory_mb / 1024


def read_units(item_bytes: float) -> int:
    """On-demand read request units for one strongly consistent read of one item."""
    return max(1, math.ceil(item_bytes / READ_UNIT_BYTES))


def write_units(item_bytes: float) -> int:
    """On-demand write request units to write one item: one per started KB, at least one."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (resource types)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        # Up to 38 significant digits, two per byte, plus one byte.
        digits = len(str(abs(Decimal(str(value)).normalize())).replace(".", "").lstrip("0"))
        return (max(digits, 1) + 1) // 2 + 1
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(_value_size(v) + 1 for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


# Typical item sizes, used when a run does not size its items: an Inventory row (store and
# item names of about 30 characters, SourceKey and UpdatedAt) is about 200 bytes; a receipt
# with no rejected rows about 450 bytes, and each of up to 20 listed errors adds about 60.
ROW_ITEM_BYTES = 200
RECEIPT_ITEM_BYTES = 450


def usage_from_run(
    *,
    files: int,
    rows_written: int,
    loader_durations_ms: Sequence[float],
    loader_memory_mb: int,
    check_invocations: int,
    check_durations_ms: Sequence[float],
    check_memory_mb: int,
    alerts: float,
    bytes_uploaded: float,
    log_bytes: float,
    loader_invocations: int | None = None,
    init_durations_ms: Sequence[float] = (),
    init_memory_mb: int | None = None,
    row_item_bytes: float = ROW_ITEM_BYTES,
    receipt_item_bytes: float = RECEIPT_ITEM_BYTES,
    receipt_bytes: float | None = None,
    sqs_requests: int = 0,
) -> Usage:
    """Turn a run's measured totals into the average `Usage` of one file.

    `loader_durations_ms` are the receipts' `duration_ms` (one per invocation),
    `check_durations_ms` Check-Stock's reported durations. `loader_invocations` defaults
    to one per file, or more if more durations were given (retried invocations).
    `init_durations_ms` (cold-start INIT phases, billed since August 2025) are billed at
    `init_memory_mb`, the loader's memory unless given. Write units count every written
    row and one receipt per file, at `row_item_bytes` and `receipt_item_bytes` each.
    """
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    invocations = loader_invocations or max(files, len(loader_durations_ms))
    init_gb_s = billed_gb_seconds(init_durations_ms, init_memory_mb or loader_memory_mb)
    units = (
        rows_written * TRANSACTION_WRITE_FACTOR * write_units(row_item_bytes)
        + files * write_units(receipt_item_bytes)
        + alerts * ALERT_RECORD_WRITES
    )
    stored = receipt_item_bytes if receipt_bytes is None else receipt_bytes
    return Usage(
        loader_invocations=invocations / files,
        loader_gb_s=(billed_gb_seconds(loader_durations_ms, loader_memory_mb) + init_gb_s) / files,
        check_invocations=check_invocations / files,
        check_gb_s=billed_gb_seconds(check_durations_ms, check_memory_mb) / files,
        dynamodb_write_units=units / files,
        dynamodb_read_units=invocations * read_units(receipt_item_bytes) / files,
        s3_put_requests=1.0,
        s3_get_requests=invocations / files,  # every attempt reads the object
        sns_publishes=alerts / files,
        sqs_requests=sqs_requests / files,
        log_bytes=log_bytes / files,
        s3_bytes=bytes_uploaded / files,
        dynamodb_bytes=stored,
    )


# --- illustrative usage (until a run's summary feeds this) -------------------------------------


@dataclass(frozen=True)
class Assumptions:
    """What one file of `rows` rows is assumed to cost on AWS when nothing was measured.

    Memory sizes are the stack's. Durations are guesses for AWS, not emulator figures: the
    loader's fixed cost (S3 GET, receipt GetItem and PutItem, logging) plus one
    TransactWriteItems round trip per 25 rows (100 per call, 4 calls at once); Check-Stock
    per stream batch (up to 100 records) plus one SNS publish per alert. Alerts follow the
    simulator's default stock-out rate.
    """

    loader_memory_mb: int = 1024
    check_memory_mb: int = 512
    loader_base_ms: float = 40.0
    batch_write_ms: float = 12.0  # per 25 rows (a 100-row transaction, four at once)
    stream_batch_size: int = 100
    check_base_ms: float = 5.0
    check_per_record_ms: float = 0.05
    publish_ms: float = 20.0
    alerts_per_row: float = 0.03
    bytes_per_row: float = 65.0  # simulator output with non-ASCII names
    loader_log_bytes: float = 1_200.0  # START/END/REPORT, the "ingested" line, EMF metrics
    check_log_bytes: float = 700.0  # per invocation


def illustrative_usage(rows: int, assumptions: Assumptions = Assumptions()) -> Usage:
    """The `Usage` of one clean file of `rows` rows, built from `assumptions`."""
    a = assumptions
    alerts = a.alerts_per_row * rows
    batches = math.ceil(rows / a.stream_batch_size)
    check_ms = [
        a.check_base_ms + a.check_per_record_ms * rows / batches + a.publish_ms * alerts / batches
    ] * batches
    return usage_from_run(
        files=1,
        rows_written=rows,
        loader_durations_ms=[a.loader_base_ms + a.batch_write_ms * math.ceil(rows / 25)],
        loader_memory_mb=a.loader_memory_mb,
        check_invocations=batches,
        check_durations_ms=check_ms,
        check_memory_mb=a.check_memory_mb,
        alerts=alerts,
        bytes_uploaded=a.bytes_per_row * (rows + 1),
        log_bytes=a.loader_log_bytes + a.check_log_bytes * batches,
    )


# --- the projection ---------------------------------------------------------------------------


def project_monthly(
    usage_per_file: Usage,
    files_per_day: float,
    prices: Prices,
    *,
    retention_days: float = RETENTION_DAYS,
    log_retention_days: float = LOG_RETENTION_DAYS,
    custom_metrics: int = CUSTOM_METRICS,
) -> dict[str, Any]:
    """The monthly bill at `files_per_day`: lines, a per-service breakdown and the total.

    Everything but the custom metrics (a fixed monthly charge) is proportional to
    files/day. Storage is the steady state of `retention_days` of uploads and receipts and
    `log_retention_days` of logs.
    """
    if files_per_day < 0:
        raise ValueError(f"files_per_day must be >= 0, got {files_per_day}")
    p = prices
    month = usage_per_file.scaled(files_per_day * DAYS_PER_MONTH)
    day = usage_per_file.scaled(files_per_day)
    stored_s3_gb = day.s3_bytes * retention_days / GB
    stored_ddb_gb = day.dynamodb_bytes * retention_days / GB
    stored_log_gb = day.log_bytes * log_retention_days / GB
    gb_s = month.loader_gb_s + month.check_gb_s
    # (service, what, quantity, unit, unit price, USD)
    rows: list[tuple[str, str, float, str, float, float]] = [
        ("Lambda", "requests", month.loader_invocations + month.check_invocations, "1M",
         p.lambda_requests_per_million, 1e6),
        ("Lambda", "duration (x86)", gb_s, "GB-s", p.lambda_gb_second, 1),
        ("DynamoDB", "write request units", month.dynamodb_write_units, "1M",
         p.dynamodb_wru_per_million, 1e6),
        ("DynamoDB", "read request units", month.dynamodb_read_units, "1M",
         p.dynamodb_rru_per_million, 1e6),
        ("DynamoDB", "receipts storage + PITR", stored_ddb_gb, "GB-month",
         p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month, 1),
        ("S3", "PUT requests", month.s3_put_requests, "1K", p.s3_put_per_thousand, 1e3),
        ("S3", "GET requests", month.s3_get_requests, "1K", p.s3_get_per_thousand, 1e3),
        ("S3", "storage", stored_s3_gb, "GB-month", p.s3_storage_gb_month, 1),
        ("SNS", "publishes", month.sns_publishes, "1M", p.sns_publishes_per_million, 1e6),
        ("SNS", "deliveries to SQS", month.sns_publishes, "1M",
         p.sns_sqs_delivery_per_million, 1e6),
        ("SQS", "requests", month.sqs_requests, "1M", p.sqs_requests_per_million, 1e6),
        ("CloudWatch", "log ingestion", month.log_bytes / GB, "GB", p.logs_ingestion_gb, 1),
        ("CloudWatch", "log storage", stored_log_gb, "GB-month", p.logs_storage_gb_month, 1),
    ]  # fmt: skip
    lines: list[dict[str, Any]] = [
        {"service": service, "item": item, "quantity": quantity, "unit": unit,
         "unit_price_usd": price, "usd": quantity / per * price}
        for service, item, quantity, unit, price, per in rows
    ]  # fmt: skip
    fixed = custom_metrics * p.custom_metric_month
    lines.append({"service": "CloudWatch", "item": "custom metrics (fixed)",
                  "quantity": float(custom_metrics), "unit": "metric-month",
                  "unit_price_usd": p.custom_metric_month, "usd": fixed})  # fmt: skip
    services: dict[str, float] = {}
    for line in lines:
        services[line["service"]] = services.get(line["service"], 0.0) + line["usd"]
    total = sum(services.values())
    return {
        "files_per_day": files_per_day,
        "files_per_month": files_per_day * DAYS_PER_MONTH,
        "lines": lines,
        "services": services,
        "fixed_usd_per_month": fixed,
        "total_usd_per_month": total,
        "usd_per_1000_files": (total - fixed) / (files_per_day * DAYS_PER_MONTH) * 1000
        if files_per_day
        else 0.0,
        "assumptions": {
            "retention_days": retention_days,
            "log_retention_days": log_retention_days,
            "days_per_month": DAYS_PER_MONTH,
            "free_tiers": "ignored",
        },
        "prices_date": prices.date.isoformat(),
        "region": prices.region,
    }


def compare_with_seed_claim(
    usage_per_file: Usage,
    prices: Prices,
    *,
    claim_usd: tuple[float, float] = SEED_CLAIM_USD,
    files_per_day: float = SEED_FILES_PER_DAY,
    **projection_options: Any,
) -> dict[str, Any]:
    """Project the bill at the seed's 10,000 files/day and set it beside its $25-50/month."""
    low, high = claim_usd
    projection = project_monthly(usage_per_file, files_per_day, prices, **projection_options)
    total = projection["total_usd_per_month"]
    verdict = "below" if total < low else "above" if total > high else "within"
    return {
        "files_per_day": files_per_day,
        "projected_usd_per_month": total,
        "claim_low_usd": low,
        "claim_high_usd": high,
        "verdict": verdict,
        "ratio_to_claim_low": total / low,
        "ratio_to_claim_high": total / high,
    }


def report(projection: dict[str, Any], seed: dict[str, Any], console: Console) -> None:
    """Print the bill's lines, the per-service totals and the seed comparison."""
    table = Table(
        title=f"Projected AWS bill at {projection['files_per_day']:,.0f} files/day "
        f"({projection['region']}, prices of {projection['prices_date']}, free tiers ignored)"
    )
    for name, justify in (("service", "left"), ("item", "left"), ("quantity/month", "right"),
                          ("unit price", "right"), ("USD/month", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for line in projection["lines"]:
        unit = line["unit"]
        counted = unit[0].isdigit()  # priced per 1K or 1M requests: show the plain count
        table.add_row(
            line["service"],
            line["item"],
            f"{line['quantity']:,.0f}" if counted else f"{line['quantity']:,.2f} {unit}",
            f"${_price(line['unit_price_usd'])}/{unit}",
            f"{line['usd']:,.2f}",
        )
    table.add_section()
    for service, usd in projection["services"].items():
        table.add_row(f"[bold]{service}[/bold]", "", "", "", f"{usd:,.2f}")
    table.add_section()
    table.add_row("[bold]total[/bold]", "", "", "",
                  f"[bold]{projection['total_usd_per_month']:,.2f}[/bold]")  # fmt: skip
    console.print(table)
    console.print(
        f"Seed claim: ${seed['claim_low_usd']:g}-{seed['claim_high_usd']:g}/month at "
        f"{seed['files_per_day']:,.0f} files/day; projected ${seed['projected_usd_per_month']:,.2f}"
        f" ({seed['verdict']} the claim, {seed['ratio_to_claim_low']:.2f}x its low end)."
    )


def _price(usd: float) -> str:
    return f"{usd:.10f}".rstrip("0").rstrip(".") if usd else "0"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory cost`."""
    parser.add_argument("--files-per-day", type=float, default=SEED_FILES_PER_DAY)
    parser.add_argument("--rows", type=int, default=50, help="rows per file (illustrative usage)")
    parser.add_argument("--prices", type=Path, default=PRICES_PATH)
    parser.add_argument("--retention-days", type=float, default=RETENTION_DAYS)


def command(args: argparse.Namespace) -> int:
    """Run it with parsed options; the exit code."""
    prices = load_prices(args.prices)
    usage = illustrative_usage(args.rows)
    options = {"retention_days": args.retention_days}
    projection = project_monthly(usage, args.files_per_day, prices, **options)
    report(projection, compare_with_seed_claim(usage, prices, **options), Console(width=120))
    return 0
