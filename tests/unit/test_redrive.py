"""`inventory redrive`: the two on-failure record shapes, reading a failed batch back from the
stream, and re-driving a queue (fakes for SQS, Lambda and DynamoDB Streams).

The records below were recorded: from MiniStack 1.5.33 (2026-11-25, this project's stack),
and from the AWS Lambda developer guide's examples of each destination record.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dateutil.tz import tzlocal

from harness.redrive import (
    CHECKER_QUEUE,
    LOADER_QUEUE,
    InvocationFailed,
    StreamBatch,
    Targets,
    UnrecognisedMessage,
    invoke,
    lambda_record,
    parse_loader_failure,
    parse_stream_failure,
    read_batch,
    redrive_queue,
)

pytestmark = pytest.mark.unit

# Load-Inventory's on-failure record, as MiniStack sent it to LoadInventoryFailures.
MINISTACK_LOADER_FAILURE = (
    '{"requestContext": {"functionArn": "arn:aws:lambda:us-east-1:000000000000:function:Invent'
    'oryStack-IngestLoadInventoryFunctionB22DD000-1E2CCE33961DA", "condition": "RetriesExhaust'
    'ed", "approximateInvokeCount": 3}, "requestPayload": {"Records": [{"eventVersion": "2.6", '
    '"eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-25T13:40:28.852Z"'
    ', "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "EXAMPLE"}, "requestP'
    'arameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {"x-amz-request-id": "d'
    'b6db1c8-44e0-40c8-a44c-49b778ba7a31", "x-amz-id-2": "EXAMPLE"}, "s3": {"s3SchemaVersion":'
    ' "1.0", "configurationId": "ZjllNzRkZGItZTdmYS00NWFiLTljNjUtN2M3MDcwMWU2YzQw", "bucket": {'
    '"name": "inventorystack-storageuploadsbdc5e374-7d372bd7e28e9", "ownerIdentity": {"princip'
    'alId": "EXAMPLE"}, "arn": "arn:aws:s3:::inventorystack-storageuploadsbdc5e374-7d372bd7e28'
    'e9"}, "object": {"key": "stores/tr-port-gulluhanberg-0002/2026-01-05/inventory-00002.csv",'
    ' "size": 1443, "eTag": "3053d4c24ffe72ac06cc391a9e4f3819", "sequencer": "0000066119E59389'
    '70"}}}]}, "responseContext": {"statusCode": 200, "functionError": "Unhandled"}, "response'
    'Payload": {"errorMessage": "\'list\' object has no attribute \'left\'", "errorType": "Runt'
    'ime.HandlerError"}}'
)

# The AWS guide's asynchronous-invocation destination record, with an S3 event as the payload
# (the S3 guide's example event; the key names a file with a space and a plus sign).
AWS_LOADER_FAILURE = json.dumps(
    {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-2",
                    "eventTime": "2019-09-03T19:37:27.192Z",
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
                    "requestParameters": {"sourceIPAddress": "205.255.255.255"},
                    "responseElements": {
                        "x-amz-request-id": "D82B88E5F771F645",
                        "x-amz-id-2": "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6q",
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "828aa6fc-f7b5-4305-8584-487c791949c1",
                        "bucket": {
                            "name": "DOC-EXAMPLE-BUCKET",
                            "ownerIdentity": {"principalId": "A3I5XTEXAMAI3E"},
                            "arn": "arn:aws:s3:::lambda-artifacts-deafc19498e3f2df",
                        },
                        "object": {
                            "key": "stores/berlin/Happy+Face%2B1.csv",
                            "size": 1305107,
                            "eTag": "b21b84d653bb07b05b1e6b33684dc11b",
                            "sequencer": "0C0F6F405D6ED209E1",
                        },
                    },
                }
            ]
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": "RequestId: e4b46cbf-b738-xmpl-8880-a18cdf61200e Process exited "
            "before completing request"
        },
    }
)

# Check-Stock's stream on-failure record, as MiniStack sent it to CheckStockFailures.
MINISTACK_STREAM_FAILURE = (
    '{"requestContext": {"requestId": "e78f84a2-cfc2-4041-8af4-3c2234ad8dc7", "functionArn": "'
    "arn:aws:lambda:us-east-1:000000000000:function:InventoryStack-AlertsCheckStockFunctionA40"
    'E0640-9C6071EB8FF66", "condition": "MaxRecordAgeExceeded", "approximateInvokeCount": 1}, '
    '"responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Un'
    'handled"}, "version": "1.0", "timestamp": "2026-11-25T13:55:55Z", "DDBStreamBatchInfo": {'
    '"shardId": "shardId-00000000000000000000-00000000", "startSequenceNumber": "0000000179561'
    '48952530000004001", "endSequenceNumber": "000000017956148952530000004003", "approximateA'
    'rrivalOfFirstRecord": "2026-11-25T13:54:55Z", "approximateArrivalOfLastRecord": "2026-11-'
    '25T13:54:55Z", "batchSize": 2, "streamArn": "arn:aws:dynamodb:us-east-1:000000000000:tab'
    'le/InventoryStack-StorageInventory2F11986E-A2F3AA222FE6C/stream/2026-11-25T13:35:20.820Z"'
    "}}"
)

# The AWS guide's DynamoDB stream destination record.
AWS_STREAM_FAILURE = json.dumps(
    {
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001573689847184-864758bb",
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276362",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z",
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/"
            "2019-11-14T00:04:06.388",
        },
    }
)

STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/InventoryStack-StorageInventory2F11986E-"
    "A2F3AA222FE6C/stream/2026-11-25T13:35:20.820Z"
)


# --- the record shapes -------------------------------------------------------------------------


def test_a_loader_failure_recorded_on_ministack_gives_back_its_s3_event() -> None:
    failure = parse_loader_failure(MINISTACK_LOADER_FAILURE)

    assert failure.keys == ("stores/tr-port-gulluhanberg-0002/2026-01-05/inventory-00002.csv",)
    assert failure.payload == json.loads(MINISTACK_LOADER_FAILURE)["requestPayload"]
    assert failure.condition == "RetriesExhausted"
    assert failure.error == "Runtime.HandlerError: 'list' object has no attribute 'left'"


def test_a_loader_failure_in_the_aws_shape_gives_back_its_s3_event_and_decoded_key() -> None:
    failure = parse_loader_failure(AWS_LOADER_FAILURE)

    assert failure.keys == ("stores/berlin/Happy Face+1.csv",)
    assert failure.payload["Records"][0]["s3"]["object"]["sequencer"] == "0C0F6F405D6ED209E1"
    assert failure.error is not None and "Process exited" in failure.error


@pytest.mark.parametrize(
    ("body", "shard", "start", "end", "size", "condition"),
    [
        (
            MINISTACK_STREAM_FAILURE,
            "shardId-00000000000000000000-00000000",
            "000000017956148952530000004001",
            "000000017956148952530000004003",
            2,
            "MaxRecordAgeExceeded",
        ),
        (
            AWS_STREAM_FAILURE,
            "shardId-00000001573689847184-864758bb",
            "800000000003126276362",
            "800000000003126276362",
            1,
            "RetryAttemptsExhausted",
        ),
    ],
)
def test_a_stream_failure_names_the_shard_and_its_sequence_numbers(
    body: str, shard: str, start: str, end: str, size: int, condition: str
) -> None:
    batch = parse_stream_failure(body)

    assert (batch.shard_id, batch.start_sequence_number, batch.end_sequence_number) == (
        shard,
        start,
        end,
    )
    assert batch.stream_arn == json.loads(body)["DDBStreamBatchInfo"]["streamArn"]
    assert (batch.batch_size, batch.condition) == (size, condition)


@pytest.mark.parametrize(
    "body", ["not json", "[]", "{}", MINISTACK_STREAM_FAILURE, '{"requestPayload": {"a": 1}}']
)
def test_a_message_that_is_no_loader_failure_is_refused(body: str) -> None:
    with pytest.raises(UnrecognisedMessage):
        parse_loader_failure(body)


@pytest.mark.parametrize(
    "body",
    [
        MINISTACK_LOADER_FAILURE,
        '{"DDBStreamBatchInfo": {"shardId": "s"}}',
        '{"DDBStreamBatchInfo": {"shardId": "s", "streamArn": "a", "startSequenceNumber": "",'
        ' "endSequenceNumber": ""}}',
    ],
)
def test_a_message_that_is_no_stream_failure_is_refused(body: str) -> None:
    with pytest.raises(UnrecognisedMessage):
        parse_stream_failure(body)


# --- reading the batch back --------------------------------------------------------------------


def seq(n: int) -> str:
    """A sequence number of MiniStack's form: the one recorded above is seq(4001)."""
    return f"00000001795614895253{n:010d}"


def stream_record(sequence: int, count: int = 0) -> dict[str, Any]:
    """A record as boto3's GetRecords returns it (recorded from MiniStack, sequence varied)."""
    return {
        "eventID": f"event-{sequence}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 25, 13, 54, 55, tzinfo=tzlocal()),
            "Keys": {"Store": {"S": "poison-c3d0c1"}, "Item": {"S": f"item-{sequence}"}},
            "NewImage": {
                "Store": {"S": "poison-c3d0c1"},
                "Item": {"S": f"item-{sequence}"},
                "Count": {"N": str(count)},
                "SourceKey": {"S": "poison/poison-c3d0c1.csv"},
                "Blob": {"B": b"\x00\x01"},
            },
            "SequenceNumber": seq(sequence),
            "SizeBytes": 0,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_a_stream_record_is_given_to_check_stock_as_lambda_delivers_it() -> None:
    record = lambda_record(stream_record(4001), STREAM_ARN)

    assert record["eventSourceARN"] == STREAM_ARN
    created = datetime(2026, 11, 25, 13, 54, 55, tzinfo=tzlocal())
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert record["dynamodb"]["NewImage"]["Blob"] == {"B": "AAE="}
    assert json.loads(json.dumps(record)) == record  # plain JSON


class FakeStreams:
    """GetShardIterator AT_SEQUENCE_NUMBER and GetRecords over a list, in pages."""

    def __init__(self, records: list[dict[str, Any]], page: int = 2, empty_first: int = 0) -> None:
        self.records = records
        self.page = page
        self.empty_first = empty_first
        self.calls: list[str] = []

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, str]:
        assert kwargs["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
        sequences = [r["dynamodb"]["SequenceNumber"] for r in self.records]
        if kwargs["SequenceNumber"] not in sequences:
            raise ClientError(
                {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                "GetShardIterator",
            )
        return {"ShardIterator": str(sequences.index(kwargs["SequenceNumber"]))}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.calls.append(ShardIterator)
        if self.empty_first:
            self.empty_first -= 1
            return {"Records": [], "NextShardIterator": ShardIterator}
        position = int(ShardIterator)
        page = self.records[position : position + self.page]
        return {"Records": page, "NextShardIterator": str(position + len(page))}


def batch(start: int, end: int) -> StreamBatch:
    return StreamBatch(STREAM_ARN, "shard-0", seq(start), seq(end), None, None)


def test_the_batch_is_read_from_its_first_record_to_its_last_across_pages() -> None:
    streams = FakeStreams([stream_record(n) for n in range(4000, 4010)], page=3, empty_first=2)

    records = read_batch(streams, batch(4001, 4006))

    assert [r["dynamodb"]["SequenceNumber"] for r in records] == [seq(n) for n in range(4001, 4007)]
    assert all(r["eventSourceARN"] == STREAM_ARN for r in records)


def test_a_batch_whose_last_record_never_comes_is_an_error() -> None:
    streams = FakeStreams([stream_record(n) for n in range(4000, 4003)])

    with pytest.raises(LookupError, match="ended before sequence number"):
        read_batch(streams, batch(4001, 4009))


def test_records_gone_from_the_stream_are_reported_as_such() -> None:
    with pytest.raises(ClientError, match="TrimmedDataAccessException"):
        read_batch(FakeStreams([stream_record(4005)]), batch(4001, 4005))


# --- invoking ----------------------------------------------------------------------------------


class FakeLambda:
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append((FunctionName, InvocationType, json.loads(Payload)))
        answer = self.answers.get(FunctionName, {"ok": True})
        response: dict[str, Any] = {"StatusCode": 200}
        if isinstance(answer, Exception):
            response["FunctionError"] = "Unhandled"
            answer = {"errorType": type(answer).__name__, "errorMessage": str(answer)}
        response["Payload"] = io.BytesIO(json.dumps(answer).encode())
        return response

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"Timeout": 30}


def test_a_function_error_is_a_failed_invocation_with_its_reason() -> None:
    client = FakeLambda({"f": RuntimeError("NoStock for 'x' was not sent")})

    with pytest.raises(InvocationFailed, match="RuntimeError: NoStock for 'x' was not sent"):
        invoke(client, "f", {"Records": []})


def test_failed_records_reported_in_the_answer_are_a_failed_invocation() -> None:
    client = FakeLambda({"f": {"batchItemFailures": [{"itemIdentifier": "1"}]}})

    with pytest.raises(InvocationFailed, match="1 records reported failed"):
        invoke(client, "f", {"Records": []})


# --- a queue -----------------------------------------------------------------------------------


class FakeSqs:
    def __init__(self, bodies: list[str]) -> None:
        self.messages = {f"m{i}": body for i, body in enumerate(bodies)}
        self.hidden: set[str] = set()
        self.deleted: list[str] = []
        self.released: list[str] = []

    def receive_message(self, QueueUrl: str, **kwargs: Any) -> dict[str, Any]:
        visible = [m for m in self.messages if m not in self.hidden][
            : kwargs["MaxNumberOfMessages"]
        ]
        if kwargs["VisibilityTimeout"]:
            self.hidden.update(visible)
        return {
            "Messages": [
                {"MessageId": m, "ReceiptHandle": f"h-{m}", "Body": self.messages[m]}
                for m in visible
            ]
        }

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        message = ReceiptHandle.removeprefix("h-")
        del self.messages[message]
        self.hidden.discard(message)
        self.deleted.append(message)

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[Any]) -> None:
        for entry in Entries:
            assert entry["VisibilityTimeout"] == 0
            message = entry["ReceiptHandle"].removeprefix("h-")
            self.hidden.discard(message)
            self.released.append(message)


def targets(sqs: FakeSqs, lambda_: FakeLambda, streams: Any = None) -> Targets:
    return Targets(
        load_inventory_function="Load-Inventory",
        check_stock_function="Check-Stock",
        queue_urls={LOADER_QUEUE: "q-load", CHECKER_QUEUE: "q-check"},
        sqs=sqs,
        lambda_=lambda_,
        streams=streams,
    )


def test_loader_failures_are_invoked_again_and_deleted_only_when_they_succeed() -> None:
    failing = MINISTACK_LOADER_FAILURE.replace("inventory-00002.csv", "inventory-00009.csv")
    sqs = FakeSqs([MINISTACK_LOADER_FAILURE, failing, "garbage"] + [AWS_LOADER_FAILURE] * 11)
    lambda_ = FakeLambda()

    def answer(FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        if b"inventory-00009" in Payload:
            lambda_.answers["Load-Inventory"] = RuntimeError("still broken")
        else:
            lambda_.answers.pop("Load-Inventory", None)
        return FakeLambda.invoke(lambda_, FunctionName, InvocationType, Payload)

    lambda_.invoke = answer  # type: ignore[method-assign]

    result = redrive_queue(targets(sqs, lambda_), LOADER_QUEUE)

    assert (result.found, result.redriven) == (14, 12)
    assert {what for what, _ in result.failing} == {
        "stores/tr-port-gulluhanberg-0002/2026-01-05/inventory-00009.csv (last error: "
        "Runtime.HandlerError: 'list' object has no attribute 'left')",
        "unrecognised message: not JSON: 'garbage'",
    }
    assert sorted(why for _, why in result.failing) == [
        "RuntimeError: still broken",
        "unrecognised message (not JSON: 'garbage'); left in the queue",
    ]
    assert sorted(sqs.messages) == ["m1", "m2"]  # the failures stay queued ...
    assert sqs.hidden == set()  # ... and visible again for the next try
    assert all(c[:2] == ("Load-Inventory", "RequestResponse") for c in lambda_.calls)
    assert lambda_.calls[0][2] == json.loads(MINISTACK_LOADER_FAILURE)["requestPayload"]


def test_a_stream_failure_is_read_back_and_given_to_check_stock_in_order() -> None:
    sqs = FakeSqs([MINISTACK_STREAM_FAILURE])
    records = [stream_record(n, count=n % 2) for n in range(4000, 4006)]
    lambda_ = FakeLambda()

    result = redrive_queue(targets(sqs, lambda_, FakeStreams(records)), CHECKER_QUEUE)

    assert (result.found, result.redriven, result.failing) == (1, 1, [])
    ((name, kind, event),) = lambda_.calls
    assert (name, kind) == ("Check-Stock", "RequestResponse")
    assert [r["dynamodb"]["SequenceNumber"][-4:] for r in event["Records"]] == [
        "4001",
        "4002",
        "4003",
    ]
    assert sqs.deleted == ["m0"]


def test_a_stream_failure_whose_records_expired_stays_queued_with_the_reason() -> None:
    sqs = FakeSqs([AWS_STREAM_FAILURE])

    result = redrive_queue(targets(sqs, FakeLambda(), FakeStreams([])), CHECKER_QUEUE)

    assert result.redriven == 0
    assert result.failing[0][1].startswith("TrimmedDataAccessException: the records have left")
    assert list(sqs.messages) == ["m0"]


def test_a_dry_run_lists_what_would_be_re_driven_and_changes_nothing() -> None:
    sqs = FakeSqs([MINISTACK_STREAM_FAILURE, AWS_STREAM_FAILURE])
    lambda_ = FakeLambda()

    result = redrive_queue(targets(sqs, lambda_), CHECKER_QUEUE, dry_run=True)

    assert result.found == 2
    assert result.planned == [
        "2 records, sequence 000000017956148952530000004001..000000017956148952530000004003",
        "1 record, sequence 800000000003126276362..800000000003126276362",
    ]
    assert lambda_.calls == [] and sqs.deleted == []
    assert sorted(sqs.released) == ["m0", "m1"] and sqs.hidden == set()


def test_sequence_numbers_compare_as_numbers_not_text() -> None:
    streams = FakeStreams([stream_record(n) for n in (98, 99, 100, 101)])
    streams.records = [
        {**r, "dynamodb": {**r["dynamodb"], "SequenceNumber": str(n)}}
        for r, n in zip(streams.records, (98, 99, 100, 101), strict=True)
    ]

    records = read_batch(streams, StreamBatch(STREAM_ARN, "s", "99", "100", None, None))

    assert [r["dynamodb"]["SequenceNumber"] for r in records] == ["99", "100"]


def test_epoch_seconds_are_utc() -> None:
    moment = datetime(2026, 11, 25, 13, 54, 55, tzinfo=UTC)
    record = lambda_record({"dynamodb": {"ApproximateCreationDateTime": moment}}, STREAM_ARN)
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795614895


def test_the_final_tables_say_per_queue_what_was_found_re_driven_and_why_the_rest_fails() -> None:
    from rich.console import Console

    from harness.redrive import QueueResult, failing_table, results_table

    why = "Runtime.HandlerError: NoStock for 'widget' at 'poison' was not sent"
    results = [
        QueueResult(LOADER_QUEUE, found=3, redriven=3),
        QueueResult(CHECKER_QUEUE, found=3, redriven=1, failing=[("batch a", why)] * 2),
    ]
    console = Console(record=True, width=200)

    console.print(results_table(results, dry_run=False))
    console.print(failing_table(results))

    text = console.export_text()
    assert "LoadInventoryFailures │     3 │         3 │             0 │ -" in text
    assert f"CheckStockFailures    │     3 │         1 │             2 │ 2 x {why}" in text
    assert text.count(f"│ batch a │ {why} │") == 2
