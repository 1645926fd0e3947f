"""Times every file through the pipeline and reports each step to locust as a request.

Three request types appear in locust's stats, CSV and HTML:
- `S3` / `PUT`: the upload itself;
- `INGEST` / `receipt`: from the start of the PUT until the file's receipt is visible (the
  receipt is written after the rows, so the rows are visible too);
- `ALERT` / `NoStock`: from the start of the PUT until each expected NoStock message arrives
  in an SQS queue subscribed to the topic, matched to its file by `source_key`.

Observation cost: one consistent Query on the receipts table per pending file every
RECEIPT_POLL_S, or every 5 % of the time it has waited once that is longer
(`harness.observe.POLL_BACKOFF`), plus the alert inbox's short polls. At 50 ms latency
that is about ten small reads per file, against the pipeline's own dozen or so calls per
file; a backlog of files waiting seconds costs about 20 reads each, not one per 10 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gevent
from gevent.event import Event

from harness.observe import Alert, AlertInbox, Observer

# Every 5 ms at first: a receipt is seen at most 5 ms after it is written, half the lag of
# the 10 ms the harness's other waits use (at 50 ms that was a tenth of the figure).
RECEIPT_POLL_S = 0.005
RECEIPT_TIMEOUT_S = 300.0


@dataclass
class FileTiming:
    """Everything measured about one uploaded file (times in ms from the start of its PUT)."""

    key: str
    store: str
    rows: int
    expected_alerts: int
    started_at: float  # wall clock (epoch seconds) at the start of the PUT
    put_ms: float | None = None
    ingest_ms: float | None = None
    status: str | None = None
    duration_ms: float | None = None  # the loader's own measure, from the receipt
    alert_ms: list[float] = field(default_factory=list)
    error: str | None = None
    bytes: int = 0


class Tracker:
    """Follows uploads until their receipts and alerts are seen; fires locust request events."""

    def __init__(
        self,
        environment: Any,
        observer: Observer,
        inbox: AlertInbox,
        on_ingested: Callable[[str], None] | None = None,
    ) -> None:
        self.environment = environment
        self.observer = observer
        self.inbox = inbox
        # Distributed runs: tells the worker that uploaded a file that it is in (or failed).
        self.on_ingested = on_ingested
        self.files: dict[str, FileTiming] = {}
        self._clock: dict[str, float] = {}  # key -> perf_counter at the start of the PUT
        self._ingested: dict[str, Event] = {}
        self._unmatched_alerts: list[Alert] = []
        inbox.start(on_alert=self._on_alert)

    # -- called by users (or, in a distributed run, by the workers' messages) ---------------
    def started(
        self,
        key: str,
        store: str,
        rows: int,
        expected_alerts: int,
        size: int,
        started_at: float | None = None,
    ) -> None:
        """A PUT starts now, or at `started_at` (epoch seconds) when a worker made it."""
        now, wall = time.perf_counter(), time.time()
        at = wall if started_at is None else started_at
        # Every latency is measured on this process's perf_counter, from the start of the PUT.
        self._clock[key] = now - (wall - at)
        self._ingested[key] = Event()
        self.files[key] = FileTiming(key, store, rows, expected_alerts, at, bytes=size)

    def put_done(
        self, key: str, error: Exception | str | None, put_ms: float | None = None
    ) -> None:
        """The PUT returned; `put_ms` when a worker timed it."""
        timing = self.files[key]
        timing.put_ms = (
            put_ms if put_ms is not None else (time.perf_counter() - self._clock[key]) * 1000
        )
        if error is not None:
            timing.error = f"PUT failed: {error}"
            self._set_ingested(key)
            return
        gevent.spawn(self._await_receipt, key)

    def out_of_files(self, environment: Any) -> None:
        """The run has used every file: it ends at the shape's next tick, as a distributed run
        does, so the uploads under way finish (quitting from a user's task upsets locust)."""
        shape = environment.shape_class
        if shape is None:
            environment.runner.quit()
        else:
            shape.stopped = True

    def wait_ingested(self, key: str | None, timeout_s: float = RECEIPT_TIMEOUT_S) -> None:
        """Block this user until the given file (a store's previous one) is ingested."""
        if key is not None and key in self._ingested:
            self._ingested[key].wait(timeout_s)

    # -- observers -------------------------------------------------------------------------
    def _fire(self, kind: str, name: str, ms: float, error: str | None = None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=ms,
            response_length=0,
            exception=RuntimeError(error) if error else None,
            context={},
        )

    def _await_receipt(self, key: str) -> None:
        timing = self.files[key]
        try:
            receipt = self.observer.wait_for_receipt(
                key, timeout_s=RECEIPT_TIMEOUT_S, poll_s=RECEIPT_POLL_S
            )
            if receipt is not None:
                timing.ingest_ms = (time.perf_counter() - self._clock[key]) * 1000
                timing.status = receipt.status
                timing.duration_ms = receipt.duration_ms
                self._fire("INGEST", "receipt", timing.ingest_ms)
                return
            timing.error = f"no receipt within {RECEIPT_TIMEOUT_S:.0f} s"
            self._fire("INGEST", "receipt", RECEIPT_TIMEOUT_S * 1000, timing.error)
        finally:
            self._set_ingested(key)

    def _set_ingested(self, key: str) -> None:
        self._ingested[key].set()
        if self.on_ingested is not None:
            self.on_ingested(key)

    def _on_alert(self, alert: Alert) -> None:
        timing = self.files.get(alert.source_key)
        if timing is None:
            self._unmatched_alerts.append(alert)
            return
        ms = (alert.received_at - self._clock[alert.source_key]) * 1000
        timing.alert_ms.append(ms)
        self._fire("ALERT", "NoStock", ms)

    # -- end of run ------------------------------------------------------------------------
    def settle(self, timeout_s: float = 60.0, quiet_s: float = 3.0) -> None:
        """Wait for outstanding receipts and expected alerts (bounded), then stop observing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # A file whose PUT never completed (its user stopped mid-call) has nothing to await.
            pending = [
                k
                for k, e in self._ingested.items()
                if not e.is_set() and self.files[k].put_ms is not None
            ]
            # Per file: a stack that sends duplicates must not end the wait for another's alerts.
            short = [
                t
                for t in self.files.values()
                if t.put_ms is not None and len(t.alert_ms) < t.expected_alerts
            ]
            if not pending and not short:
                break
            gevent.sleep(0.2)
        gevent.sleep(quiet_s)  # a duplicate alert would arrive within this window
        self.inbox.stop()
        for error in self.inbox.errors:
            self._fire("ALERT", "receive", 0, error)

    @property
    def alerts_received(self) -> list[Alert]:
        return self.inbox.snapshot()

    @property
    def unmatched_alerts(self) -> list[Alert]:
        return list(self._unmatched_alerts)

    def records(self) -> list[dict[str, Any]]:
        return [asdict(t) for t in self.files.values()]
