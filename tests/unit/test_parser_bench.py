"""The parser benchmark: realistic bytes, and sane figures on a tiny input."""

from __future__ import annotations

import csv
import io

import pytest

from inventory.csv_format import parse_inventory
from loadtests import parser_bench
from loadtests.parser_bench import bench_parser, build_csv

pytestmark = pytest.mark.unit


def test_the_bench_input_is_realistic_and_fully_valid() -> None:
    data = build_csv(300, rows_per_store=120)  # three stores, the last one cut short

    result = parse_inventory(data)
    assert len(result.rows) == 300
    assert not result.errors and not result.duplicates and result.accepted
    assert len({row.store for row in result.rows}) == 3
    text = data.decode()
    assert not text.isascii()  # store names from ten locales
    assert '"' in text  # product names with commas or quotes are quoted
    assert build_csv(300, rows_per_store=120) == data  # deterministic


def test_the_floor_reads_every_row_without_checking_it() -> None:
    data = build_csv(50)

    assert parser_bench._parse_floor(data) == 50
    assert sum(1 for _ in csv.reader(io.StringIO(data.decode()))) == 51


def test_a_tiny_bench_returns_sane_figures() -> None:
    result = bench_parser(rows=200, repeats=2)

    assert set(result) >= {
        "ours_rows_per_s",
        "csv_reader_rows_per_s",
        "parser_ratio_vs_csv_reader",
        "rows",
        "repeats",
    }
    assert (result["rows"], result["repeats"]) == (200, 2)
    assert result["ours_rows_per_s"] > 0 and result["csv_reader_rows_per_s"] > 0
    assert result["parser_ratio_vs_csv_reader"] == pytest.approx(
        result["ours_rows_per_s"] / result["csv_reader_rows_per_s"]
    )


@pytest.mark.parametrize(("rows", "repeats"), [(0, 1), (10, 0)])
def test_nonsense_sizes_are_refused(rows: int, repeats: int) -> None:
    with pytest.raises(ValueError):
        bench_parser(rows=rows, repeats=repeats)
