"""A store's summary: how many items it has, how many are out of stock, when it last changed.

Load-Inventory recomputes it from the store's rows after writing them (docs/design.md, "Data
the API reads"); recounting, rather than adding deltas, keeps the refresh idempotent and
independent of the order loaders finish in. This module only counts: the reads and the
conditional put live in the loader's adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from inventory import config


class ItemStamp(NamedTuple):
    """What a summary needs of one Inventory item: its count and when it was written."""

    quantity: int  # the item's Count (a NamedTuple field may not be called `count`)
    updated_at: str


@dataclass(frozen=True)
class StoreSummary:
    """One store's counts, as stored in StoreSummaries."""

    store: str
    items: int = 0
    out_of_stock: int = 0
    updated_at: str | None = None  # the newest UpdatedAt of its items (None: no items)
    computed_at: str = ""  # when the count began: a summary computed later wins


def summarize(store: str, stamps: Iterable[ItemStamp], computed_at: str) -> StoreSummary:
    """Fold a store's items (one stamp each) into its summary; memory stays constant."""
    items = out_of_stock = 0
    newest: str | None = None
    for quantity, updated_at in stamps:  # a large store has millions: plain locals, no objects
        items += 1
        out_of_stock += quantity == 0
        if newest is None or updated_at > newest:  # ISO-8601 UTC: text order is time order
            newest = updated_at
    return StoreSummary(store, items, out_of_stock, newest, computed_at)


def computed_now() -> str:
    """Now as ISO-8601 UTC with microseconds: `ComputedAt`, compared as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def to_item(summary: StoreSummary) -> dict[str, Any]:
    """The summary as a StoreSummaries item (DynamoDB's resource layer: plain values)."""
    item: dict[str, Any] = {
        config.ATTR_STORE: summary.store,
        config.ATTR_SUMMARY_ITEMS: summary.items,
        config.ATTR_SUMMARY_OUT_OF_STOCK: summary.out_of_stock,
        config.ATTR_SUMMARY_COMPUTED_AT: summary.computed_at,
    }
    if summary.updated_at is not None:
        item[config.ATTR_UPDATED_AT] = summary.updated_at
    return item


def from_item(item: Mapping[str, Any]) -> StoreSummary:
    """A stored summary (numbers as Decimal) back into a `StoreSummary`."""
    return StoreSummary(
        store=str(item[config.ATTR_STORE]),
        items=int(item.get(config.ATTR_SUMMARY_ITEMS, 0)),
        out_of_stock=int(item.get(config.ATTR_SUMMARY_OUT_OF_STOCK, 0)),
        updated_at=item.get(config.ATTR_UPDATED_AT),
        computed_at=str(item.get(config.ATTR_SUMMARY_COMPUTED_AT, "")),
    )
