"""The ingest receipt: what happened to one uploaded object, so every file is accounted for.

`Receipt` is the typed record; `to_item` and `from_item` are the one adapter between it and
the IngestReceipts table (DynamoDB's resource layer: plain values, numbers as `Decimal`).
Both the functions that write receipts and the tooling that reads them go through them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from inventory import config
from inventory.csv_format import MAX_ERRORS_KEPT as MAX_ERRORS_KEPT  # its home is the parser
from inventory.csv_format import RowError

LOADED = "loaded"
# A receipt names its file's stores (`Receipt.stores`) only while their names take at most
# this many bytes, so it stays far below DynamoDB's 400 KB item limit.
MAX_STORES_BYTES = 32 * 1024
REJECTED = "rejected"


class ParseSummary(Protocol):
    """What the receipt needs from a parse: a file-level reason, rejected rows, duplicates."""

    @property
    def file_error(self) -> str | None: ...
    @property
    def errors(self) -> Sequence[RowError]: ...
    @property
    def error_count(self) -> int: ...
    @property
    def duplicate_count(self) -> int: ...


@dataclass(frozen=True)
class ObjectRef:
    """The uploaded object a receipt is about."""

    bucket: str
    key: str
    receipt_id: str  # the S3 event sequencer: unique per upload of a key
    size: int = 0
    etag: str = ""
    event_time: str = ""
    # Follows the upload through the log lines, the items and the alerts: the S3 request id
    # of its event, or the sequencer when the event has none.
    correlation_id: str = ""


@dataclass(frozen=True)
class Receipt:
    """What Load-Inventory did with one upload of one object."""

    object_key: str
    receipt_id: str
    status: str  # LOADED or REJECTED
    rows_written: int
    rows_rejected: int
    reason: str | None = None  # why a REJECTED file was rejected as a whole
    errors: tuple[RowError, ...] = ()  # the first MAX_ERRORS_KEPT rejected rows
    duplicates: int = 0
    rows_stale: int = 0  # valid rows skipped: a newer upload had already set the item
    superseded: bool = False  # the key held a newer upload when this one was read: not applied
    bucket: str = ""
    size: int = 0
    etag: str = ""
    event_time: str = ""
    duration_ms: float = 0.0
    processed_at: str = ""
    correlation_id: str = ""  # the upload's (ObjectRef.correlation_id); "" on older receipts
    # The stores whose summaries are refreshed after this receipt is kept, so that a repeated
    # delivery refreshes them again (an attempt may die between the two); empty when the file
    # named more than MAX_STORES_BYTES of stores, whose summaries were refreshed before the receipt.
    stores: tuple[str, ...] = ()

    @property
    def loaded(self) -> bool:
        return self.status == LOADED

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (what the handler returns and logs)."""
        return asdict(self) | {
            "errors": [asdict(e) for e in self.errors],
            "stores": list(self.stores),
        }


def build_receipt(
    ref: ObjectRef,
    parsed: ParseSummary,
    rows_written: int,
    duration_ms: float,
    processed_at: str,
    rows_stale: int = 0,
) -> Receipt:
    """The receipt for an object whose rows were all written or found stale (or rejected)."""
    return Receipt(
        object_key=ref.key,
        receipt_id=ref.receipt_id,
        status=LOADED if parsed.file_error is None else REJECTED,
        rows_written=rows_written,
        rows_rejected=parsed.error_count,
        reason=parsed.file_error,
        errors=tuple(parsed.errors[:MAX_ERRORS_KEPT]),
        duplicates=parsed.duplicate_count,
        rows_stale=rows_stale,
        bucket=ref.bucket,
        size=ref.size,
        etag=ref.etag,
        event_time=ref.event_time,
        duration_ms=round(duration_ms, 3),
        processed_at=processed_at,
        correlation_id=ref.correlation_id,
    )


def stores_kept(stores: Sequence[str]) -> tuple[str, ...] | None:
    """The stores a receipt can name (`Receipt.stores`), or None when they are too many."""
    if sum(len(store.encode()) for store in stores) > MAX_STORES_BYTES:
        return None
    return tuple(stores)


def ingest_latency_ms(receipt: Receipt) -> float | None:
    """From the S3 event time to the receipt, in ms; None when either time is missing."""
    uploaded, processed = utc_time(receipt.event_time), utc_time(receipt.processed_at)
    if uploaded is None or processed is None:
        return None
    return (processed - uploaded).total_seconds() * 1000


def utc_time(text: str) -> datetime | None:
    """An ISO-8601 time (`Z` or an offset; naive means UTC), or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# The table's key attributes; every other field is stored under its own name.
_KEY_ATTRIBUTES = {"object_key": config.ATTR_OBJECT_KEY, "receipt_id": config.ATTR_RECEIPT_ID}
_INT_FIELDS = {f.name for f in fields(Receipt) if f.type == "int"}


def to_item(receipt: Receipt) -> dict[str, Any]:
    """The receipt as an IngestReceipts item (floats as Decimal: DynamoDB refuses floats).

    It also carries `ProcessedDay`, the UTC day of `processed_at`: the RecentReceipts index's
    partition key (absent without a `processed_at`: an index key may not be empty).
    """
    item: dict[str, Any] = {}
    for name, value in receipt.as_dict().items():
        item[_KEY_ATTRIBUTES.get(name, name)] = (
            Decimal(str(value)) if isinstance(value, float) else value
        )
    if receipt.processed_at:
        item[config.ATTR_PROCESSED_DAY] = processed_day(receipt.processed_at)
    return item


def processed_day(processed_at: str) -> str:
    """`YYYY-MM-DD` of an ISO-8601 UTC time: the day a receipt is filed under."""
    return processed_at[:10]


def from_item(item: Mapping[str, Any]) -> Receipt:
    """A stored receipt (deserialized item: numbers as Decimal) back into a `Receipt`."""
    values = {name: item[attribute] for name, attribute in _KEY_ATTRIBUTES.items()}
    known = {f.name for f in fields(Receipt)} - set(_KEY_ATTRIBUTES)
    for name in known & set(item):
        value = item[name]
        if name in _INT_FIELDS:
            value = int(value)
        elif name == "duration_ms":
            value = float(value)
        elif name == "errors":
            value = tuple(RowError(int(e["line"]), str(e["reason"])) for e in value or ())
        elif name == "stores":
            value = tuple(str(store) for store in value or ())
        values[name] = value
    return Receipt(**values)
