"""Fakes whose every answer hypothesis picks: throttles, or any subset left unprocessed."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from inventory.batching import MAX_BATCH_ITEMS, Throttled
from tests.support.fakes import client_error, inventory_key

THROTTLE_CODES = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
)


def unprocessed_or_throttle(size: int) -> st.SearchStrategy[frozenset[int] | None]:
    """One answer to a batch of `size`: None (throttled) or the positions left unprocessed."""
    positions = (
        st.frozensets(st.integers(0, size - 1), max_size=size) if size else st.just(frozenset())
    )
    return st.one_of(st.none(), st.just(frozenset()), positions)


class ChaosBatchStore:
    """A BatchStore whose every answer hypothesis picks: throttle, or any unprocessed subset.

    Unprocessed items come back as copies, as DynamoDB returns them, so the caller cannot
    rely on object identity.
    """

    def __init__(self, data: st.DataObject, key: str = "id") -> None:
        self._data = data
        self._key = key
        self.batches: list[list[Any]] = []
        self.writes: Counter[Any] = Counter()  # how often each item was stored

    def write_batch(self, items: Sequence[Any]) -> Sequence[Any]:
        batch = list(items)
        self.batches.append(batch)
        if len(batch) > MAX_BATCH_ITEMS:
            return batch  # the test reports this; DynamoDB would refuse the call
        left = self._data.draw(unprocessed_or_throttle(len(batch)), label="answer")
        if left is None:
            raise Throttled("slow down")
        for i, item in enumerate(batch):
            if i not in left:
                self.writes[item[self._key]] += 1
        return [copy.deepcopy(item) for i, item in enumerate(batch) if i in left]


class ChaosDynamoClient:
    """A boto3-like DynamoDB client whose batch_write_item answers are picked by hypothesis.

    It stores what it accepts by (Store, Item), answers UnprocessedItems as DynamoDB does,
    and throttles with the ClientError codes DynamoDB uses.
    """

    def __init__(self, data: st.DataObject, table: str) -> None:
        self._data = data
        self._table = table
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: Counter[tuple[str, str]] = Counter()
        self.request_sizes: list[int] = []

    def batch_write_item(self, *, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        assert list(RequestItems) == [self._table]
        requests = RequestItems[self._table]
        self.request_sizes.append(len(requests))
        if not 1 <= len(requests) <= MAX_BATCH_ITEMS:
            raise client_error("ValidationException", message="1-25 items")
        left = self._data.draw(unprocessed_or_throttle(len(requests)), label="answer")
        if left is None:
            raise client_error(self._data.draw(st.sampled_from(THROTTLE_CODES), label="throttle"))
        for i, request in enumerate(requests):
            if i not in left:
                item = request["PutRequest"]["Item"]
                key = inventory_key(item)
                self.items[key] = copy.deepcopy(item)
                self.writes[key] += 1
        unprocessed = [copy.deepcopy(r) for i, r in enumerate(requests) if i in left]
        return {"UnprocessedItems": {self._table: unprocessed} if unprocessed else {}}
