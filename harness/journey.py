"""The journey of an upload through the pipeline, built from what was found along it.

The pure half of `inventory trace` (harness/trace.py reads AWS): parsing `--since`, reading
the functions' log lines, ordering one upload's steps with the gap from each to the next,
and choosing the uploads of a window that were slow or failed. Nothing here calls AWS.

What the steps come from (docs/design.md, "Observation"):
- the upload: the S3 event time on its receipt (S3's LastModified when there is none);
- Load-Inventory's `ingest started` and `ingested` lines (correlation id = the upload's);
- the receipt: its counts, its reason and `processed_at`;
- Check-Stock's `alert due` (the stream record reached it) and `no stock` (the publish, with
  SNS's message id) lines, by the same correlation id;
- each message's delivery, from the topic's delivery-status logs where they exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from inventory.receipts import REJECTED, Receipt, ingest_latency_ms, utc_time

# --- --since -------------------------------------------------------------------------------------

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# RecentReceipts is walked day by day; GET /receipts looks back as far.
LONGEST_SINCE = timedelta(days=7)
_SINCE = re.compile(r"\s*(\d+)\s*([smhd])\s*", re.IGNORECASE)


class SinceError(ValueError):
    """A --since that is not a duration this command understands."""


def parse_since(text: str) -> timedelta:
    """`30s`, `10m`, `2h` or `1d` as a duration (at most 7 days)."""
    match = _SINCE.fullmatch(text)
    if match is None:
        raise SinceError(
            f"expected a number and a unit, s, m, h or d (like 30s, 10m, 2h, 1d); got {text!r}"
        )
    amount, unit = int(match[1]), match[2].lower()
    window = timedelta(**{UNITS[unit]: amount})
    if not timedelta(0) < window <= LONGEST_SINCE:
        raise SinceError(
            f"expected more than 0 and at most 7d (how far back the receipts are read); "
            f"got {text!r}"
        )
    return window


def describe_window(window: timedelta) -> str:
    """A duration the way --since takes it: `10m`, `2h`, `1d`, or `90s`."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def days_between(start: datetime, end: datetime) -> list[str]:
    """Every `YYYY-MM-DD` (UTC) from start's day to end's, newest first: RecentReceipts' keys."""
    day, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    days = []
    while day <= last:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days[::-1]


# --- log lines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One JSON log line of a function (powertools), at the time it was written."""

    at: datetime
    fields: Mapping[str, Any]

    @property
    def message(self) -> str:
        return str(self.fields.get("message", ""))

    @property
    def correlation_id(self) -> str:
        return str(self.fields.get("correlation_id") or "")

    def get(self, name: str) -> Any:
        return self.fields.get(name)


def powertools_time(text: str) -> datetime | None:
    """A powertools log timestamp (`2026-11-25 16:54:48,979+0000`), or None."""
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f%z")
    except (TypeError, ValueError):
        return None


def log_line(message: str, timestamp_ms: int) -> LogLine | None:
    """A CloudWatch Logs event as a LogLine; None for a line that is not a JSON object.

    The time is the line's own (when the function wrote it), else the event's: MiniStack
    stamps every line of an invocation with the time the invocation ended.
    """
    try:
        fields = json.loads(message)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    event_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return LogLine(powertools_time(str(fields.get("timestamp", ""))) or event_at, fields)


# --- one upload's journey ------------------------------------------------------------------------

MINISTACK_DELIVERY = "delivery: not recorded here (MiniStack writes no SNS delivery logs)"


@dataclass(frozen=True)
class Upload:
    """One upload of a key: its receipt when it has one, else what S3 says of the object."""

    bucket: str
    key: str
    receipt: Receipt | None = None
    last_modified: datetime | None = None  # S3's, for an upload with no receipt
    size: int = 0
    dead_lettered: bool = False

    @property
    def correlation_id(self) -> str:
        return self.receipt.correlation_id if self.receipt is not None else ""

    @property
    def uploaded_at(self) -> datetime | None:
        if self.receipt is not None and (at := utc_time(self.receipt.event_time)):
            return at
        return self.last_modified


@dataclass(frozen=True)
class Deliveries:
    """What the topic's delivery-status logs say: lines by message id, or why there are none."""

    by_message: Mapping[str, Sequence[LogLine]] = field(default_factory=dict)
    not_recorded: str | None = None  # the sentence to show instead, when none are kept


@dataclass(frozen=True)
class Step:
    """One thing that happened to the upload; `at` None when it has no time of its own."""

    at: datetime | None
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Journey:
    upload: Upload
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def gaps_ms(self) -> list[float | None]:
        """Each step's gap from the previous step with a time (None for the first, or untimed)."""
        gaps: list[float | None] = []
        previous: datetime | None = None
        for step in self.steps:
            if step.at is None:
                gaps.append(None)
                continue
            gaps.append(None if previous is None else (step.at - previous).total_seconds() * 1000)
            previous = step.at
        return gaps


def describe_receipt(receipt: Receipt) -> str:
    """The receipt in a line: status, counts, and why."""
    text = (
        f"{receipt.status}: {receipt.rows_written} written, {receipt.rows_rejected} rejected, "
        f"{receipt.rows_stale} stale"
    )
    if receipt.superseded:
        text += "; superseded by a newer upload (not applied)"
    if receipt.reason:
        text += f"; {receipt.reason}"
    if receipt.errors:
        text += "; " + "; ".join(f"line {e.line}: {e.reason}" for e in receipt.errors[:3])
    return text


def _invocation(line: LogLine) -> str:
    """Which invocation wrote the line: its request id, and whether it was a cold start."""
    parts = []
    if line.get("function_request_id"):
        parts.append(f"request {line.get('function_request_id')}")
    if line.get("cold_start"):
        parts.append("cold start")
    return ", ".join(parts)


def _loader_step(line: LogLine) -> Step | None:
    if line.message == "ingest started":
        return Step(line.at, "loader started", _invocation(line))
    if line.message == "ingested":
        counts = [
            f"{line.get(name)} {label}"
            for name, label in (
                ("rows_written", "written"),
                ("rows_rejected", "rejected"),
                ("rows_stale", "stale"),
            )
            if line.get(name) is not None
        ]
        return Step(line.at, "loader finished", f"{line.get('status')}: {', '.join(counts)}")
    if line.message == "already applied":
        return Step(line.at, "loader: already applied", "a repeated delivery; nothing done")
    return None


def _delivery_steps(published: LogLine, deliveries: Deliveries) -> list[Step]:
    if deliveries.not_recorded is not None:
        return [Step(None, "delivery", deliveries.not_recorded)]
    message_id = str(published.get("message_id") or "")
    found = deliveries.by_message.get(message_id, ())
    if not found:
        return [Step(None, "delivery", f"no delivery-status log for message {message_id} (yet)")]
    steps = []
    for line in found:
        delivery = line.get("delivery") or {}
        steps.append(
            Step(
                line.at,
                f"delivery {str(line.get('status') or '').lower() or 'logged'}",
                f"to {delivery.get('destination', '?')} (status {delivery.get('statusCode', '?')}, "
                f"dwell {delivery.get('dwellTimeMs', '?')} ms)",
            )
        )
    return steps


def build_journey(
    upload: Upload,
    loader_lines: Iterable[LogLine] = (),
    checker_lines: Iterable[LogLine] = (),
    deliveries: Deliveries | None = None,
) -> Journey:
    """The upload's steps in time order, each publish followed by its delivery."""
    deliveries = deliveries or Deliveries()
    timed: list[tuple[datetime, list[Step]]] = []  # each group sorts by its first step's time
    notes: list[str] = []
    if upload.uploaded_at is not None:
        detail = f"s3://{upload.bucket}/{upload.key}"
        if upload.correlation_id:
            detail += f", correlation id {upload.correlation_id}"
        timed.append((upload.uploaded_at, [Step(upload.uploaded_at, "uploaded", detail)]))
    for line in loader_lines:
        if (step := _loader_step(line)) is not None:
            timed.append((line.at, [step]))
    receipt = upload.receipt
    if receipt is not None:
        at = utc_time(receipt.processed_at)
        latency = ingest_latency_ms(receipt)
        detail = describe_receipt(receipt)
        detail += f" (loader {receipt.duration_ms:.0f} ms"
        detail += "" if latency is None else f", upload to receipt {latency:.0f} ms"
        detail += ")"
        step = Step(at, "receipt written", detail)
        timed.append((at or datetime.max.replace(tzinfo=UTC), [step]))
    else:
        why = (
            "dead-lettered in LoadInventoryFailures"
            if upload.dead_lettered
            else ("still loading, failed (and retrying), or dead-lettered")
        )
        notes.append(f"no receipt: {why}")
    for line in checker_lines:
        where = f"{line.get('store')} / {line.get('item')}"
        if line.message == "alert due":
            timed.append((line.at, [Step(line.at, "Check-Stock got the change", where)]))
        elif line.message == "alert already sent":
            timed.append((line.at, [Step(line.at, "alert already sent", f"{where} (a retry)")]))
        elif line.message == "no stock":
            publish = Step(
                line.at, "NoStock published", f"{where}, message {line.get('message_id')}"
            )
            timed.append((line.at, [publish, *_delivery_steps(line, deliveries)]))
    timed.sort(key=lambda group: group[0])  # stable: equal times keep the order found
    steps = tuple(step for _, group in timed for step in group)
    if not upload.correlation_id and upload.receipt is not None:
        notes.append("this upload has no correlation id (loaded before they existed)")
    return Journey(upload, steps, tuple(notes))


# --- uploads of a window that were slow or failed ------------------------------------------------


@dataclass(frozen=True)
class S3Object:
    """An object as a bucket listing shows it."""

    key: str
    last_modified: datetime
    etag: str = ""
    size: int = 0


@dataclass(frozen=True)
class Flagged:
    """An upload `inventory trace --since` lists, and why."""

    key: str
    uploaded_at: datetime | None
    reason: str
    latency_ms: float | None = None
    correlation_id: str = ""


def problems(receipt: Receipt, slow_ms: float) -> list[str]:
    """What went wrong with an upload, by its receipt (empty when nothing did)."""
    found = []
    if receipt.status == REJECTED:
        found.append(f"rejected: {receipt.reason}")
    if receipt.superseded:
        found.append("superseded by a newer upload (not applied)")
    if receipt.status != REJECTED and receipt.rows_rejected:
        rows = "row" if receipt.rows_rejected == 1 else "rows"
        found.append(f"{receipt.rows_rejected} {rows} rejected")
    latency = ingest_latency_ms(receipt)
    if latency is not None and latency > slow_ms:
        found.append(f"slow: {latency:.0f} ms from upload to receipt")
    return found


def _etag(text: str) -> str:
    return text.strip().strip('"')


def flagged(
    receipts: Iterable[Receipt],
    objects: Iterable[S3Object],
    since: datetime,
    now: datetime,
    slow_ms: float,
    dead_lettered: Iterable[str] = (),
    settling_s: float = 5.0,
) -> list[Flagged]:
    """The uploads since `since` that were slow or failed, newest first.

    `receipts` are those written since then; `objects` the bucket's objects. An object
    uploaded since then whose version has no receipt failed, unless it is younger than
    `settling_s` (still loading, most likely: said so).
    """
    found: list[Flagged] = []
    receipted: set[tuple[str, str]] = set()
    for receipt in receipts:
        # A receipt without an ETag (an event that named none) covers its key's every version.
        receipted.add((receipt.object_key, _etag(receipt.etag)))
        reasons = problems(receipt, slow_ms)
        if reasons:
            found.append(
                Flagged(
                    receipt.object_key,
                    utc_time(receipt.event_time),
                    "; ".join(reasons),
                    ingest_latency_ms(receipt),
                    receipt.correlation_id,
                )
            )
    dead = set(dead_lettered)
    for obj in objects:
        if obj.last_modified < since:
            continue
        if (obj.key, _etag(obj.etag)) in receipted or (obj.key, "") in receipted:
            continue
        if obj.key in dead:
            reason = "no receipt: dead-lettered in LoadInventoryFailures"
        elif (now - obj.last_modified).total_seconds() < settling_s:
            reason = "no receipt yet (uploaded moments ago: probably still loading)"
        else:
            reason = "no receipt: failed (retrying) or dead-lettered"
        found.append(Flagged(obj.key, obj.last_modified, reason))
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda f: f.uploaded_at or epoch, reverse=True)
