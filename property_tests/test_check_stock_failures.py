"""Check-Stock under transient SNS failures: every due alert goes out once, none twice.

The real handler runs on stream records shaped like the Inventory table's, with a publisher
that fails a number of times per record (a transient outage) and an in-memory AlertsSent.
As the stream does, a batch whose invocation fails is delivered again, whole, until it
succeeds. Each example invokes the same imported module many times, as a warm Lambda would,
so state carried from one invocation into the next would show.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from check_stock.sending import AlertSender, idempotency_config
from tests.support.events import FakeLambdaContext, change_record
from tests.support.fakes import FlakyAlerts, InMemoryPersistence

pytestmark = pytest.mark.property

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
counts = st.one_of(st.none(), st.just(0), st.integers(1, 5), st.integers(1, 10**38 - 1))


@dataclass(frozen=True)
class Change:
    """One stream record: an item's count before and after (None: absent), and how many
    times publishing its alert fails before SNS answers again."""

    store: str
    item: str
    old: int | None
    new: int | None
    failures: int

    @property
    def alert_due(self) -> bool:
        return self.new == 0 and self.old != 0  # becomes 0: new at 0, or from above 0


changes = st.builds(Change, names, names, counts, counts, st.integers(0, 2)).filter(
    lambda c: c.old is not None or c.new is not None
)
batches = st.lists(changes, min_size=1, max_size=12)


@given(invocations=st.lists(batches, min_size=1, max_size=3))
@example(invocations=[[Change("Berlin", "Äpfel", None, 0, failures=1)]])
def test_retried_batches_send_every_due_alert_exactly_once_in_order(
    check_stock_handler: ModuleType, invocations: list[list[Change]]
) -> None:
    sequence = 10**20  # stream sequence numbers are long decimal strings
    publisher = FlakyAlerts()
    sender = AlertSender(publisher, InMemoryPersistence(), idempotency_config(3600))
    due: list[str] = []
    for number, batch in enumerate(invocations):
        # Given a batch of stream records, the alerts of some of which SNS refuses a while
        records = []
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
                due.append(source_key)
                publisher.outages[source_key] = change.failures

        # When the stream delivers the batch until an invocation succeeds
        failed = 0
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "No application metrics to publish")
            mp.setattr(check_stock_handler, "sender", sender)
            while True:
                context = FakeLambdaContext(aws_request_id=f"req-{number}-{failed}")
                try:
                    check_stock_handler.lambda_handler({"Records": records}, context)
                    break
                except check_stock_handler.AlertNotSentError:
                    failed += 1
                    assert failed <= 2 * len(batch), "a transient failure must not block forever"

    # Then every due alert was published exactly once, in stream order
    assert [a.source_key for a in publisher.sent] == due
