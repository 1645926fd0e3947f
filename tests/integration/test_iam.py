"""IAM under enforcement: each role can do its job, and is denied what it does not need.

The emulator enforces IAM (`AUTH=true`, see conftest.py). Each test assumes a role with STS and
calls the APIs with its credentials: every allowed call must succeed and every denied one must
fail with IAM's own refusal (403, the service's AccessDenied code, naming the role and the
action), so a broken role, a missing grant or an open emulator makes a test fail.

`read_only_roles` and `writes_not_denied` are the generic check: every role of the stack whose
name says read-only, or whose grants are all reads, must be refused every write on every data
resource of the stack. A read-only role added to the stack later (the dashboard's API) is
checked without a new test.

On MiniStack the root keys may assume a role whose trust policy names only a service
(`lambda.amazonaws.com`); AWS refuses that. The probe roles made here trust the account
instead, as they would have to on AWS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import emulator, env
from infra import variants
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

STACK_NAME = variants.stack_name()
# IAM's refusal, per service: S3 and STS, DynamoDB, SNS.
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "AuthorizationError"}
# What the Lambda runtime needs to log and trace (X-Ray, active tracing), granted to every
# function: telemetry about the function, neither a read nor a write of the stack's data.
LOGGING_ACTIONS = {
    "logs:createloggroup", "logs:createlogstream", "logs:putlogevents",
    "xray:puttracesegments", "xray:puttelemetryrecords",
}  # fmt: skip
READ_VERBS = ("get", "list", "describe", "batchget", "query", "scan", "conditioncheck", "head")
READ_ACTIONS = {"kms:decrypt", "kms:describekey"}
PROBE = "iam-probe"  # the store, keys and attribute of everything this module writes


@pytest.fixture(scope="module", autouse=True)
def enforced(pipeline: Pipeline) -> None:
    """The module needs an emulator that enforces IAM: AUTH=true, as `make test` runs it."""
    if not env.enforcing():
        pytest.skip(f"{env.AUTH_VARIABLE} is not true: IAM is not enforced, nothing to test")


# --- roles, their credentials and IAM's refusal ----------------------------------------------


@dataclass(frozen=True)
class Role:
    """A role assumed with STS: its ARN and a session holding its credentials."""

    arn: str
    session: boto3.Session

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def client(self, service: str) -> Any:
        return self.session.client(service, config=Config(retries={"mode": "standard"}))


def assume(role_arn: str) -> Role:
    """The role's credentials from sts:AssumeRole, called with the root keys."""
    credentials = env.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName=f"{PROBE}-{uuid.uuid4().hex[:8]}"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return Role(arn=role_arn, session=session)


def function_role(function_name: str) -> Role:
    """Assume the role a deployed function runs as (from its configuration)."""
    role_arn = env.client("lambda").get_function_configuration(FunctionName=function_name)["Role"]
    return assume(role_arn)


def denial(role: Role, action: str, call: Callable[[], object]) -> str | None:
    """None if IAM refused `role` the `action`; otherwise what happened instead."""
    try:
        call()
    except ClientError as exc:
        error, meta = exc.response.get("Error", {}), exc.response.get("ResponseMetadata", {})
        message = str(error.get("Message", ""))
        refused = (
            meta.get("HTTPStatusCode") == 403
            and error.get("Code") in DENIED_CODES
            and f"not authorized to perform: {action}" in message
            and f"assumed-role/{role.name}/" in message
        )
        if refused:
            return None
        return f"{action}: refused, but not by IAM: {meta.get('HTTPStatusCode')} {error}"
    return f"{action}: allowed"


def assert_denied(role: Role, action: str, call: Callable[[], object]) -> None:
    problem = denial(role, action, call)
    assert problem is None, f"{role.name}: {problem}"


# --- the stack's roles and data resources ----------------------------------------------------


def stack_resources(
    resource_type: str, stack_name: str = STACK_NAME, logical_prefix: str = ""
) -> list[str]:
    """The physical ids of a stack's resources of one type (a role's name, a table's name...),
    only those whose logical id starts with `logical_prefix` if given."""
    pages = env.client("cloudformation").get_paginator("list_stack_resources")
    return [
        r["PhysicalResourceId"]
        for page in pages.paginate(StackName=stack_name)
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == resource_type and r["LogicalResourceId"].startswith(logical_prefix)
    ]


def granted_actions(role_name: str) -> set[str]:
    """Every action the role's inline and attached policies allow (lower case; `*` kept)."""
    iam = env.client("iam")
    documents = [
        iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        documents.append(
            iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
            )["PolicyVersion"]["Document"]
        )
    actions: set[str] = set()
    for document in documents:
        if isinstance(document, str):
            document = json.loads(document)
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                actions.add("*")  # everything but a few: count it as a write
            found = statement.get("Action", [])
            actions.update(a.lower() for a in ([found] if isinstance(found, str) else found))
    return actions


def is_read(action: str) -> bool:
    service, _, name = action.partition(":")
    return action in READ_ACTIONS or (service != "*" and name.startswith(READ_VERBS))


def read_only_reason(role_name: str) -> str | None:
    """Why a role counts as read-only (its name, or only read grants), or None."""
    if "readonly" in role_name.lower().replace("-", "").replace("_", ""):
        return "its name says read-only"
    actions = granted_actions(role_name) - LOGGING_ACTIONS
    if actions and all(is_read(a) for a in actions):
        return "it has only read grants"
    return None


def read_only_roles(stack_name: str = STACK_NAME) -> dict[str, str]:
    """Every role of the stack that counts as read-only, with the reason."""
    found = {name: read_only_reason(name) for name in stack_resources("AWS::IAM::Role", stack_name)}
    return {name: reason for name, reason in found.items() if reason}


def _probe_key(table: str) -> dict[str, dict[str, Any]]:
    """A key of the table that nothing else uses."""
    schema = env.client("dynamodb").describe_table(TableName=table)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in schema["AttributeDefinitions"]}
    value = f"{PROBE}-{uuid.uuid4().hex}"
    typed: dict[str, dict[str, Any]] = {
        "S": {"S": value},
        "N": {"N": "0"},
        "B": {"B": value.encode()},
    }
    return {k["AttributeName"]: typed[types[k["AttributeName"]]] for k in schema["KeySchema"]}


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Write:
    """One write a read-only role must be refused, and how to undo it (root keys) if not."""

    action: str
    resource: str
    call: Callable[[], object]
    undo: Callable[[], object] = _nothing


def write_attempts(role: Role, stack_name: str = STACK_NAME) -> list[Write]:
    """One write of each kind on each data resource of the stack, made as `role`."""
    ddb, s3, sns, sqs = (role.client(s) for s in ("dynamodb", "s3", "sns", "sqs"))
    root_ddb, root_s3 = env.client("dynamodb"), env.client("s3")
    writes: list[Write] = []
    for table in stack_resources("AWS::DynamoDB::Table", stack_name):
        key = _probe_key(table)
        forget = partial(root_ddb.delete_item, TableName=table, Key=key)
        writes += [
            Write("dynamodb:PutItem", table, partial(ddb.put_item, TableName=table, Item=key),
                  forget),
            Write("dynamodb:UpdateItem", table, partial(
                ddb.update_item, TableName=table, Key=key, UpdateExpression="SET #p = :p",
                ExpressionAttributeNames={"#p": "Probe"},
                ExpressionAttributeValues={":p": {"S": PROBE}}), forget),
            Write("dynamodb:DeleteItem", table, partial(ddb.delete_item, TableName=table, Key=key)),
            Write("dynamodb:BatchWriteItem", table, partial(
                ddb.batch_write_item, RequestItems={table: [{"PutRequest": {"Item": key}}]}),
                forget),
        ]  # fmt: skip
    for bucket in stack_resources("AWS::S3::Bucket", stack_name):
        name = f"{PROBE}/{uuid.uuid4().hex}.csv"
        writes += [
            Write("s3:PutObject", bucket, partial(s3.put_object, Bucket=bucket, Key=name, Body=b""),
                  partial(root_s3.delete_object, Bucket=bucket, Key=name)),
            Write("s3:DeleteObject", bucket, partial(s3.delete_object, Bucket=bucket, Key=name)),
        ]  # fmt: skip
    for topic in stack_resources("AWS::SNS::Topic", stack_name):
        writes.append(Write("sns:Publish", topic, partial(publish_probe, sns, topic)))
    for queue in stack_resources("AWS::SQS::Queue", stack_name):
        send = partial(sqs.send_message, QueueUrl=queue, MessageBody=PROBE)
        writes.append(Write("sqs:SendMessage", queue, send))
    return writes


def writes_not_denied(role: Role, stack_name: str = STACK_NAME) -> list[str]:
    """Every write on the stack's data that IAM did not refuse `role` (empty: all refused).

    A write that went through is undone with the root keys where it can be.
    """
    problems = []
    for write in write_attempts(role, stack_name):
        problem = denial(role, write.action, write.call)
        if problem is not None:
            write.undo()
            problems.append(f"{problem} (on {write.resource})")
    return problems


def publish_probe(sns: Any, topic_arn: str) -> object:
    # Shaped like an alert, for a store no test watches, so no subscriber mistakes it.
    return sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps({"store": PROBE, "item": PROBE, "count": 0, "previous_count": None}),
        MessageAttributes={"store": {"DataType": "String", "StringValue": PROBE}},
    )


# --- enforcement is on -----------------------------------------------------------------------


def test_the_emulator_enforces_iam(pipeline: Pipeline) -> None:
    found = emulator.health()
    assert found is not None and emulator.enforces_iam(found), found
    # the root keys are allowed everything ...
    assert env.client("sts").get_caller_identity()["Arn"].endswith(":root")
    # ... an access key nobody issued is refused by every service ...
    stranger = boto3.Session(aws_access_key_id="AKIA" + "X" * 16, aws_secret_access_key=PROBE)
    refusals = {
        "sts": lambda c: c.get_caller_identity(),
        "s3": lambda c: c.list_objects_v2(Bucket=pipeline.outputs.bucket_name),
        "dynamodb": lambda c: c.describe_table(TableName=pipeline.outputs.table_name),
        "sns": lambda c: c.get_topic_attributes(TopicArn=pipeline.outputs.topic_arn),
    }
    for service, call in refusals.items():
        with pytest.raises(ClientError) as refused:
            call(stranger.client(service))
        assert refused.value.response["Error"]["Code"] in {
            "InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException"
        }, (service, refused.value.response)  # fmt: skip
    # ... and a role is refused what it was not granted (the tests below, one by one).
    loader = function_role(pipeline.outputs.load_inventory_function_name)
    assert_denied(
        loader,
        "sns:Publish",
        lambda: publish_probe(loader.client("sns"), pipeline.outputs.topic_arn),
    )


# --- each function's role --------------------------------------------------------------------


@pytest.fixture
def probe_items(pipeline: Pipeline) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(table, key) of each item a test writes; deleted afterwards with the root keys."""
    written: list[tuple[str, dict[str, Any]]] = []
    yield written
    for table, key in written:
        env.client("dynamodb").delete_item(TableName=table, Key=key)


def test_load_inventory_reads_uploads_writes_the_tables_and_nothing_more(
    pipeline: Pipeline, probe_items: list[tuple[str, dict[str, Any]]]
) -> None:
    outputs = pipeline.outputs
    key = pipeline.unique("iam/loader.csv")
    assert pipeline.upload_and_wait(key, b"store,item,count\nIAM,probe,1\n").status == "loaded"
    loader = function_role(outputs.load_inventory_function_name)
    s3, ddb = loader.client("s3"), loader.client("dynamodb")

    # its job: read the upload, write rows and receipts
    assert s3.get_object(Bucket=outputs.bucket_name, Key=key)["Body"].read().startswith(b"store")
    row = {"Store": {"S": pipeline.unique(PROBE)}, "Item": {"S": PROBE}}
    ddb.batch_write_item(RequestItems={outputs.table_name: [{"PutRequest": {"Item": row}}]})
    probe_items.append((outputs.table_name, row))
    receipt = {"ObjectKey": {"S": pipeline.unique(PROBE)}, "ReceiptId": {"S": PROBE}}
    ddb.put_item(TableName=outputs.receipts_table_name, Item=receipt)
    probe_items.append((outputs.receipts_table_name, receipt))

    # not its job: alerting, or changing what was uploaded
    assert_denied(
        loader, "sns:Publish", lambda: publish_probe(loader.client("sns"), outputs.topic_arn)
    )
    assert_denied(loader, "s3:DeleteObject",
                  lambda: s3.delete_object(Bucket=outputs.bucket_name, Key=key))  # fmt: skip
    assert_denied(loader, "s3:PutObject",
                  lambda: s3.put_object(Bucket=outputs.bucket_name, Key=key, Body=b""))  # fmt: skip
    # the upload is untouched
    assert env.client("s3").get_object(Bucket=outputs.bucket_name, Key=key)["ContentLength"] > 0


def test_check_stock_reads_the_stream_publishes_and_nothing_more(pipeline: Pipeline) -> None:
    outputs = pipeline.outputs
    checker = function_role(outputs.check_stock_function_name)
    ddb, s3 = checker.client("dynamodb"), checker.client("s3")

    # its job: read the Inventory stream, publish to NoStock
    stream_arn = env.client("dynamodb").describe_table(TableName=outputs.table_name)["Table"][
        "LatestStreamArn"
    ]
    # MiniStack authorizes the Streams API against "*", not the stream, so a grant scoped to
    # the stream (CDK's, as AWS wants it) is refused there: ask IAM's own evaluator instead.
    decisions = env.client("iam").simulate_principal_policy(
        PolicySourceArn=checker.arn,
        ActionNames=["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
        ResourceArns=[stream_arn],
    )["EvaluationResults"]
    assert {d["EvalActionName"]: d["EvalDecision"] for d in decisions} == dict.fromkeys(
        ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"), "allowed"
    )
    assert publish_probe(checker.client("sns"), outputs.topic_arn)

    # not its job: writing the inventory, or reading uploads
    key = {"Store": {"S": pipeline.unique(PROBE)}, "Item": {"S": PROBE}}
    table = outputs.table_name
    assert_denied(checker, "dynamodb:PutItem", lambda: ddb.put_item(TableName=table, Item=key))
    assert_denied(
        checker,
        "dynamodb:UpdateItem",
        lambda: ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #c = :c",
            ExpressionAttributeNames={"#c": "Count"},
            ExpressionAttributeValues={":c": {"N": "0"}},
        ),
    )
    assert_denied(checker, "dynamodb:DeleteItem", lambda: ddb.delete_item(TableName=table, Key=key))
    assert_denied(checker, "dynamodb:BatchWriteItem", lambda: ddb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": key}}]}))  # fmt: skip
    uploaded = pipeline.unique("iam/checker.csv")
    pipeline.upload_and_wait(uploaded, b"store,item,count\nIAM,probe,1\n")
    assert_denied(checker, "s3:GetObject",
                  lambda: s3.get_object(Bucket=outputs.bucket_name, Key=uploaded))  # fmt: skip


def query_function_name(stack_name: str = STACK_NAME) -> str:
    """The dashboard's query function (no stack output names it; its construct id does)."""
    found = stack_resources("AWS::Lambda::Function", stack_name, logical_prefix="DashboardQuery")
    assert len(found) == 1, f"expected one dashboard query function, found {found}"
    return found[0]


def test_the_query_api_reads_the_three_tables_and_nothing_else(pipeline: Pipeline) -> None:
    outputs = pipeline.outputs
    key = pipeline.unique("iam/query.csv")
    store = pipeline.unique(PROBE)
    body = f"store,item,count\n{store},probe,0\n".encode()
    assert pipeline.upload_and_wait(key, body).status == "loaded"
    reader = function_role(query_function_name())
    ddb, s3 = reader.client("dynamodb"), reader.client("s3")
    summaries = next(t for t in stack_resources("AWS::DynamoDB::Table") if "StoreSummaries" in t)

    # its job: read the inventory (and its out-of-stock index), the summaries, the receipts
    items = ddb.query(TableName=outputs.table_name, KeyConditionExpression="#s = :s",
                      ExpressionAttributeNames={"#s": "Store"},
                      ExpressionAttributeValues={":s": {"S": store}})["Items"]  # fmt: skip
    assert [i["Item"]["S"] for i in items] == ["probe"]
    zeros = ddb.query(TableName=outputs.table_name, IndexName="OutOfStock",
                      KeyConditionExpression="OutOfStockStore = :s",
                      ExpressionAttributeValues={":s": {"S": store}})["Items"]  # fmt: skip
    assert [i["Item"]["S"] for i in zeros] == ["probe"]
    summary = ddb.get_item(TableName=summaries, Key={"Store": {"S": store}})["Item"]
    assert (summary["Items"]["N"], summary["OutOfStock"]["N"]) == ("1", "1")
    assert ddb.query(TableName=outputs.receipts_table_name, KeyConditionExpression="ObjectKey = :k",
                     ExpressionAttributeValues={":k": {"S": key}})["Items"]  # fmt: skip

    # not its job: the uploads themselves, the alerts' memory, alerting
    assert_denied(reader, "s3:GetObject",
                  lambda: s3.get_object(Bucket=outputs.bucket_name, Key=key))  # fmt: skip
    alerts_sent = next(t for t in stack_resources("AWS::DynamoDB::Table") if "AlertsSent" in t)
    assert_denied(reader, "dynamodb:Scan",
                  lambda: ddb.scan(TableName=alerts_sent, Limit=1))  # fmt: skip
    assert_denied(
        reader, "sns:Publish", lambda: publish_probe(reader.client("sns"), outputs.topic_arn)
    )
    # and every write on every table, bucket, topic and queue: the generic check below
    assert reader.name in read_only_roles()


# --- read-only roles -------------------------------------------------------------------------


def test_every_read_only_role_of_the_stack_is_refused_every_write(pipeline: Pipeline) -> None:
    roles = stack_resources("AWS::IAM::Role")
    assert roles, "the stack has no roles: is it deployed?"
    readers = read_only_roles()
    assert readers, "no read-only role found: the dashboard's query role should be one"
    for name, reason in readers.items():
        role = assume(env.client("iam").get_role(RoleName=name)["Role"]["Arn"])
        assert writes_not_denied(role) == [], f"{name} counts as read-only ({reason})"
    # and the functions, which write, are not mistaken for read-only ones
    writers = {
        env.client("lambda").get_function_configuration(FunctionName=f)["Role"].rsplit("/", 1)[-1]
        for f in (pipeline.outputs.load_inventory_function_name,
                  pipeline.outputs.check_stock_function_name)
    }  # fmt: skip
    assert writers <= set(roles)
    assert not writers & set(read_only_roles())


@pytest.fixture
def probe_role() -> Iterator[Callable[[str, list[dict[str, Any]]], str]]:
    """Make a role (trusting the account, as on AWS) with one inline policy; deleted after."""
    iam = env.client("iam")
    account = env.client("sts").get_caller_identity()["Account"]
    made: list[str] = []

    def make(name: str, statements: list[dict[str, Any]]) -> str:
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}  # fmt: skip
        arn = str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                "Arn"
            ]
        )
        made.append(name)
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))  # fmt: skip
        return arn

    yield make
    for name in made:
        iam.delete_role_policy(RoleName=name, PolicyName="grants")
        iam.delete_role(RoleName=name)


def test_the_read_only_check_passes_a_reader_and_catches_a_role_that_can_write(
    pipeline: Pipeline, probe_role: Callable[[str, list[dict[str, Any]]], str]
) -> None:
    outputs = pipeline.outputs
    table_arns = [
        env.client("dynamodb").describe_table(TableName=t)["Table"]["TableArn"]
        for t in (outputs.table_name, outputs.receipts_table_name)
    ]
    # What the dashboard's API will be granted (CDK's grant_read_data on both tables).
    reads = {"Effect": "Allow", "Resource": table_arns, "Action": [
        "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
        "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
        "dynamodb:Query", "dynamodb:Scan"]}  # fmt: skip
    suffix = uuid.uuid4().hex[:8]
    reader_name, leaky_name = f"IamProbeReader-{suffix}", f"IamProbeReadOnlyLeaky-{suffix}"
    reader = assume(probe_role(reader_name, [reads]))
    leak = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table_arns[0]}
    leaky = assume(probe_role(leaky_name, [reads, leak]))

    # the reader reads, counts as read-only by its grants, and is refused every write
    reader.client("dynamodb").query(
        TableName=outputs.table_name, KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "Store"}, ExpressionAttributeValues={":s": {"S": PROBE}},
    )  # fmt: skip
    assert read_only_reason(reader_name) == "it has only read grants"
    assert writes_not_denied(reader) == []

    # a role named read-only that was granted a write is caught, write by write
    assert read_only_reason(leaky_name) == "its name says read-only"
    caught = writes_not_denied(leaky)
    assert caught == [f"dynamodb:PutItem: allowed (on {outputs.table_name})"], caught
