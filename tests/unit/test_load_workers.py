"""`inventory load --workers N`: the plan's split and the merge of the workers' reports.

Workers and master are wired through in-memory runners whose messages go through msgpack,
as locust's do on the wire; the tracker observes through fakes. No network, and no import of
locust itself (it would monkey-patch the test process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import msgpack
import pytest

from harness.cli import build_parser
from harness.observe import Alert
from loadtests.distributed import (
    Master,
    WorkerFiles,
    WorkerLedger,
    files_of,
    partition,
    plan_message,
)
from loadtests.source import PlannedFile
from loadtests.tracker import Tracker

pytestmark = pytest.mark.unit


@dataclass
class Message:
    """What a locust message handler receives: `data` and the sender's `node_id`."""

    data: Any
    node_id: str


def over_the_wire(data: Any) -> Any:
    """`data` as the other end sees it (locust's protocol is msgpack)."""
    return msgpack.loads(msgpack.dumps(data), raw=False, strict_map_key=False)


def planned(store: str, day: int, alerts: int = 0) -> PlannedFile:
    previous = f"load/run/{store}/day-{day - 1}.csv" if day > 1 else None
    key = f"load/run/{store}/day-{day}.csv"
    return PlannedFile(
        key, store, f"store,item,count\n{store},a,{day}\n".encode(), 1, alerts, previous
    )


def run_files(stores: int = 5, days: int = 3) -> list[PlannedFile]:
    """The run's files in the simulator's order: day by day, every store each day."""
    return [planned(f"s{s}", d, alerts=d % 2) for d in range(1, days + 1) for s in range(stores)]


# -- the split --------------------------------------------------------------------------
def test_each_store_goes_to_one_worker_with_its_files_in_order() -> None:
    files = run_files(stores=7, days=4)

    shares = partition(files, 3)

    assert sorted(f.key for share in shares for f in share) == sorted(f.key for f in files)
    owners = {f.store: n for n, share in enumerate(shares) for f in share}
    assert all(owners[f.store] == n for n, share in enumerate(shares) for f in share)
    for share in shares:  # the run's order, so each store's snapshots apply in sequence
        assert share == [f for f in files if owners[f.store] == shares.index(share)]
    assert max(map(len, shares)) - min(map(len, shares)) <= 4  # one store's files at most


def test_more_workers_than_stores_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="3 workers but only 2 stores"):
        partition(run_files(stores=2), 3)


def test_a_plan_survives_the_wire() -> None:
    files = run_files(stores=2, days=2)
    plan = over_the_wire(plan_message("bucket", 0.5, files))

    assert plan["bucket"] == "bucket" and plan["share"] == 0.5
    assert files_of(plan) == files


# -- the merge --------------------------------------------------------------------------
@dataclass
class FakeReceipt:
    status: str = "LOADED"
    duration_ms: float = 12.0


@dataclass
class FakeObserver:
    """Receipts appear for every key except the ones listed as lost."""

    lost: set[str] = field(default_factory=set)
    delay_s: float = 0.01

    def wait_for_receipt(self, key: str, **_kwargs: Any) -> FakeReceipt | None:
        gevent.sleep(self.delay_s)
        return None if key in self.lost else FakeReceipt()


@dataclass
class FakeInbox:
    errors: list[str] = field(default_factory=list)
    received: list[Alert] = field(default_factory=list)
    on_alert: Any = None

    def start(self, on_alert: Any) -> None:
        self.on_alert = on_alert

    def stop(self) -> None:
        pass

    def snapshot(self) -> list[Alert]:
        return list(self.received)

    def deliver(self, alert: Alert) -> None:
        self.received.append(alert)
        self.on_alert(alert)


class FakeEvents:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.requests.append(kwargs)


class FakeEnvironment:
    def __init__(self) -> None:
        self.events = type("Events", (), {})()
        self.events.request = FakeEvents()  # type: ignore[attr-defined]


class FakeMasterRunner:
    """The master's end of locust's messaging: handlers by type, messages out by worker."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.sent: list[tuple[str | None, str, Any]] = []  # (worker, type, data)
        self.workers: dict[str, WorkerLedger] = {}

    def register_message(self, kind: str, handler: Any) -> None:
        self.handlers[kind] = handler

    def send_message(self, kind: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((client_id, kind, data))
        if kind == "ingested" and client_id is not None:
            self.workers[client_id].ingested(data["key"])

    def worker(self, client_id: str) -> WorkerLedger:
        """A worker's ledger whose messages reach this master as over the wire."""

        def send(kind: str, data: dict[str, Any]) -> None:
            self.handlers[kind](environment=None, msg=Message(over_the_wire(data), client_id))

        self.workers[client_id] = WorkerLedger(send, stop_user=stop_user)
        return self.workers[client_id]


class UserStopped(Exception):
    """Stands for locust's StopUser."""


def stop_user() -> None:
    raise UserStopped


@dataclass
class FakeShape:
    workers: int = 1
    on_rate: Any = None
    stopped: bool = False


def upload_all(ledger: WorkerLedger, files: WorkerFiles, put_s: float = 0.005) -> None:
    """What a worker's StoreUploader does for each file, minus S3."""
    while (file := files.next()) is not None:
        ledger.wait_ingested(file.previous_key)
        ledger.started(file.key, file.store, file.rows, file.expected_alerts, len(file.body))
        gevent.sleep(put_s)
        ledger.put_done(file.key, None)


def test_two_workers_reports_merge_into_one_tracker_with_every_file() -> None:
    # Given a master with a tracker, and two workers each holding their share of the plan
    files = run_files(stores=4, days=3)
    runner, shape, environment = FakeMasterRunner(), FakeShape(), FakeEnvironment()
    master = Master(runner)
    inbox = FakeInbox()
    tracker = Tracker(environment, FakeObserver(), inbox, on_ingested=master.ingested)  # type: ignore[arg-type]
    ledgers = {client: runner.worker(client) for client in ("w1", "w2")}
    counts = master.start(tracker, shape, files, "bucket", ["w1", "w2"])  # type: ignore[arg-type]
    plans = {client: files_of(data) for client, kind, data in runner.sent if kind == "plan"}

    # When both upload their shares concurrently
    gevent.joinall(
        [gevent.spawn(upload_all, ledgers[c], WorkerFiles(plans[c])) for c in ("w1", "w2")],
        timeout=10,
        raise_error=True,
    )
    for file in files:  # the alerts the plan expects, as the inbox would see them
        for _ in range(file.expected_alerts):
            inbox.deliver(Alert({"source_key": file.key}, file.store, time.perf_counter()))
    tracker.settle(timeout_s=5, quiet_s=0)

    # Then the master's tracker holds every file of both, each ingested, with its latencies
    assert sorted(counts) == [6, 6] and shape.workers == 2
    assert sorted(tracker.files) == sorted(f.key for f in files)
    assert all(t.put_ms is not None and t.put_ms >= 5 for t in tracker.files.values())
    assert all((t.ingest_ms or 0) >= (t.put_ms or 0) > 0 for t in tracker.files.values())
    assert {t.expected_alerts for t in tracker.files.values()} == {0, 1}
    assert all(len(t.alert_ms) == t.expected_alerts for t in tracker.files.values())
    # a store's day 2 started only after the master said its day 1 was in
    for t in tracker.files.values():
        previous = next(f.previous_key for f in files if f.key == t.key)
        if previous is not None:
            done = tracker.files[previous]
            assert t.started_at >= done.started_at + (done.ingest_ms or 0) / 1000 - 0.002
    ingested = [(c, d["key"]) for c, kind, d in runner.sent if kind == "ingested"]
    assert sorted(k for _, k in ingested) == sorted(f.key for f in files)
    assert all(master.owner[k] == c for c, k in ingested)  # each answer went to its uploader
    assert master.unreported(time.time()) == []
    kinds = [r["request_type"] for r in environment.events.request.requests]  # type: ignore[attr-defined]
    assert kinds.count("INGEST") == len(files)


def test_an_alert_for_a_worker_file_is_timed_from_the_workers_put() -> None:
    runner, environment, inbox = FakeMasterRunner(), FakeEnvironment(), FakeInbox()
    master = Master(runner)
    tracker = Tracker(environment, FakeObserver(), inbox, on_ingested=master.ingested)  # type: ignore[arg-type]
    file = planned("s1", 1, alerts=1)
    master.start(tracker, FakeShape(), [file], "bucket", ["w1"])  # type: ignore[arg-type]
    ledger = runner.worker("w1")

    ledger.started(file.key, file.store, file.rows, 1, len(file.body))
    gevent.sleep(0.05)
    inbox.deliver(Alert({"source_key": file.key}, "s1", time.perf_counter()))

    assert tracker.files[file.key].alert_ms[0] == pytest.approx(50, abs=25)


def test_a_failed_put_frees_the_store_and_a_silent_file_is_left_to_the_accounting() -> None:
    runner = FakeMasterRunner()
    master = Master(runner)
    tracker = Tracker(FakeEnvironment(), FakeObserver(), FakeInbox(), on_ingested=master.ingested)  # type: ignore[arg-type]
    files = [planned("s1", 1), planned("s1", 2)]
    master.start(tracker, FakeShape(), files, "bucket", ["w1"])  # type: ignore[arg-type]
    ledger = runner.worker("w1")

    ledger.started(files[0].key, "s1", 1, 0, 10)
    ledger.put_done(files[0].key, RuntimeError("503 SlowDown"))
    ledger.wait_ingested(files[0].key, timeout_s=1)  # returns at once: the master answered

    assert tracker.files[files[0].key].error == "PUT failed: 503 SlowDown"
    assert [t.key for t in master.unreported(time.time())] == [files[1].key]


def test_a_worker_out_of_files_stops_the_shape_once() -> None:
    runner, shape = FakeMasterRunner(), FakeShape()
    master = Master(runner)
    tracker = Tracker(FakeEnvironment(), FakeObserver(), FakeInbox())  # type: ignore[arg-type]
    master.start(tracker, shape, [planned("s1", 1)], "bucket", ["w1"])  # type: ignore[arg-type]
    ledger = runner.worker("w1")

    for _ in range(2):
        with pytest.raises(UserStopped):
            ledger.out_of_files(None)

    assert shape.stopped and master.exhausted == ["w1"]


def test_a_user_waiting_for_its_store_at_the_stop_ends_without_uploading() -> None:
    sent: list[str] = []
    ledger = WorkerLedger(lambda kind, data: sent.append(kind), stop_user=stop_user)
    ledger.started("k1", "s1", 1, 0, 10)
    ledger.put_done("k1", None)
    waiter = gevent.spawn(ledger.wait_ingested, "k1")
    gevent.sleep(0)

    ledger.stop_waiting()  # the worker stops: no `ingested` for k1 will come
    waiter.join(timeout=1)

    assert isinstance(waiter.exception, UserStopped)
    assert sent == ["upload_started", "upload_done"]


def test_the_rate_goes_to_every_worker() -> None:
    runner, shape = FakeMasterRunner(), FakeShape()
    master = Master(runner)
    tracker = Tracker(FakeEnvironment(), FakeObserver(), FakeInbox())  # type: ignore[arg-type]
    master.start(tracker, shape, run_files(stores=2), "bucket", ["w1", "w2"])  # type: ignore[arg-type]

    shape.on_rate(4.6)

    assert (None, "rate", {"rate": 4.6}) in runner.sent


# -- the command line -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [("two", "must be a whole number of worker processes"), ("-1", "must be 0 or more")],
)
def test_bad_worker_counts_are_refused_by_the_parser(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["load", "--workers", value])

    assert done.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "500"], "at most 64 local workers"),
        (["--expect-workers", "2"], "--expect-workers needs --master-port"),
        (["--workers", "1", "--master-port", "70000"], "is not a TCP port"),
    ],
)
def test_worker_settings_the_runner_cannot_use_are_refused_before_any_deploy(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["load", *argv])

    assert args.handler(args) == 2
    assert message in capsys.readouterr().err
