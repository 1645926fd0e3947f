"""How often the harness looks for a receipt: every 10 ms at first, then less as it waits."""

from __future__ import annotations

from typing import Any

import pytest

from harness import observe

pytestmark = pytest.mark.unit


class Clock:
    """time.monotonic and time.sleep for `harness.observe`, with sleeps that take no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class SlowReceipts(observe.Observer):
    """A receipt that appears only after `ready_after_s` of (fake) time."""

    clock: Clock
    ready_at: float
    polls: int

    def __init__(self, clock: Clock, ready_after_s: float) -> None:
        object.__setattr__(self, "clock", clock)
        object.__setattr__(self, "ready_at", clock.now + ready_after_s)
        object.__setattr__(self, "polls", 0)

    def receipts(self, key: str) -> list[Any]:
        object.__setattr__(self, "polls", self.polls + 1)
        return ["receipt"] if self.clock.now >= self.ready_at else []


def test_a_slow_receipt_is_polled_less_often_but_seen_within_five_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a receipt that takes 10 s to appear
    clock = Clock()
    monkeypatch.setattr(observe.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(observe.time, "sleep", clock.sleep)
    observer = SlowReceipts(clock, ready_after_s=10.0)

    # When the harness waits for it
    found = observer.wait_for_receipt("stores/a.csv", timeout_s=60)

    # Then it is found, late by at most 5 % of its latency, after far fewer than 1,000 polls
    assert found == "receipt"
    waited = clock.now - 1000.0
    assert 10.0 <= waited <= 10.0 * (1 + observe.POLL_BACKOFF) + observe.POLL_INTERVAL_S
    assert observer.polls < 120
    # and the first polls come every 10 ms
    assert clock.sleeps[:5] == [observe.POLL_INTERVAL_S] * 5
