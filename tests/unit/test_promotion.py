"""Promotion: the gate, the deploy's configuration, credential errors, smoke and destroy pieces.

No network: the deploy and the gate's checks are replaced where a test would reach them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from harness import deploy, destroy, env, gate, identity, smoke, stack
from harness.cli import main
from infra import variants
from tests.support.offline import set_offline_aws

pytestmark = pytest.mark.unit

ENDPOINT = "http://127.0.0.1:4999"


@pytest.fixture
def on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    set_offline_aws(monkeypatch, AWS_REGION="us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.fixture
def on_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    set_offline_aws(monkeypatch, AWS_REGION="us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", ENDPOINT)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", ENDPOINT)


# --- the gate --------------------------------------------------------------------------------


def test_the_gate_is_lint_unit_property_infra_cheapest_first() -> None:
    assert gate.NAMES == ("lint", "unit", "property", "infra")
    lint = [" ".join(argv[1:]) for argv in gate.CHECKS[0].argv()]
    assert lint == ["-m ruff check .", "-m ruff format --check .", "-m mypy"]
    by_name = {check.name: check for check in gate.CHECKS}
    assert by_name["property"].environment == {"HYPOTHESIS_PROFILE": "ci"}
    for name in ("unit", "property", "infra"):
        (command,) = by_name[name].commands
        assert command[:2] == ("-m", "pytest")
        assert command[command.index(name) - 1 :][:2] == ("-m", name)  # pytest -m <marker>
    assert by_name["property"].commands[0][-1] == "property_tests"
    assert all(argv[0] == sys.executable for c in gate.CHECKS for argv in c.argv())


def test_the_gate_stops_at_the_first_failing_check_and_keeps_its_tail(tmp_path: Path) -> None:
    passing = gate.Check("first", "the first", (("-c", "print('fine')"),))
    failing = gate.Check(
        "second",
        "the second",
        (("-c", "print('ok')"), ("-c", "import sys; print('\\n'.join(map(str, range(99)))); "
                                       "sys.exit(3)")),
    )  # fmt: skip
    never = gate.Check("third", "the third", (("-c", "raise SystemExit(1)"),))
    started: list[str] = []

    result = gate.run(
        [passing, failing, never], tmp_path, on_start=lambda c: started.append(c.name)
    )

    assert started == ["first", "second"]
    assert not result.passed
    assert result.failed is not None and result.failed.check is failing
    assert result.failed.command.startswith("python -c import sys")
    assert result.failed.tail.splitlines() == [str(n) for n in range(99 - gate.TAIL_LINES, 99)]


def test_a_check_runs_in_the_root_with_its_environment(tmp_path: Path) -> None:
    check = gate.Check(
        "env",
        "env",
        (("-c", "import os, sys; sys.exit(os.environ['X'] != 'y' or os.getcwd() != sys.argv[1])",
          str(tmp_path.resolve())),),
        {"X": "y"},
    )  # fmt: skip

    assert gate.run([check], tmp_path.resolve()).passed


def test_a_failing_gate_deploys_nothing_and_says_which_check(
    monkeypatch: pytest.MonkeyPatch, on_emulator: None, capsys: pytest.CaptureFixture[str]
) -> None:
    property_check = next(c for c in gate.CHECKS if c.name == "property")
    outcome = gate.Outcome(property_check, False, 1.0, "python -m pytest ...", "1 failed")
    monkeypatch.setattr(
        identity, "identify", lambda: identity.Identity("1", "arn", "us-east-1", ENDPOINT)
    )
    monkeypatch.setattr(gate, "run", lambda **kw: gate.Result([outcome]))

    def deployed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gate failed: nothing may be deployed")

    monkeypatch.setattr(stack, "deploy", deployed)

    code = main(["deploy", "--yes"])

    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "The gate refused the deploy" in err and "property tests" in err
    assert "Nothing was deployed" in err and "1 failed" in err


def test_without_a_terminal_or_yes_nothing_is_deployed(
    monkeypatch: pytest.MonkeyPatch, on_emulator: None, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        identity, "identify", lambda: identity.Identity("1", "arn", "us-east-1", ENDPOINT)
    )
    monkeypatch.setattr(deploy, "run_gate", lambda console: True)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setattr(stack, "deploy", lambda **kw: pytest.fail("deployed without asking"))

    assert main(["deploy"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "About to deploy" in err and ENDPOINT in err and "Pass --yes" in err


# --- where a deploy goes, and how ------------------------------------------------------------


def test_with_an_endpoint_the_deploy_uses_cdklocal_and_the_local_parameters(
    on_emulator: None,
) -> None:
    deployment = stack.Deployment()

    assert (deployment.tool, deployment.stack) == ("cdklocal", "InventoryStack")
    assert deployment.parameters() == {"PublishDashboard": "false", "AuditUploads": "false"}
    contexts = deployment.contexts()
    assert f"{variants.SYNTHESIZER_CONTEXT_KEY}={variants.CLI_CREDENTIALS}" in contexts
    assert not any(c.startswith(f"{variants.STACK_NAME_CONTEXT_KEY}=") for c in contexts)
    assert deployment.assembly == "../cdk.out/local-4999/ours"


def test_without_an_endpoint_the_deploy_uses_cdk_and_the_real_parameters(on_aws: None) -> None:
    deployment = stack.Deployment(name="InventoryRehearsal")

    assert (deployment.tool, deployment.stack) == ("cdk", "InventoryRehearsal")
    assert deployment.parameters() == {"PublishDashboard": "true", "AuditUploads": "true"}
    assert deployment.contexts() == ["variant=ours", "stack_name=InventoryRehearsal"]
    assert deployment.assembly == "../cdk.out/aws/ours-InventoryRehearsal"


def test_the_baseline_has_no_parameters(on_aws: None) -> None:
    assert stack.Deployment(variants.BASELINE).parameters() == {}


@pytest.mark.parametrize("name", ["1abc", "with space", "under_score", "a" * 129, "é"])
def test_a_stack_name_cloudformation_refuses_is_refused_first(name: str) -> None:
    with pytest.raises(stack.DeployError, match="is not a stack name"):
        stack.stack_name(name=name)


def test_a_cdk_failure_for_a_missing_bootstrap_says_to_bootstrap() -> None:
    said = stack._cli_failure(
        "cdk", ["deploy", "InventoryStack"], "SSM parameter /cdk-bootstrap/hnb659fds/version not"
    )

    assert "cdk bootstrap aws://" in said and "not bootstrapped" in said


# --- credentials: one paragraph, never a traceback -------------------------------------------


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetCallerIdentity")


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (NoCredentialsError(), "No AWS credentials were found"),
        (NoRegionError(), "No AWS region is configured"),
        (_client_error("ExpiredToken"), "have expired (ExpiredToken)"),
        (_client_error("ExpiredTokenException"), "have expired"),
        (_client_error("InvalidClientTokenId"), "AWS refused your credentials"),
    ],
)
def test_credential_problems_are_explained(error: Exception, says: str) -> None:
    found = identity.explain(error)

    assert found is not None and says in str(found)


def test_an_endpoint_that_does_not_answer_is_explained(on_emulator: None) -> None:
    found = identity.explain(EndpointConnectionError(endpoint_url=ENDPOINT))

    assert found is not None and f"Nothing answers at {ENDPOINT}" in str(found)


def test_other_errors_are_not_taken_for_credential_problems() -> None:
    assert identity.explain(_client_error("ThrottlingException")) is None
    assert identity.explain(KeyError("x")) is None


def test_a_command_whose_credentials_expired_prints_a_paragraph(
    monkeypatch: pytest.MonkeyPatch, on_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    def expired(*args: Any, **kwargs: Any) -> None:
        raise _client_error("ExpiredToken")

    monkeypatch.setattr(identity, "identify", expired)

    assert main(["destroy", "--yes"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps it at 80 columns
    assert "have expired" in err and "aws sso login" in err and "Traceback" not in err


# --- smoke and destroy pieces ----------------------------------------------------------------


def test_a_smoke_run_names_everything_it_makes_from_one_id() -> None:
    names = smoke.Names.new("abc123")

    assert names.store == "smoke-abc123" and names.key == "smoke/smoke-abc123.csv"
    assert names.queue == "inventory-smoke-abc123" and names.email == "smoke-abc123@example.com"
    assert names.csv().decode().splitlines() == [
        "store,item,count",
        "smoke-abc123,smoke-empty,0",
        "smoke-abc123,smoke-stocked,3",
    ]


def test_a_step_that_fails_is_timed_reported_first_and_stops_the_run() -> None:
    report = smoke.Report("S")

    with report.step("one") as step:
        step.detail = "fine"
    with pytest.raises(smoke.StepFailed), report.step("two", "could not do two"):
        raise KeyError("x")
    with pytest.raises(smoke.StepFailed), report.step("three"):
        raise smoke.StepFailed("later")

    assert [s.name for s in report.steps] == ["one", "two", "three"]
    assert report.failure is report.steps[1]
    assert report.failure.detail == "could not do two: KeyError: 'x'"
    assert not report.passed and all(s.ms >= 0 for s in report.steps)


def test_the_smoke_points_at_trace_for_the_default_stack_only(
    on_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert smoke._trace_hint("k", "InventoryStack") == "see `inventory trace k --aws`"
    monkeypatch.setenv("AWS_ENDPOINT_URL", ENDPOINT)
    assert smoke._trace_hint("k", "InventoryStack") == "see `inventory trace k`"
    assert "functions' logs" in smoke._trace_hint("k", "Other")


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        ("AWS::S3::Bucket", "aws s3 rb s3://b --force --region r"),
        ("AWS::DynamoDB::Table", "aws dynamodb delete-table --table-name b --region r"),
        ("AWS::Custom::Thing", "# AWS::Custom::Thing b: delete it in the console"),
    ],
)
def test_retained_resources_come_with_the_command_that_deletes_them(
    kind: str, command: str
) -> None:
    assert destroy.Retained(kind, "L", "b").delete_command("r", None) == command


def test_on_the_emulator_the_commands_name_its_endpoint() -> None:
    found = destroy.Retained("AWS::DynamoDB::Table", "L", "t").delete_command("r", ENDPOINT)

    assert found.endswith(f"--region r --endpoint-url {ENDPOINT}")


def test_the_configured_target_is_left_alone_without_an_endpoint(on_aws: None) -> None:
    assert env.use_configured_target() is None
    assert "AWS_ENDPOINT_URL" not in os.environ


class _NoToolkit:
    """A CloudFormation client of an account that was never bootstrapped."""

    def describe_stacks(self, StackName: str) -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does "
                       "not exist"}},
            "DescribeStacks",
        )  # fmt: skip


def test_an_account_that_is_not_bootstrapped_is_told_to_bootstrap_before_the_gate(
    monkeypatch: pytest.MonkeyPatch, on_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        identity, "identify", lambda: identity.Identity("123", "arn", "eu-west-1", None)
    )
    monkeypatch.setattr(env, "client", lambda service: _NoToolkit())
    monkeypatch.setattr(deploy, "run_gate", lambda console: pytest.fail("the gate ran"))

    assert main(["deploy", "--yes"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "not bootstrapped" in err and "cdk bootstrap aws://123/eu-west-1" in err
