"""Check-Stock's settings, validated at cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inventory import config
from inventory.settings import require


@dataclass(frozen=True)
class CheckSettings:
    topic_arn: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CheckSettings:
        return cls(topic_arn=require(environ, config.ENV_TOPIC_ARN))
