"""`inventory scale`'s pure parts: the sweep plans, the pacing, saturation, where curves bend,
the X-Ray call split, the process tree, and the large snapshots a size step needs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser
from inventory.csv_format import parse_inventory
from loadtests.scale import (
    Step,
    knee,
    linear_fit,
    marginal_slopes,
    pace,
    plan_of,
    rate_bends,
    rate_plan,
    rates_of,
    saturation,
    size_bends,
    size_plan,
    steps_table,
)
from loadtests.scale_probes import call_split, tree, xray_port
from loadtests.source import FileSource, large_snapshots

pytestmark = pytest.mark.unit


def result(x: float, p50: float | None, **extra: Any) -> dict[str, Any]:
    """A step of scale.json with the fields the judges read."""
    base: dict[str, Any] = {
        "x": x, "rows": int(x), "files_planned": 10, "files_ingested": 10,
        "offered_files_per_s": x, "achieved_files_per_s": x, "lost_files": 0,
        "ingest_ms": {"p50": p50, "p95": p50, "p99": p50},
        "loader_ms": {"p50": p50, "p95": p50, "p99": p50},
        "accounting_ok": True,
    }  # fmt: skip
    return base | extra


# --- plans ---


def test_a_size_plan_puts_about_the_budget_of_rows_in_each_step() -> None:
    steps = size_plan([100_000, 50, 500, 5_000, 20_000], budget_rows=100_000, max_files=30)

    assert [s.rows for s in steps] == [50, 500, 5_000, 20_000, 100_000]  # smallest first
    # 100,000 rows a step, clamped to 2..30 files
    assert [s.files for s in steps] == [30, 30, 20, 5, 2]
    # the defaults: 50,000 rows, 2..20 files
    assert [s.files for s in size_plan([50, 500, 5_000, 20_000, 100_000])] == [20, 20, 10, 3, 2]
    assert all(s.by == "size" and s.x == s.rows for s in steps)


def test_a_rate_plan_gives_each_step_its_seconds_of_files_and_a_floor() -> None:
    steps = rate_plan([5, 0.5, 1, 30], rows=50, step_s=30, min_files=20)

    assert [s.rate for s in steps] == [0.5, 1, 5, 30]
    assert [s.files for s in steps] == [20, 30, 150, 900]
    assert all(s.rows == 50 and s.x == s.rate for s in steps)


@pytest.mark.parametrize(
    "call",
    [
        lambda: size_plan([]),
        lambda: size_plan([0, 50]),
        lambda: size_plan([50], min_files=5, max_files=3),
        lambda: rate_plan([0.0, 1.0]),
        lambda: rate_plan([1.0], step_s=0),
    ],
)
def test_a_plan_that_cannot_run_is_refused(call: Any) -> None:
    with pytest.raises(ValueError):
        call()


def test_a_step_runs_at_most_half_again_its_files_time_plus_a_margin() -> None:
    assert Step("rate", 50, 2.0, 40).duration_s == pytest.approx(40 / 2 * 1.5 + 30)


def test_the_command_line_builds_the_plan() -> None:
    args = build_parser().parse_args(["scale", "--by", "rate", "--rates", "2", "1"])

    assert [s.rate for s in plan_of(args)] == [1.0, 2.0]
    args = build_parser().parse_args(["scale", "--by", "size", "--sizes", "50", "--min-files", "4"])
    assert plan_of(args) == [Step("size", 50, 1.0, 20)]


def test_size_steps_are_paced_so_files_arrive_one_at_a_time() -> None:
    assert pace(50, [], max_rate=1.0, headroom=2.0) == 1.0  # first step: the most
    done = [result(500, 100.0)]
    # 5,000 rows predicted 10 x 100 ms = 1 s; spaced by twice that
    assert pace(5_000, done, max_rate=1.0, headroom=2.0) == pytest.approx(0.5)
    assert pace(600, done, max_rate=1.0, headroom=2.0) == 1.0  # never above the most


# --- judging ---


def test_a_rate_step_that_falls_behind_queues_or_loses_is_saturated() -> None:
    base = result(0.5, 40.0)

    assert saturation(result(5, 60.0), base) is None
    assert "completed" in (saturation(result(20, 60.0, achieved_files_per_s=12.0), base) or "")
    assert "p50" in (saturation(result(20, 200.0), base) or "")
    assert "lost" in (saturation(result(20, 50.0, lost_files=2), base) or "")


def test_rates_are_measured_between_the_first_and_last_upload_and_receipt() -> None:
    # PUTs every 0.5 s; the pipeline keeps up at first, then each file waits 0.5 s longer
    records: list[dict[str, Any]] = [
        {"started_at": 100 + n * 0.5, "put_ms": 5.0, "ingest_ms": 50.0 + n * 500.0}
        for n in range(5)
    ]
    records.append({"started_at": 103.0, "put_ms": None, "ingest_ms": None})  # never sent

    uploaded, completed = rates_of(records)

    assert uploaded == pytest.approx(2.0)  # 4 gaps in 2 s
    assert completed == pytest.approx(1.0)  # 4 gaps in 4 s: it fell behind
    assert rates_of(records[:1]) == (None, None)


def test_a_knee_is_the_first_point_past_twice_the_lowest_before_it() -> None:
    xs = [0.5, 1, 2, 5, 10]
    assert knee(xs, [60, 50, 55, 90, 300]) == 4  # 300 > 2 x 50; 90 is not
    assert knee(xs, [60, 50, 55, 90, 99]) is None
    assert knee(xs, [None, 50, 101, 90, 99]) == 2


def test_a_line_is_fitted_and_its_slopes_measured() -> None:
    xs, ys = [50.0, 500.0, 5_000.0], [30.0, 75.0, 525.0]  # 25 ms + 0.1 ms a row

    intercept, slope = linear_fit(xs, ys)

    assert (intercept, slope) == (pytest.approx(25.0), pytest.approx(0.1))
    assert marginal_slopes(xs, ys) == [pytest.approx(0.1), pytest.approx(0.1)]
    with pytest.raises(ValueError):
        linear_fit([1.0], [2.0])
    with pytest.raises(ValueError):
        linear_fit([1.0, 1.0], [2.0, 3.0])


def test_size_curves_bend_where_the_rows_outweigh_the_file() -> None:
    rows = [50, 500, 5_000, 20_000]
    # 25 ms per file + 0.1 ms a row, then much steeper past 5,000 rows
    loader = [30.0, 75.0, 525.0, 4_500.0]
    pairs = zip(rows, loader, strict=True)
    steps = [result(r, y, cost={"usd_per_1000_files": 0.1 + r / 1000}) for r, y in pairs]

    bends = size_bends(steps)

    found = bends["loader_p50_ms"]
    assert found["per_file"] == pytest.approx(25.0)
    assert found["crossover_rows"] == pytest.approx(250.0)  # 25 ms / 0.1 ms a row
    assert found["superlinear_segments"] == ["5,000-20,000 rows"]
    assert bends["usd_per_1000_files"]["per_1000_rows"] == pytest.approx(1.0)
    assert size_bends(steps[:1]) == {}


def test_rate_curves_bend_at_the_knee_and_saturate_where_marked() -> None:
    steps = [
        result(0.5, 50.0), result(2, 55.0), result(10, 120.0),
        result(20, 900.0, saturated="fell behind"),
    ]  # fmt: skip

    bends = rate_bends(steps)

    assert bends["ingest_p50"] == 10  # 120 > 2 x 50
    assert bends["saturated_at"] == 20
    assert bends["last_held"] == 10


def test_the_steps_table_escapes_and_shows_each_step() -> None:
    page = steps_table("rate", [result(2, 50.0, saturated="<lost>")])

    assert "&lt;lost&gt;" in page and "50.0 / 50.0 / 50.0" in page


# --- probes ---


def segment(name: str, trace: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{name}-{start}", "name": name, "trace_id": trace, "start_time": start,
        "end_time": end, "type": "subsegment",
    } | extra  # fmt: skip


def test_the_call_split_adds_each_functions_calls_per_invocation() -> None:
    handler = segment("## lambda_handler", "t1", 10.0, 10.1, annotations={"Service": "load"})
    receipts = segment("## load_inventory.aws.DynamoReceipts.get", "t1", 10.0, 10.01)
    docs = [
        handler,
        receipts,
        segment("dynamodb", "t1", 10.0, 10.01, namespace="aws", aws={"operation": "GetItem"},
                parent_id=receipts["id"]),
        # two transactions at once: they count by the time they cover, 30 ms
        segment("dynamodb", "t1", 10.02, 10.04, namespace="aws",
                aws={"operation": "TransactWriteItems"}),
        segment("dynamodb", "t1", 10.03, 10.05, namespace="aws",
                aws={"operation": "TransactWriteItems"}),
        # an earlier invocation (the warm-up) is left out
        segment("## lambda_handler", "t0", 1.0, 1.1, annotations={"Service": "load"}),
        segment("s3", "t0", 1.0, 1.05, namespace="aws", aws={"operation": "GetObject"}),
    ]  # fmt: skip

    split = call_split(docs, since=5.0)["load"]

    assert split["invocations"] == 1
    assert split["handler_ms"] == pytest.approx(100.0)
    calls = split["calls"]
    assert calls["dynamodb.GetItem (DynamoReceipts.get)"]["ms_per_invocation"] == pytest.approx(10)
    assert calls["dynamodb.TransactWriteItems"] == {
        "calls_per_invocation": 2.0,
        "ms_per_invocation": pytest.approx(30.0),
    }
    assert split["other_ms"] == pytest.approx(60.0)  # 100 - 10 - 30
    assert "s3.GetObject" not in calls


def test_the_emulator_tree_holds_its_descendants_only() -> None:
    parents = {10: 1, 11: 10, 12: 11, 13: 1, 14: 13}

    assert tree(10, parents) == {10, 11, 12}


@pytest.mark.parametrize(
    ("address", "port"), [("127.0.0.1:4642", 4642), ("", None), ("localhost", None)]
)
def test_the_xray_port_comes_from_the_daemon_address(address: str, port: int | None) -> None:
    assert xray_port({"AWS_XRAY_DAEMON_ADDRESS": address}) == port


# --- files beyond the simulator's catalog ---


def test_large_snapshots_follow_the_simulators_layout(tmp_path: Path) -> None:
    manifest = large_snapshots(tmp_path, files=3, rows=40_000, seed=5)

    assert len(manifest.files) == 3 and len(manifest.stores) == 1  # 3 days of one store
    bodies = [parse_inventory((tmp_path / f.key).read_bytes()) for f in manifest.files]
    assert [len(b.rows) for b in bodies] == [40_000] * 3
    assert not any(b.errors for b in bodies)
    zeros = sum(row.count == 0 for row in bodies[1].rows) / 40_000
    assert 0.03 < zeros < 0.09  # about the simulator's 5.7 % at 0 once it settles
    size = (tmp_path / manifest.files[0].key).stat().st_size / 40_000
    assert 55 < size < 75  # about the simulator's row width


def test_a_file_source_uses_them_past_the_catalog(tmp_path: Path) -> None:
    source = FileSource.create(tmp_path, "load/run", files=2, rows=40_000, seed=1)

    first, second = source.next(), source.next()

    assert first is not None and second is not None
    assert (first.rows, second.previous_key) == (40_000, first.key)
    assert first.expected_alerts > 0


def test_scale_help_names_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scale", "--help"])

    out = capsys.readouterr().out
    for option in ("--sizes", "--rates", "--step-seconds", "--stop-factor", "--xray-port"):
        assert option in out
    assert isinstance(build_parser(), argparse.ArgumentParser)
