"""verify's adjustment of expected alerts to the table as it was, and upload pacing."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.manifest import ExpectedAlert, FileEntry, FileExpectation, Manifest
from simulator.upload import Pace
from simulator.verify import Differences, compare_alerts, expected_alerts

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


def test_missing_extra_and_duplicate_alerts_are_all_listed() -> None:
    diff = Differences()
    expected = [("S", "a", None, "k1"), ("S", "b", 2, "k2")]
    received: list[dict[str, Any]] = [
        {
            "store": "S",
            "item": "a",
            "previous_count": None,
            "source_key": "k1",
            "_store_attribute": "S",
        },
        {
            "store": "S",
            "item": "a",
            "previous_count": None,
            "source_key": "k1",
            "_store_attribute": "S",
        },
        {
            "store": "S",
            "item": "c",
            "previous_count": 1,
            "source_key": "k3",
            "_store_attribute": "X",
        },
    ]
    compare_alerts(expected, received, diff)
    assert len(diff.by_kind["missing alert"]) == 1 and "S / b" in diff.by_kind["missing alert"][0]
    assert len(diff.by_kind["extra alert"]) == 2
    assert diff.by_kind["mismatched alert"] == ["store attribute 'X' != 'S'"]
    assert diff.total == 4


def test_a_compressed_day_sets_the_rate() -> None:
    assert Pace.compressed_day(10_000, 5).files_per_s == pytest.approx(10_000 / 300)
    assert Pace().describe() == "unpaced"
