"""The query API's settings, validated at cold start."""

from __future__ import annotations

from inventory.settings import TableSettings


class QuerySettings(TableSettings):
    """The three tables, from TABLE_NAME, RECEIPTS_TABLE_NAME and STORE_SUMMARIES_TABLE_NAME."""
