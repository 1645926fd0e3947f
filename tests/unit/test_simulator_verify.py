"""The one diff of expected against observed, verify's expected alerts, and upload pacing."""

from __future__ import annotations

import pytest

from harness.observe import Alert, Expected, Observed, diff
from inventory.csv_format import Row
from inventory.receipts import Receipt
from simulator.manifest import ExpectedAlert, FileEntry, FileExpectation, Manifest
from simulator.upload import Pace
from simulator.verify import expected_alerts

pytestmark = pytest.mark.unit


def manifest_with(alerts: list[ExpectedAlert]) -> Manifest:
    entry = FileEntry("k1", "S", 0, [], FileExpectation("loaded", 1, 0))
    return Manifest(seed=1, params={}, files=[entry], final_state=[], alerts=alerts)


ALERTS = [
    ExpectedAlert("S", "new-zero", None, "k1"),
    ExpectedAlert("S", "later", 4, "k2"),
    ExpectedAlert("S", "was-zero", None, "k1"),
    ExpectedAlert("S", "was-zero", 3, "k3"),
    ExpectedAlert("S", "was-five", None, "k1"),
]


def test_an_empty_table_keeps_the_manifest_alerts_as_they_are() -> None:
    assert expected_alerts(manifest_with(ALERTS), before={}) == [
        ("S", "new-zero", None, "k1"),
        ("S", "later", 4, "k2"),
        ("S", "was-zero", None, "k1"),
        ("S", "was-zero", 3, "k3"),
        ("S", "was-five", None, "k1"),
    ]


def test_items_already_in_the_table_change_only_their_first_alert() -> None:
    before = {("S", "was-zero"): 0, ("S", "was-five"): 5, ("S", "later"): 9}
    assert expected_alerts(manifest_with(ALERTS), before) == [
        ("S", "new-zero", None, "k1"),
        ("S", "later", 4, "k2"),  # not a first appearance at 0: unchanged
        ("S", "was-zero", 3, "k3"),  # 0 over 0 sends nothing; the later drop still alerts
        ("S", "was-five", 5, "k1"),  # a drop from the count it had
    ]


def alert(item: str, previous: int | None, key: str, attribute: str = "S") -> Alert:
    body = {"store": "S", "item": item, "previous_count": previous, "source_key": key}
    return Alert(body, attribute, 0.0)


def test_missing_extra_and_duplicate_alerts_are_all_listed() -> None:
    keys = ("k1", "k2", "k3")
    expected = Expected(
        alerts=[("S", "a", None, "k1"), ("S", "b", 2, "k2")],
        receipts=dict.fromkeys(keys),
    )
    received = [alert("a", None, "k1"), alert("a", None, "k1"), alert("c", 1, "k3", "X")]
    observed = Observed(
        receipts={k: Receipt(k, "r", "loaded", 1, 0) for k in keys}, table={}, alerts=received
    )

    found = diff(expected, observed)

    assert len(found.by_kind["missing alert"]) == 1 and "S / b" in found.by_kind["missing alert"][0]
    assert len(found.by_kind["extra alert"]) == 2
    assert found.by_kind["mismatched alert"] == ["store attribute 'X' != 'S'"]
    assert found.total == 4


def test_alerts_from_files_outside_the_run_are_not_counted() -> None:
    expected = Expected(alerts=[("S", "a", None, "k1")], receipts={"k1": None})
    observed = Observed(
        receipts={"k1": Receipt("k1", "r", "loaded", 1, 0)},
        table={},
        alerts=[alert("a", None, "k1"), alert("z", None, "someone-else.csv")],
    )

    assert diff(expected, observed).total == 0


def test_a_file_without_a_receipt_is_lost_unless_it_was_dead_lettered() -> None:
    expected = Expected(receipts={"lost.csv": None, "dead.csv": None})
    observed = Observed(
        receipts={"lost.csv": None, "dead.csv": None},
        table={},
        alerts=[],
        dead_lettered={"dead.csv"},
    )

    found = diff(expected, observed)

    assert found.by_kind == {"missing receipt": ["lost.csv"], "dead-lettered": ["dead.csv"]}


def test_table_rows_are_compared_store_by_store() -> None:
    expected = Expected(table={("S", "a"): 1, ("S", "b"): 0, ("S", "c"): 3})
    observed = Observed(receipts={}, table={("S", "a"): 1, ("S", "c"): 4, ("S", "d"): 2}, alerts=[])

    found = diff(expected, observed)

    assert found.by_kind == {
        "missing row": ["S / b (expected 0)"],
        "mismatched row": ["S / c: 4, expected 3"],
        "extra row": ["S / d = 2"],
    }


def test_replaying_uploads_applies_the_stock_rule_in_order() -> None:
    expected = Expected(table={("S", "old"): 0, ("S", "kept"): 4})
    rows = [Row("S", "new", 0, 2), Row("S", "old", 0, 3), Row("S", "kept", 0, 4)]

    first = expected.apply("k1", rows)
    second = expected.apply("k2", [Row("S", "new", 5, 2)])
    third = expected.apply("k3", [Row("S", "new", 0, 2)])

    assert first == [("S", "new", None, "k1"), ("S", "kept", 4, "k1")]  # 0 over 0: nothing
    assert second == []
    assert third == [("S", "new", 5, "k3")]
    assert expected.table == {("S", "new"): 0, ("S", "old"): 0, ("S", "kept"): 0}
    assert list(expected.receipts) == ["k1", "k2", "k3"]


def test_a_compressed_day_sets_the_rate() -> None:
    assert Pace.compressed_day(10_000, 5).files_per_s == pytest.approx(10_000 / 300)
    assert Pace().describe() == "unpaced"
