"""The ingest receipt: what happened to one uploaded object, so every file is accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inventory.csv_format import ParseResult

MAX_ERRORS_KEPT = 20  # a receipt keeps the first errors; the count covers all of them

LOADED = "loaded"
REJECTED = "rejected"


@dataclass(frozen=True)
class ObjectRef:
    """The uploaded object a receipt is about."""

    bucket: str
    key: str
    receipt_id: str  # the S3 event sequencer: unique per upload of a key
    size: int = 0
    etag: str = ""
    event_time: str = ""


def build_receipt(
    ref: ObjectRef,
    parsed: ParseResult,
    rows_written: int,
    duration_ms: float,
    processed_at: str,
) -> dict[str, Any]:
    """The receipt for an object whose rows were all written (or that was rejected)."""
    errors = [{"line": e.line, "reason": e.reason} for e in parsed.errors[:MAX_ERRORS_KEPT]]
    return {
        "object_key": ref.key,
        "receipt_id": ref.receipt_id,
        "bucket": ref.bucket,
        "size": ref.size,
        "etag": ref.etag,
        "event_time": ref.event_time,
        "status": LOADED if parsed.accepted else REJECTED,
        "reason": parsed.file_error,
        "rows_written": rows_written,
        "rows_rejected": len(parsed.errors),
        "errors": errors,
        "duplicates": len(parsed.duplicates),
        "duration_ms": round(duration_ms, 3),
        "processed_at": processed_at,
    }
