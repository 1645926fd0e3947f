"""The headless runner: locust as a library, driving the deployed pipeline, then the reports.

Import this module before boto3 is used: locust monkey-patches the standard library (gevent).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401  (first: gevent's monkey-patching must precede boto3)
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import LocalRunner, MasterRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history
from rich.console import Console

from harness import env
from harness.faults import (
    Applied,
    DeliveryInjector,
    Faults,
    InjectionLog,
    function_level,
)
from harness.measure import SLO_INGEST_P99_MS, percentile
from harness.observe import Observer
from infra.outputs import StackOutputs
from inventory.receipts import Receipt
from loadtests import report
from loadtests.accounting import account
from loadtests.distributed import GeneratorCpu, Master, WorkerProcesses, free_port
from loadtests.measured_cost import projection, replayed
from loadtests.shapes import PacedShape, RampShape, SpikeShape, SteadyShape
from loadtests.source import FileSource
from loadtests.tracker import Tracker
from loadtests.users import StoreUploader

ROOT = Path(__file__).resolve().parent.parent
FAULTS_LISTED = 200  # summary.json lists this many injections; faults.json has them all


@dataclass
class RunOptions:
    """What to run, for how long, and where the reports go."""

    shape: str = "steady"
    duration_s: float = 120.0
    speedup: float = 100.0  # steady: multiples of the seed's 10,000 files/day
    rows: int = 50
    seed: int | None = None
    reports: Path = ROOT / "reports"
    ramp_start: float = 2.0
    ramp_factor: float = 1.5
    ramp_step_s: float = 20.0
    spike_base: float = 1.0
    spike_peak: float = 20.0
    spike_s: float = 10.0
    label: str = ""
    faults: str = ""  # a harness.faults spec: duplicate=0.05,late=0.02,sns-outage=10,throttle=0.2
    # Locust's distributed mode (loadtests.distributed): 0 and 0 is one process, as before.
    workers: int = 0  # local worker processes the runner starts
    expect_workers: int = 0  # more workers, started elsewhere, to wait for
    master_bind_host: str = "127.0.0.1"  # 0.0.0.0 for workers on other machines
    master_port: int = 0  # 0: any free port (only local workers)
    # Exactly this many files, the run ending when they are all in (0: what the shape's rate
    # over duration_s needs). `inventory scale` steps by a number of files.
    files: int = 0

    @property
    def distributed(self) -> bool:
        return self.workers + self.expect_workers > 0


def make_shape(options: RunOptions) -> PacedShape:
    if options.shape == "steady":
        return SteadyShape(options.duration_s, options.speedup)
    if options.shape == "ramp":
        return RampShape(
            options.duration_s, options.ramp_start, options.ramp_factor, options.ramp_step_s
        )
    if options.shape == "spike":
        return SpikeShape(
            options.duration_s, options.spike_base, options.spike_peak, options.spike_s
        )
    raise ValueError(f"unknown shape {options.shape!r}: choose steady, ramp or spike")


def files_needed(shape: PacedShape, duration_s: float) -> int:
    """An upper bound on the files the shape can upload, so they are generated up front."""
    total, t = 0.0, 0.0
    while t < duration_s:
        total += (shape.rate_at(t) or 0.0) * 1.0
        t += 1.0
    return max(10, math.ceil(total * 1.1) + 10)


def judge_ramp(shape: RampShape, tracker: Tracker, started: float) -> None:
    """At the end of each step, decide whether it held: p99 ingest <= SLO and no errors."""
    for step in shape.steps:
        gevent.sleep(max(0.0, started + step.end_s + 1.0 - time.time()))
        in_step = [
            f for f in tracker.files.values() if step.start_s <= f.started_at - started < step.end_s
        ]
        step.files = len(in_step)
        latencies = [f.ingest_ms if f.ingest_ms is not None else math.inf for f in in_step]
        step.errors = sum(1 for f in in_step if f.error)
        p99 = percentile(latencies, 99) if latencies else None
        # A file still without a receipt counts as slower than any SLO (JSON has no infinity).
        step.ingest_p99_ms = None if p99 is None or math.isinf(p99) else round(p99, 1)
        step.unfinished = sum(1 for f in in_step if f.ingest_ms is None)
        step.held = (
            bool(in_step) and step.errors == 0 and p99 is not None and p99 <= SLO_INGEST_P99_MS
        )
        if not step.held:
            shape.broken = True
            return


def warm_up(observer: Observer, files: int = 8) -> None:
    """Upload a few tiny files at once and wait for them, so the run starts with warm workers.

    Each has an item that goes to 0, so Check-Stock and SNS are warmed too. Not measured.
    """
    prefix = f"warmup/{uuid.uuid4().hex[:8]}"
    keys = [f"{prefix}/{n}.csv" for n in range(files)]
    s3 = env.client("s3")
    for n, key in enumerate(keys):
        body = f"store,item,count\nwarmup-{prefix},item-{n},0\n".encode()
        gevent.spawn(s3.put_object, Bucket=observer.outputs.bucket_name, Key=key, Body=body)
    gevent.joinall([gevent.spawn(observer.wait_for_receipt, k) for k in keys], timeout=120)


@dataclass(frozen=True)
class InjectingObserver(Observer):
    """The tracker's observer: as each file's receipt is seen, its deliveries are injected."""

    injector: DeliveryInjector | None = None
    stores: dict[str, str] | None = None  # object key -> its store

    def receipt_seen(self, key: str, receipt: Receipt) -> None:
        if self.injector is not None and self.stores is not None:
            self.injector.on_receipt(self.stores.get(key, ""), receipt)


def run(options: RunOptions, outputs: StackOutputs, console: Console) -> Path:
    """One load run; returns its report folder (also linked as reports/latest).

    With `options.faults`, the faults inside the functions are switched on before the warm-up
    (the SNS outage starts then) and off after the last alert; deliveries are duplicated and
    delayed as receipts arrive.
    """
    faults = Faults.parse(options.faults)
    log = InjectionLog(faults)
    with function_level(outputs, faults, log) as applied:
        return _run(options, outputs, console, applied)


def _run(options: RunOptions, outputs: StackOutputs, console: Console, applied: Applied) -> Path:
    log = applied.log
    faults = log.spec
    run_id = (
        time.strftime("%Y%m%d-%H%M%S")
        + f"-{options.shape}"
        + (f"-{options.label}" if options.label else "")
    )
    out = options.reports / run_id
    out.mkdir(parents=True, exist_ok=False)
    seed = options.seed if options.seed is not None else uuid.uuid4().int % 10**9
    shape = make_shape(options)
    workdir = Path(tempfile.mkdtemp(prefix="load-files-"))
    processes = WorkerProcesses()
    try:
        console.print(f"[bold]{run_id}[/]: generating files (seed {seed}) ...")
        count = options.files or files_needed(shape, options.duration_s)
        source = FileSource.create(workdir, f"load/{run_id}", count, options.rows, seed)
        observer = Observer(outputs)
        before = observer.counts_of(source.manifest.stores)
        source.start_from(before)
        if faults:
            console.print(f"injecting faults: {faults.describe()}")
        console.print("warming up the functions (not measured) ...")
        warm_up(observer)
        inbox = observer.inbox(f"load-{uuid.uuid4().hex[:12]}")
        # stop_timeout: a user finishes the upload it started before the run stops.
        environment = Environment(user_classes=[StoreUploader], shape_class=shape, stop_timeout=30)
        injector = DeliveryInjector(outputs, faults, log, seed=seed) if faults.redelivers else None
        stores = {f"{source.prefix}/{entry.key}": entry.store for entry in source.manifest.files}
        observing = InjectingObserver(outputs, injector, stores)
        master: Master | None = None
        runner: LocalRunner | MasterRunner
        if options.distributed:
            port = options.master_port or free_port(options.master_bind_host)
            runner = environment.create_master_runner(options.master_bind_host, port)
            master = Master(runner)
            local = "127.0.0.1" if options.master_bind_host in ("0.0.0.0", "*") else None
            processes = WorkerProcesses.start(
                options.workers, local or options.master_bind_host, port, out
            )
            count = options.workers + options.expect_workers
            console.print(f"waiting for {count} workers on {options.master_bind_host}:{port} ...")
            clients = master.wait_for_workers(count, processes)
            tracker = Tracker(environment, observing, inbox, on_ingested=master.ingested)
            planned = list(iter(source.next, None))
            shares = master.start(tracker, shape, planned, outputs.bucket_name, clients)
            console.print(f"{len(clients)} workers, files per worker: {shares}")
        else:
            tracker = Tracker(environment, observing, inbox)
            StoreUploader.source = source
            StoreUploader.tracker = tracker
            StoreUploader.bucket = outputs.bucket_name
            runner = environment.create_local_runner()
        roles = {"master": os.getpid()} | {
            f"worker-{n}": pid for n, pid in enumerate(processes.pids, start=1)
        }
        csv_writer = StatsCSVFileWriter(
            environment, PERCENTILES_TO_REPORT, str(out / "locust"), full_history=True
        )
        greenlets = [gevent.spawn(csv_writer), gevent.spawn(stats_history, runner)]
        started = time.time()
        if isinstance(shape, RampShape):
            greenlets.append(gevent.spawn(judge_ramp, shape, tracker, started))
        console.print(
            f"running {options.shape} for up to {options.duration_s:.0f} s "
            f"against {env.endpoint()} ..."
        )
        cpu = GeneratorCpu(roles)
        runner.start_shape()
        shape_greenlet = runner.shape_greenlet
        if shape_greenlet is not None:
            shape_greenlet.join()  # ends when the shape returns None (or the files run out)
        generator = cpu.finish() | {"workers": len(processes.pids) + options.expect_workers}
        if master is not None:
            master.wait_for_stats()
            generator["files_planned_per_worker"] = shares
            generator["files_started_per_worker"] = master.started_by_worker()
        runner.quit()  # a master also tells its workers to exit
        ended = time.time()
        # A stopped worker sits out locust's stop_timeout (30 s) before it reads the quit;
        # its statistics are in (wait_for_stats), so it is ended after a short grace.
        processes.stop(timeout_s=2.0)
        console.print("load finished; waiting for the last receipts and alerts ...")
        if injector is not None:
            injector.settle(sleep=gevent.sleep)  # the last injected deliveries run first
        if applied.outage_until is not None:
            applied.wait_for_outage(sleep=gevent.sleep)
        tracker.settle(timeout_s=240.0)
        for greenlet in greenlets:
            greenlet.kill()
        csv_writer.stats_history_flush()
        (out / "locust.html").write_text(get_html_report(environment), "utf-8")
        records = tracker.records()
        (out / "files.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8"
        )
        # A worker that died mid-PUT never reported its file: look for those receipts too.
        unreported = master.unreported(ended) if master is not None else []
        accounting = account(
            [*tracker.files.values(), *unreported],
            workdir,
            f"load/{run_id}",
            before,
            tracker.alerts_received,
            outputs,
        )
        inbox.close()
        summary = report.summarize(
            run_id=run_id,
            options={k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
            | {"seed": seed},
            records=records,
            started=started,
            ended=ended,
            accounting=accounting.as_dict(),
            endpoint=env.endpoint(),
            errors=_errors(environment),
            ramp=[asdict(s) for s in shape.steps] if isinstance(shape, RampShape) else None,
            outputs=outputs,
            faults=log.as_dict(limit=FAULTS_LISTED, t0=started) if faults else None,
        )
        if faults:
            log.write(out / "faults.json")
        summary["generator"] = generator
        try:
            in_order = sorted(tracker.files.values(), key=lambda f: f.started_at)
            replay = replayed(
                [(f.key, f.store) for f in in_order if f.ingest_ms is not None],
                workdir,
                f"load/{run_id}",
                before,
            )
            summary["cost"] = projection(
                records, outputs, started, time.time(), replay=replay, prefix=f"load/{run_id}/"
            )
        except Exception as exc:  # a projection must never lose the run's results
            summary["cost"] = {"error": f"cost projection failed: {exc}"}
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False), "utf-8"
        )
        report.write_html(out, summary, records)
    finally:
        processes.stop(timeout_s=2.0)  # already gone after a normal run
        shutil.rmtree(workdir, ignore_errors=True)
    latest = options.reports / "latest"
    if latest.is_symlink() or latest.exists():
        if latest.is_symlink():
            latest.unlink()
        else:
            shutil.rmtree(latest)
    latest.symlink_to(out.name, target_is_directory=True)
    return out


def _errors(environment: Any) -> dict[str, int]:
    return {
        f"{e.method} {e.name}: {e.error}": e.occurrences
        for e in environment.runner.stats.errors.values()
    }
