"""Waiting for what the pipeline does a moment after the step a test can wait for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(find: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 30.0) -> T:
    """Poll `find` until `done` holds for its answer (the last answer at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = find()
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
