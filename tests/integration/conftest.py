"""The deployed stack on the emulator, shared by every integration test in the session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness import emulator, env, observe, stack


@dataclass
class Pipeline:
    """The deployed stack plus a ledger of every object the tests uploaded."""

    outputs: dict[str, str]
    inbox: observe.AlertInbox
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    uploaded: list[str] = field(default_factory=list)
    dead_letters_before: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dead_letters_before = self.dead_letters()

    def dead_letters(self) -> dict[str, int]:
        """Messages waiting in each dead-letter queue (a reused emulator may hold old ones)."""
        sqs = env.client("sqs")
        return {
            name: int(
                sqs.get_queue_attributes(
                    QueueUrl=self.outputs[name], AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            for name in ("LoadInventoryFailuresQueueUrl", "CheckStockFailuresQueueUrl")
        }

    def unique(self, name: str) -> str:
        """A name no other test (or earlier run on this emulator) uses."""
        return f"{name}-{self.run_id}-{uuid.uuid4().hex[:6]}"

    def upload(self, key: str, body: bytes) -> None:
        env.client("s3").put_object(Bucket=self.outputs["BucketName"], Key=key, Body=body)
        self.uploaded.append(key)

    def upload_and_wait(self, key: str, body: bytes, timeout_s: float = 60.0) -> dict[str, Any]:
        """Upload and return the object's receipt once it is visible."""
        before = len(observe.receipts_for(self.outputs["ReceiptsTableName"], key))
        self.upload(key, body)
        receipts = observe.wait_for_receipts(
            self.outputs["ReceiptsTableName"], key, count=before + 1, timeout_s=timeout_s
        )
        assert len(receipts) == before + 1, f"no receipt for {key!r} within {timeout_s} s"
        return max(receipts, key=lambda r: r["receipt_id"])

    def counts(self, store: str) -> dict[str, int]:
        return {
            item: n for (_, item), n in observe.counts(self.outputs["TableName"], store).items()
        }

    def items(self, store: str) -> list[dict[str, Any]]:
        response = env.client("dynamodb").query(
            TableName=self.outputs["TableName"],
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "Store"},
            ExpressionAttributeValues={":s": {"S": store}},
            ConsistentRead=True,
        )
        return [observe.plain(i) for i in response["Items"]]

    def alerts_for_store(self, store: str, expected: int, timeout_s: float = 20.0) -> list[Any]:
        """Alerts whose `store` attribute is this store, once `expected` arrived and it settled."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self._store_alerts(store)) >= expected:
                break
            time.sleep(0.05)
        time.sleep(1.5)  # a duplicate would arrive within the same stream batch window
        return self._store_alerts(store)

    def _store_alerts(self, store: str) -> list[Any]:
        return [a for a in self.inbox.snapshot() if a.store_attribute == store]


@pytest.fixture(scope="session")
def pipeline() -> Iterator[Pipeline]:
    """Start MiniStack (unless an emulator already answers), deploy with cdklocal, subscribe."""
    env.use_emulator_defaults()
    started = emulator.start()
    try:
        outputs = stack.deploy_local()
        with observe.AlertInbox(outputs["TopicArn"]) as inbox:
            yield Pipeline(outputs=outputs, inbox=inbox)
    finally:
        if started:
            emulator.stop()
