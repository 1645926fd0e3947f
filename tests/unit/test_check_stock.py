"""Check-Stock: from stream records to NoStock messages, each sent once across retries."""

from __future__ import annotations

import itertools
import json
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from check_stock.alerts import SnsAlerts, alert_from_record, change_id
from check_stock.sending import AlertSender, idempotency_config
from inventory import config
from inventory.stock import NoStockAlert
from tests.support.events import FakeLambdaContext, change_record
from tests.support.fakes import FailingAlerts, FakeSnsClient, FlakyAlerts, InMemoryPersistence

pytestmark = pytest.mark.unit

TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:NoStock"


def record(raw: dict[str, Any]) -> DynamoDBRecord:
    return next(DynamoDBStreamEvent({"Records": [raw]}).records)


# --- alert_from_record ---------------------------------------------------------------------


def test_an_insert_at_zero_alerts_with_the_new_source_key() -> None:
    # Given a new item written at 0 by uploads/berlin.csv
    raw = change_record("Berlin", "Apples", old=None, new=0, source_key="uploads/berlin.csv")

    # When the rule is applied to the stream record
    alert = alert_from_record(record(raw))

    # Then the alert names the item, no previous count, and the file that caused it
    assert alert == NoStockAlert(
        "Berlin", "Apples", None, "uploads/berlin.csv", "2024-05-01T10:00:00.000+00:00"
    )


def test_a_modify_from_above_zero_to_zero_alerts_with_the_previous_count() -> None:
    alert = alert_from_record(record(change_record("Berlin", "Apples", old=12, new=0)))

    assert alert is not None
    assert alert.previous_count == 12
    assert alert.source_key == "uploads/k.csv"  # from the new image, not the old


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (0, 0),  # 0 over 0
        (None, 5),  # insert above 0
        (5, 3),
        (0, 7),  # restock
        (5, None),  # REMOVE of a stocked item
        (0, None),  # REMOVE of an item at 0
    ],
)
def test_changes_that_do_not_reach_zero_anew_send_nothing(old: int | None, new: int | None) -> None:
    assert alert_from_record(record(change_record("s", "i", old=old, new=new))) is None


def test_the_event_names_match_the_change() -> None:
    names = [
        record(change_record("s", "i", old, new)).event_name
        for old, new in [(None, 0), (1, 0), (1, None)]
    ]

    assert names == [
        DynamoDBRecordEventName.INSERT,
        DynamoDBRecordEventName.MODIFY,
        DynamoDBRecordEventName.REMOVE,
    ]


def test_a_record_without_a_count_in_the_new_image_sends_nothing() -> None:
    raw = change_record("s", "i", old=4, new=0)
    del raw["dynamodb"]["NewImage"][config.ATTR_COUNT]

    assert alert_from_record(record(raw)) is None


def test_a_record_without_a_change_sends_nothing() -> None:
    raw = change_record("s", "i", old=None, new=0)
    del raw["dynamodb"]

    assert alert_from_record(record(raw)) is None


def test_a_stream_of_changes_alerts_once_per_drop_to_zero() -> None:
    # Given one item's changes 5 -> 0 -> 0 -> 7 -> 0, as the table stream reports them
    counts = [None, 5, 0, 0, 7, 0]
    raws = [
        change_record("s", "i", old, new, sequence=str(n))
        for n, (old, new) in enumerate(itertools.pairwise(counts))
    ]

    # When each record is checked
    alerts = [alert_from_record(r) for r in DynamoDBStreamEvent({"Records": raws}).records]

    # Then exactly the two drops to zero alert
    assert [a.previous_count for a in alerts if a is not None] == [5, 7]


# --- SnsAlerts -----------------------------------------------------------------------------


def test_sns_alerts_publish_json_with_the_store_attribute() -> None:
    client = FakeSnsClient()
    alert = NoStockAlert("München", "Äpfel", 3, "uploads/münchen.csv")

    SnsAlerts(client, TOPIC_ARN).publish(alert)

    [call] = client.published
    assert call["TopicArn"] == TOPIC_ARN
    assert call["Subject"] == alert.subject
    assert json.loads(call["Message"]) == alert.message()
    assert call["MessageAttributes"] == {
        config.ALERT_ATTRIBUTE_STORE: {"DataType": "String", "StringValue": "München"}
    }


# --- the handler ---------------------------------------------------------------------------


def use(handler: ModuleType, monkeypatch: pytest.MonkeyPatch, publisher: Any) -> Any:
    """Give the handler `publisher` and an in-memory AlertsSent; return the publisher."""
    sender = AlertSender(
        publisher, InMemoryPersistence(), idempotency_config(3600), on_sent=handler._sent
    )
    monkeypatch.setattr(handler, "sender", sender)
    return publisher


def test_the_handler_reads_its_settings_at_cold_start(check_handler: ModuleType) -> None:
    assert check_handler.settings.topic_arn == TOPIC_ARN
    assert check_handler.settings.alerts_sent_table_name == "AlertsSent"


def test_the_handler_publishes_one_alert_per_drop_to_zero(
    check_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = use(check_handler, monkeypatch, FailingAlerts())
    event = {
        "Records": [
            change_record("Berlin", "Apples", None, 0, "1"),
            change_record("Berlin", "Pears", 3, 2, "2"),
            change_record("Paris", "Figs", 0, 0, "3"),
            change_record("Paris", "Olives", 4, 0, "4"),
            change_record("Rome", "Wine", 1, None, "5"),
        ]
    }

    response = check_handler.lambda_handler(event, FakeLambdaContext())

    assert response == {"sent": 2, "repeated": 0}
    assert [(a.store, a.item, a.previous_count) for a in alerts.sent] == [
        ("Berlin", "Apples", None),
        ("Paris", "Olives", 4),
    ]


def test_a_failed_publish_fails_the_batch_and_its_retry_sends_each_alert_once(
    check_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SNS failing once for the alert of the second record
    alerts = use(check_handler, monkeypatch, FlakyAlerts({"stores/paris.csv": 1}))
    event = {
        "Records": [
            change_record("Berlin", "Apples", 5, 0, "1001", source_key="stores/berlin.csv"),
            change_record("Paris", "Figs", 5, 0, "1002", source_key="stores/paris.csv"),
            change_record("Rome", "Wine", None, 0, "1004", source_key="stores/rome.csv"),
        ]
    }

    # When the batch is handled, it fails as a whole, naming the alert not sent
    with pytest.raises(check_handler.AlertNotSentError, match="'Figs' at 'Paris'"):
        check_handler.lambda_handler(event, FakeLambdaContext())
    assert [a.store for a in alerts.sent] == ["Berlin"]

    # And when the stream retries the same batch, the rest goes out and Berlin's not again
    response = check_handler.lambda_handler(event, FakeLambdaContext())

    assert response == {"sent": 2, "repeated": 1}
    assert [a.store for a in alerts.sent] == ["Berlin", "Paris", "Rome"]


def test_the_same_change_delivered_again_is_not_sent_again(
    check_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a change already handled (its record is delivered again, e.g. by a re-drive)
    alerts = use(check_handler, monkeypatch, FailingAlerts())
    event = {"Records": [change_record("Berlin", "Apples", 5, 0, "1")]}
    check_handler.lambda_handler(event, FakeLambdaContext())

    # When it comes again
    response = check_handler.lambda_handler(event, FakeLambdaContext())

    # Then nothing more is published
    assert response == {"sent": 0, "repeated": 1}
    assert len(alerts.sent) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_batch_with_nothing_to_alert_succeeds_without_publishing(
    check_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = use(check_handler, monkeypatch, FailingAlerts(failing_stores={"Berlin"}))
    event = {"Records": [change_record("Berlin", "Apples", 0, 0, "7")]}

    assert check_handler.lambda_handler(event, FakeLambdaContext()) == {"sent": 0, "repeated": 0}
    assert alerts.sent == []


def test_the_change_is_the_new_version_or_else_the_sequence_number() -> None:
    versioned = change_record("s", "i", 1, 0, "42")
    versioned["dynamodb"]["NewImage"][config.ATTR_VERSION] = {"S": "v-7"}

    assert change_id(record(versioned)) == "v-7"
    assert change_id(record(change_record("s", "i", 1, 0, "42"))) == "seq:42"
