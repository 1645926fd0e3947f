"""Watch the deployed pipeline from outside: the one module that does it.

The demo, the simulator, the load tests and the integration tests all watch the pipeline
through this module:
- `Observer`: receipts, table contents and dead-letter queues of one deployed stack;
- `AlertInbox`: an SQS queue subscribed to NoStock, with the queue policy that lets the topic
  deliver (AWS enforces it; the emulator does not), and its teardown;
- `Expected`: what a sequence of uploads should leave behind, replayed with the stock rule
  from `inventory.stock`;
- `diff`: the one comparison of expected against observed, for receipts, table and alerts.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote_plus

from boto3.dynamodb.types import TypeDeserializer

from harness import env
from infra.outputs import StackOutputs
from inventory import config
from inventory.csv_format import Row
from inventory.receipts import MAX_ERRORS_KEPT, Receipt, from_item
from inventory.stock import alert_for

POLL_INTERVAL_S = 0.01
# A receipt still missing is looked for again after this share of the time already waited
# (at least POLL_INTERVAL_S): a latency is then overstated by at most 5 % (plus a poll), and
# a backlog of slow files no longer floods the emulator with the observer's own reads.
POLL_BACKOFF = 0.05
ItemKey = tuple[str, str]  # (store, item)
AlertKey = tuple[str, str, int | None, str]  # store, item, previous_count, source_key
_deserializer = TypeDeserializer()


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


# --- the deployed stack ----------------------------------------------------------------------


@dataclass(frozen=True)
class Observer:
    """Reads what one deployed stack did: receipts, table rows, dead letters."""

    outputs: StackOutputs

    def receipts(self, key: str) -> list[Receipt]:
        """Every receipt recorded for an object key (one per upload), oldest first."""
        response = env.client("dynamodb").query(
            TableName=self.outputs.receipts_table_name,
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": config.ATTR_OBJECT_KEY},
            ExpressionAttributeValues={":k": {"S": key}},
            ConsistentRead=True,
        )
        return sorted(
            (from_item(plain(item)) for item in response["Items"]), key=lambda r: r.receipt_id
        )

    def newest_receipts(self, keys: Iterable[str]) -> dict[str, Receipt | None]:
        """Each key's newest receipt, or None where it has none (one Query per key)."""
        return {key: (found[-1] if (found := self.receipts(key)) else None) for key in keys}

    def wait_for_receipt(
        self,
        key: str,
        *,
        after: int = 0,
        timeout_s: float = 30.0,
        poll_s: float = POLL_INTERVAL_S,
    ) -> Receipt | None:
        """The newest receipt once the key has more than `after` of them; None at the timeout.

        Pass `after=len(observer.receipts(key))` taken before an upload to wait for that
        upload's own receipt (a re-uploaded key already has receipts). Polls every `poll_s`,
        then every POLL_BACKOFF of the time waited. A receipt found is passed to
        `receipt_seen` first.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            found = self.receipts(key)
            if len(found) > after:
                self.receipt_seen(key, found[-1])
                return found[-1]
            now = time.monotonic()
            if now > deadline:
                return None
            time.sleep(max(poll_s, (now - started) * POLL_BACKOFF))

    def receipt_seen(self, key: str, receipt: Receipt) -> None:
        """Called by `wait_for_receipt` with each receipt it found; nothing by default."""

    def items(self, store: str | None = None) -> list[dict[str, Any]]:
        """Table items as plain values, for one store (Query) or all of them (Scan)."""
        ddb = env.client("dynamodb")
        if store is None:
            pages = ddb.get_paginator("scan").paginate(
                TableName=self.outputs.table_name, ConsistentRead=True
            )
        else:
            pages = ddb.get_paginator("query").paginate(
                TableName=self.outputs.table_name,
                KeyConditionExpression="#s = :s",  # STORE is a DynamoDB reserved word
                ExpressionAttributeNames={"#s": config.ATTR_STORE},
                ExpressionAttributeValues={":s": {"S": store}},
                ConsistentRead=True,
            )
        return [plain(raw) for page in pages for raw in page["Items"]]

    def counts(self, store: str | None = None) -> dict[ItemKey, int]:
        """Current counts by (store, item), for one store or all of them."""
        return {
            (item[config.ATTR_STORE], item[config.ATTR_ITEM]): int(item[config.ATTR_COUNT])
            for item in self.items(store)
        }

    def counts_of(self, stores: Iterable[str]) -> dict[ItemKey, int]:
        """Current counts of several stores, one Query each."""
        result: dict[ItemKey, int] = {}
        for store in sorted(set(stores)):
            result.update(self.counts(store))
        return result

    def dead_letter_depths(self) -> dict[str, int]:
        """Messages waiting in each dead-letter queue, by the queue's output name."""
        sqs = env.client("sqs")
        return {
            name: int(
                sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            for name, url in self.outputs.dead_letter_queues.items()
        }

    def dead_lettered_keys(self, max_receives: int = 20) -> set[str]:
        """Object keys named by the S3 events in Load-Inventory's on-failure queue.

        The messages are left in place (visibility timeout 0): reading is not re-driving.
        """
        sqs = env.client("sqs")
        keys: set[str] = set()
        for _ in range(max_receives):  # bounded: each receive returns up to 10
            messages = sqs.receive_message(
                QueueUrl=self.outputs.load_inventory_failures_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                keys.update(event_object_keys(_s3_records(message.get("Body", ""))))
        return keys

    def inbox(self, name: str | None = None) -> AlertInbox:
        """A new NoStock inbox on this stack's topic (see AlertInbox.open)."""
        return AlertInbox.open(self.outputs.topic_arn, name)


def event_object_keys(records: Iterable[Any]) -> list[str]:
    """The object keys an S3 event's records name, decoded (S3 URL-encodes them: `+` a space)."""
    return [
        unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "")))
        for record in records
        if isinstance(record, dict)
    ]


def _s3_records(body: str) -> list[dict[str, Any]]:
    # An on-failure destination wraps the event: {"requestPayload": {"Records": [...]}, ...}.
    try:
        data = json.loads(body)
    except ValueError:
        return []
    payload = data.get("requestPayload", data) if isinstance(data, dict) else {}
    records = payload.get("Records", []) if isinstance(payload, dict) else []
    return [r for r in records if isinstance(r, dict)]


# --- NoStock, as a subscriber sees it ----------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One NoStock message as a subscriber received it."""

    body: dict[str, Any]
    store_attribute: str | None  # the SNS message attribute `store`
    received_at: float  # time.perf_counter() when it arrived

    @property
    def source_key(self) -> str:
        return str(self.body.get("source_key") or "")

    @property
    def key(self) -> AlertKey:
        b = self.body
        return (b["store"], b["item"], b.get("previous_count"), self.source_key)

    def as_json(self) -> dict[str, Any]:
        """The body plus the attribute, as `simulator verify` keeps them on disk."""
        return {**self.body, "_store_attribute": self.store_attribute}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        body = {k: v for k, v in data.items() if k != "_store_attribute"}
        return cls(body, data.get("_store_attribute"), 0.0)


def _allow_topic(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    # AWS delivers from SNS to SQS only if the queue's policy lets the topic send.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


class AlertInbox:
    """An SQS queue subscribed to NoStock (raw delivery): how a real subscriber sees the topic.

    `open` creates the queue, its policy and the subscription; `close` removes them. An inbox
    can be re-attached later by its queue URL and subscription ARN (`simulator verify` does,
    in another process). `start` drains it on a background thread into `alerts`; used as a
    context manager it is opened, started, stopped and closed.
    """

    def __init__(self, queue_url: str, subscription_arn: str) -> None:
        self.queue_url = queue_url
        self.subscription_arn = subscription_arn
        self.alerts: list[Alert] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_alert: Callable[[Alert], None] | None = None
        # Its own client, taken once: the drain thread polls every 10 ms for as long as the
        # inbox lives, and must keep talking to the endpoint it was made for (a test that
        # swaps env.client for a fake meanwhile must not see its polls).
        self._sqs = env.client("sqs")

    @classmethod
    def open(cls, topic_arn: str, name: str | None = None) -> AlertInbox:
        """Create a queue with a policy allowing the topic, and subscribe it (raw delivery)."""
        sqs, sns = env.client("sqs"), env.client("sns")
        queue_url = sqs.create_queue(QueueName=name or f"nostock-inbox-{uuid.uuid4().hex[:12]}")[
            "QueueUrl"
        ]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes={"Policy": json.dumps(_allow_topic(queue_arn, topic_arn))},
        )
        subscription_arn = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return cls(queue_url, subscription_arn)

    def close(self) -> None:
        """Stop draining, unsubscribe and delete the queue."""
        self.stop()
        env.client("sns").unsubscribe(SubscriptionArn=self.subscription_arn)
        env.client("sqs").delete_queue(QueueUrl=self.queue_url)

    def receive(self, wait_s: int = 1) -> list[Alert]:
        """One poll (long, of `wait_s` seconds; 0: short); the messages returned are deleted."""
        sqs = self._sqs
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        now = time.perf_counter()
        alerts = []
        for message in messages:
            attribute = message.get("MessageAttributes", {}).get(config.ALERT_ATTRIBUTE_STORE, {})
            alerts.append(Alert(json.loads(message["Body"]), attribute.get("StringValue"), now))
        if messages:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        return alerts

    # -- background draining -------------------------------------------------------------------
    def start(self, on_alert: Callable[[Alert], None] | None = None) -> AlertInbox:
        """Drain on a background thread (a greenlet under locust) into `alerts`."""
        self._on_alert = on_alert
        self._stop.clear()
        self._thread = threading.Thread(target=self._drain, name="nostock-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _drain(self) -> None:
        # Short polls, one every POLL_INTERVAL_S, not long polls: MiniStack answers a long poll
        # only at its next 100 ms check of the queue, which added 0-100 ms (50 on average) to
        # every alert measured (docs/load-testing.md, "Where one file's time goes"). On AWS a
        # short poll samples some of the queue's servers, so a message may wait a poll or two.
        while not self._stop.is_set():
            try:
                received = self.receive(wait_s=0)
            except Exception as exc:  # e.g. the emulator going away at the very end
                if self._stop.is_set():
                    return
                self.errors.append(f"receive_message failed: {exc}")
                time.sleep(0.5)
                continue
            with self._lock:
                self.alerts += received
            if self._on_alert is not None:
                for alert in received:
                    self._on_alert(alert)
            if not received:
                self._stop.wait(POLL_INTERVAL_S)

    def __enter__(self) -> AlertInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what arrived --------------------------------------------------------------------------
    def snapshot(self) -> list[Alert]:
        with self._lock:
            return list(self.alerts)

    def for_source(self, key: str) -> list[Alert]:
        return [a for a in self.snapshot() if a.source_key == key]

    def wait_for(self, key: str, count: int, timeout_s: float = 15.0) -> list[Alert]:
        """Wait until `count` alerts from this source key arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.for_source(key)) < count and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        return found


# --- what should have happened ----------------------------------------------------------------


@dataclass
class Expected:
    """What a sequence of uploads should leave: table counts, alerts, and per-file receipts.

    Start from what the table held (`table`), then `apply` each file's valid rows in upload
    order; the stock rule (`inventory.stock`) decides which changes alert.
    """

    table: dict[ItemKey, int] = field(default_factory=dict)
    alerts: list[AlertKey] = field(default_factory=list)
    # Object key -> what its receipt should say (None: any receipt will do).
    receipts: dict[str, ReceiptExpectation | None] = field(default_factory=dict)

    def apply(
        self, key: str, rows: Iterable[Row], receipt: ReceiptExpectation | None = None
    ) -> list[AlertKey]:
        """Apply one file's rows; return the alerts it should cause."""
        self.receipts[key] = receipt
        due: list[AlertKey] = []
        for row in rows:
            alert = alert_for(row.store, row.item, self.table.get(row.key), row.count, key)
            if alert is not None:
                due.append((alert.store, alert.item, alert.previous_count, key))
            self.table[row.key] = row.count
        self.alerts += due
        return due

    @property
    def stores(self) -> set[str]:
        return {store for store, _ in self.table}


class ReceiptExpectation(Protocol):
    """What a file's receipt should say (simulator.manifest.FileExpectation is one)."""

    status: str
    rows_written: int
    rows_rejected: int
    rejected_lines: list[int]
    duplicates: int
    reason_contains: str | None


@dataclass
class Observed:
    """What the pipeline did, read back from the stack (see `Observer.observe`)."""

    receipts: dict[str, Receipt | None]  # newest receipt per object key
    table: dict[ItemKey, int]  # counts of the stores concerned
    alerts: list[Alert]
    dead_lettered: set[str] = field(default_factory=set)


def observe(
    observer: Observer,
    expected: Expected,
    alerts: list[Alert],
    stores: Iterable[str] = (),
    receipts: Mapping[str, Receipt | None] | None = None,
) -> Observed:
    """Read the receipts of the expected files (unless given) and the table of their stores."""
    if receipts is None:
        receipts = observer.newest_receipts(expected.receipts)
    missing = any(r is None for r in receipts.values())
    return Observed(
        receipts=dict(receipts),
        table=observer.counts_of(set(stores) | expected.stores),
        alerts=alerts,
        dead_lettered=observer.dead_lettered_keys() if missing else set(),
    )


# --- the comparison -----------------------------------------------------------------------------

RECEIPT_KINDS = ("missing receipt", "dead-lettered", "receipt mismatch")
ROW_KINDS = ("missing row", "extra row", "mismatched row")
ALERT_KINDS = ("missing alert", "extra alert", "mismatched alert")


@dataclass
class Differences:
    """Every way the pipeline's result differs from what was expected, by kind."""

    by_kind: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        self.by_kind.setdefault(kind, []).append(detail)

    def of(self, *kinds: str) -> list[str]:
        return [detail for kind in kinds for detail in self.by_kind.get(kind, [])]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_kind.values())


def diff(expected: Expected, observed: Observed) -> Differences:
    """Compare receipts, table and alerts; every difference is listed by kind."""
    result = Differences()
    _diff_receipts(expected, observed, result)
    _diff_table(expected, observed, result)
    _diff_alerts(expected, observed, result)
    return result


def _diff_receipts(expected: Expected, observed: Observed, result: Differences) -> None:
    for key, want in expected.receipts.items():
        got = observed.receipts.get(key)
        if got is None:
            result.add("dead-lettered" if key in observed.dead_lettered else "missing receipt", key)
            continue
        if want is None:
            continue
        checks = {
            "status": (got.status, want.status),
            "rows_written": (got.rows_written, want.rows_written),
            "rows_rejected": (got.rows_rejected, want.rows_rejected),
            "duplicates": (got.duplicates, want.duplicates),
            # A receipt keeps only the first MAX_ERRORS_KEPT rejected rows.
            "rejected lines": (
                [e.line for e in got.errors],
                list(want.rejected_lines[:MAX_ERRORS_KEPT]),
            ),
        }
        for name, (actual, wanted) in checks.items():
            if actual != wanted:
                result.add("receipt mismatch", f"{key}: {name} is {actual}, expected {wanted}")
        if want.reason_contains and want.reason_contains not in (got.reason or ""):
            result.add(
                "receipt mismatch",
                f"{key}: reason {got.reason!r} lacks {want.reason_contains!r}",
            )


def _diff_table(expected: Expected, observed: Observed, result: Differences) -> None:
    stores = expected.stores | {store for store, _ in observed.table}
    for key in sorted(set(expected.table) | set(observed.table)):
        if key[0] not in stores:
            continue
        want, got = expected.table.get(key), observed.table.get(key)
        if got is None:
            result.add("missing row", f"{key[0]} / {key[1]} (expected {want})")
        elif want is None:
            result.add("extra row", f"{key[0]} / {key[1]} = {got}")
        elif got != want:
            result.add("mismatched row", f"{key[0]} / {key[1]}: {got}, expected {want}")


def _describe(key: AlertKey, n: int) -> str:
    return f"{key[0]} / {key[1]} from {key[3]} (previous {key[2]})" + (f" x{n}" if n > 1 else "")


def _diff_alerts(expected: Expected, observed: Observed, result: Differences) -> None:
    # Only alerts caused by the files under test count: the topic may carry others.
    ours = [a for a in observed.alerts if a.source_key in expected.receipts]
    want, got = Counter(expected.alerts), Counter(a.key for a in ours)
    for key, n in (want - got).items():
        result.add("missing alert", _describe(key, n))
    for key, n in (got - want).items():
        result.add("extra alert", _describe(key, n))
    for alert in ours:
        if alert.store_attribute != alert.body["store"]:
            result.add(
                "mismatched alert",
                f"store attribute {alert.store_attribute!r} != {alert.body['store']!r}",
            )
