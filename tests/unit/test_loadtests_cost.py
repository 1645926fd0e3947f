"""The cost projection: price table, billing arithmetic, linear scaling, the seed comparison."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from loadtests import cost
from loadtests.cost import (
    DAYS_PER_MONTH,
    DashboardUse,
    LoadInputs,
    Prices,
    StackFixed,
    Usage,
    billed_gb_seconds,
    compare_with_seed_claim,
    illustrative_usage,
    item_size,
    load_inputs_from_summary,
    load_prices,
    project_load,
    project_monthly,
    replay,
    traced_per_second,
    usage_from_run,
    write_units,
)

pytestmark = pytest.mark.unit

# Round figures, independent of prices.toml, so the expected dollars can be worked by hand.
PRICES = Prices(
    date=date(2026, 1, 1),
    region="us-east-1",
    lambda_requests_per_million=0.20,
    lambda_gb_second=0.00001,
    dynamodb_wru_per_million=0.625,
    dynamodb_rru_per_million=0.125,
    dynamodb_storage_gb_month=0.25,
    dynamodb_pitr_gb_month=0.20,
    s3_put_per_thousand=0.005,
    s3_get_per_thousand=0.0004,
    s3_storage_gb_month=0.023,
    sns_publishes_per_million=0.50,
    sns_sqs_delivery_per_million=0.0,
    sqs_requests_per_million=0.40,
    logs_ingestion_gb=0.50,
    logs_storage_gb_month=0.03,
    custom_metric_month=0.30,
    alarm_standard_month=0.10,
    dashboard_month=3.00,
    kms_key_month=1.00,
    cloudtrail_data_events_per_100k=0.10,
    xray_traces_per_million=5.00,
    http_api_requests_per_million=1.00,
)
MILLION_FILES_A_MONTH = 1_000_000 / DAYS_PER_MONTH  # files/day
NOTHING_FIXED = StackFixed.none()
# Only what the usage says: no fixed lines, no CloudTrail, no X-Ray.
BARE: dict[str, Any] = {"fixed": NOTHING_FIXED, "audit_uploads": False, "tracing": False}


def test_the_price_table_loads_and_is_dated() -> None:
    prices = load_prices()

    assert isinstance(prices.date, date)
    assert prices.region == "us-east-1"
    assert prices.sources
    for field in dataclasses.fields(prices):
        value = getattr(prices, field.name)
        if isinstance(value, float) and field.name != "sns_sqs_delivery_per_million":
            assert value > 0, field.name


def test_a_price_table_without_a_date_is_refused(tmp_path: Path) -> None:
    text = cost.PRICES_PATH.read_text(encoding="utf-8").replace("date = ", "dated = ", 1)
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match="date"):
        load_prices(path)


def test_lambda_bills_each_duration_rounded_up_to_the_millisecond() -> None:
    # 0.2 -> 1 ms, 1.0 -> 1 ms, 1.2 -> 2 ms: 4 ms at 1 GB, then at 512 MB.
    assert billed_gb_seconds([0.2, 1.0, 1.2], 1024) == pytest.approx(0.004)
    assert billed_gb_seconds([0.2, 1.0, 1.2], 512) == pytest.approx(0.002)
    assert billed_gb_seconds([], 1024) == 0


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (4096, 4)])
def test_a_write_costs_one_unit_per_started_kilobyte(size: int, units: int) -> None:
    assert write_units(size) == units


def test_item_size_counts_names_and_values() -> None:
    # "Store" 5 + "abc" 3; "Count" 5 + number 5 (1 digit: 2 bytes); "Flag" 4 + 1
    assert item_size({"Store": "abc", "Count": 5, "Flag": True}) == 8 + 7 + 5
    assert item_size({"Item": "吉田"}) == 4 + 6  # UTF-8 bytes, not characters


def test_known_usage_gives_known_dollars() -> None:
    usage = Usage(
        loader_invocations=1,
        loader_gb_s=0.1,
        check_invocations=1,
        check_gb_s=0.05,
        dynamodb_write_units=51,
        s3_put_requests=1,
        s3_get_requests=1,
        sns_publishes=1,
        sqs_requests=0,
    )

    bill = project_monthly(usage, MILLION_FILES_A_MONTH, PRICES, **BARE)

    # A million files: 2 M requests, 150,000 GB-s, 51 M write units, 1 M PUTs, GETs, publishes.
    expected = {
        "Lambda": 2 * 0.20 + 150_000 * 0.00001,
        "DynamoDB": 51 * 0.625,
        "S3": 1000 * 0.005 + 1000 * 0.0004,
        "SNS": 0.50,
    }
    for service, usd in expected.items():
        assert bill["services"][service] == pytest.approx(usd), service
    assert bill["services"]["SQS"] == 0
    assert bill["total_usd_per_month"] == pytest.approx(sum(expected.values()))
    assert bill["files_per_month"] == pytest.approx(1_000_000)


def test_storage_is_priced_for_the_retained_days() -> None:
    usage = Usage(s3_put_requests=0, s3_get_requests=0, loader_invocations=0, s3_bytes=2**20)

    # 1,024 files/day of 1 MiB kept 30 days: 30 GiB stored.
    bill = project_monthly(usage, 1024, PRICES, retention_days=30, **BARE)

    assert bill["services"]["S3"] == pytest.approx(30 * 0.023)


def test_the_projection_scales_linearly_with_files_per_day() -> None:
    usage = illustrative_usage(50)

    # Below one invocation a second X-Ray traces every one, so the bill is linear there.
    one = project_monthly(usage, 10_000, PRICES)
    three = project_monthly(usage, 30_000, PRICES)

    fixed = one["fixed_usd_per_month"]
    assert fixed == pytest.approx(three["fixed_usd_per_month"])
    assert fixed == pytest.approx(sum(line["usd"] for line in one["lines"] if line["fixed"]))
    assert three["variable_usd_per_month"] == pytest.approx(3 * one["variable_usd_per_month"])
    for a, b in zip(one["lines"], three["lines"], strict=True):
        assert b["usd"] == pytest.approx(a["usd"] if a["fixed"] else 3 * a["usd"]), a["item"]
    assert project_monthly(usage, 0, PRICES)["total_usd_per_month"] == pytest.approx(fixed)
    assert one["usd_per_1000_files"] == pytest.approx(three["usd_per_1000_files"])


def test_the_stacks_fixed_lines_are_priced_every_month() -> None:
    bill = project_monthly(Usage(loader_invocations=0, s3_put_requests=0, s3_get_requests=0),
                           0, PRICES, fixed=StackFixed(dashboard_use=DashboardUse(0)))  # fmt: skip

    lines = {line["item"]: line["usd"] for line in bill["lines"] if line["fixed"]}
    assert lines["alarms (standard resolution)"] == pytest.approx(14 * 0.10)
    assert lines["operations dashboard"] == pytest.approx(3.00)
    assert lines["custom metrics"] == pytest.approx(12 * 0.30)
    assert lines["ops topic key"] == pytest.approx(1.00)
    assert bill["total_usd_per_month"] == pytest.approx(1.40 + 3.00 + 3.60 + 1.00)


def test_the_dashboard_polls_every_page_of_stores_and_out_of_stock_items() -> None:
    # 1,000 stores of 50 items, 5.7 % at 0: 10 pages of stores, 2,850 items out of stock
    # (20 pages, the cap), the receipts and a store's items: 32 requests every 5 s.
    use = DashboardUse(viewer_hours_per_month=100, stores=1_000)
    assert use.requests_per_poll == 10 + 20 + 2
    assert use.requests_per_month == 100 * 720 * 32
    assert use.read_units_per_request == 2.5  # 100 items x 200 B: 5 units, halved

    bill = project_monthly(
        Usage(loader_invocations=0, s3_put_requests=0, s3_get_requests=0), 0, PRICES,
        fixed=StackFixed(0, 0, 0, 0, use),
    )  # fmt: skip

    requests = 100 * 720 * 32
    # 6.4 requests/s while viewing: X-Ray keeps 1 a second and 5 % of the other 5.4
    traced = (1 + 0.05 * 5.4) * 100 * 3600
    assert bill["services"]["API Gateway"] == pytest.approx(requests / 1e6 * 1.00)
    assert bill["services"]["X-Ray"] == pytest.approx(traced / 1e6 * 5.00)
    assert bill["services"]["Lambda"] == pytest.approx(
        requests / 1e6 * 0.20 + requests * 0.025 * 0.5 * 0.00001
    )


@pytest.mark.parametrize(("rate", "traced"), [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (11.0, 1.5)])
def test_xray_keeps_one_invocation_a_second_and_five_percent_more(
    rate: float, traced: float
) -> None:
    assert traced_per_second(rate) == pytest.approx(traced)


def test_xray_and_cloudtrail_count_per_file_until_the_sampling_bites() -> None:
    usage = Usage(loader_invocations=1, check_invocations=0.5, s3_get_requests=0)
    fixed: dict[str, Any] = {"fixed": NOTHING_FIXED}

    seed = project_monthly(usage, 10_000, PRICES, **fixed)
    million = project_monthly(usage, 1_000_000, PRICES, **fixed)
    untraced = project_monthly(usage, 10_000, PRICES, audit_uploads=False, tracing=False, **fixed)

    month = 10_000 * DAYS_PER_MONTH
    assert seed["services"]["X-Ray"] == pytest.approx(1.5 * month * 5.00 / 1e6)  # every one
    assert seed["services"]["CloudTrail"] == pytest.approx(month * 0.10 / 1e5)  # one PutObject
    # 11.6 loader and 5.8 Check-Stock invocations a second: 1.53 and 1.24 traced a second
    seconds = 86_400 * DAYS_PER_MONTH
    traced = traced_per_second(1e6 / 86_400) + traced_per_second(0.5e6 / 86_400)
    assert million["services"]["X-Ray"] == pytest.approx(traced * seconds * 5.00 / 1e6)
    assert untraced["services"]["X-Ray"] == 0 and untraced["services"]["CloudTrail"] == 0


def test_usage_from_run_averages_a_run_per_file() -> None:
    usage = usage_from_run(
        files=2,
        rows_written=100,
        loader_durations_ms=[10.2, 20.0],
        loader_memory_mb=1024,
        check_invocations=3,
        check_durations_ms=[1.5, 2.0, 3.0],
        check_memory_mb=512,
        alerts=4,
        bytes_uploaded=6_000,
        log_bytes=5_000,
    )

    assert usage.loader_invocations == 1
    assert usage.loader_gb_s == pytest.approx((11 + 20) / 1000 / 2)
    assert usage.check_invocations == 1.5
    assert usage.check_gb_s == pytest.approx((2 + 2 + 3) / 1000 * 0.5 / 2)
    # each row twice (a transaction), one receipt per file, two units per alert
    assert usage.dynamodb_write_units == (100 * 2 + 2 + 4 * 2) / 2
    assert usage.dynamodb_read_units == 2 / 2  # one receipt lookup per invocation
    # OutOfStock: 8.5 % of the rows by default; RecentReceipts: one per receipt
    assert usage.dynamodb_index_write_units == pytest.approx((100 * 0.085 + 2) / 2)
    # each file refreshes its store: a Query of 50 rows x 200 B (3 units), one put
    assert usage.dynamodb_summary_read_units == 3
    assert usage.dynamodb_summary_write_units == 1
    assert usage.sns_publishes == 2
    assert usage.s3_bytes == 3_000
    assert usage.log_bytes == 2_500


def test_big_items_and_cold_starts_cost_more() -> None:
    common: dict[str, Any] = {
        "files": 1, "rows_written": 10, "loader_durations_ms": [100.0], "loader_memory_mb": 1024,
        "check_invocations": 1, "check_durations_ms": [10.0], "check_memory_mb": 512,
        "alerts": 0, "bytes_uploaded": 500, "log_bytes": 0,
    }  # fmt: skip

    big = usage_from_run(**common, row_item_bytes=1500, receipt_item_bytes=2100)
    cold = usage_from_run(**common, init_durations_ms=[400.0])

    assert big.dynamodb_write_units == 10 * 2 * 2 + 3
    assert cold.loader_gb_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("write_units_per_file", "verdict"), [(10, "below"), (150, "within"), (300, "above")]
)
def test_the_seed_claim_is_judged_at_10000_files_a_day(
    write_units_per_file: float, verdict: str
) -> None:
    # 10,000 files/day is 304,167 files a month; a write unit costs $0.625 per million.
    usage = Usage(
        loader_invocations=0, s3_put_requests=0, s3_get_requests=0,
        dynamodb_write_units=write_units_per_file,
    )  # fmt: skip

    result = compare_with_seed_claim(usage, PRICES, fixed=NOTHING_FIXED)

    expected = write_units_per_file * 10_000 * DAYS_PER_MONTH * 0.625 / 1e6
    assert result["projected_usd_per_month"] == pytest.approx(expected)
    assert result["verdict"] == verdict
    assert (result["claim_low_usd"], result["claim_high_usd"]) == (25.0, 50.0)


def test_the_cli_prints_a_bill(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--files-per-day", "10000", "--rows", "50"]) == 0

    out = capsys.readouterr().out
    assert "total" in out
    assert "Seed claim" in out


def test_measured_index_writes_and_summary_reads_are_used_as_given() -> None:
    usage = usage_from_run(
        files=4, rows_written=400, loader_durations_ms=[10.0] * 4, loader_memory_mb=1024,
        check_invocations=0, check_durations_ms=[], check_memory_mb=512, alerts=0,
        bytes_uploaded=0, log_bytes=0, index_writes=12, summary_read_units=40,
        summary_refreshes=4,
    )  # fmt: skip

    assert usage.dynamodb_index_write_units == (12 + 4) / 4
    assert usage.dynamodb_summary_read_units == 10
    assert usage.dynamodb_summary_write_units == 1


def test_the_out_of_stock_index_is_written_for_zeros_and_for_leaving_zero() -> None:
    before = {("s", "a"): 0, ("s", "b"): 5}
    files = [
        [("s", "a", 0), ("s", "b", 0), ("s", "c", 3)],  # a: 0 over 0 (rewritten), b: enters
        [("s", "a", 4), ("s", "b", 0), ("s", "c", 3)],  # a: leaves, b: rewritten, c: nothing
    ]

    applied = replay(before, files)

    assert applied.index_writes == 4
    assert applied.store_items == {"s": 3}  # what the summary's Query reads back
    assert before == {("s", "a"): 0, ("s", "b"): 5}  # not changed


def load(**overrides: Any) -> LoadInputs:
    base: dict[str, Any] = {
        "loader_ms": 100.0, "loader_p99_ms": 300.0, "check_invocations_per_file": 0.5,
        "check_ms": 40.0, "rows_per_file": 50, "write_units_per_file": 100,
        "index_units_per_file": 5, "summary_read_units_per_file": 5, "stores": 1_000,
        "peak_factor": 10,
    }  # fmt: skip
    return LoadInputs(**(base | overrides))


def test_concurrency_is_the_rate_times_the_duration() -> None:
    found = project_load(load(), 1_000_000)

    rate = 1e6 / 86_400  # 11.57 files/s
    loader = found["loader"]
    assert found["mean_files_per_s"] == pytest.approx(rate)
    assert loader["mean_concurrency"] == pytest.approx(rate * 0.1)
    assert loader["peak_concurrency"] == pytest.approx(rate * 10 * 0.1)
    assert loader["peak_concurrency_at_p99_duration"] == pytest.approx(rate * 10 * 0.3)
    assert loader["peak_share_of_limit"] == pytest.approx(rate * 10 * 0.1 / 1000)
    assert loader["limit_is"] == "account default"
    assert found["check_stock"]["mean_concurrency"] == pytest.approx(rate * 0.5 * 0.04)


def test_a_stores_files_share_one_partitions_write_units() -> None:
    ddb = project_load(load(), 1_000_000)["dynamodb"]

    assert ddb["max_files_per_s_per_store"] == pytest.approx(10)  # 1,000 WCU/s / 100
    assert ddb["max_rows_per_s_into_one_store"] == pytest.approx(500)
    assert ddb["min_seconds_per_file_at_partition_limit"] == pytest.approx(0.1)
    assert not ddb["held_back_by_its_partition"]  # within one partition-second
    # 1,000 stores: 0.0116 files/s each, 10 x that at the peak, 100 units a file
    assert ddb["peak_write_units_per_s_per_store"] == pytest.approx(1e6 / 86_400 / 1000 * 1000)
    assert not ddb["hot_store_throttles_at_peak"]
    assert project_load(load(stores=5), 1_000_000)["dynamodb"]["hot_store_throttles_at_peak"]


def test_big_files_are_held_back_by_their_partition_and_fill_the_account() -> None:
    # 5,000 rows: 10,000 units into one partition, 10 s at 1,000 a second, whatever the loader
    found = project_load(load(rows_per_file=5_000, write_units_per_file=10_000), 1_000_000)

    assert found["loader"]["peak_concurrency"] == pytest.approx(1e6 / 86_400 * 10 * 10)
    assert found["loader"]["peak_share_of_limit"] > 1  # past the account's 1,000
    reserved = project_load(load(reserved_concurrency=100), 1_000_000)["loader"]
    assert (reserved["limit"], reserved["limit_is"]) == (100, "reserved")


def run_summary() -> dict[str, Any]:
    usage = dataclasses.asdict(illustrative_usage(50))
    return {
        "run_id": "20261125-000000-steady",
        "rows_written": 500,
        "loader_duration_ms": {"p50": 40.0, "p95": 60.0, "p99": 90.0},
        "cost": {
            "measured": {
                "files": 10, "loader_invocations": 10, "loader_duration_ms_total": 500.0,
                "check_invocations": 4, "check_duration_ms_total": 80.0, "row_write_units": 1,
            },
            "usage_per_file": usage,
        },
    }  # fmt: skip


def test_load_inputs_come_from_a_runs_summary() -> None:
    inputs = load_inputs_from_summary(run_summary(), stores=200, peak_factor=4)

    assert inputs.loader_ms == 50 and inputs.loader_p99_ms == 90
    assert inputs.check_invocations_per_file == 0.4 and inputs.check_ms == 20
    assert inputs.rows_per_file == 50 and inputs.write_units_per_file == 100
    assert (inputs.stores, inputs.peak_factor) == (200, 4)


def test_the_cli_projects_a_runs_usage_with_concurrency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(run_summary()))
    out = tmp_path / "projection.json"

    code = main(["cost", "--from-run", str(tmp_path), "--files-per-day", "1000000",
                 "--json", str(out)])  # fmt: skip

    assert code == 0
    printed = capsys.readouterr().out
    assert "Concurrency" in printed and "Load-Inventory" in printed
    written = json.loads(out.read_text())
    assert written["load"]["files_per_day"] == 1_000_000
    assert written["monthly"]["files_per_day"] == 1_000_000
