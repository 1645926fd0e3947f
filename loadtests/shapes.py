"""Load shapes: the upload rate over time, as locust LoadTestShapes driving a shared pacer.

Locust shapes set a user count; a rate is what matters here, so every shape also sets the
`Pacer` that all users draw their upload slots from. Users only provide concurrency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from locust import LoadTestShape

from harness.measure import SEED_FILES_PER_S


class Pacer:
    """Hands out upload slots at `rate` files/s across all users (gevent: no locking needed)."""

    def __init__(self, rate: float = 1.0) -> None:
        self.rate = rate
        self._next_slot = 0.0

    def delay(self) -> float:
        """Seconds this user should wait before its next upload (its slot's start)."""
        now = time.monotonic()
        slot = max(self._next_slot, now)
        self._next_slot = slot + 1.0 / max(self.rate, 1e-6)
        return slot - now


PACER = Pacer()


def users_for(rate: float) -> int:
    """Enough concurrent users for `rate` files/s with room for slow uploads."""
    return min(400, math.ceil(rate * 0.5) + 4)


class PacedShape(LoadTestShape):
    """A shape that holds a rate per phase; subclasses say which rate applies when."""

    abstract = True

    def __init__(self, duration_s: float) -> None:
        super().__init__()
        self.duration_s = duration_s
        # Distributed runs (loadtests.distributed): the shape runs on the master, which
        # forwards each new rate to the workers' pacers and spreads the users over them.
        self.workers = 1
        self.on_rate: Callable[[float], None] | None = None
        self.stopped = False  # set when a worker has no files left
        self._rate_sent: float | None = None

    def rate_at(self, t: float) -> float | None:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t >= self.duration_s or self.stopped:
            return None
        rate = self.rate_at(t)
        if rate is None:
            return None
        PACER.rate = rate
        if self.on_rate is not None and rate != self._rate_sent:
            self.on_rate(rate)
            self._rate_sent = rate
        users = users_for(rate / self.workers) * self.workers
        return users, float(users)


class SteadyShape(PacedShape):
    """The seed's 10,000 files/day, optionally time-compressed by `speedup`."""

    def __init__(self, duration_s: float, speedup: float = 1.0) -> None:
        super().__init__(duration_s)
        self.rate = SEED_FILES_PER_S * speedup

    def rate_at(self, t: float) -> float:
        return self.rate


@dataclass
class Step:
    """One ramp step and what it measured (filled in by the runner)."""

    rate: float
    start_s: float
    end_s: float
    files: int = 0
    ingest_p99_ms: float | None = None
    errors: int = 0
    unfinished: int = 0  # files of the step with no receipt when it was judged
    held: bool | None = None


class RampShape(PacedShape):
    """Steps the rate up until p99 ingest passes the SLO or errors appear (checked per step)."""

    def __init__(
        self, duration_s: float, start: float = 2.0, factor: float = 1.5, step_s: float = 20.0
    ) -> None:
        super().__init__(duration_s)
        self.step_s = step_s
        self.steps: list[Step] = []
        rate, t = start, 0.0
        while t < duration_s:
            self.steps.append(
                Step(rate=round(rate, 2), start_s=t, end_s=min(t + step_s, duration_s))
            )
            rate *= factor
            t += step_s
        self.broken = False  # set by the runner when a finished step did not hold

    def rate_at(self, t: float) -> float | None:
        if self.broken:
            return None
        index = min(int(t // self.step_s), len(self.steps) - 1)
        return self.steps[index].rate


class SpikeShape(PacedShape):
    """A steady base with a burst in the middle: `peak` files/s for `spike_s` seconds."""

    def __init__(
        self, duration_s: float, base: float = 1.0, peak: float = 20.0, spike_s: float = 10.0
    ) -> None:
        super().__init__(duration_s)
        start = max(0.0, (duration_s - spike_s) / 2)
        self.phases = [
            (0.0, start, base),
            (start, start + spike_s, peak),
            (start + spike_s, duration_s, base),
        ]
        self.base = base

    def rate_at(self, t: float) -> float:
        return next((rate for lo, hi, rate in self.phases if lo <= t < hi), self.base)
