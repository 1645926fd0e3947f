"""The stock rule: one NoStock message when an item's count becomes 0."""

from __future__ import annotations

import json

import pytest

from inventory.stock import NoStockAlert, alert_due, alert_for

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("previous", "current", "due"),
    [
        (None, 0, True),  # a new item at 0
        (1, 0, True),
        (5, 0, True),
        (10**37, 0, True),
        (0, 0, False),  # writing 0 over 0 sends nothing
        (None, 3, False),
        (0, 3, False),
        (3, 2, False),
        (3, None, False),  # deleted
        (0, None, False),
        (None, None, False),
    ],
)
def test_alert_due(previous: int | None, current: int | None, due: bool) -> None:
    assert alert_due(previous, current) is due


def test_a_count_history_alerts_once_per_drop_to_zero() -> None:
    # Given an item whose count goes 5 -> 0 -> 0 -> 7 -> 0
    history = [5, 0, 0, 7, 0]

    # When each change is checked against the one before (the first write is an insert)
    alerts: list[NoStockAlert] = []
    previous: int | None = None
    for current in history:
        alert = alert_for("Berlin", "Apples", previous, current, source_key=f"k{len(alerts)}")
        if alert is not None:
            alerts.append(alert)
        previous = current

    # Then exactly two alerts go out: for 5 -> 0 and for 7 -> 0
    assert [a.previous_count for a in alerts] == [5, 7]


def test_alert_for_returns_none_when_no_alert_is_due() -> None:
    assert alert_for("s", "i", previous=0, current=0, source_key="k") is None
    assert alert_for("s", "i", previous=4, current=None, source_key=None) is None


def test_alert_for_carries_the_change() -> None:
    alert = alert_for("Berlin", "Apples", 4, 0, "uploads/berlin.csv", "2024-05-01T10:00:00.000Z")

    assert alert == NoStockAlert(
        "Berlin", "Apples", 4, "uploads/berlin.csv", "2024-05-01T10:00:00.000Z"
    )


def test_message_names_store_item_previous_count_and_source_key() -> None:
    alert = NoStockAlert("München", "Äpfel", previous_count=3, source_key="in/münchen.csv")

    message = alert.message()

    assert message["store"] == "München"
    assert message["item"] == "Äpfel"
    assert message["previous_count"] == 3
    assert message["source_key"] == "in/münchen.csv"
    assert message["count"] == 0
    # The message goes out as JSON, so it must serialise as it is.
    assert json.loads(json.dumps(message)) == message


def test_message_of_a_new_item_has_no_previous_count() -> None:
    assert NoStockAlert("s", "i", None, "k").message()["previous_count"] is None


@pytest.mark.parametrize(
    ("store", "item"),
    [
        ("Berlin", "Apples"),
        ("東京", "お茶, 緑"),
        ("São Paulo", "Açaí 🍇"),
        ("S" * 2048, "I" * 1024),
        ("tab\tstore", "bell\x07item\x1f\x7f"),
        ("ü" * 300, "x"),
    ],
)
def test_subject_is_printable_ascii_of_at_most_100_characters(store: str, item: str) -> None:
    subject = NoStockAlert(store, item, 1, "k").subject

    assert subject.startswith("No stock: ")
    assert len(subject) <= 100
    assert subject.isascii()
    # SNS refuses subjects with line breaks or control characters.
    assert all(" " <= c <= "~" for c in subject), subject


def test_subject_keeps_ascii_names_readable() -> None:
    assert NoStockAlert("Berlin", "Apples", 1, "k").subject == "No stock: Apples at Berlin"
    assert NoStockAlert("Köln", "Äpfel", 1, "k").subject == "No stock: ?pfel at K?ln"
