"""What the query API reads, behind one port: `InventoryReads`, and its DynamoDB adapter.

Each read is a lazy iterator of items (DynamoDB's resource layer: plain values, numbers as
`Decimal`) from an optional exclusive start key; the caller stops when it has a page, and
`page_size` only tells the adapter how many to ask DynamoDB for at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from inventory import config, paging

Item = dict[str, Any]
Key = dict[str, str]


class ReadFailedError(RuntimeError):
    """DynamoDB did not answer a read (throttled, unavailable, misconfigured)."""


class InventoryReads(Protocol):
    def stores(self, start: Key | None, page_size: int) -> Iterator[Item]:
        """StoreSummaries items, in the table's order."""
        ...

    def store_items(self, store: str, start: Key | None, page_size: int) -> Iterator[Item]:
        """One store's Inventory items, in item order."""
        ...

    def out_of_stock(self, start: Key | None, page_size: int) -> Iterator[Item]:
        """Inventory items at 0 (the sparse OutOfStock index)."""
        ...

    def receipts_on(self, day: str, start: Key | None, page_size: int) -> Iterator[Item]:
        """The receipts written on a UTC day (`YYYY-MM-DD`), newest first."""
        ...


# The attributes of each read's exclusive start key (a GSI's holds the table's key too).
STORE_KEY = (config.ATTR_STORE,)
ITEM_KEY = (config.ATTR_STORE, config.ATTR_ITEM)
OUT_OF_STOCK_KEY = (config.ATTR_OUT_OF_STOCK_STORE, config.ATTR_STORE, config.ATTR_ITEM)
RECEIPT_KEY = (
    config.ATTR_PROCESSED_DAY,
    config.ATTR_PROCESSED_AT,
    config.ATTR_OBJECT_KEY,
    config.ATTR_RECEIPT_ID,
)


class DynamoReads:
    """InventoryReads on the three tables (boto3 resource Tables)."""

    def __init__(self, inventory: Any, receipts: Any, summaries: Any) -> None:
        self._inventory = inventory
        self._receipts = receipts
        self._summaries = summaries

    def stores(self, start: Key | None, page_size: int) -> Iterator[Item]:
        return _pages(self._summaries.scan, {}, start, page_size)

    def store_items(self, store: str, start: Key | None, page_size: int) -> Iterator[Item]:
        request = {
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": config.ATTR_STORE},
            "ExpressionAttributeValues": {":s": store},
        }
        return _pages(self._inventory.query, request, start, page_size)

    def out_of_stock(self, start: Key | None, page_size: int) -> Iterator[Item]:
        request = {"IndexName": config.INDEX_OUT_OF_STOCK}
        return _pages(self._inventory.scan, request, start, page_size)

    def receipts_on(self, day: str, start: Key | None, page_size: int) -> Iterator[Item]:
        request = {
            "IndexName": config.INDEX_RECENT_RECEIPTS,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": config.ATTR_PROCESSED_DAY},
            "ExpressionAttributeValues": {":d": day},
            "ScanIndexForward": False,
        }
        return _pages(self._receipts.query, request, start, page_size)


def _pages(
    call: Callable[..., dict[str, Any]], request: dict[str, Any], start: Key | None, size: int
) -> Iterator[Item]:
    """The items of a Query or Scan, page after page, fetched only as they are consumed."""
    request = {**request, "Limit": size}
    if start:
        request["ExclusiveStartKey"] = start
    try:
        yield from paging.items(call, request)
    except (ClientError, BotoCoreError) as exc:
        raise ReadFailedError(str(exc)) from exc
