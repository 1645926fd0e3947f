"""Upload a generated run to the deployed bucket: bounded concurrency, paced, store by store.

A store's snapshots must be applied in order, so a file is uploaded only once the previous
file of the same store has its receipt. Files of different stores go concurrently.

Faults (`harness.faults`) can be injected meanwhile: duplicated and late deliveries as the
receipts arrive, and throttling and an SNS outage inside the functions; what was injected is
kept beside the run in `faults.json`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness import env
from harness.faults import DeliveryInjector, Faults, InjectionLog, function_level
from harness.measure import describe
from harness.observe import Observer
from infra.outputs import StackOutputs
from simulator.manifest import FileEntry, Manifest
from simulator.state import Upload, UploadState

RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_S = 0.02
FAULTS_NAME = "faults.json"


@dataclass(frozen=True)
class Pace:
    """How fast to upload: a fixed rate, or one simulated day compressed into some minutes."""

    files_per_s: float | None = None  # None: as fast as the concurrency allows

    @classmethod
    def compressed_day(cls, files_per_day: int, minutes: float) -> Pace:
        return cls(files_per_s=files_per_day / (minutes * 60))

    def describe(self) -> str:
        return "unpaced" if self.files_per_s is None else f"{self.files_per_s:.2f} files/s"


class Uploader:
    """Uploads one run; `run()` returns the state that `verify` needs."""

    def __init__(
        self,
        run_dir: Path,
        manifest: Manifest,
        outputs: StackOutputs,
        pace: Pace,
        concurrency: int,
        injector: DeliveryInjector | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.manifest = manifest
        self.observer = Observer(outputs)
        self.pace = pace
        self.concurrency = concurrency
        self.injector = injector
        self._done = {f.key: threading.Event() for f in manifest.files}
        self._previous: dict[str, str | None] = {}
        last: dict[str, str] = {}
        for entry in manifest.files:
            self._previous[entry.key] = last.get(entry.store)
            last[entry.store] = entry.key

    def before_state(self) -> list[tuple[str, str, int]]:
        counts = self.observer.counts_of(self.manifest.stores)
        return [(s, i, c) for (s, i), c in counts.items()]

    def _one(self, index: int, entry: FileEntry, start: float) -> Upload:
        previous = self._previous[entry.key]
        try:
            if previous is not None:
                self._done[previous].wait()
            if self.pace.files_per_s:
                delay = start + index / self.pace.files_per_s - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body = (self.run_dir / entry.key).read_bytes()
            # A key uploaded before already has receipts: wait for one more than it has now.
            known = len(self.observer.receipts(entry.key))
            began = time.perf_counter()
            env.client("s3").put_object(
                Bucket=self.observer.outputs.bucket_name, Key=entry.key, Body=body
            )
            put_ms = (time.perf_counter() - began) * 1000
            receipt = self.observer.wait_for_receipt(
                entry.key, after=known, timeout_s=RECEIPT_TIMEOUT_S, poll_s=RECEIPT_POLL_S
            )
            ingest_ms = (time.perf_counter() - began) * 1000 if receipt else None
            if receipt is not None and self.injector is not None:
                # Before the store's next file may start, so its deliveries come in order.
                self.injector.on_receipt(entry.store, receipt)
            return Upload(entry.key, put_ms, ingest_ms, receipt.status if receipt else None)
        finally:
            self._done[entry.key].set()

    def run(self, on_done: Callable[[Upload], None]) -> UploadState:
        # A durable inbox: `verify` drains it later, possibly in another process.
        inbox = self.observer.inbox(f"simulator-{self.manifest.seed}-{time.time_ns() % 10**9}")
        state = UploadState(
            endpoint=env.endpoint(),
            queue_url=inbox.queue_url,
            subscription_arn=inbox.subscription_arn,
            before=self.before_state(),
        )
        state.save(self.run_dir)  # so that verify can find the queue even if this is interrupted
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [
                pool.submit(self._one, index, entry, start)
                for index, entry in enumerate(self.manifest.files)
            ]
            for future in futures:
                upload = future.result()
                state.uploads.append(upload)
                on_done(upload)
        state.elapsed_s = time.perf_counter() - start
        state.save(self.run_dir)
        return state


def upload_run(
    run_dir: Path,
    outputs: StackOutputs,
    pace: Pace,
    concurrency: int,
    console: Console,
    faults: Faults | None = None,
) -> UploadState:
    """Upload with a progress bar (injecting `faults`), then print a summary table."""
    faults = faults or Faults()
    manifest = Manifest.load(run_dir)
    log = InjectionLog(faults)
    injector = (
        DeliveryInjector(outputs, faults, log, seed=manifest.seed) if faults.redelivers else None
    )
    uploader = Uploader(run_dir, manifest, outputs, pace, concurrency, injector)
    inside = bool(faults.throttle or faults.sns_outage_s)
    if inside:
        console.print(f"Injecting faults ({faults.describe()}); switching them on in the functions")
    try:
        with function_level(outputs, faults, log) as in_force:
            state = _upload(uploader, manifest, console)
            _settle(injector, console)
            if in_force.outage_until is not None:
                with console.status("Waiting for the SNS outage to end ..."):
                    in_force.wait_for_outage()
            if inside:
                console.print("Restoring the functions' environment")
    finally:
        if faults:
            log.write(run_dir / FAULTS_NAME)
    console.print(summary_table(manifest, state, pace, concurrency, log))
    return state


def _settle(injector: DeliveryInjector | None, console: Console) -> None:
    if injector is not None:
        with console.status("Letting the injected deliveries run ..."):
            injector.settle()


def _upload(uploader: Uploader, manifest: Manifest, console: Console) -> UploadState:
    columns = (
        TextColumn("[bold]upload"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("upload", total=len(manifest.files), rate="")
        started = time.perf_counter()

        def advance(_: Upload) -> None:
            done = progress.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=1, rate=f"{rate:.1f} files/s")

        return uploader.run(advance)


def summary_table(
    manifest: Manifest,
    state: UploadState,
    pace: Pace,
    concurrency: int,
    log: InjectionLog | None = None,
) -> Table:
    ingest = [u.ingest_ms for u in state.uploads if u.ingest_ms is not None]
    rows = sum(f.expect.rows_written for f in manifest.files)
    table = Table(title="Upload summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    statuses = [u.status for u in state.uploads]
    table.add_row("files uploaded", str(len(state.uploads)))
    table.add_row("receipts: loaded / rejected / none", f"{statuses.count('loaded')} / "
                  f"{statuses.count('rejected')} / {statuses.count(None)}")  # fmt: skip
    table.add_row("elapsed", f"{state.elapsed_s:.1f} s")
    table.add_row("throughput", f"{len(state.uploads) / max(state.elapsed_s, 1e-9):.1f} files/s, "
                  f"{rows / max(state.elapsed_s, 1e-9):.0f} rows/s")  # fmt: skip
    table.add_row("pace, concurrency", f"{pace.describe()}, {concurrency}")
    table.add_row("PUT ms p50 / p95 / p99", describe([u.put_ms for u in state.uploads]))
    table.add_row("upload -> receipt ms p50 / p95 / p99", describe(ingest))
    if log is not None and log.spec:
        table.add_row("faults injected", log.summary())
        if log.errors:
            table.add_row("injections that failed", str(len(log.errors)))
    return table
