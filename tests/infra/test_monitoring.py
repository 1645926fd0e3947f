"""Observability (ours only): alarms to the ops topic, the operations dashboard, tracing, the
uploads' CloudTrail trail and NoStock's delivery status logging; the baseline has none of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra import monitoring, variants
from infra.outputs import StackOutputs
from inventory import config
from tests.infra.queries import (
    BASELINE_CHECKER,
    BASELINE_LOADER,
    OUR_CHECKER,
    OUR_LOADER,
    OUR_QUERY,
    TRACING_ACTIONS,
    access_logs_bucket_id,
    as_list,
    event_source,
    function_id,
    function_props,
    invoke_config,
    is_tracing,
    on_failure_queue_id,
    only_resource,
    resolve,
    role_statements,
    topic_id,
    uploads_bucket_id,
)
from tests.infra.stacks import build

pytestmark = pytest.mark.infra

Dimensions = Callable[[Template], list[dict[str, Any]]]
TLS_ONLY = {
    "Action": "sns:Publish",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    "Effect": "Deny",
    "Principal": "*",
}


def function_dimension(handler: str) -> Dimensions:
    return lambda t: [{"Name": "FunctionName", "Value": {"Ref": function_id(t, handler)}}]


def queue_dimension(find_queue: Callable[[Template], str]) -> Dimensions:
    return lambda t: [{"Name": "QueueName", "Value": {"Fn::GetAtt": [find_queue(t), "QueueName"]}}]


def loader_service(template: Template) -> list[dict[str, Any]]:
    return [{"Name": "service", "Value": config.LOAD_SERVICE}]


@dataclass(frozen=True)
class Expected:
    """One alarm as the issue asks for it: > threshold over one period, missing data is fine."""

    name: str
    namespace: str
    metric: str
    dimensions: Dimensions
    statistic: str  # Sum, Maximum, or a percentile (ExtendedStatistic)
    threshold: float
    period: int = 300


FUNCTIONS = (
    (monitoring.LOADER, OUR_LOADER, 5000),
    (monitoring.CHECKER, OUR_CHECKER, 2000),
    (monitoring.QUERY, OUR_QUERY, 1000),
)
QUEUES: dict[str, Callable[[Template], str]] = {
    monitoring.LOADER_FAILURES: lambda t: on_failure_queue_id(t, invoke_config(t, OUR_LOADER)),
    monitoring.CHECKER_FAILURES: lambda t: on_failure_queue_id(t, event_source(t, OUR_CHECKER)),
}
ALARMS = [
    *(
        Expected(monitoring.alarm_name(name, condition), "AWS/Lambda", metric,
                 function_dimension(handler), statistic, threshold)
        for name, handler, p99_ms in FUNCTIONS
        for condition, metric, statistic, threshold in (
            (monitoring.ERRORS, "Errors", "Sum", 0),
            (monitoring.THROTTLES, "Throttles", "Sum", 0),
            (monitoring.DURATION_P99, "Duration", "p99", p99_ms),
        )
    ),
    # Half the mapping's 60 s record age: records older than that are never delivered.
    Expected(monitoring.alarm_name(monitoring.CHECKER, monitoring.ITERATOR_AGE), "AWS/Lambda",
             "IteratorAge", function_dimension(OUR_CHECKER), "Maximum", 30_000, period=60),
    *(
        Expected(monitoring.alarm_name(name, monitoring.QUEUE_DEPTH), "AWS/SQS",
                 "ApproximateNumberOfMessagesVisible", queue_dimension(queue), "Maximum", 0)
        for name, queue in QUEUES.items()
    ),
    Expected(monitoring.alarm_name(monitoring.LOADER, monitoring.FILES_REJECTED),
             config.METRICS_NAMESPACE, "FilesRejected", loader_service, "Sum", 0),
    Expected(monitoring.alarm_name(monitoring.LOADER, monitoring.INGEST_LATENCY_P99),
             config.METRICS_NAMESPACE, "IngestLatency", loader_service, "p99", 1000),
]  # fmt: skip


def ops_topic_id(template: Template) -> str:
    return only_resource(template, "AWS::SNS::Topic", {"DisplayName": "InventoryOps"})[0]


def alarm_props(template: Template, name: str) -> dict[str, Any]:
    return only_resource(template, "AWS::CloudWatch::Alarm", {"AlarmName": name})[1]


def trail(template: Template) -> tuple[str, dict[str, Any]]:
    logical_id, _ = only_resource(template, "AWS::CloudTrail::Trail")
    return logical_id, dict(template.find_resources("AWS::CloudTrail::Trail")[logical_id])


def dashboard_body(template: Template) -> str:
    (body,) = [
        resolve(d["Properties"]["DashboardBody"])
        for d in template.find_resources("AWS::CloudWatch::Dashboard").values()
    ]
    return body


# --- alarms ---


@pytest.mark.parametrize("expected", ALARMS, ids=lambda e: e.name)
def test_each_alarm_watches_its_metric_and_notifies_the_ops_topic(
    template: Template, expected: Expected
) -> None:
    props = alarm_props(template, expected.name)
    statistic = "ExtendedStatistic" if expected.statistic.startswith("p") else "Statistic"
    assert {k: props.get(k) for k in ("Namespace", "MetricName", statistic, "Period")} == {
        "Namespace": expected.namespace,
        "MetricName": expected.metric,
        statistic: expected.statistic,
        "Period": expected.period,
    }
    assert props["Dimensions"] == expected.dimensions(template)
    assert props["Threshold"] == expected.threshold
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["EvaluationPeriods"] == 1
    assert props["TreatMissingData"] == "notBreaching"
    ops = [{"Ref": ops_topic_id(template)}]
    assert props["AlarmActions"] == ops and props["OKActions"] == ops
    # It says what happened and what to do (a sentence or two, not just the metric's name).
    assert len(props["AlarmDescription"].split()) >= 12


def test_there_are_no_other_alarms(template: Template) -> None:
    names = [
        a["Properties"]["AlarmName"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    ]
    assert sorted(names) == sorted(e.name for e in ALARMS)
    assert all(name.startswith(f"{monitoring.ALARM_PREFIX}-") for name in names)


def test_the_thresholds_are_the_named_constants() -> None:
    assert monitoring.LOADER_P99.to_milliseconds() == 5000
    assert monitoring.CHECKER_P99.to_milliseconds() == 2000
    assert monitoring.QUERY_P99.to_milliseconds() == 1000
    assert monitoring.INGEST_LATENCY_LIMIT.to_milliseconds() == 1000
    assert monitoring.NAMESPACE == config.METRICS_NAMESPACE == "InventoryPipeline"


def test_ops_topic_is_tls_only_and_encrypted_with_a_rotated_key_cloudwatch_may_use(
    template: Template,
) -> None:
    topic = ops_topic_id(template)
    props = template.find_resources("AWS::SNS::Topic")[topic]["Properties"]
    key_id = props["KmsMasterKeyId"]["Fn::GetAtt"][0]  # not alias/aws/sns: see ops_topic()
    key = template.find_resources("AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    policy = only_resource(template, "AWS::SNS::TopicPolicy", {"Topics": [{"Ref": topic}]})[1]
    statements = policy["PolicyDocument"]["Statement"]
    assert any(TLS_ONLY.items() <= s.items() for s in statements)
    alarms = f"arn:<Partition>:cloudwatch:<Region>:<AccountId>:alarm:{monitoring.ALARM_PREFIX}-*"
    for statement, actions in (
        (next(s for s in statements if s["Effect"] == "Allow"), "sns:Publish"),
        (key["KeyPolicy"]["Statement"][-1], ["kms:Decrypt", "kms:GenerateDataKey*"]),
    ):
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Action"] == actions
        assert resolve(statement["Condition"]["ArnLike"]["aws:SourceArn"]) == alarms
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }


# --- the operations dashboard ---


def test_the_operations_dashboard_shows_every_kpi(template: Template) -> None:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "InventoryOperations"
    body = dashboard_body(template)
    for metric in (
        "FilesLoaded",
        "FilesRejected",
        "RowsWritten",
        "RowsRejected",
        "RowsStale",
        "NoStockAlerts",
        "AlertsNotSent",
        "IngestLatency",
        "Duration",
        "Errors",
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert f'"{metric}"' in body, metric
    assert all(f'"stat":"{p}"' in body for p in ("p50", "p95", "p99"))
    assert f'"{config.CHECK_SERVICE}"' in body and f'"{config.LOAD_SERVICE}"' in body


def test_the_dashboard_has_an_alarm_status_widget_with_every_alarm(template: Template) -> None:
    body = json.loads(
        dashboard_body(template).replace("<", "").replace(">", "")  # refs as plain names
    )
    (status,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(ALARMS)


# --- tracing ---


@pytest.mark.parametrize("handler", [OUR_LOADER, OUR_CHECKER, OUR_QUERY])
def test_every_function_is_traced_and_may_send_its_traces(template: Template, handler: str) -> None:
    assert function_props(template, handler)["TracingConfig"] == {"Mode": "Active"}
    (tracing,) = [s for s in role_statements(template, handler) if is_tracing(s)]
    # Beside X-Ray's, only actions that cannot be scoped either (the stream's ListStreams).
    assert set(as_list(tracing["Action"])) - TRACING_ACTIONS <= {"dynamodb:ListStreams"}
    others = [s for s in role_statements(template, handler) if not is_tracing(s)]
    assert not {a for s in others for a in as_list(s["Action"])} & TRACING_ACTIONS


@pytest.mark.parametrize("handler", [BASELINE_LOADER, BASELINE_CHECKER])
def test_the_baseline_functions_are_traced_too(baseline: Template, handler: str) -> None:
    assert function_props(baseline, handler)["TracingConfig"] == {"Mode": "Active"}


# --- NoStock's delivery status logging ---


def test_no_stock_logs_every_delivery_to_queues_functions_and_webhooks(template: Template) -> None:
    props = template.find_resources("AWS::SNS::Topic")[topic_id(template)]["Properties"]
    logging = {c["Protocol"]: c for c in props["DeliveryStatusLogging"]}
    assert set(logging) == {"sqs", "lambda", "http/s"}
    roles = set()
    for config_ in logging.values():
        assert config_["SuccessFeedbackSampleRate"] == "100"
        roles |= {
            json.dumps(config_["SuccessFeedbackRoleArn"]),
            json.dumps(config_["FailureFeedbackRoleArn"]),
        }
    (role,) = roles
    role_id = json.loads(role)["Fn::GetAtt"][0]
    trust = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert [s["Principal"] for s in trust["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "sns.amazonaws.com"}
    ]


def test_sns_may_write_only_to_the_topic_s_own_delivery_log_groups(template: Template) -> None:
    topic = topic_id(template)
    group = f"sns/<Region>/<AccountId>/<{topic}.TopicName>"
    (policy,) = [
        p["Properties"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "DeliveryLogging" in json.dumps(p["Properties"]["Roles"])
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(as_list(statement["Action"])) == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:PutMetricFilter",
        "logs:PutRetentionPolicy",
    ]
    assert resolve(statement["Resource"]) == (
        f"arn:<Partition>:logs:<Region>:<AccountId>:log-group:{group}*"
    )
    names = {
        resolve(g["Properties"]["LogGroupName"]): g["Properties"]["RetentionInDays"]
        for g in template.find_resources("AWS::Logs::LogGroup").values()
        if "LogGroupName" in g["Properties"]
    }
    assert {n: r for n, r in names.items() if n.startswith("sns/")} == {
        group: 30,
        f"{group}/Failure": 30,
    }


# --- the uploads' trail ---


def test_the_trail_records_every_write_to_the_upload_bucket(template: Template) -> None:
    _, resource = trail(template)
    props = resource["Properties"]
    assert props["EnableLogFileValidation"] is True
    assert props["IsMultiRegionTrail"] is False
    assert props["EventSelectors"] == [
        {
            "DataResources": [
                {
                    "Type": "AWS::S3::Object",
                    "Values": [
                        {
                            "Fn::Join": [
                                "",
                                [{"Fn::GetAtt": [uploads_bucket_id(template), "Arn"]}, "/"],
                            ]
                        }
                    ],
                }
            ],
            "IncludeManagementEvents": False,
            "ReadWriteType": "WriteOnly",
        }
    ]


def test_the_trail_logs_to_its_own_retained_tls_only_encrypted_bucket(template: Template) -> None:
    bucket = trail(template)[1]["Properties"]["S3BucketName"]["Ref"]
    assert bucket not in (uploads_bucket_id(template), access_logs_bucket_id(template))
    found = template.find_resources("AWS::S3::Bucket")[bucket]
    assert found["DeletionPolicy"] == "Retain"
    assert "BucketEncryption" in found["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy)
    assert any(s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"} for s in policy)


def test_the_trail_is_switched_by_the_audit_uploads_parameter(template: Template) -> None:
    # The harness deploys with AuditUploads=false: MiniStack has no AWS::CloudTrail::Trail.
    _, resource = trail(template)
    parameter = template.to_json()["Parameters"][variants.AUDIT_UPLOADS_PARAMETER]
    assert parameter["Default"] == "true" and parameter["AllowedValues"] == ["true", "false"]
    condition = template.to_json()["Conditions"][resource["Condition"]]
    assert condition == {"Fn::Equals": [{"Ref": variants.AUDIT_UPLOADS_PARAMETER}, "true"]}


def test_audit_false_leaves_the_trail_out(tmp_path: Path, cdk_context: dict[str, Any]) -> None:
    context = {**cdk_context, variants.AUDIT_CONTEXT_KEY: "false"}
    without = Template.from_stack(build(tmp_path, context))
    without.resource_count_is("AWS::CloudTrail::Trail", 0)
    assert len(without.find_resources("AWS::S3::Bucket")) == 3  # no trail log bucket either
    assert variants.AUDIT_UPLOADS_PARAMETER not in without.to_json()["Parameters"]
    # the rest of the monitoring stays
    assert len(without.find_resources("AWS::CloudWatch::Alarm")) == len(ALARMS)


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), (True, True), ("true", True), ("false", False), (False, False), ("off", False)],
)
def test_the_audit_context_is_on_unless_it_says_false(value: object, enabled: bool) -> None:
    assert variants.audit_enabled(value) is enabled


def test_an_unreadable_audit_context_is_refused() -> None:
    with pytest.raises(ValueError, match="audit: 'maybe'"):
        variants.audit_enabled("maybe")


# --- outputs ---


def test_the_outputs_name_the_ops_topic_and_the_dashboard(template: Template) -> None:
    template.has_output("OpsTopicArn", {"Value": {"Ref": ops_topic_id(template)}})
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard")
    template.has_output("OperationsDashboardName", {"Value": {"Ref": dashboard}})


def test_monitoring_outputs_are_optional() -> None:
    assert {"OpsTopicArn", "OperationsDashboardName"} <= set(StackOutputs.names())
    assert not {"OpsTopicArn", "OperationsDashboardName"} & set(StackOutputs.required_names())


# --- the baseline: none of it ---


def test_the_baseline_has_no_monitoring_audit_or_delivery_logging(baseline: Template) -> None:
    for resource_type in (
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudTrail::Trail",
        "AWS::KMS::Key",
    ):
        baseline.resource_count_is(resource_type, 0)
    baseline.resource_count_is("AWS::SNS::Topic", 1)
    assert "DeliveryStatusLogging" not in only_resource(baseline, "AWS::SNS::Topic")[1]
    assert variants.AUDIT_UPLOADS_PARAMETER not in baseline.to_json().get("Parameters", {})
    assert not {"OpsTopicArn", "OperationsDashboardName"} & set(baseline.find_outputs("*"))
