"""Typed settings, read once at cold start from a mapping the handler passes in."""

from __future__ import annotations

from collections.abc import Mapping


class MissingSettingError(RuntimeError):
    """A required setting is absent: the function cannot start."""


def require(environ: Mapping[str, str], name: str) -> str:
    """Return a non-empty setting or fail fast with its name."""
    value = environ.get(name, "").strip()
    if not value:
        raise MissingSettingError(f"environment variable {name} is required but not set")
    return value
