"""Fakes whose every answer hypothesis picks: throttles, or any subset left unprocessed."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import strategies as st

from inventory import config
from inventory.batching import MAX_BATCH_ITEMS, BatchResult, Throttled
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

    def write_batch(self, items: Sequence[Any]) -> BatchResult[Any]:
        batch = list(items)
        self.batches.append(batch)
        if len(batch) > MAX_BATCH_ITEMS:
            return BatchResult(left=batch)  # the test reports this; DynamoDB would refuse it
        left = self._data.draw(unprocessed_or_throttle(len(batch)), label="answer")
        if left is None:
            raise Throttled("slow down")
        for i, item in enumerate(batch):
            if i not in left:
                self.writes[item[self._key]] += 1
        return BatchResult(left=[copy.deepcopy(item) for i, item in enumerate(batch) if i in left])


class ChaosDynamoClient:
    """A boto3-like DynamoDB client whose transact_write_items answers hypothesis picks.

    It keeps what it accepts by (Store, Item). A transaction is throttled, cancelled (some
    items in conflict, the rest "None", as DynamoDB reports them) or applied; an item whose
    stored version is not older is cancelled as ConditionalCheckFailed, as the condition does.
    """

    def __init__(self, data: st.DataObject, table: str) -> None:
        self._data = data
        self._table = table
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: Counter[tuple[str, str]] = Counter()
        self.request_sizes: list[int] = []

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        puts = [entry["Put"] for entry in TransactItems]
        assert {put["TableName"] for put in puts} == {self._table}
        self.request_sizes.append(len(puts))
        if not 1 <= len(puts) <= MAX_BATCH_ITEMS:
            raise client_error("ValidationException", message="1-100 items")
        conflicts = self._data.draw(unprocessed_or_throttle(len(puts)), label="answer")
        if conflicts is None:
            raise client_error(self._data.draw(st.sampled_from(THROTTLE_CODES), label="throttle"))
        reasons = []
        for i, put in enumerate(puts):
            stored = self.items.get(inventory_key(put["Item"]))
            new = put["ExpressionAttributeValues"][":v"]["S"]
            if stored is not None and not stored[config.ATTR_VERSION]["S"] < new:
                reasons.append({"Code": "ConditionalCheckFailed"})
            elif i in conflicts:
                reasons.append({"Code": "TransactionConflict"})
            else:
                reasons.append({"Code": "None"})
        if any(reason["Code"] != "None" for reason in reasons):
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        for put in puts:
            key = inventory_key(put["Item"])
            self.items[key] = copy.deepcopy(put["Item"])
            self.writes[key] += 1
        return {}
