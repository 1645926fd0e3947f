"""Locust's distributed mode for `inventory load --workers N`: the workers upload, the master sees.

The master (the harness's runner) keeps everything that must be in one place: the shape, the
file plan, the alert inbox, the receipt observation (`Tracker`), the fault injection and the
accounting. Each worker gets a share of the run's stores with their files, already planned
in order (`partition`), and uploads them at its share of the rate; it tells the master when
each PUT starts and ends (custom messages), and waits for the master's word that a store's
previous file is in before uploading the next. So the master's tracker holds every file of
every worker, the percentiles are over all of them, and the accounting is the single-process
one.

Messages, worker -> master: `upload_started {key, started_at}` (epoch seconds),
`upload_done {key, put_ms, error}`, `out_of_files {}`. Master -> worker: `plan {bucket,
share, files}`, `rate {rate}` (the run's files/s; the worker paces `rate * share`),
`ingested {key}`.

A file's latencies are taken from its `started_at`, the worker's wall clock, so workers on
other machines need synchronised clocks (NTP), as the alert and ingest figures are only as
good as that.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

from loadtests.source import PlannedFile
from loadtests.tracker import RECEIPT_TIMEOUT_S, FileTiming, Tracker

if TYPE_CHECKING:  # importing locust monkey-patches the process: only where locust runs
    from loadtests.shapes import PacedShape

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
WORKERS_READY_TIMEOUT_S = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for the master's worker socket)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -- the plan: pure -----------------------------------------------------------------------
def partition(files: Sequence[PlannedFile], workers: int) -> list[list[PlannedFile]]:
    """Split the run's files by store over `workers`, keeping the run's order in each share.

    A store's files all go to one worker, so its snapshots still apply in order; stores are
    dealt largest first to the least loaded worker, so the shares come out about equal.
    """
    if workers < 1:
        raise ValueError("at least one worker")
    by_store: dict[str, int] = {}
    for planned in files:
        by_store[planned.store] = by_store.get(planned.store, 0) + 1
    if len(by_store) < workers:
        raise ValueError(
            f"{workers} workers but only {len(by_store)} stores: each worker needs a store"
        )
    load = [0] * workers
    owner: dict[str, int] = {}
    for store, count in sorted(by_store.items(), key=lambda item: (-item[1], item[0])):
        worker = load.index(min(load))
        owner[store] = worker
        load[worker] += count
    shares: list[list[PlannedFile]] = [[] for _ in range(workers)]
    for planned in files:
        shares[owner[planned.store]].append(planned)
    return shares


def plan_message(bucket: str, share: float, files: Sequence[PlannedFile]) -> dict[str, Any]:
    """The `plan` message for one worker (msgpack: plain types only)."""
    return {
        "bucket": bucket,
        "share": share,
        "files": [
            [f.key, f.store, f.body, f.rows, f.expected_alerts, f.previous_key] for f in files
        ],
    }


def files_of(plan: dict[str, Any]) -> list[PlannedFile]:
    """The planned files of a `plan` message, in upload order."""
    return [
        PlannedFile(key, store, bytes(body), rows, alerts, previous)
        for key, store, body, rows, alerts, previous in plan["files"]
    ]


# -- the master's side --------------------------------------------------------------------
class Master:
    """Hands out the plan and merges the workers' reports into the one `Tracker`."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.tracker: Tracker | None = None
        self.shape: PacedShape | None = None
        self.planned: dict[str, PlannedFile] = {}
        self.owner: dict[str, str] = {}  # object key -> the worker's client id
        self.reported: set[str] = set()
        self.exhausted: list[str] = []  # workers that ran out of files
        runner.register_message("upload_started", self._on_started)
        runner.register_message("upload_done", self._on_done)
        runner.register_message("out_of_files", self._on_out_of_files)

    def wait_for_workers(
        self, count: int, processes: WorkerProcesses, timeout_s: float = WORKERS_READY_TIMEOUT_S
    ) -> list[str]:
        """Block until `count` workers are connected; their client ids, in a stable order."""
        deadline = time.monotonic() + timeout_s
        while len(self.runner.clients.ready) < count:
            processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(self.runner.clients.ready)} of {count} workers connected within "
                    f"{timeout_s:.0f} s{processes.log_hint()}"
                )
            gevent.sleep(0.1)
        return sorted(client.id for client in self.runner.clients.ready)[:count]

    def start(
        self,
        tracker: Tracker,
        shape: PacedShape,
        files: Sequence[PlannedFile],
        bucket: str,
        clients: Sequence[str],
    ) -> list[int]:
        """Send each worker its share of the files; the shape then drives them. Files per worker."""
        self.tracker, self.shape = tracker, shape
        shares = partition(files, len(clients))
        total = max(1, len(files))
        for client_id, share in zip(clients, shares, strict=True):
            for planned in share:
                self.planned[planned.key] = planned
                self.owner[planned.key] = client_id
            message = plan_message(bucket, len(share) / total, share)
            self.runner.send_message("plan", message, client_id=client_id)
        shape.workers = len(clients)
        shape.on_rate = lambda rate: self.runner.send_message("rate", {"rate": rate})
        return [len(share) for share in shares]

    def ingested(self, key: str) -> None:
        """The tracker saw the file in (or its PUT failed): free its store's next upload."""
        client_id = self.owner.get(key)
        if client_id is not None:
            self.runner.send_message("ingested", {"key": key}, client_id=client_id)

    def unreported(self, at: float) -> list[FileTiming]:
        """Planned files no worker reported starting (a worker that died mid-PUT): the
        accounting looks for their receipts too, so an upload that landed is not missed."""
        return [
            FileTiming(p.key, p.store, p.rows, p.expected_alerts, at, bytes=len(p.body))
            for key, p in self.planned.items()
            if key not in self.reported
        ]

    def wait_for_stats(self, timeout_s: float = 10.0) -> bool:
        """Wait until locust's merged statistics hold every PUT the workers reported; the
        workers send their statistics every few seconds, and the last ones after the stop."""
        assert self.tracker is not None
        done = sum(1 for t in self.tracker.files.values() if t.put_ms is not None)
        deadline = time.monotonic() + timeout_s
        while self.runner.stats.get("PUT", "S3").num_requests < done:
            if time.monotonic() > deadline:
                return False
            gevent.sleep(0.2)
        return True

    def started_by_worker(self) -> list[int]:
        """Files each worker reported starting, in the order of the plan's workers."""
        workers = list(dict.fromkeys(self.owner.values()))
        return [sum(1 for k in self.reported if self.owner[k] == w) for w in workers]

    def _on_started(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        planned = self.planned[msg.data["key"]]
        assert self.tracker is not None
        self.reported.add(planned.key)
        self.tracker.started(
            planned.key,
            planned.store,
            planned.rows,
            planned.expected_alerts,
            len(planned.body),
            started_at=msg.data["started_at"],
        )

    def _on_done(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        assert self.tracker is not None
        self.tracker.put_done(msg.data["key"], msg.data["error"], put_ms=msg.data["put_ms"])

    def _on_out_of_files(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        # The shape stops at its next tick; stopping here would block the message loop.
        self.exhausted.append(msg.node_id)
        if self.shape is not None:
            self.shape.stopped = True


@dataclass
class WorkerProcesses:
    """Local worker processes: locust's own command line on loadtests/locustfile.py."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, count: int, host: str, port: int, log_dir: Path) -> WorkerProcesses:
        """Start `count` workers connecting to the master at host:port; logs in log_dir."""
        started = cls()
        for n in range(1, count + 1):
            log = log_dir / f"worker-{n}.log"
            command = [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
                "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING",
            ]  # fmt: skip
            with log.open("wb") as sink:
                started.processes.append(
                    subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
                )
            started.logs.append(log)
        return started

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def check_alive(self) -> None:
        """Raise if a worker exited before the run (it could not start: see its log)."""
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                tail = log.read_text("utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"worker exited with {process.returncode} ({log}):\n{tail}")

    def log_hint(self) -> str:
        return f"; see {', '.join(map(str, self.logs))}" if self.logs else ""

    def stop(self, timeout_s: float = 30.0) -> None:
        """Wait for the workers to exit; end (SIGTERM) the ones still there after timeout_s."""
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(10)


# -- the worker's side --------------------------------------------------------------------
@dataclass
class WorkerFiles:
    """A worker's share of the files, handed out in the run's order."""

    files: list[PlannedFile]
    _next: int = 0

    def next(self) -> PlannedFile | None:
        if self._next >= len(self.files):
            return None
        self._next += 1
        return self.files[self._next - 1]


class NoPlan:
    """Before the master's plan arrives there is nothing to upload: say why, loudly."""

    def next(self) -> PlannedFile | None:
        raise RuntimeError(
            "this worker got no plan from its master: start the master with "
            "`inventory load --expect-workers N --master-bind-host 0.0.0.0`, not a bare "
            "`locust --master` (the harness plans the files and does the accounting)"
        )


class WorkerLedger:
    """A worker's tracker: reports each PUT to the master, waits for the master's `ingested`."""

    def __init__(
        self,
        send: Callable[[str, dict[str, Any]], None],
        stop_user: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self._stop_user = stop_user or _stop_user
        self._clock: dict[str, float] = {}
        self._ingested: dict[str, Event] = {}
        self._done: set[str] = set()  # keys the master said are in
        self._stopping = False
        self._out_of_files_sent = False

    def started(self, key: str, store: str, rows: int, expected_alerts: int, size: int) -> None:
        self._clock[key] = time.perf_counter()
        self._ingested.setdefault(key, Event())
        self._send("upload_started", {"key": key, "started_at": time.time()})

    def put_done(self, key: str, error: Exception | None) -> None:
        put_ms = (time.perf_counter() - self._clock.pop(key)) * 1000
        self._send(
            "upload_done",
            {"key": key, "put_ms": put_ms, "error": None if error is None else str(error)},
        )

    def wait_ingested(self, key: str | None, timeout_s: float = RECEIPT_TIMEOUT_S) -> None:
        """Block until the master says `key` is in; a user still waiting at the stop ends
        without uploading (the planned file stays unstarted, which the accounting allows)."""
        if key is not None and key in self._ingested:
            self._ingested[key].wait(timeout_s)
            if self._stopping and key not in self._done:
                self._stop_user()

    def ingested(self, key: str) -> None:
        self._done.add(key)
        self._ingested.setdefault(key, Event()).set()

    def stop_waiting(self) -> None:
        """The worker is stopping: its message loop is busy stopping the users, so no more
        `ingested` will arrive; wake the users waiting for one (locust's `test_stopping`)."""
        self._stopping = True
        for event in self._ingested.values():
            event.set()

    def out_of_files(self, environment: Any) -> None:
        """Tell the master once (it ends the run at the shape's next tick); stop this user."""
        if not self._out_of_files_sent:
            self._out_of_files_sent = True
            self._send("out_of_files", {})
        self._stop_user()


def _stop_user() -> None:
    from locust.exception import StopUser

    raise StopUser()


def install_worker(environment: Any) -> None:
    """On a worker (locust's `init` event): take the master's plan, rate and `ingested`."""
    from locust.runners import WorkerRunner

    from loadtests.shapes import PACER
    from loadtests.users import StoreUploader

    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    StoreUploader.source = NoPlan()
    state = {"share": 1.0}

    def send(kind: str, data: dict[str, Any]) -> None:
        runner.send_message(kind, data)

    ledger = WorkerLedger(send)

    def on_plan(environment: Any, msg: Any, **_kwargs: Any) -> None:
        state["share"] = msg.data["share"]
        StoreUploader.source = WorkerFiles(files_of(msg.data))
        StoreUploader.tracker = ledger
        StoreUploader.bucket = msg.data["bucket"]

    def on_rate(environment: Any, msg: Any, **_kwargs: Any) -> None:
        PACER.rate = msg.data["rate"] * state["share"]

    def on_ingested(environment: Any, msg: Any, **_kwargs: Any) -> None:
        ledger.ingested(msg.data["key"])

    environment.events.test_stopping.add_listener(lambda **_kwargs: ledger.stop_waiting())
    runner.register_message("plan", on_plan)
    runner.register_message("rate", on_rate)
    runner.register_message("ingested", on_ingested)


# -- what the generator cost ----------------------------------------------------------------
class GeneratorCpu:
    """CPU seconds of the load generator's processes (master and local workers) over the run."""

    def __init__(self, roles: dict[str, int]) -> None:
        import psutil

        self._processes = {role: psutil.Process(pid) for role, pid in roles.items()}
        self._start = self._sample()
        self._t0 = time.monotonic()

    def _sample(self) -> dict[str, float]:
        out = {}
        for role, process in self._processes.items():
            try:
                times = process.cpu_times()
                out[role] = times.user + times.system
            except Exception:  # a worker that already exited: no figure for it
                out[role] = float("nan")
        return out

    def finish(self) -> dict[str, Any]:
        """`{window_s, cpu_s: {role: s}, cpu_percent: {role: % of one core}}` since start."""
        end, window = self._sample(), max(1e-9, time.monotonic() - self._t0)
        cpu = {role: round(end[role] - self._start[role], 2) for role in end}
        return {
            "window_s": round(window, 1),
            "cpu_s": cpu,
            "cpu_percent": {role: round(100 * s / window, 1) for role, s in cpu.items()},
            "cpus": os.cpu_count(),
        }
