"""The simulator's generator: same seed same bytes, and a manifest the real parser agrees with."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from inventory.csv_format import ParseResult, parse_inventory
from simulator.generate import MODES, WRITER_BATCH, MessyRates, generate
from simulator.manifest import LOADED, MANIFEST_NAME, REJECTED, Manifest
from simulator.world import CATALOG_SIZE, LARGE_FACTOR, build_catalog
from tests.support.agreement import Replay, assert_parsed_as_the_manifest_says

pytestmark = pytest.mark.unit

MESSY = MessyRates.parse("all=0.3")
KEY = re.compile(r"stores/[a-z0-9-]+/\d{4}-\d{2}-\d{2}/inventory-\d{5,}\.csv")


def read_all(out: Path) -> dict[str, bytes]:
    """Every file below `out`, by its path relative to `out`."""
    return {
        path.relative_to(out).as_posix(): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def parsed_files(out: Path, manifest: Manifest) -> list[ParseResult]:
    """The real parser's result for every file, in manifest order."""
    return [parse_inventory((out / entry.key).read_bytes()) for entry in manifest.files]


def digest(out: Path) -> str:
    sha = hashlib.sha256()
    for name, data in read_all(out).items():
        sha.update(name.encode() + b"\0" + data + b"\0")
    return sha.hexdigest()


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """150 files with every messy mode at 0.3."""
    out = tmp_path_factory.mktemp("messy") / "run"
    return out, generate(out, files=150, rows=30, seed=7, messy=MESSY)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """20 stores x 7 days of 200 rows, no messy modes."""
    out = tmp_path_factory.mktemp("clean") / "run"
    return out, generate(out, files=140, rows=200, seed=11)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    # Given three runs, two with the same seed
    args: dict[str, Any] = {"files": 60, "rows": 20, "messy": MESSY}
    generate(tmp_path / "a", seed=3, **args)
    generate(tmp_path / "b", seed=3, **args)
    generate(tmp_path / "c", seed=4, **args)

    # Then the same seed gives identical files (manifest included), and another seed does not
    a, b, c = (read_all(tmp_path / name) for name in "abc")
    assert MANIFEST_NAME in a
    assert a == b
    assert a[MANIFEST_NAME] != c[MANIFEST_NAME]
    assert [a[k] for k in sorted(a) if k != MANIFEST_NAME] != [
        c[k] for k in sorted(c) if k != MANIFEST_NAME
    ]


def test_same_seed_writes_the_same_bytes_in_another_process(tmp_path: Path) -> None:
    # Given a run here, and the same run in a fresh interpreter with another hash seed
    generate(tmp_path / "here", files=30, rows=15, seed=5, messy=MESSY)
    code = (
        "import sys; from pathlib import Path; from simulator.generate import generate, MessyRates;"
        "generate(Path(sys.argv[1]), files=30, rows=15, seed=5, messy=MessyRates.parse('all=0.3'))"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)

    # Then both wrote the same bytes
    assert digest(tmp_path / "here") == digest(tmp_path / "there")


# --- the manifest agrees with the real parser -----------------------------------------------


def test_every_file_is_accepted_or_rejected_row_by_row_as_the_manifest_says(
    messy_run: tuple[Path, Manifest],
) -> None:
    out, manifest = messy_run
    for entry, result in zip(manifest.files, parsed_files(out, manifest), strict=True):
        assert_parsed_as_the_manifest_says(entry, result)


def test_every_messy_mode_occurs_and_shows_in_its_files(messy_run: tuple[Path, Manifest]) -> None:
    out, manifest = messy_run
    seen = Counter(mode for entry in manifest.files for mode in entry.modes)
    assert set(seen) == set(MODES)
    rows = manifest.params["rows"]
    for entry in manifest.files:
        data = (out / entry.key).read_bytes()
        modes = set(entry.modes)
        assert (data == b"") == ("empty" in modes)
        if "empty" in modes:
            assert entry.modes == ["empty"]
            assert entry.expect.reason_contains == "empty file"
            continue
        assert data.startswith(b"\xef\xbb\xbf") == ("bom_crlf" in modes)
        assert (b"\r\n" in data) == ("bom_crlf" in modes)
        lines = data.decode("utf-8-sig").splitlines()
        assert any(not line.strip() for line in lines) == ("blank_lines" in modes)
        if "quoted" in modes:
            assert all(line.startswith('"') for line in lines if line.strip())
        if "wrong_header" in modes:
            assert entry.expect.status == REJECTED
            assert entry.expect.reason_contains == "header must be store,item,count"
        elif "large" in modes:
            assert entry.expect.rows_written == rows * LARGE_FACTOR
        else:
            assert entry.expect.rows_written == rows
        loaded = "wrong_header" not in modes
        assert (entry.expect.rows_rejected > 0) == ("bad_rows" in modes and loaded)
        assert (entry.expect.duplicates > 0) == ("duplicates" in modes and loaded)


@pytest.mark.parametrize("run", ["messy_run", "clean_run"])
def test_replaying_the_parsed_rows_gives_the_final_state_and_the_alerts(
    run: str, request: pytest.FixtureRequest
) -> None:
    # Given the real parser's rows of every file, loaded in manifest order into a model table
    out, manifest = request.getfixturevalue(run)
    replay = Replay()
    for entry, result in zip(manifest.files, parsed_files(out, manifest), strict=True):
        replay.load(entry.key, result.rows)

    # Then the table is the manifest's final state and the alerts are its alerts, in order
    assert replay.final_state == manifest.final_state
    alerts = replay.alerts
    assert alerts == manifest.alerts
    assert alerts, "a run this size should cause some alerts"
    assert any(a.previous_count is None for a in alerts)
    assert any(a.previous_count for a in alerts)


def test_the_manifest_round_trips_through_its_file(messy_run: tuple[Path, Manifest]) -> None:
    out, manifest = messy_run
    assert Manifest.load(out) == manifest


# --- files and keys -------------------------------------------------------------------------


def test_clean_files_are_minimal_csv_with_lf(clean_run: tuple[Path, Manifest]) -> None:
    out, manifest = clean_run
    for entry in manifest.files:
        data = (out / entry.key).read_bytes()
        assert data.startswith(b"store,item,count\n")
        assert b"\r" not in data
        # What csv.writer writes for the same records, with minimal quoting
        records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        again = io.StringIO()
        csv.writer(again, lineterminator="\n").writerows(records)
        assert again.getvalue().encode("utf-8") == data
        assert entry.modes == []
        assert entry.expect.status == LOADED
        assert entry.expect.rows_written == len(records) - 1 == 200


def test_keys_are_ascii_paths_in_day_major_order(clean_run: tuple[Path, Manifest]) -> None:
    out, manifest = clean_run
    keys = [entry.key for entry in manifest.files]
    assert all(KEY.fullmatch(key) for key in keys)
    assert sorted(read_all(out)) == sorted([*keys, MANIFEST_NAME])
    # index n of inventory-<n>.csv is the file's place in the manifest
    assert [int(key.rsplit("-", 1)[1].split(".")[0]) for key in keys] == list(range(len(keys)))
    slugs = {key.split("/")[1] for key in keys}
    store_of_slug = {entry.key.split("/")[1]: entry.store for entry in manifest.files}
    assert len(slugs) == len(set(store_of_slug.values())) == manifest.params["stores"] == 20
    days = [entry.day for entry in manifest.files]
    assert days == sorted(days)
    for entry in manifest.files:
        assert entry.key.split("/")[2] == (date(2026, 1, 5) + timedelta(entry.day)).isoformat()
    by_store: dict[str, list[int]] = defaultdict(list)
    for entry in manifest.files:
        by_store[entry.store].append(entry.day)
    assert all(store_days == list(range(7)) for store_days in by_store.values())


@pytest.mark.parametrize(
    ("files", "stores", "days", "layout"),
    [
        (1, None, None, (1, 1)),
        (5, None, None, (1, 5)),
        (10, None, None, (2, 7)),
        (100, None, None, (15, 7)),
        (10, 3, None, (3, 4)),
        (10, None, 2, (5, 2)),
        (6, 3, 3, (3, 3)),
    ],
)
def test_stores_and_days_are_derived_from_files_and_stop_at_exactly_files(
    tmp_path: Path, files: int, stores: int | None, days: int | None, layout: tuple[int, int]
) -> None:
    manifest = generate(tmp_path, files=files, rows=3, seed=1, stores=stores, days=days)
    assert (manifest.params["stores"], manifest.params["days"]) == layout
    assert len(manifest.files) == files
    assert len(manifest.stores) == layout[0]
    # day-major: day d holds every store before day d + 1 starts
    per_day = Counter(entry.day for entry in manifest.files)
    assert all(per_day[d] == layout[0] for d in range(max(per_day)))


def test_progress_reports_every_file_once(tmp_path: Path) -> None:
    calls: list[int] = []
    generate(tmp_path, files=3 * WRITER_BATCH + 7, rows=2, seed=1, progress=calls.append)
    assert sum(calls) == 3 * WRITER_BATCH + 7
    assert len(calls) > 1


# --- the world ------------------------------------------------------------------------------


def test_names_are_international_and_some_items_have_commas_and_quotes(
    clean_run: tuple[Path, Manifest],
) -> None:
    out, manifest = clean_run
    rows = [row for result in parsed_files(out, manifest) for row in result.rows]
    stores = {row.store for row in rows}
    items = {row.item for row in rows}
    assert any(not store.isascii() for store in stores)
    assert any(not item.isascii() for item in items)
    assert any("," in item for item in items)
    assert any('"' in item for item in items)
    assert all(name == name.strip() and "\n" not in name for name in stores | items)


def test_the_catalog_is_large_enough_for_20000_item_assortments() -> None:
    catalog = build_catalog()
    assert len(catalog) == len(set(catalog.names)) == CATALOG_SIZE >= 20_000
    assert all(len(name.encode()) <= 1024 for name in catalog.names)


def snapshots(out: Path, manifest: Manifest) -> dict[str, list[list[tuple[str, int]]]]:
    """Each store's parsed (item, count) rows, day by day."""
    by_store: dict[str, list[list[tuple[str, int]]]] = defaultdict(list)
    for entry, result in zip(manifest.files, parsed_files(out, manifest), strict=True):
        by_store[entry.store].append([(row.item, row.count) for row in result.rows])
    return by_store


def transitions(out: Path, manifest: Manifest) -> Counter[str]:
    """How items' counts changed from one day to the next, over every store."""
    seen: Counter[str] = Counter()
    for days in snapshots(out, manifest).values():
        for today, tomorrow in pairwise(days):
            for (item, before), (item_after, after) in zip(today, tomorrow, strict=True):
                assert item == item_after
                if before and not after:
                    seen["ran out"] += 1
                elif not before and after:
                    seen["came back"] += 1
                elif not before:
                    seen["still out"] += 1
                else:
                    seen["in stock"] += 1
                    seen["sold"] += after < before
                    seen["restocked"] += after > before
    return seen


def test_each_store_keeps_its_assortment_and_evolves_at_the_configured_rates(
    clean_run: tuple[Path, Manifest],
) -> None:
    out, manifest = clean_run
    for days in snapshots(out, manifest).values():
        assert len(days) == 7
        assert all([item for item, _ in day] == [item for item, _ in days[0]] for day in days)
    seen = transitions(out, manifest)
    # stockout_rate 0.03 of about 20 x 6 x 200 in-stock item-days; restock_rate 0.5 of sold-out
    in_stock = seen["ran out"] + seen["in stock"]
    assert 0.02 < seen["ran out"] / in_stock < 0.04
    sold_out = seen["came back"] + seen["still out"]
    assert 0.35 < seen["came back"] / sold_out < 0.65
    assert seen["sold"] > seen["restocked"] > 0


@pytest.mark.parametrize(
    ("stockout_rate", "restock_rate", "never"),
    [(0.0, 0.5, "ran out"), (0.5, 0.0, "came back"), (1.0, 0.0, "in stock")],
)
def test_rates_of_zero_and_one_are_exact(
    tmp_path: Path, stockout_rate: float, restock_rate: float, never: str
) -> None:
    manifest = generate(
        tmp_path,
        files=30,
        rows=40,
        seed=2,
        stockout_rate=stockout_rate,
        restock_rate=restock_rate,
    )
    seen = transitions(tmp_path, manifest)
    assert seen[never] == 0
    assert sum(seen.values()) > 0


def test_a_warehouse_lists_its_large_assortment_every_day(tmp_path: Path) -> None:
    manifest = generate(tmp_path, files=24, rows=10, seed=3, messy=MessyRates(large=0.5))
    large = {entry.store for entry in manifest.files if "large" in entry.modes}
    assert 0 < len(large) < len(manifest.stores) == manifest.params["stores"]
    assert manifest.params["warehouses"] == len(large)
    for entry in manifest.files:
        assert ("large" in entry.modes) == (entry.store in large)
        assert entry.expect.rows_written == (400 if entry.store in large else 10)


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"files": 0}, "files must be a whole number >= 1, got 0"),
        ({"rows": 0}, "rows must be a whole number >= 1, got 0"),
        ({"rows": 2.5}, "rows must be a whole number >= 1, got 2.5"),
        ({"rows": CATALOG_SIZE + 1}, "rows must be at most"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"stores": 0}, "stores must be a whole number >= 1"),
        ({"days": -1}, "days must be a whole number >= 1"),
        ({"stockout_rate": 1.5}, "stockout_rate must be a probability in [0, 1], got 1.5"),
        ({"restock_rate": -0.1}, "restock_rate must be a probability in [0, 1]"),
        ({"stores": 2, "days": 2}, "2 stores x 2 days give 4 snapshots, fewer than files=10"),
        ({"stores": 11}, "stores=11 is more than files=10"),
        ({"messy": "all=0.1"}, "messy must be a MessyRates"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"files": 10, "rows": 5, "seed": 1} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_folder_with_files_in_it_is_refused(tmp_path: Path) -> None:
    (tmp_path / "left-over.csv").write_text("store,item,count\n")
    with pytest.raises(ValueError, match="is not empty"):
        generate(tmp_path, files=1, rows=1, seed=1)


@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("none", {}),
        ("", {}),
        ("all=0.05", dict.fromkeys(MODES, 0.05)),
        ("bom_crlf=0.1, bad_rows=0.05", {"bom_crlf": 0.1, "bad_rows": 0.05}),
        ("all=0.2,large=0", dict.fromkeys(MODES, 0.2) | {"large": 0.0}),
    ],
)
def test_messy_rates_parse(text: str, rates: dict[str, float]) -> None:
    assert MessyRates.parse(text) == MessyRates(**rates)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus=0.1", "unknown messy mode 'bogus'; choose from all, bom_crlf, quoted,"),
        ("all", "messy spec 'all' is not MODE=RATE"),
        ("quoted=lots", "messy rate for quoted must be a number in [0, 1], got 'lots'"),
        ("empty=1.5", "messy rate empty must be a probability in [0, 1], got 1.5"),
    ],
)
def test_messy_rates_refuse_bad_specs_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MessyRates.parse(text)


def test_modes_name_every_rate() -> None:
    assert MODES == (
        "bom_crlf",
        "quoted",
        "blank_lines",
        "bad_rows",
        "wrong_header",
        "empty",
        "duplicates",
        "large",
    )
    assert MessyRates().active() == []
    assert MessyRates(quoted=0.1, large=1.0).active() == ["quoted", "large"]
