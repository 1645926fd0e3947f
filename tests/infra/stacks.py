"""The stack as the tests build it: in process (seconds), or as `cdk synth` runs infra/app.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra import variants
from infra.inventory_stack import InventoryStack

NAG_REPORT = "validation-report.json"
NAG_PLUGIN = "AwsSolutions"


def build(outdir: Path, context: dict[str, Any], variant: str | None = None) -> InventoryStack:
    """A variant's stack, named as infra/app.py names it; None is the app without `-c variant`."""
    app = cdk.App(context=context, outdir=str(outdir))
    if variant is None:
        return InventoryStack(app, variants.stack_name())
    return InventoryStack(app, variants.stack_name(variant), variant=variant)


def run_app(
    outdir: Path, infra_dir: Path, context: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Run infra/app.py the way `cdk synth` does: its own process, this context, an outdir."""
    environment = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    return subprocess.run(
        [sys.executable, str(infra_dir / "app.py")],
        cwd=outdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def nag_report(outdir: Path) -> dict[str, Any]:
    """The AwsSolutions part of the validation report a synth wrote to `outdir`."""
    report = json.loads((outdir / NAG_REPORT).read_text())
    (found,) = [r for r in report["pluginReports"] if r["pluginName"] == NAG_PLUGIN]
    return dict(found)
