"""The stock rule: when an item's count becomes 0, NoStock is told once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def alert_due(previous: int | None, current: int | None) -> bool:
    """An alert is due when the count becomes 0: new at 0, or above 0 dropping to 0.

    `previous` is None for a new item; `current` is None when the item was deleted.
    Writing 0 over 0 sends nothing.
    """
    return current == 0 and (previous is None or previous > 0)


@dataclass(frozen=True)
class NoStockAlert:
    """The NoStock message for one item that ran out."""

    store: str
    item: str
    previous_count: int | None
    source_key: str | None
    updated_at: str | None = None
    correlation_id: str | None = None  # the upload that caused it (inventory trace follows it)

    @property
    def subject(self) -> str:
        # SNS subjects are at most 100 printable ASCII characters: no control characters
        # (a tab is a legal part of an item name, but SNS refuses it in a subject).
        text = f"No stock: {self.item} at {self.store}"
        return "".join(c if " " <= c <= "~" else "?" for c in text)[:100]

    def message(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "item": self.item,
            "count": 0,
            "previous_count": self.previous_count,
            "source_key": self.source_key,
            "updated_at": self.updated_at,
            "correlation_id": self.correlation_id,
        }


def alert_for(
    store: str,
    item: str,
    previous: int | None,
    current: int | None,
    source_key: str | None,
    updated_at: str | None = None,
    correlation_id: str | None = None,
) -> NoStockAlert | None:
    """Return the alert this change calls for, or None."""
    if not alert_due(previous, current):
        return None
    return NoStockAlert(store, item, previous, source_key, updated_at, correlation_id)
