"""Load-Inventory's flow: read an object, parse it, write its rows, record a receipt."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from inventory.batching import BatchStore, write_all
from inventory.csv_format import ParseResult, parse_inventory
from inventory.receipts import ObjectRef, Receipt, build_receipt
from load_inventory.aws import Item, to_item


class ObjectSource(Protocol):
    def read(self, bucket: str, key: str) -> bytes | None: ...


class ReceiptStore(Protocol):
    def put(self, receipt: Receipt) -> None: ...


class RowsNotWrittenError(RuntimeError):
    """Some rows never got through; the invocation fails so it is retried, then dead-lettered."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Ingestor:
    """Turns one uploaded object into table rows and exactly one receipt."""

    def __init__(
        self,
        objects: ObjectSource,
        inventory: BatchStore[Item],
        receipts: ReceiptStore,
        logger: Logger,
        metrics: Metrics,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._objects = objects
        self._inventory = inventory
        self._receipts = receipts
        self._logger = logger
        self._metrics = metrics
        self._clock = clock

    def ingest(self, ref: ObjectRef) -> Receipt:
        started = time.perf_counter()
        data = self._objects.read(ref.bucket, ref.key)
        if data is None:
            parsed = ParseResult((), (), (), file_error="object not found (deleted before loading)")
        else:
            parsed = parse_inventory(data)
        updated_at = self._clock()
        items = [to_item(row, ref.key, updated_at) for row in parsed.rows]
        outcome = write_all(self._inventory, items)
        if outcome.failed:
            raise RowsNotWrittenError(
                f"{len(outcome.failed)} of {len(items)} rows of {ref.key} were not written"
            )
        duration_ms = (time.perf_counter() - started) * 1000
        receipt = build_receipt(ref, parsed, outcome.written, duration_ms, self._clock())
        self._receipts.put(receipt)
        self._record(receipt, outcome.retries)
        return receipt

    def _record(self, receipt: Receipt, retries: int) -> None:
        self._logger.info(
            "ingested",
            extra={
                "object_key": receipt.object_key,
                "status": receipt.status,
                "rows_written": receipt.rows_written,
                "rows_rejected": receipt.rows_rejected,
                "reason": receipt.reason,
                "first_errors": receipt.as_dict()["errors"][:3],
            },
        )
        self._metrics.add_metric("RowsWritten", MetricUnit.Count, receipt.rows_written)
        self._metrics.add_metric("RowsRejected", MetricUnit.Count, receipt.rows_rejected)
        self._metrics.add_metric("BatchRetries", MetricUnit.Count, retries)
        status_metric = "FilesLoaded" if receipt.loaded else "FilesRejected"
        self._metrics.add_metric(status_metric, MetricUnit.Count, 1)
