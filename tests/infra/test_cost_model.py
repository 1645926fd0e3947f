"""The cost model's fixed lines and limits are the stack's: alarms, dashboards, keys, tracing,
reserved concurrency, the tables' keys and indexes (loadtests/cost.py prices them)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from inventory import config
from loadtests.cost import ALARMS, StackFixed

pytestmark = pytest.mark.infra


def resources(template: Template, kind: str) -> list[Any]:
    return list(template.find_resources(kind).values())


def test_the_fixed_lines_count_what_the_stack_creates(template: Template) -> None:
    fixed = StackFixed()

    assert len(resources(template, "AWS::CloudWatch::Alarm")) == ALARMS == fixed.alarms
    assert len(resources(template, "AWS::CloudWatch::Dashboard")) == fixed.dashboards
    assert len(resources(template, "AWS::KMS::Key")) == fixed.kms_keys


def test_every_function_is_traced_and_none_reserves_concurrency(template: Template) -> None:
    functions = [f["Properties"] for f in resources(template, "AWS::Lambda::Function")]
    ours = [f for f in functions if f.get("Handler", "").endswith(".lambda_handler")]

    assert ours and all(f["TracingConfig"] == {"Mode": "Active"} for f in ours)
    # project_load compares with the account's pool: no function has a reserved share
    assert not any("ReservedConcurrentExecutions" in f for f in functions)


def test_a_stores_rows_and_out_of_stock_entries_share_a_partition_key(template: Template) -> None:
    (inventory,) = [
        t["Properties"]
        for t in resources(template, "AWS::DynamoDB::Table")
        if "StreamSpecification" in t["Properties"]
    ]

    assert inventory["KeySchema"][0] == {"AttributeName": config.ATTR_STORE, "KeyType": "HASH"}
    (index,) = inventory["GlobalSecondaryIndexes"]
    assert index["KeySchema"][0]["AttributeName"] == config.ATTR_OUT_OF_STOCK_STORE
    assert index["Projection"] == {"ProjectionType": "ALL"}  # index writes: whole items
