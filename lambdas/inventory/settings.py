"""Typed settings, read once at cold start from a mapping the handler passes in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from inventory import config


class MissingSettingError(RuntimeError):
    """A required setting is absent: the function cannot start."""


def require(environ: Mapping[str, str], name: str) -> str:
    """Return a non-empty setting or fail fast with its name."""
    value = environ.get(name, "").strip()
    if not value:
        raise MissingSettingError(f"environment variable {name} is required but not set")
    return value


@dataclass(frozen=True)
class TableSettings:
    """The tables a function works on: Inventory, IngestReceipts and StoreSummaries."""

    table_name: str
    receipts_table_name: str
    store_summaries_table_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        return cls(
            table_name=require(environ, config.ENV_TABLE_NAME),
            receipts_table_name=require(environ, config.ENV_RECEIPTS_TABLE_NAME),
            store_summaries_table_name=require(environ, config.ENV_STORE_SUMMARIES_TABLE_NAME),
        )
