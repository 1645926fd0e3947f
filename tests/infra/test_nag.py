"""cdk-nag (AwsSolutions): the real app synthesizes clean, and nag does fail a bad stack.

cdk-nag v3 is a CDK validation plugin. On findings nobody acknowledged, `app.synth()` raises
("Validation failed") after writing `validation-report.json` to the output directory; the
report also lists each acknowledged finding with its reason.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from infra import nag
from tests.infra.stacks import nag_report, run_app

pytestmark = pytest.mark.infra


@dataclass(frozen=True)
class Synth:
    result: subprocess.CompletedProcess[str]
    outdir: Path


def acknowledgement_name(acknowledgement: tuple[str, str | None, str]) -> str:
    rule, finding, _ = acknowledgement
    return nag.acknowledgement_id(rule, finding)


@pytest.fixture(scope="module")
def app_synth(
    tmp_path_factory: pytest.TempPathFactory, infra_dir: Path, cdk_context: dict[str, Any]
) -> Synth:
    """Run infra/app.py the way `cdk synth` does: its own process, cdk.json's context, an outdir."""
    outdir = tmp_path_factory.mktemp("app.out")
    return Synth(run_app(outdir, infra_dir, cdk_context), outdir)


def test_the_real_app_synthesizes_with_no_unacknowledged_findings(app_synth: Synth) -> None:
    result = app_synth.result
    assert result.returncode == 0, f"synth failed:\n{result.stdout}\n{result.stderr}"
    report = nag_report(app_synth.outdir)
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    assert (app_synth.outdir / "InventoryStack.template.json").is_file()


@pytest.mark.parametrize("acknowledgement", nag.STACK_ACKNOWLEDGEMENTS, ids=acknowledgement_name)
def test_every_acknowledgement_gives_a_real_reason(
    acknowledgement: tuple[str, str | None, str],
) -> None:
    rule, finding, reason = acknowledgement
    assert rule.startswith("AwsSolutions-")
    assert finding is None or finding.strip()
    assert reason == reason.strip()
    # Long enough to say why, short enough to read in a report.
    assert 40 <= len(reason) <= 400, f"{len(reason)} characters"
    assert len(reason.split()) >= 8


@pytest.mark.parametrize("acknowledgement", nag.STACK_ACKNOWLEDGEMENTS, ids=acknowledgement_name)
def test_every_acknowledgement_matches_a_finding(
    app_synth: Synth, acknowledgement: tuple[str, str | None, str]
) -> None:
    # A stack-wide acknowledgement that matches nothing would silently pass a future finding.
    suppressed = {v["acknowledgedId"] for v in nag_report(app_synth.outdir)["suppressedViolations"]}
    assert acknowledgement_name(acknowledgement) in suppressed


def test_acknowledgements_are_unique() -> None:
    names = [acknowledgement_name(a) for a in nag.STACK_ACKNOWLEDGEMENTS]
    assert len(names) == len(set(names))


# --- nag can fail: a stack that breaks its rules ---

BAD_STACK = "Noncompliant"
# The bare bucket has no access logs (S1) and no TLS-only policy (S10).
EXPECTED_FINDINGS = frozenset({"AwsSolutions-S1", "AwsSolutions-S10"})


def noncompliant_app(outdir: Path, acknowledge: frozenset[str] = frozenset()) -> cdk.App:
    """An app with one bare bucket (no encryption settings, logging or policy) and nag on."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, BAD_STACK)
    s3.CfnBucket(stack, "Bare")
    for rule in sorted(acknowledge):
        Validations.of(stack).acknowledge(
            Acknowledgment(id=nag.acknowledgement_id(rule, None), reason="a test of acknowledging")
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def test_nag_fails_the_synth_of_a_stack_that_breaks_its_rules(tmp_path: Path) -> None:
    app = noncompliant_app(tmp_path)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = nag_report(tmp_path)
    assert report["conclusion"] == "failure"
    findings = {v["ruleName"]: v for v in report["violations"]}
    assert set(findings) >= EXPECTED_FINDINGS
    paths = {c["constructPath"] for c in findings["AwsSolutions-S10"]["violatingConstructs"]}
    assert paths == {f"{BAD_STACK}/Bare"}


def test_acknowledging_those_findings_lets_the_same_stack_synthesize(tmp_path: Path) -> None:
    noncompliant_app(tmp_path, acknowledge=EXPECTED_FINDINGS).synth()
    report = nag_report(tmp_path)
    assert report["conclusion"] == "success"
