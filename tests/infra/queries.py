"""Find resources in a synthesized template by what they are, never by their logical ids."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from aws_cdk.assertions import Template

from inventory import config

# The handlers each variant deploys (the function code is what tells the functions apart).
OUR_LOADER = "load_inventory.handler.lambda_handler"
OUR_QUERY = "query_api.handler.lambda_handler"  # the dashboard's API (ours only)
OUR_CHECKER = "check_stock.handler.lambda_handler"
BASELINE_LOADER = "baseline.load_inventory.lambda_handler"
BASELINE_CHECKER = "baseline.check_stock.lambda_handler"

Statement = dict[str, Any]


def only_resource(
    template: Template, resource_type: str, props: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the one resource of this type (with these properties)."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {list(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, dict(resource.get("Properties", {}))


def only_id(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> str:
    return only_resource(template, resource_type, props)[0]


def resolve(value: Any) -> str:
    """A template string with pseudo parameters named: `{"Ref": "AWS::Region"}` -> `<Region>`."""
    if isinstance(value, str):
        return value
    if "Ref" in value and str(value["Ref"]).startswith("AWS::"):
        return f"<{value['Ref'].removeprefix('AWS::')}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    separator, parts = value["Fn::Join"]
    return str(separator).join(resolve(part) for part in parts)


# --- storage ---


def bucket_ids(template: Template) -> list[str]:
    return list(template.find_resources("AWS::S3::Bucket"))


def access_logs_bucket_id(template: Template) -> str:
    """The bucket the uploads bucket logs its requests to."""
    uploads = template.find_resources("AWS::S3::Bucket")[uploads_bucket_id(template)]
    return str(uploads["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"])


def uploads_bucket_id(template: Template) -> str:
    """The bucket S3 notifications are configured on (the other one only holds access logs)."""
    notifications = only_resource(template, "Custom::S3BucketNotifications")[1]
    return str(notifications["BucketName"]["Ref"])


def table_id(template: Template, partition_key: str, sort_key: str | None = None) -> str:
    """The one table keyed by exactly this partition (HASH) key and sort (RANGE) key, if any."""
    keys = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return only_id(template, "AWS::DynamoDB::Table", {"KeySchema": keys})


def inventory_table_id(template: Template) -> str:
    return table_id(template, config.ATTR_STORE, config.ATTR_ITEM)


def summaries_table_id(template: Template) -> str:
    """StoreSummaries: keyed by the store alone."""
    return table_id(template, config.ATTR_STORE)


def receipts_table_id(template: Template) -> str:
    return table_id(template, config.ATTR_OBJECT_KEY, config.ATTR_RECEIPT_ID)


def alerts_sent_table_id(template: Template) -> str:
    """AlertsSent: the table keyed by `id` (powertools idempotency's default key)."""
    return table_id(template, "id")


def stream_view(template: Template) -> str:
    """The view type of the one table that has a stream."""
    table = only_resource(template, "AWS::DynamoDB::Table", {"StreamSpecification": {}})[1]
    return str(table["StreamSpecification"]["StreamViewType"])


def topic_id(template: Template) -> str:
    """NoStock (ours also has the ops topic its alarms notify)."""
    return only_id(template, "AWS::SNS::Topic", {"DisplayName": "NoStock"})


# --- functions and their wiring ---


def handlers(template: Template) -> set[str]:
    """The handler of every function (CDK's own helper functions included)."""
    functions = template.find_resources("AWS::Lambda::Function").values()
    return {f["Properties"]["Handler"] for f in functions if "Handler" in f["Properties"]}


def function_id(template: Template, handler: str) -> str:
    return only_id(template, "AWS::Lambda::Function", {"Handler": handler})


def function_props(template: Template, handler: str) -> dict[str, Any]:
    return only_resource(template, "AWS::Lambda::Function", {"Handler": handler})[1]


def invoke_config(template: Template, handler: str) -> dict[str, Any]:
    """A function's asynchronous-invocation settings (S3 invokes the loader asynchronously)."""
    function = {"Ref": function_id(template, handler)}
    return only_resource(template, "AWS::Lambda::EventInvokeConfig", {"FunctionName": function})[1]


def event_source(template: Template, handler: str) -> dict[str, Any]:
    """A function's event source mapping (the checker's DynamoDB stream)."""
    function = {"Ref": function_id(template, handler)}
    return only_resource(template, "AWS::Lambda::EventSourceMapping", {"FunctionName": function})[1]


def on_failure_queue_id(template: Template, props: dict[str, Any]) -> str:
    """The SQS queue an on-failure destination names, checked to be a queue of this stack."""
    name, attribute = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert name in template.find_resources("AWS::SQS::Queue"), f"{name} is not an SQS queue"
    return str(name)


# --- permissions ---

# What active tracing adds to every function's role: sending its traces to X-Ray.
TRACING_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def execution_role_id(template: Template, handler: str) -> str:
    return str(function_props(template, handler)["Role"]["Fn::GetAtt"][0])


def role_statements(template: Template, handler: str) -> list[Statement]:
    """Every statement of every inline policy of the function's execution role."""
    role_id = execution_role_id(template, handler)
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    documents += [
        policy["Properties"]["PolicyDocument"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    return [statement for document in documents for statement in document["Statement"]]


def managed_policy_arns(template: Template, handler: str) -> list[Any]:
    role = template.find_resources("AWS::IAM::Role")[execution_role_id(template, handler)]
    return list(role["Properties"].get("ManagedPolicyArns", []))


def allows(statement: Statement, action: str) -> bool:
    """Whether an Allow statement covers this action, IAM wildcards included."""
    patterns = as_list(statement.get("Action", []))
    return statement["Effect"] == "Allow" and any(
        fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns
    )


def arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def granted(statements: list[Statement], action: str) -> list[Statement]:
    """The Allow statements that cover this action (minimizePolicies may merge statements)."""
    return [statement for statement in statements if allows(statement, action)]


def is_tracing(statement: Statement) -> bool:
    """The statement active tracing adds: X-Ray's two actions on every resource (minimizePolicies
    may merge other actions that cannot be scoped into it, such as dynamodb:ListStreams)."""
    return set(as_list(statement["Action"])) >= TRACING_ACTIONS and statement["Resource"] == "*"


def data_statements(template: Template, handler: str) -> list[Statement]:
    """The function's role statements but the one for tracing."""
    return [s for s in role_statements(template, handler) if not is_tracing(s)]
