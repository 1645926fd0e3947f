"""The stock rule as a state machine: snapshots go through the real code and a dict model.

Each upload is a real CSV file, parsed by the real parser; its rows are written as the real
Load-Inventory items, and every change becomes a DynamoDB stream record (NEW_AND_OLD_IMAGES)
that Check-Stock's real `alert_from_record` turns into an alert, or not. Beside it, a plain
dict model says which changes are transitions into zero.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from check_stock.alerts import alert_from_record
from inventory import config
from inventory.csv_format import MAX_COUNT_DIGITS, parse_inventory
from inventory.stock import alert_for
from inventory.versions import row_version
from load_inventory.aws import to_item
from property_tests.budget import examples
from tests.support.events import stream_record

pytestmark = pytest.mark.property

STORES = ("Berlin", "東京 品川区", 'Épicerie "Dupré", Lyon')
ITEMS = ("Kettle, 1.7 l", 'Zeta TV Pro 55"', "Äpfel", "吉田 お茶")
# Mostly around zero, where the rule lives; some negative or too long, which the parser rejects.
counts = st.one_of(
    st.integers(-2, 3), st.integers(-(10**40), 10**40), st.just(10**MAX_COUNT_DIGITS)
)
UPDATED_AT = "2026-01-05T10:00:00.000+00:00"

Alert = tuple[str, str, int | None, str | None]  # store, item, previous count, source key


def count_of(item: dict[str, Any] | None) -> int | None:
    return None if item is None else int(item[config.ATTR_COUNT]["N"])


def csv_file(rows: list[tuple[str, str, int]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("store", "item", "count"))
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


class StockRule(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table: dict[tuple[str, str], dict[str, Any]] = {}  # what Load-Inventory wrote
        self.model: dict[tuple[str, str], int] = {}
        self.expected: Counter[Alert] = Counter()  # the model's transitions into zero
        self.streamed: Counter[Alert] = Counter()  # alerts from Check-Stock's stream records
        self.direct: Counter[Alert] = Counter()  # alerts from inventory.stock.alert_for
        self.sequence = 0
        self.uploads = 0

    def _change(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """The table changed one item: run its stream record through the real rule."""
        self.sequence += 1
        record = DynamoDBRecord(stream_record(old, new, str(self.sequence)))
        alert = alert_from_record(record)
        if alert is not None:
            self.streamed[(alert.store, alert.item, alert.previous_count, alert.source_key)] += 1
        image = new or old
        assert image is not None
        store, item = image[config.ATTR_STORE]["S"], image[config.ATTR_ITEM]["S"]
        source_key = new[config.ATTR_SOURCE_KEY]["S"] if new else None
        direct = alert_for(store, item, count_of(old), count_of(new), source_key, UPDATED_AT)
        if direct is not None:
            self.direct[(store, item, direct.previous_count, direct.source_key)] += 1

    @rule(rows=st.lists(st.tuples(st.sampled_from(STORES), st.sampled_from(ITEMS), counts)))
    def upload_snapshot(self, rows: list[tuple[str, str, int]]) -> None:
        self.uploads += 1
        source_key = f"stores/upload-{self.uploads}.csv"
        # The real system: parse, write each row as Load-Inventory does, stream each change.
        parsed = parse_inventory(csv_file(rows))
        assert parsed.accepted
        for row in parsed.rows:
            new = to_item(
                row, source_key, UPDATED_AT, row_version(f"v{self.uploads:06d}", row.line)
            )
            old = self.table.get(row.key)
            self.table[row.key] = new
            self._change(old, new)
        # The model: an item's last valid count in the snapshot replaces the previous one,
        # and a count that is 0 now but was not 0 (or not there) before is a transition.
        last: dict[tuple[str, str], int] = {}
        for store, item, count in rows:
            if 0 <= count < 10**MAX_COUNT_DIGITS:
                last[(store, item)] = count
        for key, count in last.items():
            before = self.model.get(key)
            if count == 0 and before != 0:
                self.expected[(*key, before, source_key)] += 1
            self.model[key] = count

    @precondition(lambda self: bool(self.table))
    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.table)), label="deleted")
        self._change(self.table.pop(key), None)
        del self.model[key]

    @invariant()
    def alerts_are_the_models_transitions_into_zero_one_for_one(self) -> None:
        assert self.streamed == self.expected
        assert self.direct == self.expected

    @invariant()
    def zero_over_zero_never_alerts(self) -> None:
        assert all(previous != 0 for _, _, previous, _ in self.streamed)
        assert all(previous != 0 for _, _, previous, _ in self.direct)

    @invariant()
    def counts_are_never_negative(self) -> None:
        assert all(int(item[config.ATTR_COUNT]["N"]) >= 0 for item in self.table.values())
        assert all(count >= 0 for count in self.model.values())

    @invariant()
    def the_table_holds_the_models_counts(self) -> None:
        assert {key: count_of(item) for key, item in self.table.items()} == self.model


TestStockRule = StockRule.TestCase
TestStockRule.settings = settings(max_examples=examples(0.5), stateful_step_count=25)
