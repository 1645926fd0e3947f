"""Check-Stock's partial batch failures: exactly the records whose alert failed come back.

The real handler (powertools BatchProcessor, process_partial_response) runs on stream
records shaped like the Inventory table's (NEW_AND_OLD_IMAGES), with the module-level SNS
publisher replaced by a fake that fails for the records hypothesis picks. Each example
invokes the same imported module several times, as a warm Lambda would, so state carried
from one invocation into the next would show.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.events import FakeLambdaContext, change_record
from tests.support.fakes import FailingAlerts

pytestmark = pytest.mark.property

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
counts = st.one_of(st.none(), st.just(0), st.integers(1, 5), st.integers(1, 10**38 - 1))


@dataclass(frozen=True)
class Change:
    """One stream record: an item's count before and after (None: absent), and if SNS fails."""

    store: str
    item: str
    old: int | None
    new: int | None
    publish_fails: bool

    @property
    def alert_due(self) -> bool:
        return self.new == 0 and self.old != 0  # becomes 0: new at 0, or from above 0


changes = st.builds(Change, names, names, counts, counts, st.booleans()).filter(
    lambda c: c.old is not None or c.new is not None
)
batches = st.lists(changes, min_size=1, max_size=12)


@given(invocations=st.lists(batches, min_size=1, max_size=3))
# Bug 3: when every record of a batch failed (here its only one), the handler raised
# BatchProcessingError ("All records failed processing") instead of returning them.
@example(invocations=[[Change("Berlin", "Äpfel", None, 0, publish_fails=True)]])
def test_batch_item_failures_name_exactly_the_records_that_failed_to_publish(
    check_stock_handler: ModuleType, invocations: list[list[Change]]
) -> None:
    sequence = 10**20  # stream sequence numbers are long decimal strings
    for number, batch in enumerate(invocations):
        # Given a batch of stream records, the alerts of some of which SNS refuses
        records, failing, due = [], set(), []
        for change in batch:
            sequence += 1
            source_key = f"stores/{sequence}.csv"  # tells the publisher which record it is
            records.append(
                change_record(
                    change.store,
                    change.item,
                    change.old,
                    change.new,
                    str(sequence),
                    source_key=source_key,
                    old_source_key=f"stores/{sequence - 1}.csv",
                )
            )
            if change.alert_due:
                due.append((str(sequence), source_key, change.publish_fails))
            if change.publish_fails:
                failing.add(source_key)
        publisher = FailingAlerts(failing_sources=failing)

        # When the handler processes the batch
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "No application metrics to publish")
            mp.setattr(check_stock_handler, "alerts", publisher)
            response = check_stock_handler.lambda_handler(
                {"Records": records}, FakeLambdaContext(aws_request_id=f"req-{number}")
            )

        # Then batchItemFailures names exactly the records whose publish failed, in order,
        # and every other due alert was published once
        assert response == {
            "batchItemFailures": [{"itemIdentifier": seq} for seq, _, fails in due if fails]
        }
        assert [a.source_key for a in publisher.attempts] == [key for _, key, _ in due]
        assert [a.source_key for a in publisher.sent] == [key for _, key, fails in due if not fails]
