"""Fault injection: at the SDK inside the functions (`inventory.faults`), and the harness's
injectors (`harness.faults`).

The SDK faults are tried on real boto3 clients pointed at an endpoint where nothing listens:
the `before-send` handler answers before any network call, and a last handler registered by
the test stands in for the service when the fault lets a call through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import faults as harness_faults
from harness.faults import (
    DeliveryInjector,
    Faults,
    InjectionLog,
    chance,
    function_faults,
    s3_event,
)
from inventory import faults
from inventory.faults import ENV_FAULTS, FaultSettings, install
from inventory.receipts import Receipt
from load_inventory.aws import object_ref
from tests.support.fakes import fake_outputs

pytestmark = pytest.mark.unit

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a request that got out would fail
TOPIC = "arn:aws:sns:us-east-1:000000000000:NoStock"
WRITES: dict[str, dict[str, Any]] = {
    "batch_write_item": {"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "a"}}}}]}},
    "put_item": {"TableName": "t", "Item": {"k": {"S": "a"}}},
    "update_item": {"TableName": "t", "Key": {"k": {"S": "a"}}},
    "transact_write_items": {
        "TransactItems": [{"Put": {"TableName": "t", "Item": {"k": {"S": "a"}}}}]
    },
}


# --- the service behind the fault ----------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Service:
    """The network: answers every request that gets past the handlers with a success."""

    def __init__(self, client: Any) -> None:
        self.calls: list[str] = []
        self._json = client.meta.service_model.protocol == "json"
        client._endpoint.http_session.send = self.send

    def send(self, request: Any) -> AWSResponse:
        if self._json:
            operation = _text(request.headers["X-Amz-Target"]).rsplit(".", 1)[-1]
            body, kind = b"{}", "application/x-amz-json-1.0"
        else:
            operation = parse_qs(_text(request.body))["Action"][0]
            inner = "<MessageId>m-1</MessageId>" if operation == "Publish" else ""
            body = (
                f'<{operation}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                f"<{operation}Result>{inner}</{operation}Result>"
                f"<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
                f"</{operation}Response>"
            ).encode()
            kind = "text/xml"
        self.calls.append(operation)
        headers = {"Content-Type": kind, "x-amzn-RequestId": "r-1"}
        return AWSResponse(request.url, 200, headers, _Raw(body))


def client(service: str, attempts: int = 1) -> Any:
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.client(service, endpoint_url=NOWHERE, config=config)


@pytest.fixture(autouse=True)
def offline(offline_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore sleeps between retries; the tests count the retries, not the time.
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)


def publish(sns: Any, store: str = "berlin") -> dict[str, Any]:
    response: dict[str, Any] = sns.publish(
        TopicArn=TOPIC,
        Message="{}",
        MessageAttributes={"store": {"DataType": "String", "StringValue": store}},
    )
    return response


def error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, int]:
    response = raised.value.response
    meta = response["ResponseMetadata"]
    return response["Error"]["Code"], meta["HTTPStatusCode"], meta.get("RetryAttempts", 0)


# --- the settings ------------------------------------------------------------------------------


def test_the_variable_is_parsed_into_settings_and_written_back_the_same() -> None:
    text = "sns-outage-until=1764077000.5;dynamodb-throttle=0.2;sns-reject-store=poison store"

    settings = FaultSettings.parse(text)

    assert settings == FaultSettings(1764077000.5, 0.2, "poison store")
    assert FaultSettings.parse(settings.to_env()) == settings
    assert FaultSettings.parse(" ; dynamodb-throttle = 1 ;") == FaultSettings(dynamodb_throttle=1)
    assert not FaultSettings.parse("").any


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sns-outage=10", "unknown fault 'sns-outage'"),
        ("dynamodb-throttle=lots", "needs a number"),
        ("dynamodb-throttle=1.5", "between 0 and 1"),
        ("dynamodb-throttle", "needs a value"),
        ("sns-reject-store=a;sns-reject-store=b", "appears twice"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        FaultSettings.parse(text)


def test_an_unknown_fault_fails_the_cold_start() -> None:
    with pytest.raises(ValueError, match=r"unknown fault 'sns-outage'.*known: sns-outage-until"):
        install(client("sns"), {ENV_FAULTS: "sns-outage=10"})


# --- unset: untouched --------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {ENV_FAULTS: ""}, {ENV_FAULTS: "  "}])
def test_without_faults_install_registers_nothing_and_calls_go_out(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sns, ddb = client("sns"), client("dynamodb")
    for c in (sns, ddb):
        monkeypatch.setattr(c.meta.events, "register", pytest.fail)

        install(c, environ)

    monkeypatch.undo()
    sent, written = Service(sns), Service(ddb)
    publish(sns)
    ddb.batch_write_item(**WRITES["batch_write_item"])
    assert sent.calls == ["Publish"]
    assert written.calls == ["BatchWriteItem"]


def test_a_client_no_fault_concerns_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = client("s3")
    monkeypatch.setattr(s3.meta.events, "register", pytest.fail)

    install(s3, {ENV_FAULTS: "sns-outage-until=9999999999;dynamodb-throttle=1"})


# --- sns-outage-until --------------------------------------------------------------------------


def test_an_sns_outage_answers_every_publish_with_a_retryable_503_until_it_ends() -> None:
    now = [1000.0]
    sns = client("sns", attempts=3)
    install(sns, {ENV_FAULTS: "sns-outage-until=1010"}, clock=lambda: now[0])
    service = Service(sns)

    with pytest.raises(ClientError) as raised:
        publish(sns)

    assert error(raised) == ("ServiceUnavailable", 503, 2)  # botocore retried it, twice
    assert "injected fault sns-outage-until" in str(raised.value)
    assert service.calls == []  # nothing reached the wire
    now[0] = 1010.0
    assert publish(sns)["MessageId"] == "m-1"
    assert service.calls == ["Publish"]


def test_an_outage_that_ends_between_retries_is_absorbed_by_the_sdk() -> None:
    times = iter([1000.0, 1011.0])
    sns = client("sns", attempts=3)
    install(sns, {ENV_FAULTS: "sns-outage-until=1010"}, clock=lambda: next(times))
    Service(sns)

    response = publish(sns)

    assert response["ResponseMetadata"]["RetryAttempts"] == 1


def test_an_sns_outage_does_not_touch_other_sns_calls() -> None:
    sns = client("sns")
    install(sns, {ENV_FAULTS: "sns-outage-until=9999999999"})
    service = Service(sns)

    sns.list_topics()

    assert service.calls == ["ListTopics"]


# --- dynamodb-throttle -------------------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_throttling_refuses_each_kind_of_write_as_dynamodb_does(operation: str) -> None:
    ddb = client("dynamodb", attempts=3)
    install(ddb, {ENV_FAULTS: "dynamodb-throttle=1"})
    service = Service(ddb)

    with pytest.raises(ClientError) as raised:
        getattr(ddb, operation)(**WRITES[operation])

    assert error(raised) == ("ProvisionedThroughputExceededException", 400, 2)
    assert type(raised.value).__name__ == "ProvisionedThroughputExceededException"  # modeled
    assert service.calls == []


def test_throttling_is_drawn_per_attempt_so_the_sdk_retries_through_it() -> None:
    draws = iter([0.1, 0.5, 0.9])  # rate 0.3: the first attempt is throttled, the next is not
    ddb = client("dynamodb", attempts=3)
    install(ddb, {ENV_FAULTS: "dynamodb-throttle=0.3"}, rand=lambda: next(draws))
    service = Service(ddb)

    response = ddb.batch_write_item(**WRITES["batch_write_item"])

    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert service.calls == ["BatchWriteItem"]


def test_reads_are_never_throttled() -> None:
    ddb = client("dynamodb")
    install(ddb, {ENV_FAULTS: "dynamodb-throttle=1"})
    service = Service(ddb)

    ddb.get_item(TableName="t", Key={"k": {"S": "a"}})
    ddb.query(TableName="t", KeyConditionExpression="k = :k",
              ExpressionAttributeValues={":k": {"S": "a"}})  # fmt: skip

    assert service.calls == ["GetItem", "Query"]


def test_installing_twice_injects_once() -> None:
    draws: list[int] = []

    def draw() -> float:
        draws.append(1)
        return 0.9

    ddb = client("dynamodb")
    for _ in range(2):
        install(ddb, {ENV_FAULTS: "dynamodb-throttle=0.5"}, rand=draw)
    Service(ddb)

    ddb.put_item(**WRITES["put_item"])

    assert len(draws) == 1


# --- sns-reject-store --------------------------------------------------------------------------


def test_a_rejected_store_is_a_poison_record_refused_without_retries() -> None:
    sns = client("sns", attempts=3)
    install(sns, {ENV_FAULTS: "sns-reject-store=poison-store"})
    service = Service(sns)

    with pytest.raises(ClientError) as raised:
        publish(sns, store="poison-store")

    assert error(raised) == ("InvalidParameter", 400, 0)
    assert service.calls == []
    publish(sns, store="berlin")
    publish(sns, store="poison-store-2")
    assert service.calls == ["Publish", "Publish"]


def test_a_rejected_store_is_refused_even_after_an_outage_ends() -> None:
    sns = client("sns")
    install(
        sns,
        {ENV_FAULTS: "sns-outage-until=1010;sns-reject-store=吉田ストア 品川区"},
        clock=lambda: 2000.0,
    )
    Service(sns)

    with pytest.raises(ClientError) as raised:
        publish(sns, store="吉田ストア 品川区")

    assert error(raised)[0] == "InvalidParameter"


# --- the harness: the spec ----------------------------------------------------------------------


def test_the_run_spec_is_parsed_and_described_the_same_way() -> None:
    spec = Faults.parse("duplicate=0.05, late=0.02,sns-outage=10,throttle=0.2")

    assert spec == Faults(duplicate=0.05, late=0.02, sns_outage_s=10, throttle=0.2)
    assert Faults.parse(spec.describe()) == spec
    assert spec.redelivers
    assert not Faults.parse("") and not Faults.parse("none")
    assert Faults.parse("none").describe() == "none"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("dupes=0.1", "unknown fault 'dupes'"),
        ("duplicate=often", "not a number"),
        ("duplicate=1.5", "between 0 and 1"),
        ("sns-outage=-3", ">= 0 seconds"),
        ("late", "needs a value"),
        ("late=0.1,late=0.2", "given twice"),
    ],
)
def test_a_bad_run_spec_is_refused_with_a_clear_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Faults.parse(text)


# --- the harness: rebuilt deliveries -------------------------------------------------------------


def receipt(
    key: str = "stores/x/inventory 1.csv", receipt_id: str = "0000066119E5938970"
) -> Receipt:
    return Receipt(
        object_key=key,
        receipt_id=receipt_id,
        status="loaded",
        rows_written=3,
        rows_rejected=0,
        bucket="uploads",
        size=1443,
        etag="3053d4c24ffe72ac06cc391a9e4f3819",
        event_time="2026-11-25T13:40:28.852Z",
    )


def test_the_rebuilt_event_is_read_by_the_loader_as_the_same_upload() -> None:
    original = receipt("stores/吉田ストア 品川区/2026-01-05/inventory+1.csv")

    event = s3_event(original, region="us-east-1")

    record = event["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put" and record["eventSource"] == "aws:s3"
    assert record["s3"]["object"]["key"] == (
        "stores/%E5%90%89%E7%94%B0%E3%82%B9%E3%83%88%E3%82%A2+%E5%93%81%E5%B7%9D%E5%8C%BA"
        "/2026-01-05/inventory%2B1.csv"
    )
    assert record["s3"]["bucket"] == {
        "name": "uploads",
        "ownerIdentity": {"principalId": "inventory-harness"},
        "arn": "arn:aws:s3:::uploads",
    }
    ref = object_ref(next(iter(S3Event(event).records)))
    assert (ref.bucket, ref.key, ref.receipt_id) == (
        "uploads",
        original.object_key,
        "0000066119E5938970",
    )
    assert (ref.size, ref.etag, ref.event_time) == (1443, original.etag, original.event_time)


def test_chance_is_fixed_by_seed_kind_and_key() -> None:
    assert chance(1, "late", "a") == chance(1, "late", "a")
    assert len({chance(1, "late", "a"), chance(2, "late", "a"), chance(1, "duplicate", "a")}) == 3
    draws = [chance(7, "duplicate", str(n)) for n in range(2000)]
    assert all(0 <= d < 1 for d in draws)
    assert 0.45 < sum(d < 0.5 for d in draws) / len(draws) < 0.55


OUTPUTS = fake_outputs(
    topic_arn=TOPIC,
    receipts_table_name="IngestReceipts",
    load_inventory_function_name="Load-Inventory",
    check_stock_function_name="Check-Stock",
)


def injector(faults_spec: Faults, delivered: list[tuple[str, str]]) -> DeliveryInjector:
    return DeliveryInjector(
        OUTPUTS,
        faults_spec,
        InjectionLog(faults_spec),
        seed=3,
        deliver=lambda r: delivered.append((r.object_key, r.receipt_id)),
    )


def test_every_file_is_duplicated_after_its_own_receipt_at_rate_1() -> None:
    delivered: list[tuple[str, str]] = []
    inject = injector(Faults(duplicate=1.0), delivered)

    inject.on_receipt("a", receipt("a/1", "01"))
    inject.on_receipt("b", receipt("b/1", "02"))

    assert delivered == [("a/1", "01"), ("b/1", "02")]
    assert inject.log.counts() == {"duplicate": 2}


def test_a_late_file_is_delivered_after_the_next_receipt_of_its_own_store() -> None:
    delivered: list[tuple[str, str]] = []
    inject = injector(Faults(late=1.0), delivered)

    inject.on_receipt("a", receipt("a/1", "01"))
    inject.on_receipt("b", receipt("b/1", "02"))  # another store: a/1 stays held
    assert delivered == []
    inject.on_receipt("a", receipt("a/2", "03"))

    assert delivered == [("a/1", "01")]
    entry = inject.log.snapshot()[0]
    assert (entry.kind, entry.target) == ("late", "a/1")
    assert "after a/2" in entry.detail
    assert inject.pending_late == ["a/2", "b/1"]  # no newer file came for these: not delivered


def test_the_files_picked_depend_on_the_seed_and_the_rate_only() -> None:
    keys = [f"s/{n}" for n in range(400)]

    def picked(order: list[str]) -> list[str]:
        delivered: list[tuple[str, str]] = []
        inject = injector(Faults(duplicate=0.1), delivered)
        for key in order:
            inject.on_receipt(key, receipt(key))
        return sorted(k for k, _ in delivered)

    first = picked(keys)
    assert first == picked(list(reversed(keys)))
    assert 20 <= len(first) <= 60


def test_a_delivery_that_fails_is_logged_and_does_not_stop_the_upload() -> None:
    def refuse(r: Receipt) -> None:
        raise RuntimeError("TooManyRequestsException")

    log = InjectionLog(Faults(duplicate=1.0))
    inject = DeliveryInjector(OUTPUTS, Faults(duplicate=1.0), log, deliver=refuse)

    inject.on_receipt("a", receipt("a/1"))

    assert log.counts() == {}
    assert log.errors == ["duplicate a/1: TooManyRequestsException"]


def test_the_log_says_what_was_injected_when_and_to_what() -> None:
    log = InjectionLog(Faults(duplicate=0.1, sns_outage_s=10, throttle=0.2))
    log.add("duplicate", "a/1", "receipt 01")

    data = log.as_dict(t0=log.snapshot()[0].at - 2.5)

    assert data["spec"] == "duplicate=0.1,sns-outage=10,throttle=0.2"
    assert data["counts"] == {"duplicate": 1}
    assert data["injections"][0]["target"] == "a/1" and data["injections"][0]["at_s"] == 2.5
    assert log.summary() == (
        "1 duplicated deliveries, SNS outage 10 s on Check-Stock, "
        "DynamoDB throttling 0.2 on Load-Inventory"
    )


# --- the harness: faults inside the functions --------------------------------------------------


class FakeLambda:
    """get/update_function_configuration and the waiter, recording every environment set."""

    def __init__(self, environments: dict[str, dict[str, str]]) -> None:
        self.environments = environments
        self.updates: list[tuple[str, dict[str, str]]] = []
        self.waits = 0
        self.invocations: list[dict[str, Any]] = []
        self.meta = SimpleNamespace(region_name="us-east-1")

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"Environment": {"Variables": dict(self.environments[FunctionName])}}

    def update_function_configuration(self, FunctionName: str, Environment: Any) -> None:
        self.environments[FunctionName] = dict(Environment["Variables"])
        self.updates.append((FunctionName, dict(Environment["Variables"])))

    def get_waiter(self, name: str) -> Any:
        assert name == "function_updated_v2"
        fake = self

        class Waiter:
            def wait(self, **_: Any) -> None:
                fake.waits += 1

        return Waiter()

    def invoke(self, **kwargs: Any) -> None:
        self.invocations.append(kwargs)


@pytest.fixture
def lambda_api(monkeypatch: pytest.MonkeyPatch) -> FakeLambda:
    fake = FakeLambda(
        {"Check-Stock": {"TOPIC_ARN": TOPIC}, "Load-Inventory": {"TABLE_NAME": "Inventory"}}
    )
    monkeypatch.setattr(harness_faults.env, "client", lambda service: fake)
    return fake


def test_a_function_fault_is_merged_into_the_environment_and_taken_out_again(
    lambda_api: FakeLambda,
) -> None:
    log = InjectionLog(Faults(throttle=0.2))

    with harness_faults.dynamodb_throttle(OUTPUTS, 0.2, log):
        during = dict(lambda_api.environments["Load-Inventory"])

    assert during == {"TABLE_NAME": "Inventory", ENV_FAULTS: "dynamodb-throttle=0.2"}
    assert lambda_api.environments["Load-Inventory"] == {"TABLE_NAME": "Inventory"}
    assert lambda_api.waits == 4  # before and after each of the two updates
    assert log.counts() == {"throttle": 1}


def test_the_outage_ends_at_its_time_and_the_environment_comes_back(
    lambda_api: FakeLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness_faults, "OUTAGE_GRACE_S", 0.0)

    with harness_faults.sns_outage(OUTPUTS, 0.01) as until:
        value = lambda_api.environments["Check-Stock"][ENV_FAULTS]

    assert FaultSettings.parse(value).sns_outage_until == pytest.approx(until, abs=0.001)
    assert lambda_api.environments["Check-Stock"] == {"TOPIC_ARN": TOPIC}


def test_the_environment_comes_back_after_ctrl_c_and_a_leftover_fault_is_dropped(
    lambda_api: FakeLambda,
) -> None:
    lambda_api.environments["Check-Stock"][ENV_FAULTS] = "sns-reject-store=left-by-a-killed-run"

    with (
        pytest.raises(KeyboardInterrupt),
        function_faults("Check-Stock", FaultSettings(sns_reject_store="x")),
    ):
        raise KeyboardInterrupt

    assert lambda_api.environments["Check-Stock"] == {"TOPIC_ARN": TOPIC}


def test_redelivery_invokes_the_loader_asynchronously_with_the_rebuilt_event(
    lambda_api: FakeLambda,
) -> None:
    harness_faults.redeliver(OUTPUTS, receipt("a/1"))

    (call,) = lambda_api.invocations
    assert call["FunctionName"] == "Load-Inventory" and call["InvocationType"] == "Event"
    sent = json.loads(call["Payload"])["Records"][0]
    assert sent["s3"]["object"]["sequencer"] == "0000066119E5938970"


def test_the_module_names_each_fault_once() -> None:
    assert faults.KNOWN == ("sns-outage-until", "dynamodb-throttle", "sns-reject-store")
