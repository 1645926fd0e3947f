"""Load-Inventory's settings, validated at cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inventory import config
from inventory.settings import require


@dataclass(frozen=True)
class LoadSettings:
    table_name: str
    receipts_table_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LoadSettings:
        return cls(
            table_name=require(environ, config.ENV_TABLE_NAME),
            receipts_table_name=require(environ, config.ENV_RECEIPTS_TABLE_NAME),
        )
