"""`inventory down` then `inventory up` keeps the data, and Check-Stock still alerts after it.

This test starts an emulator of its own, on a free port, through the `inventory` command in
subprocesses, and talks to it with clients of its own: the session's shared emulator, its
stack and its cached clients are not touched. That emulator does not enforce IAM (restarts
are not about IAM) and is stopped, its state deleted, at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from harness import env

pytestmark = pytest.mark.integration

TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((env.LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Private:
    """An emulator this test started, and the `inventory` command pointed at it."""

    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{env.LOOPBACK}:{self.port}"

    def inventory(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in {env.AUTH_VARIABLE, "AWS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
        }
        environ.update(
            AWS_ENDPOINT_URL=self.endpoint, AWS_ENDPOINT_URL_S3=self.endpoint, PERSIST_STATE="1"
        )
        done = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            env=environ, cwd=env.ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
            check=False,
        )  # fmt: skip
        assert done.returncode == code, f"inventory {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def up(self) -> dict[str, str]:
        out = self.inventory("up").stdout
        outputs: dict[str, str] = json.loads(out[out.index("{\n") :])
        return outputs

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=env.DEFAULT_REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip


@pytest.fixture(scope="module")
def private() -> Iterator[Private]:
    emulator = Private(_free_port())
    try:
        yield emulator
    finally:
        emulator.inventory("down", "--forget")
    shutil.rmtree(env.state_dir(emulator.port), ignore_errors=True)  # kept on a failure


def _receipts(private: Private, outputs: dict[str, str], key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = private.client("dynamodb").query(
        TableName=outputs["ReceiptsTableName"],
        KeyConditionExpression="ObjectKey = :k",
        ExpressionAttributeValues={":k": {"S": key}},
        ConsistentRead=True,
    )["Items"]
    return found


def _upload(private: Private, outputs: dict[str, str], key: str, body: str) -> None:
    private.client("s3").put_object(Bucket=outputs["BucketName"], Key=key, Body=body.encode())
    deadline = time.monotonic() + 60
    while not _receipts(private, outputs, key):
        assert time.monotonic() < deadline, f"no receipt for {key}"
        time.sleep(0.1)


def _inbox(private: Private, topic_arn: str) -> str:
    """An SQS queue subscribed to NoStock, raw delivery (the emulator enforces no policy)."""
    sqs = private.client("sqs")
    url: str = sqs.create_queue(QueueName=f"restart-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    private.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )  # fmt: skip
    return url


def _alerts(private: Private, inbox: str, expected: int) -> list[tuple[str, str]]:
    """(store, item) of the messages in the inbox once `expected` are there, and it settled;
    the messages are left in the queue."""
    sqs = private.client("sqs")
    deadline = time.monotonic() + 30
    while True:
        depth = int(
            sqs.get_queue_attributes(
                QueueUrl=inbox, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        if depth >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(2)  # a message sent twice would come within this
    messages = sqs.receive_message(
        QueueUrl=inbox, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1
    ).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    return sorted((b["store"], b["item"]) for b in bodies)


def test_down_then_up_keeps_the_data_and_the_pipeline_still_alerts(private: Private) -> None:
    store = f"restart-{uuid.uuid4().hex[:6]}"
    outputs = private.up()
    inbox = _inbox(private, outputs["TopicArn"])
    _upload(private, outputs, f"{store}/one.csv", f"store,item,count\n{store},a,0\n{store},b,2\n")
    assert _alerts(private, inbox, 1) == [(store, "a")]

    stopped = private.inventory("down")
    assert "state is saved" in " ".join(stopped.stderr.split())
    status = " ".join(private.inventory("status", code=1).stderr.split())  # not answering
    assert f"saved state: .emulator/{private.port}/state/" in status

    again = private.up()

    assert again == outputs  # the same stack, not a new one
    ddb = private.client("dynamodb")
    items = ddb.query(
        TableName=outputs["TableName"],
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "Store"},
        ExpressionAttributeValues={":s": {"S": store}},
        ConsistentRead=True,
    )["Items"]
    assert sorted((i["Item"]["S"], i["Count"]["N"]) for i in items) == [("a", "0"), ("b", "2")]
    assert len(_receipts(private, outputs, f"{store}/one.csv")) == 1
    keys = private.client("s3").list_objects_v2(Bucket=outputs["BucketName"], Prefix=store)
    assert [o["Key"] for o in keys["Contents"]] == [f"{store}/one.csv"]
    assert _alerts(private, inbox, 1) == [(store, "a")]  # kept in the queue, not sent again

    # Check-Stock reads the table's stream after the restart from its first new record.
    _upload(private, outputs, f"{store}/two.csv", f"store,item,count\n{store},b,0\n{store},c,0\n")
    assert _alerts(private, inbox, 3) == [(store, "a"), (store, "b"), (store, "c")]
