"""Write rows in BatchWriteItem-sized batches, retrying what the store leaves unprocessed.

The store is a port, so the same code runs against DynamoDB and an in-memory fake.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

MAX_BATCH_ITEMS = 25  # BatchWriteItem's hard limit
T = TypeVar("T")


class Throttled(Exception):
    """The store refused the whole batch for now; it may be retried."""


class BatchStore(Protocol[T]):
    """Writes up to 25 items; returns those left unprocessed, or raises Throttled."""

    def write_batch(self, items: Sequence[T]) -> Sequence[T]: ...


@dataclass
class WriteOutcome(Generic[T]):
    """How many items were written and which failed after every retry."""

    written: int = 0
    failed: list[T] = field(default_factory=list)
    batches: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff (the AWS architecture blog's recommendation)."""

    attempts: int = 8
    base_s: float = 0.02
    cap_s: float = 1.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        # 2**1024 overflows a float; an exponent that large is far past the cap anyway.
        return rand() * min(self.cap_s, self.base_s * 2.0 ** min(attempt, 1000))


def write_all(
    store: BatchStore[T],
    items: Sequence[T],
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], None] = time.sleep,
) -> WriteOutcome[T]:
    """Write every item at most once per attempt; report the ones that never got through."""
    outcome: WriteOutcome[T] = WriteOutcome()
    for start in range(0, len(items), MAX_BATCH_ITEMS):
        pending: list[T] = list(items[start : start + MAX_BATCH_ITEMS])
        attempt = 0
        while pending:
            outcome.batches += 1
            try:
                left = list(store.write_batch(pending))
            except Throttled:
                left = pending
            outcome.written += len(pending) - len(left)
            pending = left
            if not pending:
                break
            attempt += 1
            if attempt >= backoff.attempts:
                outcome.failed.extend(pending)
                break
            outcome.retries += 1
            sleep(backoff.delay(attempt))
    return outcome
