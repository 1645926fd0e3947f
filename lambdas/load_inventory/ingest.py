"""Load-Inventory's flow: read an object, parse it, write its rows, record a receipt."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from inventory.batching import BatchStore, WriteOutcome, write_all
from inventory.csv_format import RowError, parse_stream
from inventory.receipts import (
    ObjectRef,
    ParseSummary,
    Receipt,
    build_receipt,
    ingest_latency_ms,
    stores_kept,
)
from inventory.summaries import ItemStamp, StoreSummary, computed_now, summarize
from inventory.versions import row_version, upload_version
from load_inventory.aws import Item, ObjectReplacedError, to_item


class ObjectSource(Protocol):
    def open(self, bucket: str, key: str, etag: str = "") -> Iterator[bytes] | None: ...


class ReceiptStore(Protocol):
    def get(self, object_key: str, receipt_id: str) -> Receipt | None: ...
    def put(self, receipt: Receipt) -> Receipt: ...


class SummaryStore(Protocol):
    def stamps(self, store: str) -> Iterator[ItemStamp]: ...
    def put(self, summary: StoreSummary) -> bool: ...


class RowsNotWrittenError(RuntimeError):
    """Some rows never got through; the invocation fails so it is retried, then dead-lettered."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# The largest object one invocation loads within Lambda's 15 minutes, with a wide margin
# (docs/design.md, "Large files"); a larger one is rejected with this reason, never left to
# time out.
MAX_OBJECT_BYTES = 150 * 1024 * 1024


def too_large(size: int) -> str:
    return (
        f"file too large: {size:,} bytes, over the {MAX_OBJECT_BYTES:,}-byte limit; "
        "split it into several files"
    )


def _discard(opening: Future[Iterator[bytes] | None]) -> None:
    """Close an object opened for nothing (its upload was applied already)."""
    try:
        chunks = opening.result()
    except Exception:  # whatever the read found, the receipt already answers
        return
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


@dataclass(frozen=True)
class FileRejected:
    """A file rejected before any of it was parsed (a `ParseSummary`)."""

    file_error: str | None
    errors: tuple[RowError, ...] = ()
    error_count: int = 0
    duplicate_count: int = 0


NOTHING_PARSED = FileRejected(None)  # a file never read: no rows, no errors, not rejected


# Batches written at once: the rows of a window are unique, so their batches are independent.
WRITE_CONCURRENCY = 4


class Ingestor:
    """Turns one uploaded object into table rows and exactly one receipt.

    Delivery is at least once and in any order, so:
    - an upload whose receipt exists was applied already, and is not applied again;
    - every row is written only if its version (inventory.versions) is newer than the stored
      one, so a late event for an older upload never overwrites newer data, and never causes
      a change that could alert. Such rows are counted in the receipt as stale.

    After the receipt, the summary of every store with valid rows in the file is recounted
    from the table (inventory.summaries), off the path that makes the file visible. The
    receipt names those stores, and every delivery of an upload already applied recounts
    them again: an attempt that died between its receipt and its recounts leaves them to
    the retry. Every such store, not only those with rows written: the retry finds its rows
    stale. A file whose store names are too many to keep in a receipt
    (inventory.receipts.MAX_STORES_BYTES) has its summaries recounted before its receipt.
    """

    def __init__(
        self,
        objects: ObjectSource,
        inventory: BatchStore[Item],
        receipts: ReceiptStore,
        summaries: SummaryStore,
        logger: Logger,
        metrics: Metrics,
        clock: Callable[[], str] = utc_now,
        concurrency: int = WRITE_CONCURRENCY,
        summary_clock: Callable[[], str] = computed_now,
    ) -> None:
        self._objects = objects
        self._inventory = inventory
        self._receipts = receipts
        self._summaries = summaries
        self._summary_clock = summary_clock
        self._logger = logger
        self._metrics = metrics
        self._clock = clock
        self._concurrency = concurrency
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-object")

    def ingest(self, ref: ObjectRef) -> Receipt:
        started = time.perf_counter()
        # One event may name several uploads: each line logged from here on names this one.
        self._logger.set_correlation_id(ref.correlation_id or None)
        self._logger.info(
            "ingest started",
            extra={"object_key": ref.key, "receipt_id": ref.receipt_id, "size": ref.size},
        )
        # The object is opened while the receipt is looked up: two round trips overlap.
        opening = None
        if ref.size <= MAX_OBJECT_BYTES:
            opening = self._reader.submit(self._objects.open, ref.bucket, ref.key, ref.etag)
        applied = self._receipts.get(ref.key, ref.receipt_id)
        if applied is not None:
            if opening is not None:
                _discard(opening)
            self._logger.info(
                "already applied", extra={"object_key": ref.key, "receipt_id": ref.receipt_id}
            )
            self._metrics.add_metric("RepeatedDeliveries", MetricUnit.Count, 1)
            self._refresh_summaries(applied.stores)
            return applied
        if opening is None:
            return self._reject(ref, started, too_large(ref.size))
        try:
            chunks = opening.result()
        except ObjectReplacedError:
            # A newer upload of the key replaced this one before it was loaded; that upload's
            # own event loads it. This one is superseded: nothing of it is applied.
            return self._keep(ref, NOTHING_PARSED, WriteOutcome(), started, superseded=True)
        if chunks is None:
            return self._reject(ref, started, "object not found (deleted before loading)")
        parsed = parse_stream(chunks)
        version = upload_version(ref.event_time, ref.receipt_id)
        updated_at = self._clock()
        outcome: WriteOutcome[Item] = WriteOutcome()
        stores: set[str] = set()  # the stores, not the rows: memory stays bounded
        for window in parsed:
            stores.update(row.store for row in window)
            items = [
                to_item(
                    row, ref.key, updated_at, row_version(version, row.line), ref.correlation_id
                )
                for row in window
            ]
            outcome.add(write_all(self._inventory, items, concurrency=self._concurrency))
            if outcome.failed:
                raise RowsNotWrittenError(
                    f"{len(outcome.failed)} rows of {ref.key} were not written "
                    f"(after {outcome.written} written)"
                )
        named = stores_kept(sorted(stores))
        if named is None:  # too many to name in the receipt: recounted before it
            self._refresh_summaries(sorted(stores))
        kept = self._keep(ref, parsed, outcome, started, stores=named or ())
        self._refresh_summaries(kept.stores)
        return kept

    def _refresh_summaries(self, stores: Sequence[str]) -> None:
        """Recount each store from the table; a summary computed later is never overwritten."""
        outdated = 0
        for store in stores:
            computed_at = self._summary_clock()  # before the read: what it counts is newer
            summary = summarize(store, self._summaries.stamps(store), computed_at)
            outdated += not self._summaries.put(summary)
        self._metrics.add_metric("SummariesRefreshed", MetricUnit.Count, len(stores) - outdated)

    def _reject(self, ref: ObjectRef, started: float, reason: str) -> Receipt:
        return self._keep(ref, FileRejected(reason), WriteOutcome(), started)

    def _keep(
        self,
        ref: ObjectRef,
        parsed: ParseSummary,
        outcome: WriteOutcome[Item],
        started: float,
        superseded: bool = False,
        stores: tuple[str, ...] = (),
    ) -> Receipt:
        duration_ms = (time.perf_counter() - started) * 1000
        receipt = build_receipt(
            ref, parsed, outcome.written, duration_ms, self._clock(), rows_stale=outcome.stale
        )
        receipt = replace(receipt, superseded=superseded, stores=stores)
        kept = self._receipts.put(receipt)
        self._record(kept, outcome.retries)
        if kept is receipt:  # this delivery wrote it (a racing one may have been first)
            self._record_latency(kept)
        return kept

    def _record_latency(self, receipt: Receipt) -> None:
        """IngestLatency: from the S3 event to the receipt, once per receipt written."""
        latency = ingest_latency_ms(receipt)
        if latency is not None:
            self._metrics.add_metric("IngestLatency", MetricUnit.Milliseconds, round(latency, 3))

    def _record(self, receipt: Receipt, retries: int) -> None:
        self._logger.info(
            "ingested",
            extra={
                "object_key": receipt.object_key,
                "receipt_id": receipt.receipt_id,
                "superseded": receipt.superseded,
                "status": receipt.status,
                "rows_written": receipt.rows_written,
                "rows_stale": receipt.rows_stale,
                "rows_rejected": receipt.rows_rejected,
                "reason": receipt.reason,
                "first_errors": receipt.as_dict()["errors"][:3],
            },
        )
        self._metrics.add_metric("RowsWritten", MetricUnit.Count, receipt.rows_written)
        self._metrics.add_metric("RowsStale", MetricUnit.Count, receipt.rows_stale)
        self._metrics.add_metric("RowsRejected", MetricUnit.Count, receipt.rows_rejected)
        self._metrics.add_metric("BatchRetries", MetricUnit.Count, retries)
        status_metric = "FilesLoaded" if receipt.loaded else "FilesRejected"
        self._metrics.add_metric(status_metric, MetricUnit.Count, 1)
