"""How many examples a test gets: a share of the loaded profile's budget."""

from __future__ import annotations

from hypothesis import settings


def examples(share: float, minimum: int = 10) -> int:
    """`share` of the current profile's max_examples (conftest loads the profile first)."""
    return max(minimum, int(settings().max_examples * share))
