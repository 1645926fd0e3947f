"""The cost projection: price table, billing arithmetic, linear scaling, the seed comparison."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from loadtests import cost
from loadtests.cost import (
    DAYS_PER_MONTH,
    Prices,
    Usage,
    billed_gb_seconds,
    compare_with_seed_claim,
    illustrative_usage,
    item_size,
    load_prices,
    project_monthly,
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
)
MILLION_FILES_A_MONTH = 1_000_000 / DAYS_PER_MONTH  # files/day


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

    bill = project_monthly(usage, MILLION_FILES_A_MONTH, PRICES, custom_metrics=0)

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
    bill = project_monthly(usage, 1024, PRICES, retention_days=30, custom_metrics=0)

    assert bill["services"]["S3"] == pytest.approx(30 * 0.023)


def test_the_projection_scales_linearly_with_files_per_day() -> None:
    usage = illustrative_usage(50)

    one = project_monthly(usage, 10_000, PRICES)
    three = project_monthly(usage, 30_000, PRICES)

    fixed = one["fixed_usd_per_month"]
    assert fixed == pytest.approx(cost.CUSTOM_METRICS * 0.30)
    assert three["total_usd_per_month"] - fixed == pytest.approx(
        3 * (one["total_usd_per_month"] - fixed)
    )
    for service, usd in one["services"].items():
        if service != "CloudWatch":  # holds the fixed custom metrics
            assert three["services"][service] == pytest.approx(3 * usd), service
    assert project_monthly(usage, 0, PRICES)["total_usd_per_month"] == pytest.approx(fixed)


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

    result = compare_with_seed_claim(usage, PRICES, custom_metrics=0)

    expected = write_units_per_file * 10_000 * DAYS_PER_MONTH * 0.625 / 1e6
    assert result["projected_usd_per_month"] == pytest.approx(expected)
    assert result["verdict"] == verdict
    assert (result["claim_low_usd"], result["claim_high_usd"]) == (25.0, 50.0)


def test_the_cli_prints_a_bill(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--files-per-day", "10000", "--rows", "50"]) == 0

    out = capsys.readouterr().out
    assert "total" in out
    assert "Seed claim" in out
