"""Check-Stock's settings, validated at cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inventory import config
from inventory.settings import require

DEFAULT_ALERTS_SENT_TTL_SECONDS = 15 * 24 * 3600


@dataclass(frozen=True)
class CheckSettings:
    topic_arn: str
    alerts_sent_table_name: str
    alerts_sent_ttl_seconds: int = DEFAULT_ALERTS_SENT_TTL_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CheckSettings:
        ttl = environ.get(config.ENV_ALERTS_SENT_TTL_SECONDS, "").strip()
        if ttl and not ttl.isdigit():
            raise ValueError(
                f"{config.ENV_ALERTS_SENT_TTL_SECONDS} must be whole seconds, got {ttl!r}"
            )
        return cls(
            topic_arn=require(environ, config.ENV_TOPIC_ARN),
            alerts_sent_table_name=require(environ, config.ENV_ALERTS_SENT_TABLE_NAME),
            alerts_sent_ttl_seconds=int(ttl) if ttl else DEFAULT_ALERTS_SENT_TTL_SECONDS,
        )
