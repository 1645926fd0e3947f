"""`inventory trace`: parsing --since, one upload's journey, and the window's slow or failed files.

The pure parts (harness/journey.py) directly; the command's glue (harness/trace.py) on a fake
of what it reads from AWS.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from harness import cli, trace
from harness.journey import (
    MINISTACK_DELIVERY,
    Deliveries,
    LogLine,
    S3Object,
    SinceError,
    Upload,
    build_journey,
    days_between,
    describe_window,
    flagged,
    log_line,
    parse_since,
    powertools_time,
    problems,
)
from infra.outputs import StackOutputs
from inventory.csv_format import RowError
from inventory.receipts import Receipt
from tests.support.fakes import fake_outputs

pytestmark = pytest.mark.unit

BUCKET = "uploads"
T0 = datetime(2026, 11, 25, 17, 0, 0, tzinfo=UTC)
OUTPUTS = fake_outputs(bucket_name=BUCKET)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def iso(ms: float) -> str:
    return at(ms).isoformat(timespec="milliseconds")


def receipt(
    key: str = "k.csv",
    cid: str = "REQ-A",
    *,
    uploaded_ms: float = 0,
    processed_ms: float = 120,
    **changes: object,
) -> Receipt:
    values: dict[str, object] = {
        "object_key": key,
        "receipt_id": f"seq-{cid}",
        "status": "loaded",
        "rows_written": 2,
        "rows_rejected": 0,
        "etag": f"etag-{cid}",
        "event_time": iso(uploaded_ms).replace("+00:00", "Z"),
        "processed_at": iso(processed_ms),
        "correlation_id": cid,
    }
    return Receipt(**(values | changes))  # type: ignore[arg-type]


def line(ms: float, message: str, cid: str = "REQ-A", **fields: object) -> LogLine:
    return LogLine(at(ms), {"message": message, "correlation_id": cid, **fields})


# --- --since -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        (" 15M ", timedelta(minutes=15)),
        ("7d", timedelta(days=7)),
    ],
)
def test_since_takes_a_number_and_a_unit(text: str, window: timedelta) -> None:
    assert parse_since(text) == window


@pytest.mark.parametrize("text", ["10", "m", "10x", "-5m", "1.5h", "10 minutes", ""])
def test_a_since_without_a_unit_it_knows_is_explained(text: str) -> None:
    with pytest.raises(SinceError, match=r"a number and a unit, s, m, h or d \(like 30s"):
        parse_since(text)


@pytest.mark.parametrize("text", ["0m", "8d", "200h"])
def test_a_since_outside_the_receipts_reach_is_explained(text: str) -> None:
    with pytest.raises(SinceError, match="at most 7d"):
        parse_since(text)


def test_a_bad_since_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["trace", "--since", "10x"])

    assert exited.value.code == 2
    assert "argument --since: expected a number and a unit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("window", "text"),
    [(timedelta(minutes=10), "10m"), (timedelta(hours=2), "2h"), (timedelta(seconds=90), "90s")],
)
def test_a_window_is_described_as_since_takes_it(window: timedelta, text: str) -> None:
    assert describe_window(window) == text


def test_the_days_of_a_window_are_listed_newest_first() -> None:
    start = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)

    assert days_between(start, datetime(2026, 11, 25, 1, 0, tzinfo=UTC)) == [
        "2026-11-25",
        "2026-11-24",
        "2026-11-23",
    ]


# --- log lines -----------------------------------------------------------------------------------


def test_a_powertools_line_keeps_its_own_time() -> None:
    # MiniStack stamps every line of an invocation with its end: the line's own time counts
    message = json.dumps({"message": "ingested", "timestamp": "2026-11-25 17:00:00,250+0000"})

    found = log_line(message, timestamp_ms=int(at(5000).timestamp() * 1000))

    assert found is not None
    assert found.at == at(250)
    assert found.message == "ingested"


def test_a_line_without_a_time_of_its_own_takes_the_events() -> None:
    found = log_line(json.dumps({"message": "x"}), timestamp_ms=int(at(75).timestamp() * 1000))

    assert found is not None and found.at == at(75)


@pytest.mark.parametrize("message", ["START RequestId: 1 Version: $LATEST", "[1, 2]", ""])
def test_lines_that_are_not_json_objects_are_skipped(message: str) -> None:
    assert log_line(message, 0) is None


def test_a_timestamp_that_is_not_powertools_is_no_time() -> None:
    assert powertools_time("yesterday") is None


# --- one upload's journey ------------------------------------------------------------------------


def test_the_journey_orders_every_step_with_the_gap_from_the_previous() -> None:
    # Given an upload that took a zero to the table, and its lines as the functions wrote them
    upload = Upload(BUCKET, "k.csv", receipt(processed_ms=120))
    loader = [line(130, "ingested", status="loaded"), line(20, "ingest started")]
    checker = [
        line(400, "no stock", store="Berlin", item="Apples", message_id="m-1"),
        line(380, "alert due", store="Berlin", item="Apples"),
    ]

    # When its journey is built (on MiniStack: no delivery logs)
    journey = build_journey(upload, loader, checker, Deliveries(not_recorded=MINISTACK_DELIVERY))

    # Then the steps are in time order, the delivery said not to be recorded here
    assert [(s.what, s.at) for s in journey.steps] == [
        ("uploaded", at(0)),
        ("loader started", at(20)),
        ("receipt written", at(120)),
        ("loader finished", at(130)),
        ("Check-Stock got the change", at(380)),
        ("NoStock published", at(400)),
        ("delivery", None),
    ]
    assert journey.gaps_ms() == [None, 20, 100, 10, 250, 20, None]
    assert "correlation id REQ-A" in journey.steps[0].detail
    assert "message m-1" in journey.steps[5].detail
    assert journey.steps[6].detail == MINISTACK_DELIVERY


def test_the_receipt_step_says_what_was_written_rejected_and_why() -> None:
    rejected = receipt(
        status="rejected",
        rows_written=0,
        rows_rejected=0,
        reason="header must be store,item,count (got 'a,b')",
    )
    partial = receipt(rows_rejected=1, errors=(RowError(3, "count must be a whole number"),))

    [_, rejected_step] = build_journey(Upload(BUCKET, "k.csv", rejected)).steps
    [_, partial_step] = build_journey(Upload(BUCKET, "k.csv", partial)).steps

    assert rejected_step.detail.startswith("rejected: 0 written, 0 rejected, 0 stale; header")
    assert "upload to receipt 120 ms" in rejected_step.detail
    assert "line 3: count must be a whole number" in partial_step.detail


def test_a_delivery_logged_by_sns_is_a_step_of_its_own() -> None:
    delivery = LogLine(
        at(450),
        {
            "notification": {"messageId": "m-1"},
            "delivery": {"destination": "arn:aws:sqs:q", "statusCode": 200, "dwellTimeMs": 50},
            "status": "SUCCESS",
        },
    )
    published = [line(400, "no stock", store="s", item="i", message_id="m-1")]

    journey = build_journey(
        Upload(BUCKET, "k.csv", receipt()), (), published, Deliveries({"m-1": [delivery]})
    )

    assert [s.what for s in journey.steps][-2:] == ["NoStock published", "delivery success"]
    assert journey.gaps_ms()[-1] == 50
    assert "arn:aws:sqs:q (status 200" in journey.steps[-1].detail


def test_an_upload_with_no_receipt_says_so() -> None:
    upload = Upload(BUCKET, "k.csv", None, last_modified=at(0), dead_lettered=True)

    journey = build_journey(upload, [line(30, "ingest started", cid="REQ-X")])

    assert [s.what for s in journey.steps] == ["uploaded", "loader started"]
    assert journey.notes == ("no receipt: dead-lettered in LoadInventoryFailures",)


# --- the window's slow or failed uploads ---------------------------------------------------------


def test_a_receipt_shows_every_problem_it_had() -> None:
    assert problems(receipt(), slow_ms=1000) == []
    assert problems(receipt(processed_ms=1500), slow_ms=1000) == [
        "slow: 1500 ms from upload to receipt"
    ]
    assert problems(receipt(status="rejected", reason="empty file"), 1000) == [
        "rejected: empty file"
    ]
    assert problems(receipt(superseded=True, rows_written=0), 1000) == [
        "superseded by a newer upload (not applied)"
    ]
    assert problems(receipt(rows_rejected=1), 1000) == ["1 row rejected"]


def test_the_window_lists_slow_and_failed_uploads_newest_first() -> None:
    # Given, in the last 10 minutes: a fine upload, a slow one, a rejected one, and two
    # objects without a receipt (one dead-lettered, one uploaded a moment ago)
    now = at(600_000)
    since = now - timedelta(minutes=10)
    receipts = [
        receipt("fine.csv", "A", uploaded_ms=1000, processed_ms=1100),
        receipt("slow.csv", "B", uploaded_ms=2000, processed_ms=4500),
        receipt("bad.csv", "C", uploaded_ms=3000, status="rejected", reason="empty file"),
    ]
    objects = [
        S3Object("fine.csv", at(1000), '"etag-A"'),
        S3Object("slow.csv", at(2000), '"etag-B"'),
        S3Object("bad.csv", at(3000), "etag-C"),
        S3Object("lost.csv", at(4000), '"etag-D"'),
        S3Object("new.csv", at(599_000), '"etag-E"'),
        S3Object("old.csv", since - timedelta(seconds=1), '"etag-F"'),
    ]

    # When the slow and failed are chosen (1000 ms is slow)
    found = flagged(receipts, objects, since, now, 1000, dead_lettered={"lost.csv"})

    # Then each is listed once with its reason, newest first
    assert [(f.key, f.reason) for f in found] == [
        ("new.csv", "no receipt yet (uploaded moments ago: probably still loading)"),
        ("lost.csv", "no receipt: dead-lettered in LoadInventoryFailures"),
        ("bad.csv", "rejected: empty file"),
        ("slow.csv", "slow: 2500 ms from upload to receipt"),
    ]
    assert found[3].latency_ms == 2500
    assert found[3].correlation_id == "B"


def test_an_object_replaced_after_its_receipt_still_counts_as_unreceipted() -> None:
    now = at(600_000)
    objects = [S3Object("k.csv", at(50_000), '"etag-NEW"')]

    found = flagged([receipt("k.csv", "OLD")], objects, at(0), now, 1000)

    assert [f.reason for f in found] == ["no receipt: failed (retrying) or dead-lettered"]


# --- the command on a fake of AWS ----------------------------------------------------------------


@dataclass
class FakeTrail:
    """What `inventory trace` reads, held in memory."""

    outputs: StackOutputs = OUTPUTS
    by_key: dict[str, list[Receipt]] = field(default_factory=dict)
    objects: dict[str, S3Object] = field(default_factory=dict)
    logs: dict[str, list[LogLine]] = field(default_factory=dict)  # by function name
    dead: set[str] = field(default_factory=set)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def receipts(self, key: str) -> list[Receipt]:
        return list(self.by_key.get(key, []))

    def head(self, key: str) -> S3Object | None:
        return self.objects.get(key)

    def objects_since(self, since: datetime) -> list[S3Object]:
        return [o for o in self.objects.values() if o.last_modified >= since]

    def receipts_since(self, since: datetime, now: datetime) -> list[Receipt]:
        return [
            r
            for found in self.by_key.values()
            for r in found
            if datetime.fromisoformat(r.processed_at) >= since
        ]

    def dead_lettered(self) -> set[str]:
        return set(self.dead)

    def function_lines(
        self, function_name: str, term: str, start: datetime, end: datetime
    ) -> list[LogLine]:
        self.asked.append((function_name, term))
        return [
            line
            for line in self.logs.get(function_name, [])
            if term in json.dumps(line.fields) and start <= line.at <= end
        ]

    def deliveries(self, message_ids: Sequence[str], start: datetime, end: datetime) -> Deliveries:
        return Deliveries(not_recorded=MINISTACK_DELIVERY)


def recorded() -> Console:
    return Console(record=True, width=200)


def test_an_unknown_key_is_a_clear_error() -> None:
    console = recorded()

    code = trace.trace_key(FakeTrail(), "nope.csv", every=False, console=console, now=T0)

    assert code == 1
    assert "no upload of nope.csv in uploads" in console.export_text()


def two_uploads() -> FakeTrail:
    """k.csv uploaded twice (A then B), each with its lines; the bucket holds B."""
    first = receipt("k.csv", "A", uploaded_ms=0, processed_ms=100)
    second = receipt("k.csv", "B", uploaded_ms=60_000, processed_ms=60_100)
    loader = [
        line(10, "ingest started", "A", object_key="k.csv"),
        line(60_010, "ingest started", "B", object_key="k.csv"),
        line(60_110, "ingested", "B", object_key="k.csv", status="loaded"),
    ]
    checker = [line(60_300, "no stock", "B", store="s", item="i", message_id="m-9")]
    return FakeTrail(
        by_key={"k.csv": [first, second]},
        objects={"k.csv": S3Object("k.csv", at(60_000), '"etag-B"')},
        logs={"Loader": loader, "Checker": checker},
    )


def test_the_newest_upload_is_traced_by_its_correlation_id() -> None:
    trail = two_uploads()

    [upload] = trace.uploads_of(trail, "k.csv", every=False)
    journey = trace.journey_of(trail, upload, now=at(120_000))

    assert upload.correlation_id == "B"
    assert [s.what for s in journey.steps] == [
        "uploaded",
        "loader started",
        "receipt written",
        "loader finished",
        "NoStock published",
        "delivery",
    ]
    assert ("Checker", "B") in trail.asked


def test_all_shows_every_upload_newest_first() -> None:
    trail = two_uploads()
    console = recorded()

    trace.trace_key(trail, "k.csv", every=True, console=console, now=at(120_000))

    text = console.export_text()
    assert text.index("correlation id B") < text.index("correlation id A")
    assert [u.correlation_id for u in trace.uploads_of(trail, "k.csv", every=True)] == ["B", "A"]


def test_an_object_with_no_receipt_is_traced_by_its_key() -> None:
    # Given k.csv replaced by an upload (C) that has no receipt yet
    trail = two_uploads()
    trail.objects["k.csv"] = S3Object("k.csv", at(90_000), '"etag-C"')
    trail.logs["Loader"].append(line(90_020, "ingest started", "C", object_key="k.csv"))

    [upload] = trace.uploads_of(trail, "k.csv", every=False)
    journey = trace.journey_of(trail, upload, at(120_000), others=["A", "B"])

    assert upload.receipt is None
    assert [(s.what, s.at) for s in journey.steps] == [
        ("uploaded", at(90_000)),
        ("loader started", at(90_020)),
    ]
    assert journey.notes[0].startswith("no receipt")


def test_the_trace_is_a_table_of_times_gaps_and_steps() -> None:
    console = recorded()

    trace.trace_key(two_uploads(), "k.csv", every=False, console=console, now=at(120_000))

    text = console.export_text()
    assert "2026-11-25 17:01:00.000" in text  # the upload, in UTC to the millisecond
    assert "NoStock published" in text and "m-9" in text
    assert MINISTACK_DELIVERY in text


def test_since_lists_what_went_wrong() -> None:
    trail = FakeTrail(
        by_key={"bad.csv": [receipt("bad.csv", "Z", status="rejected", reason="empty file")]},
    )
    console = recorded()

    trace.trace_since(trail, timedelta(minutes=10), 1000, console, now=at(300_000))

    text = console.export_text()
    assert "Uploads of the last 10m" in text
    assert "bad.csv" in text and "rejected: empty file" in text


def test_since_says_when_nothing_went_wrong() -> None:
    console = recorded()

    trace.trace_since(FakeTrail(), timedelta(minutes=10), 1000, console, now=at(300_000))

    assert "Nothing slow (> 1000 ms) or failed in the last 10m." in console.export_text()


def test_the_command_wants_a_key_or_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(key=None, since=None, all=False, slow_ms=1000.0, aws=False)

    assert trace.command(args) == 2
    assert "give a KEY, or --since DURATION" in capsys.readouterr().out
