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
- Global secondary indexes are written like tables: a row entering, leaving or rewritten in
  the sparse OutOfStock index (count 0) is one more unit per started KB, and every receipt is
  one more in RecentReceipts (both project ALL). Each file refreshes its store's summary: a
  strongly consistent Query over all of the store's items (read units per started 4 KB of
  the items' total size, however few attributes are projected) and one conditional PutItem.
- Fixed monthly charges (`StackFixed`): the 14 standard alarms, the operations dashboard,
  the ops topic's KMS key, the custom metrics, and the dashboard page's own polling of the
  query API (`DashboardUse`: HTTP API requests, the query function, its reads and logs).
- CloudTrail records each upload's PutObject as a data event (`AuditUploads`, on unless the
  stack is deployed with it false). X-Ray records a trace per sampled invocation: Lambda's
  fixed sampling keeps the first request each second and 5 % of the rest, per function, so
  traces grow with the rate only until about 1 invocation/s (`traced_per_second`).
- Storage accumulates: uploads and receipts are retained (the stack has no lifecycle rule),
  logs expire after a month. The projection prices the steady state of `retention_days`
  of data, a choice stated in its output.
- Free tiers are ignored; only first-tier prices are used.

`python -m loadtests.cost --files-per-day 10000 --rows 50` prints a projection built from
the illustrative usage below (`Assumptions`); `--from-run reports/<run>` uses a load run's
measured usage instead, and adds the concurrency and DynamoDB partition projection
(`project_load`: Little's law, peaks, the per-partition limits).
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
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
# Load-Inventory's RowsWritten, RowsStale, RowsRejected, BatchRetries, FilesLoaded,
# FilesRejected, IngestLatency, RepeatedDeliveries, SummariesRefreshed; Check-Stock's
# NoStockAlerts, AlertsNotSent, RepeatedAlerts.
CUSTOM_METRICS = 12
# infra/monitoring.py: errors, throttles and p99 duration of three functions, the iterator
# age, two failure queues, rejected files, the ingest latency p99 (tests/infra checks it).
ALARMS = 14
SUMMARY_ITEM_BYTES = 150  # a StoreSummaries item: store, counts, ComputedAt
# Lambda's fixed X-Ray sampling for active tracing: a reservoir of 1 request a second, then
# 5 % of the rest (it cannot be configured for Lambda functions).
XRAY_RESERVOIR_PER_S = 1.0
XRAY_FIXED_RATE = 0.05
SECONDS_PER_DAY = 86_400
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
    alarm_standard_month: float
    dashboard_month: float
    kms_key_month: float
    cloudtrail_data_events_per_100k: float
    xray_traces_per_million: float
    http_api_requests_per_million: float
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
        alarm_standard_month=float(doc["cloudwatch_metrics"]["alarm_standard_month"]),
        dashboard_month=float(doc["cloudwatch_metrics"]["dashboard_month"]),
        kms_key_month=float(doc["kms"]["key_month"]),
        cloudtrail_data_events_per_100k=float(doc["cloudtrail"]["data_events_per_100k"]),
        xray_traces_per_million=float(doc["xray"]["traces_recorded_per_million"]),
        http_api_requests_per_million=float(doc["api_gateway"]["http_requests_per_million"]),
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
    dynamodb_read_units: float = 0.0  # the receipt lookup
    dynamodb_index_write_units: float = 0.0  # OutOfStock (rows at 0) and RecentReceipts
    dynamodb_summary_read_units: float = 0.0  # the store summary's Query over the store
    dynamodb_summary_write_units: float = 0.0  # the store summary's conditional PutItem
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
    index_writes: float | None = None,
    summary_read_units: float | None = None,
    summary_refreshes: int | None = None,
) -> Usage:
    """Turn a run's measured totals into the average `Usage` of one file.

    `loader_durations_ms` are the receipts' `duration_ms` (one per invocation),
    `check_durations_ms` Check-Stock's reported durations. `loader_invocations` defaults
    to one per file, or more if more durations were given (retried invocations).
    `init_durations_ms` (cold-start INIT phases, billed since August 2025) are billed at
    `init_memory_mb`, the loader's memory unless given. Write units count every written
    row and one receipt per file, at `row_item_bytes` and `receipt_item_bytes` each.

    The store summaries: `summary_refreshes` (default one per invocation: a file holds one
    store) Queries reading `summary_read_units` in all (default: each store holds the rows of
    one file, `row_item_bytes` each), and as many summary puts. `index_writes` are the rows
    that entered, left or were rewritten in the sparse OutOfStock index (default: the
    simulator's steady state, `Assumptions.index_writes_per_row` of the rows); each receipt
    also writes the RecentReceipts index.
    """
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    invocations = loader_invocations or max(files, len(loader_durations_ms))
    init_gb_s = billed_gb_seconds(init_durations_ms, init_memory_mb or loader_memory_mb)
    row_units = write_units(row_item_bytes)
    units = (
        rows_written * TRANSACTION_WRITE_FACTOR * row_units
        + files * write_units(receipt_item_bytes)
        + alerts * ALERT_RECORD_WRITES
    )
    if index_writes is None:
        index_writes = rows_written * Assumptions().index_writes_per_row
    refreshes = invocations if summary_refreshes is None else summary_refreshes
    if summary_read_units is None:
        summary_read_units = refreshes * read_units(rows_written / files * row_item_bytes)
    stored = receipt_item_bytes if receipt_bytes is None else receipt_bytes
    return Usage(
        loader_invocations=invocations / files,
        loader_gb_s=(billed_gb_seconds(loader_durations_ms, loader_memory_mb) + init_gb_s) / files,
        check_invocations=check_invocations / files,
        check_gb_s=billed_gb_seconds(check_durations_ms, check_memory_mb) / files,
        dynamodb_write_units=units / files,
        dynamodb_read_units=invocations * read_units(receipt_item_bytes) / files,
        dynamodb_index_write_units=(
            index_writes * row_units + files * write_units(receipt_item_bytes)
        )
        / files,
        dynamodb_summary_read_units=summary_read_units / files,
        dynamodb_summary_write_units=refreshes * write_units(SUMMARY_ITEM_BYTES) / files,
        s3_put_requests=1.0,
        s3_get_requests=invocations / files,  # every attempt reads the object
        sns_publishes=alerts / files,
        sqs_requests=sqs_requests / files,
        log_bytes=log_bytes / files,
        s3_bytes=bytes_uploaded / files,
        dynamodb_bytes=stored,
    )


@dataclass(frozen=True)
class Replayed:
    """What applying a run's files to the table gives, for the bill (`replay`)."""

    index_writes: int  # writes to the sparse OutOfStock index
    store_items: dict[str, int]  # each store's items afterwards (its summary Query reads all)


def replay(
    before: Mapping[tuple[str, str], int], files: Iterable[Iterable[tuple[str, str, int]]]
) -> Replayed:
    """Apply `files` (rows `(store, item, count)` in upload order) over the table `before`.

    A row at 0 puts the item in the OutOfStock index (or rewrites it there: SourceKey and the
    version change), a row above 0 over a stored 0 removes it: one index write each. Every
    row is assumed written (a clean run has no stale rows).
    """
    table = dict(before)
    writes = 0
    for rows in files:
        for store, item, count in rows:
            if count == 0 or table.get((store, item)) == 0:
                writes += 1
            table[(store, item)] = count
    items: dict[str, int] = {}
    for store, _item in table:
        items[store] = items.get(store, 0) + 1
    return Replayed(writes, items)


# --- illustrative usage (until a run's summary feeds this) -------------------------------------


@dataclass(frozen=True)
class Assumptions:
    """What one file of `rows` rows is assumed to cost on AWS when nothing was measured.

    Memory sizes are the stack's. Durations are guesses for AWS, not emulator figures: the
    loader's fixed cost (S3 GET, receipt GetItem and PutItem, logging) plus one
    TransactWriteItems round trip per 25 rows (100 per call, 4 calls at once); Check-Stock
    per stream batch (up to 100 records) plus one SNS publish per alert. Alerts and index
    writes follow the simulator's defaults: an item goes to 0 with p = 0.03 a day and comes
    back with p = 0.5, so in steady state 0.03 / 0.53 = 5.7 % of the rows are at 0 (each
    rewrites its OutOfStock entry) and 2.8 % leave 0 (each deletes it): 0.085 index writes
    a row, and 0.03 x 94 % = 2.8 % of the rows alert.
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
    index_writes_per_row: float = 0.085
    # NoStock's delivery-status logging (infra/alerts.py: every success, one line per delivery
    # to an SQS, Lambda or HTTP subscriber), for one such subscriber.
    delivery_log_bytes: float = 900.0


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
        log_bytes=a.loader_log_bytes + a.check_log_bytes * batches + a.delivery_log_bytes * alerts,
        index_writes=a.index_writes_per_row * rows,
    )


# --- what the stack costs whatever the load ---------------------------------------------------


# The dashboard page (web/app.js) polls every 5 s while its tab is visible, 100 items a page,
# at most 20 pages a list; the query function (infra/dashboard.py) has 512 MB.
POLLS_PER_HOUR, PAGE_ITEMS, MAX_PAGES, QUERY_MEMORY_MB = 720, 100, 20, 512
# Guessed for AWS: 25 ms a request, items of 200 bytes, 350 bytes of access log and 700 of
# the function's own lines (START, END, REPORT, the request) a request.
QUERY_MS, PAGE_ITEM_BYTES, QUERY_LOG_BYTES = 25.0, 200, 350 + 700
# A store as the simulator makes it: 50 items, 5.7 % of them at 0 in its steady state.
STORE_ITEMS, OUT_OF_STOCK_SHARE = 50, 0.057


@dataclass(frozen=True)
class DashboardUse:
    """The dashboard page polling the query API: a fixed monthly use, whatever the files/day.

    Each poll reads every page of /stores and of /out-of-stock, the 20 latest receipts, and
    the selected store's items. `viewer_hours_per_month` 176 is one tab open during office
    hours (8 h, 22 days); a wall screen open all month is 730.
    """

    viewer_hours_per_month: float = 176.0
    stores: int = 1_000

    @property
    def out_of_stock_items(self) -> int:
        return round(self.stores * STORE_ITEMS * OUT_OF_STOCK_SHARE)

    @staticmethod
    def pages(items: int) -> int:
        return max(1, min(MAX_PAGES, math.ceil(items / PAGE_ITEMS)))

    @property
    def requests_per_poll(self) -> int:
        # /stores, /out-of-stock, /receipts?limit=20, the selected store's items (one page)
        return self.pages(self.stores) + self.pages(self.out_of_stock_items) + 2

    @property
    def requests_per_month(self) -> float:
        return self.viewer_hours_per_month * POLLS_PER_HOUR * self.requests_per_poll

    @property
    def read_units_per_request(self) -> float:
        """An eventually consistent page: half a unit per started 4 KB of its items."""
        return read_units(PAGE_ITEMS * PAGE_ITEM_BYTES) / 2


@dataclass(frozen=True)
class StackFixed:
    """The stack's monthly charges that do not depend on files/day (`none()`: nothing)."""

    alarms: int = ALARMS
    dashboards: int = 1  # InventoryOperations
    kms_keys: int = 1  # the ops topic's key (NoStock uses the AWS-managed SNS key)
    custom_metrics: int = CUSTOM_METRICS
    dashboard_use: DashboardUse = DashboardUse()

    @classmethod
    def none(cls) -> StackFixed:
        return cls(0, 0, 0, 0, DashboardUse(viewer_hours_per_month=0))


def traced_per_second(
    rate: float, reservoir: float = XRAY_RESERVOIR_PER_S, fixed_rate: float = XRAY_FIXED_RATE
) -> float:
    """Traces X-Ray records per second of a function invoked `rate` times a second."""
    return min(rate, reservoir) + fixed_rate * max(rate - reservoir, 0.0)


# --- the projection ---------------------------------------------------------------------------

# (service, what, quantity, unit, unit price, per how many units, fixed?)
_Line = tuple[str, str, float, str, float, float, bool]


def project_monthly(
    usage_per_file: Usage,
    files_per_day: float,
    prices: Prices,
    *,
    retention_days: float = RETENTION_DAYS,
    log_retention_days: float = LOG_RETENTION_DAYS,
    fixed: StackFixed = StackFixed(),
    audit_uploads: bool = True,
    tracing: bool = True,
) -> dict[str, Any]:
    """The monthly bill at `files_per_day`: lines, a per-service breakdown and the total.

    Every line is proportional to files/day but X-Ray's (sampling: see `traced_per_second`,
    with files spread evenly over the day) and the `fixed` ones. Storage is the steady state
    of `retention_days` of uploads and receipts and `log_retention_days` of logs.
    `audit_uploads`: the stack's AuditUploads parameter (CloudTrail data events); `tracing`:
    active X-Ray tracing on the functions (the stack's).
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
    seconds = SECONDS_PER_DAY * DAYS_PER_MONTH

    def traces(invocations_per_day: float) -> float:
        return traced_per_second(invocations_per_day / SECONDS_PER_DAY) * seconds if tracing else 0

    rows: list[_Line] = [
        ("Lambda", "requests", month.loader_invocations + month.check_invocations, "1M",
         p.lambda_requests_per_million, 1e6, False),
        ("Lambda", "duration (x86)", gb_s, "GB-s", p.lambda_gb_second, 1, False),
        ("DynamoDB", "write units: rows, receipts, AlertsSent", month.dynamodb_write_units,
         "1M", p.dynamodb_wru_per_million, 1e6, False),
        ("DynamoDB", "write units: OutOfStock + RecentReceipts indexes",
         month.dynamodb_index_write_units, "1M", p.dynamodb_wru_per_million, 1e6, False),
        ("DynamoDB", "write units: store summaries", month.dynamodb_summary_write_units, "1M",
         p.dynamodb_wru_per_million, 1e6, False),
        ("DynamoDB", "read units: receipt lookups", month.dynamodb_read_units, "1M",
         p.dynamodb_rru_per_million, 1e6, False),
        ("DynamoDB", "read units: store summary Query", month.dynamodb_summary_read_units, "1M",
         p.dynamodb_rru_per_million, 1e6, False),
        ("DynamoDB", "receipts storage + PITR", stored_ddb_gb, "GB-month",
         p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month, 1, False),
        ("S3", "PUT requests", month.s3_put_requests, "1K", p.s3_put_per_thousand, 1e3, False),
        ("S3", "GET requests", month.s3_get_requests, "1K", p.s3_get_per_thousand, 1e3, False),
        ("S3", "storage", stored_s3_gb, "GB-month", p.s3_storage_gb_month, 1, False),
        ("SNS", "publishes", month.sns_publishes, "1M", p.sns_publishes_per_million, 1e6, False),
        ("SNS", "deliveries to SQS", month.sns_publishes, "1M",
         p.sns_sqs_delivery_per_million, 1e6, False),
        ("SQS", "requests", month.sqs_requests, "1M", p.sqs_requests_per_million, 1e6, False),
        ("CloudWatch", "log ingestion", month.log_bytes / GB, "GB", p.logs_ingestion_gb, 1,
         False),
        ("CloudWatch", "log storage", stored_log_gb, "GB-month", p.logs_storage_gb_month, 1,
         False),
        ("CloudTrail", "data events (each upload's PutObject)",
         month.s3_put_requests if audit_uploads else 0.0, "100K",
         p.cloudtrail_data_events_per_100k, 1e5, False),
        ("X-Ray", "traces: Load-Inventory", traces(day.loader_invocations), "1M",
         p.xray_traces_per_million, 1e6, False),
        ("X-Ray", "traces: Check-Stock", traces(day.check_invocations), "1M",
         p.xray_traces_per_million, 1e6, False),
    ]  # fmt: skip
    rows += _fixed_lines(fixed, p, tracing)
    lines: list[dict[str, Any]] = [
        {"service": service, "item": item, "quantity": quantity, "unit": unit,
         "unit_price_usd": price, "usd": quantity / per * price, "fixed": is_fixed}
        for service, item, quantity, unit, price, per, is_fixed in rows
    ]  # fmt: skip
    services: dict[str, float] = {}
    for line in lines:
        services[line["service"]] = services.get(line["service"], 0.0) + line["usd"]
    total = sum(services.values())
    fixed_usd = sum(line["usd"] for line in lines if line["fixed"])
    files_per_month = files_per_day * DAYS_PER_MONTH
    return {
        "files_per_day": files_per_day,
        "files_per_month": files_per_month,
        "lines": lines,
        "services": services,
        "fixed_usd_per_month": fixed_usd,
        "variable_usd_per_month": total - fixed_usd,
        "total_usd_per_month": total,
        "usd_per_1000_files": (total - fixed_usd) / files_per_month * 1000
        if files_per_day
        else 0.0,
        "assumptions": {
            "retention_days": retention_days,
            "log_retention_days": log_retention_days,
            "days_per_month": DAYS_PER_MONTH,
            "free_tiers": "ignored",
            "audit_uploads": audit_uploads,
            "tracing": tracing,
            "dashboard_viewer_hours_per_month": fixed.dashboard_use.viewer_hours_per_month,
            "dashboard_requests_per_poll": fixed.dashboard_use.requests_per_poll,
        },
        "prices_date": prices.date.isoformat(),
        "region": prices.region,
    }


def _fixed_lines(fixed: StackFixed, p: Prices, tracing: bool) -> list[_Line]:
    """The stack's fixed monthly lines, the dashboard's polling of the query API included."""
    use = fixed.dashboard_use
    requests = use.requests_per_month
    viewing_s = use.viewer_hours_per_month * 3600
    rate = POLLS_PER_HOUR * use.requests_per_poll / 3600  # requests/s while viewing
    traced = traced_per_second(rate) * viewing_s if tracing else 0.0
    query_gb_s = billed_gb_seconds([QUERY_MS], QUERY_MEMORY_MB) * requests
    log_gb = requests * QUERY_LOG_BYTES / GB
    return [
        ("CloudWatch", "alarms (standard resolution)", float(fixed.alarms), "alarm-month",
         p.alarm_standard_month, 1, True),
        ("CloudWatch", "operations dashboard", float(fixed.dashboards), "dashboard-month",
         p.dashboard_month, 1, True),
        ("CloudWatch", "custom metrics", float(fixed.custom_metrics), "metric-month",
         p.custom_metric_month, 1, True),
        ("KMS", "ops topic key", float(fixed.kms_keys), "key-month", p.kms_key_month, 1, True),
        ("API Gateway", "query API requests (dashboard polling)", requests, "1M",
         p.http_api_requests_per_million, 1e6, True),
        ("Lambda", "query API requests", requests, "1M", p.lambda_requests_per_million, 1e6,
         True),
        ("Lambda", "query API duration (x86)", query_gb_s, "GB-s", p.lambda_gb_second, 1, True),
        ("DynamoDB", "read units: query API", requests * use.read_units_per_request, "1M",
         p.dynamodb_rru_per_million, 1e6, True),
        ("CloudWatch", "query API log ingestion", log_gb, "GB", p.logs_ingestion_gb, 1, True),
        ("X-Ray", "traces: query API", traced, "1M", p.xray_traces_per_million, 1e6, True),
    ]  # fmt: skip


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


# --- concurrency and partitions: what the rate needs besides money ------------------------------

ACCOUNT_CONCURRENCY = 1_000  # Lambda's default concurrent executions per account and region
PARTITION_WCU_PER_S = 1_000  # DynamoDB: write units a second one partition (key) takes
PARTITION_RCU_PER_S = 3_000  # and read units


@dataclass(frozen=True)
class LoadInputs:
    """What a file needs, measured (or assumed), for `project_load`.

    `loader_ms` is the loader's mean duration (Little's law wants the mean) and
    `loader_p99_ms` its tail; `write_units_per_file` are the units one file writes into its
    store's partition (rows, transactional), `index_units_per_file` into the OutOfStock
    index's partition for the same store, `summary_read_units_per_file` the summary's Query
    of that partition. `reserved_concurrency` is the loader's, when the stack sets one (it
    sets none: every function draws on the account's pool).
    """

    loader_ms: float
    loader_p99_ms: float
    check_invocations_per_file: float
    check_ms: float
    rows_per_file: float
    write_units_per_file: float
    index_units_per_file: float
    summary_read_units_per_file: float
    stores: int = 1_000
    peak_factor: float = 10.0
    account_concurrency: int = ACCOUNT_CONCURRENCY
    reserved_concurrency: int | None = None
    other_concurrency: float = 1.0  # the query API while the dashboard is open


def project_load(inputs: LoadInputs, files_per_day: float) -> dict[str, Any]:
    """Concurrency (Little's law: arrival rate x duration) and per-store partition load.

    Files arrive at `files_per_day` / 86,400 a second on average and `peak_factor` times
    that at the peak. The Inventory table is keyed by Store then Item, so a store's rows
    share one partition key, as its OutOfStock index entries do: a store's files are limited
    by one partition's 1,000 write units a second (and 3,000 read units for the summary's
    Query), however fast the loader writes.
    """
    i = inputs
    mean_rate = files_per_day / SECONDS_PER_DAY
    peak_rate = mean_rate * i.peak_factor
    loader_s, p99_s = i.loader_ms / 1000, i.loader_p99_ms / 1000
    checker = mean_rate * i.check_invocations_per_file * i.check_ms / 1000
    # A file's rows go to one partition: at most PARTITION_WCU_PER_S units a second. A file
    # within one second's units is not held back; a bigger one takes at least its units'
    # seconds, however fast the loader writes.
    units_s = i.write_units_per_file / PARTITION_WCU_PER_S
    partition_s = units_s if units_s > 1 else 0.0
    limit = i.reserved_concurrency or i.account_concurrency
    peak = peak_rate * max(loader_s, partition_s)
    store_rate = mean_rate / max(i.stores, 1)
    return {
        "files_per_day": files_per_day,
        "mean_files_per_s": mean_rate,
        "peak_factor": i.peak_factor,
        "peak_files_per_s": peak_rate,
        "loader": {
            "mean_duration_ms": i.loader_ms,
            "p99_duration_ms": i.loader_p99_ms,
            "mean_concurrency": mean_rate * loader_s,
            "peak_concurrency": peak,
            "peak_concurrency_at_p99_duration": peak_rate * max(p99_s, partition_s),
            "limit": limit,
            "limit_is": "reserved" if i.reserved_concurrency else "account default",
            "peak_share_of_limit": peak / limit,
        },
        "check_stock": {
            "mean_concurrency": checker,
            "peak_concurrency": checker * i.peak_factor,
            "note": "one batch at a time per stream shard (ParallelizationFactor 1)",
        },
        "all_functions_peak_concurrency": peak + checker * i.peak_factor + i.other_concurrency,
        "dynamodb": {
            "partition_key": "Store (Inventory: Store + Item; OutOfStock: OutOfStockStore "
            "+ Item): a store's rows share one partition key",
            "write_units_per_file": i.write_units_per_file,
            "index_units_per_file": i.index_units_per_file,
            "summary_read_units_per_file": i.summary_read_units_per_file,
            "min_seconds_per_file_at_partition_limit": units_s,
            "held_back_by_its_partition": partition_s > 0,
            "max_rows_per_s_into_one_store": PARTITION_WCU_PER_S
            * i.rows_per_file
            / max(i.write_units_per_file, 1e-9),
            "max_files_per_s_per_store": PARTITION_WCU_PER_S / max(i.write_units_per_file, 1e-9),
            "stores": i.stores,
            "mean_files_per_s_per_store": store_rate,
            "peak_write_units_per_s_per_store": store_rate * i.peak_factor * i.write_units_per_file,
            "summary_query_share_of_partition_read_limit": i.summary_read_units_per_file
            / PARTITION_RCU_PER_S,
            "hot_store_throttles_at_peak": store_rate * i.peak_factor * i.write_units_per_file
            > PARTITION_WCU_PER_S,
        },
    }


def load_inputs_from_summary(
    summary: Mapping[str, Any], *, stores: int, peak_factor: float
) -> LoadInputs:
    """`LoadInputs` from a load run's summary.json (its `cost` block and loader durations)."""
    cost = summary["cost"]
    measured, usage = cost["measured"], cost["usage_per_file"]
    files = max(measured["files"], 1)
    rows = summary["rows_written"] / files
    loader_calls = max(measured["loader_invocations"], 1)
    check_calls = measured["check_invocations"]
    return LoadInputs(
        loader_ms=measured["loader_duration_ms_total"] / loader_calls,
        loader_p99_ms=float(summary["loader_duration_ms"]["p99"] or 0.0),
        check_invocations_per_file=check_calls / files,
        check_ms=measured["check_duration_ms_total"] / max(check_calls, 1),
        rows_per_file=rows,
        write_units_per_file=rows * TRANSACTION_WRITE_FACTOR * measured.get("row_write_units", 1),
        index_units_per_file=usage["dynamodb_index_write_units"],
        summary_read_units_per_file=usage["dynamodb_summary_read_units"],
        stores=stores,
        peak_factor=peak_factor,
    )


def usage_from_summary(summary: Mapping[str, Any]) -> Usage:
    """The measured per-file `Usage` a load run's summary.json recorded."""
    known = {f.name for f in fields(Usage)}
    return Usage(
        **{k: float(v) for k, v in summary["cost"]["usage_per_file"].items() if k in known}
    )


# --- printing -----------------------------------------------------------------------------------


def report(projection: dict[str, Any], seed: dict[str, Any] | None, console: Console) -> None:
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
            line["item"] + (" (fixed)" if line.get("fixed") else ""),
            f"{line['quantity']:,.0f}" if counted else f"{line['quantity']:,.2f} {unit}",
            f"${_price(line['unit_price_usd'])}/{unit}",
            f"{line['usd']:,.2f}",
        )
    table.add_section()
    for service, usd in sorted(projection["services"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"[bold]{service}[/bold]", "", "", "", f"{usd:,.2f}")
    table.add_section()
    table.add_row("[bold]total[/bold]", "of which fixed", "", "",
                  f"[bold]{projection['total_usd_per_month']:,.2f}[/bold] "
                  f"({projection['fixed_usd_per_month']:,.2f})")  # fmt: skip
    console.print(table)
    console.print(
        f"Per 1,000 files (the load-dependent part): ${projection['usd_per_1000_files']:.4f}"
    )
    if seed is not None:
        console.print(
            f"Seed claim: ${seed['claim_low_usd']:g}-{seed['claim_high_usd']:g}/month at "
            f"{seed['files_per_day']:,.0f} files/day; projected "
            f"${seed['projected_usd_per_month']:,.2f} ({seed['verdict']} the claim, "
            f"{seed['ratio_to_claim_low']:.2f}x its low end)."
        )


def report_load(load: dict[str, Any], console: Console) -> None:
    """Print the concurrency and partition projection."""
    lo, ddb = load["loader"], load["dynamodb"]
    table = Table(
        title=f"Concurrency and DynamoDB partitions at {load['files_per_day']:,.0f} files/day "
        f"(peak = {load['peak_factor']:g} x the mean rate)",
        show_header=False,
    )
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("arrival rate", f"{load['mean_files_per_s']:.2f} files/s mean, "
         f"{load['peak_files_per_s']:.1f} files/s at the peak"),
        ("Load-Inventory duration", f"{lo['mean_duration_ms']:.0f} ms mean invocation, "
         f"{lo['p99_duration_ms']:.0f} ms p99 to the receipt"),
        ("Load-Inventory concurrency", f"{lo['mean_concurrency']:.2f} mean, "
         f"{lo['peak_concurrency']:.1f} at the peak ({lo['peak_concurrency_at_p99_duration']:.1f}"
         f" if every file took the p99)"),
        ("against the limit", f"{lo['peak_share_of_limit']:.1%} of {lo['limit']:,} "
         f"({lo['limit_is']}; the stack reserves no concurrency)"),
        ("Check-Stock concurrency", f"{load['check_stock']['mean_concurrency']:.3f} mean, "
         f"{load['check_stock']['peak_concurrency']:.2f} at the peak"),
        ("write units per file, one partition", f"{ddb['write_units_per_file']:,.0f} "
         f"(+{ddb['index_units_per_file']:,.1f} index, summary Query "
         f"{ddb['summary_read_units_per_file']:,.1f} read units)"),
        ("one store's limits", f"{ddb['max_rows_per_s_into_one_store']:,.0f} rows/s, "
         f"{ddb['max_files_per_s_per_store']:,.1f} files/s; a file's units take "
         f"{ddb['min_seconds_per_file_at_partition_limit']:.2f} partition-seconds"
         + (" (held back)" if ddb["held_back_by_its_partition"] else "")),
        ("per store", f"{ddb['stores']:,} stores: {ddb['mean_files_per_s_per_store']:.4f} "
         f"files/s mean, {ddb['peak_write_units_per_s_per_store']:,.1f} WCU/s at the peak: "
         + ("THROTTLES" if ddb["hot_store_throttles_at_peak"] else "under 1,000 WCU/s")),
    ]  # fmt: skip
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def _price(usd: float) -> str:
    return f"{usd:.10f}".rstrip("0").rstrip(".") if usd else "0"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory cost`."""
    parser.description = (
        "Project the monthly AWS bill (and, with --from-run, the concurrency and DynamoDB "
        "partition load) at a files/day rate."
    )
    parser.add_argument("--files-per-day", type=float, default=SEED_FILES_PER_DAY)
    parser.add_argument("--rows", type=int, default=50, help="rows per file (illustrative usage)")
    parser.add_argument(
        "--from-run", type=Path, metavar="RUN",
        help="use a load run's measured usage (reports/<run> or its summary.json) instead of "
        "the illustrative one, and project concurrency and partitions too",
    )  # fmt: skip
    parser.add_argument("--prices", type=Path, default=PRICES_PATH)
    parser.add_argument("--retention-days", type=float, default=RETENTION_DAYS)
    load = parser.add_argument_group("with --from-run: concurrency and partitions")
    load.add_argument("--peak-factor", type=float, default=10.0, help=PEAK_HELP)
    fixed = parser.add_argument_group("the stack's fixed costs")
    fixed.add_argument("--stores", type=int, default=1_000, help=STORES_HELP)
    fixed.add_argument(
        "--dashboard-hours", type=float, default=DashboardUse.viewer_hours_per_month,
        help="hours a month a dashboard tab is open and polling (default 176: office hours; "
        "730 is always)",
    )  # fmt: skip
    fixed.add_argument("--no-audit", action="store_true", help="AuditUploads=false: no CloudTrail")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")


PEAK_HELP = "peak / mean rate (default 10: a day's uploads bunched into a couple of hours)"
STORES_HELP = "stores sharing the files: per-store partition load, the dashboard's pages"


def command(args: argparse.Namespace) -> int:
    """Run it with parsed options; the exit code."""
    console = Console(width=120)
    prices = load_prices(args.prices)
    summary: dict[str, Any] | None = None
    if args.from_run is not None:
        path = args.from_run / "summary.json" if args.from_run.is_dir() else args.from_run
        summary = json.loads(path.read_text("utf-8"))
        if "usage_per_file" not in summary.get("cost", {}):
            console.print(f"[red]error:[/] {path} has no measured usage (its cost block failed)")
            return 2
        usage = usage_from_summary(summary)
    else:
        usage = illustrative_usage(args.rows)
    dashboard = DashboardUse(viewer_hours_per_month=args.dashboard_hours, stores=args.stores)
    options: dict[str, Any] = {
        "retention_days": args.retention_days,
        "fixed": StackFixed(dashboard_use=dashboard),
        "audit_uploads": not args.no_audit,
    }
    projection = project_monthly(usage, args.files_per_day, prices, **options)
    seed = compare_with_seed_claim(usage, prices, **options) if summary is None else None
    report(projection, seed, console)
    result: dict[str, Any] = {"usage_per_file": asdict(usage), "monthly": projection}
    if summary is not None:
        inputs = load_inputs_from_summary(summary, stores=args.stores, peak_factor=args.peak_factor)
        result["load"] = project_load(inputs, args.files_per_day)
        result["from_run"] = summary["run_id"]
        report_load(result["load"], console)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
        console.print(f"Written to {args.json}")
    return 0
