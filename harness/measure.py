"""The project's targets and its one way to summarise latencies.

Every "p99 ingest" in the demo, `simulator upload`, `make load` and `make bench` is computed
here, with the same (nearest-rank) definition, and compared with the same targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The seed project's claim: "10,000+ files/day".
SEED_FILES_PER_DAY = 10_000
SECONDS_PER_DAY = 86_400
SEED_FILES_PER_S = SEED_FILES_PER_DAY / SECONDS_PER_DAY
# The seed's "<200 ms": p99 from upload to rows visible, under load, with no file lost.
SLO_INGEST_P99_MS = 200.0
# At the seed's rate x10 (a file at a time), the tighter targets of the performance work.
SEED_RATE_INGEST_P99_MS = 50.0
SEED_RATE_ALERT_P99_MS = 250.0

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); inf stays inf, so a missing receipt counts."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99, mean, max and count, rounded to 0.1 ms (None when there are no values)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None, "count": 0}
    return {
        **{f"p{p}": round(percentile(values, p), 1) for p in PERCENTILES},
        "mean": round(sum(values) / len(values), 1),
        "max": round(max(values), 1),
        "count": len(values),
    }


def describe(values: Sequence[float]) -> str:
    """`p50 / p95 / p99` in whole ms, for a table cell; `-` when there is nothing to show."""
    if not values:
        return "-"
    return " / ".join(f"{percentile(values, p):.0f}" for p in PERCENTILES)
