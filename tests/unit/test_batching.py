"""write_all: TransactWriteItems-sized batches, retries of what the store leaves, no double
writes, stale items counted apart."""

from __future__ import annotations

import pytest

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, Backoff, write_all
from tests.support.events import inventory_item
from tests.support.fakes import InMemoryBatchStore, RecordingSleep, VersionedTable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 200, 201, 1000])
def test_every_item_is_written_once_in_batches_of_at_most_100(n: int) -> None:
    # Given a store that accepts everything
    store = InMemoryBatchStore()
    items = list(range(n))

    # When all items are written
    outcome = write_all(store, items, sleep=RecordingSleep())

    # Then batches never exceed 100, each item is written exactly once, in order
    assert all(1 <= len(batch) <= MAX_BATCH_ITEMS for batch in store.calls)
    assert store.writes == items
    assert outcome.written == n
    assert outcome.failed == []
    assert outcome.batches == len(store.calls) == -(-n // MAX_BATCH_ITEMS)
    assert outcome.retries == 0


def test_unprocessed_items_are_retried_alone() -> None:
    # Given a store that leaves 10, then 3 items of the first batch unprocessed
    store = InMemoryBatchStore(script=[10, 3])
    sleep = RecordingSleep()
    items = list(range(120))

    # When written
    outcome = write_all(store, items, sleep=sleep)

    # Then only the unprocessed items are sent again, and nothing is written twice
    assert [len(batch) for batch in store.calls] == [100, 10, 3, 20]
    assert store.calls[1] == list(range(90, 100))
    assert store.calls[2] == list(range(97, 100))
    assert sorted(store.writes) == items
    assert outcome.written == 120
    assert outcome.failed == []
    assert outcome.retries == 2
    assert len(sleep.delays) == 2


def test_a_throttled_batch_is_retried_whole() -> None:
    store = InMemoryBatchStore(script=["throttle", "throttle"])
    sleep = RecordingSleep()

    outcome = write_all(store, list(range(5)), sleep=sleep)

    assert store.calls == [list(range(5))] * 3
    assert store.writes == list(range(5))
    assert outcome.written == 5
    assert outcome.retries == 2
    assert len(sleep.delays) == 2


def test_items_still_unprocessed_after_every_attempt_are_reported_failed() -> None:
    # Given a store that always leaves the last 2 items of the 2nd batch
    backoff = Backoff(attempts=4)
    store = InMemoryBatchStore(script=["ok", 2, 2, 2, 2, 2, 2])
    items = list(range(160))

    # When written with 4 attempts per batch
    outcome = write_all(store, items, backoff=backoff, sleep=RecordingSleep())

    # Then the 2 items are tried 4 times, reported failed, and the rest is written once
    assert outcome.failed == [158, 159]
    assert outcome.written == 158
    assert sorted(store.writes) == list(range(158))
    assert [len(batch) for batch in store.calls] == [100, 60, 2, 2, 2]


def test_a_store_that_is_always_throttled_fails_everything_after_the_attempts() -> None:
    store = InMemoryBatchStore(then="throttle")
    sleep = RecordingSleep()
    items = list(range(240))

    outcome = write_all(store, items, backoff=Backoff(attempts=3), sleep=sleep)

    assert outcome.failed == items
    assert outcome.written == 0
    assert len(store.calls) == 3 * 3  # three batches, three attempts each
    assert len(sleep.delays) == 3 * 2  # no sleep after the last attempt


def test_the_default_backoff_gives_up_after_eight_attempts_without_real_sleeping() -> None:
    store = InMemoryBatchStore(then="throttle")
    sleep = RecordingSleep()

    outcome = write_all(store, ["a"], sleep=sleep)

    assert outcome.failed == ["a"]
    assert len(store.calls) == 8
    assert len(sleep.delays) == 7
    assert all(0 <= d <= Backoff().cap_s for d in sleep.delays)


def test_a_failed_batch_does_not_stop_the_next_ones() -> None:
    # Given the first batch throttled on every attempt, the second accepted
    store = InMemoryBatchStore(script=["throttle", "throttle", "ok"])

    outcome = write_all(
        store, list(range(120)), backoff=Backoff(attempts=2), sleep=RecordingSleep()
    )

    assert outcome.failed == list(range(100))
    assert store.writes == list(range(100, 120))
    assert outcome.written == 20


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    backoff = Backoff(attempts=8, base_s=0.02, cap_s=1.0)

    assert backoff.delay(1, rand=lambda: 1.0) == pytest.approx(0.04)
    assert backoff.delay(3, rand=lambda: 1.0) == pytest.approx(0.16)
    assert backoff.delay(10, rand=lambda: 1.0) == 1.0
    assert backoff.delay(3, rand=lambda: 0.5) == pytest.approx(0.08)
    assert backoff.delay(5, rand=lambda: 0.0) == 0.0


def test_stale_items_are_done_not_written_and_not_retried() -> None:
    # Given a table holding newer versions of two of the items
    table = VersionedTable()
    table.write_batch(
        [inventory_item("s", "a", 1, version="v9"), inventory_item("s", "c", 1, version="v9")]
    )
    items = [inventory_item("s", name, 5, version="v5") for name in "abcd"]

    # When the older items are written
    outcome = write_all(table, items, sleep=RecordingSleep())

    # Then the two stale ones are counted and left alone; the others are written, once
    assert (outcome.written, outcome.stale, outcome.failed) == (2, 2, [])
    assert {key: item[config.ATTR_COUNT]["N"] for key, item in table.items.items()} == {
        ("s", "a"): "1",
        ("s", "b"): "5",
        ("s", "c"): "1",
        ("s", "d"): "5",
    }
    assert outcome.retries == 1  # the cancelled transaction, sent again without the stale


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrent_batches_write_every_item_once(concurrency: int) -> None:
    store = InMemoryBatchStore()
    items = list(range(1000))

    outcome = write_all(store, items, sleep=RecordingSleep(), concurrency=concurrency)

    assert sorted(store.writes) == items
    assert (outcome.written, outcome.batches) == (1000, 10)
