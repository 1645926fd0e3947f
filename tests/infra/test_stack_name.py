"""`-c stack_name=NAME`: a second copy of InventoryStack under another name (a rehearsal).

`inventory deploy --stack-name` deploys one beside InventoryStack, in the same account. Names
that are fixed in the template (the alarms, the operations dashboard) are then its own, so that
the copy never overwrites InventoryStack's, nor deletes them when it is destroyed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import monitoring, variants
from tests.infra.stacks import run_app

pytestmark = pytest.mark.infra

COPY = "InventoryRehearsal"


def test_a_copy_under_another_name_has_alarms_and_a_dashboard_of_its_own(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(tmp_path, infra_dir, {**cdk_context, variants.STACK_NAME_CONTEXT_KEY: COPY})
    assert result.returncode == 0, f"synth failed:\n{result.stdout}\n{result.stderr}"

    assert COPY in json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    resources = json.loads((tmp_path / f"{COPY}.template.json").read_text())["Resources"]
    alarms = [
        r["Properties"]["AlarmName"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert alarms and all(name.startswith(f"{COPY}-") for name in alarms)
    assert not any(name.startswith(monitoring.ALARM_PREFIX) for name in alarms)
    (dashboard,) = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert dashboard["Properties"]["DashboardName"] == f"{COPY}-Operations"
    # The ops topic accepts the copy's alarms: its policy names their prefix.
    policies = json.dumps([r for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"])
    assert f":alarm:{COPY}-*" in policies


def test_a_name_cloudformation_refuses_is_refused_at_synth(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(
        tmp_path, infra_dir, {**cdk_context, variants.STACK_NAME_CONTEXT_KEY: "no_underscores"}
    )

    assert result.returncode != 0
    assert "'no_underscores' is not a stack name" in result.stderr
