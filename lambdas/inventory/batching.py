"""Write rows in batches of up to 100, retrying what the store leaves pending.

The store is a port, so the same code runs against DynamoDB and an in-memory fake. A store
may also answer that some items are stale (a newer version of the row is already stored):
those are done, not failures, and are counted apart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

MAX_BATCH_ITEMS = 100  # TransactWriteItems' hard limit
T = TypeVar("T")


class Throttled(Exception):
    """The store refused the whole batch for now; it may be retried."""


@dataclass(frozen=True)
class BatchResult(Generic[T]):
    """One batch's answer: items to try again (`left`) and items refused as `stale`.

    Every other item of the batch was written.
    """

    left: Sequence[T] = ()
    stale: Sequence[T] = ()


class BatchStore(Protocol[T]):
    """Writes up to MAX_BATCH_ITEMS items; answers what is left and what is stale, or raises
    Throttled."""

    def write_batch(self, items: Sequence[T]) -> BatchResult[T]: ...


@dataclass
class WriteOutcome(Generic[T]):
    """How many items were written or found stale, and which failed after every retry."""

    written: int = 0
    stale: int = 0
    failed: list[T] = field(default_factory=list)
    batches: int = 0
    retries: int = 0

    def add(self, other: WriteOutcome[T]) -> None:
        self.written += other.written
        self.stale += other.stale
        self.failed.extend(other.failed)
        self.batches += other.batches
        self.retries += other.retries


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff (the AWS architecture blog's recommendation)."""

    attempts: int = 8
    base_s: float = 0.02
    cap_s: float = 1.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        # 2**1024 overflows a float; an exponent that large is far past the cap anyway.
        return rand() * min(self.cap_s, self.base_s * 2.0 ** min(attempt, 1000))


def write_one_batch(
    store: BatchStore[T],
    batch: Sequence[T],
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], None] = time.sleep,
) -> WriteOutcome[T]:
    """Write one batch, retrying what is left; report what never got through."""
    outcome: WriteOutcome[T] = WriteOutcome()
    pending: list[T] = list(batch)
    attempt = 0
    while pending:
        outcome.batches += 1
        try:
            result = store.write_batch(pending)
        except Throttled:
            result = BatchResult(left=pending)
        left, stale = list(result.left), len(result.stale)
        outcome.written += len(pending) - len(left) - stale
        outcome.stale += stale
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


def write_all(
    store: BatchStore[T],
    items: Sequence[T],
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], None] = time.sleep,
    concurrency: int = 1,
) -> WriteOutcome[T]:
    """Write every item at most once per attempt; report the ones that never got through.

    With `concurrency` > 1 the batches go through that many threads at once, so the items
    must not depend on one another (the loader's windows hold each key once).
    """
    batches = [items[i : i + MAX_BATCH_ITEMS] for i in range(0, len(items), MAX_BATCH_ITEMS)]
    outcome: WriteOutcome[T] = WriteOutcome()
    if concurrency <= 1 or len(batches) <= 1:
        results = [write_one_batch(store, batch, backoff, sleep) for batch in batches]
    else:
        with ThreadPoolExecutor(min(concurrency, len(batches))) as pool:
            results = list(pool.map(lambda b: write_one_batch(store, b, backoff, sleep), batches))
    for result in results:
        outcome.add(result)
    return outcome
