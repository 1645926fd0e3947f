"""The query API's answers (pydantic models: validated, and the OpenAPI document's schemas),
and the mapping from table items to them. Counts are integers, times ISO-8601 UTC text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from inventory import config, receipts, summaries

Item = dict[str, Any]


def _absent(value: object) -> bool:
    return value is None


# The last page has no `next` at all (rather than null).
NEXT = Field(
    default=None,
    exclude_if=_absent,
    description="the token of the next page, passed back as `next`; absent on the last page",
)


class Message(BaseModel):
    """An error answer."""

    message: str


class Store(BaseModel):
    store: str
    items: int
    out_of_stock: int
    updated_at: str | None


class StoresPage(BaseModel):
    stores: list[Store]
    next: str | None = NEXT


class StoreItem(BaseModel):
    item: str
    count: int
    updated_at: str | None
    source_key: str | None


class StoreItemsPage(BaseModel):
    store: str
    items: list[StoreItem]
    next: str | None = NEXT


class OutOfStockItem(StoreItem):
    store: str


class OutOfStockPage(BaseModel):
    items: list[OutOfStockItem]
    next: str | None = NEXT


class RowError(BaseModel):
    line: int
    reason: str


class ReceiptView(BaseModel):
    key: str
    status: str
    rows_written: int
    rows_rejected: int
    rows_stale: int
    reason: str | None
    errors: list[RowError]
    event_time: str
    processed_at: str
    superseded: bool


class ReceiptsPage(BaseModel):
    receipts: list[ReceiptView]
    next: str | None = NEXT


def store_of(item: Item) -> Store:
    """A StoreSummaries item as the API shows it."""
    summary = summaries.from_item(item)
    return Store(
        store=summary.store,
        items=summary.items,
        out_of_stock=summary.out_of_stock,
        updated_at=summary.updated_at,
    )


def _optional(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value)


def store_item_of(item: Item) -> StoreItem:
    """An Inventory item as the API shows it within its store."""
    return StoreItem(
        item=str(item[config.ATTR_ITEM]),
        count=int(item[config.ATTR_COUNT]),
        updated_at=_optional(item, config.ATTR_UPDATED_AT),
        source_key=_optional(item, config.ATTR_SOURCE_KEY),
    )


def out_of_stock_of(item: Item) -> OutOfStockItem:
    """An Inventory item at 0 as the API shows it, with its store."""
    return OutOfStockItem(store=str(item[config.ATTR_STORE]), **store_item_of(item).model_dump())


def receipt_of(item: Item) -> ReceiptView:
    """An IngestReceipts item as the API shows it."""
    receipt = receipts.from_item(item)
    return ReceiptView(
        key=receipt.object_key,
        status=receipt.status,
        rows_written=receipt.rows_written,
        rows_rejected=receipt.rows_rejected,
        rows_stale=receipt.rows_stale,
        reason=receipt.reason,
        errors=[RowError(line=e.line, reason=e.reason) for e in receipt.errors],
        event_time=receipt.event_time,
        processed_at=receipt.processed_at,
        superseded=receipt.superseded,
    )
