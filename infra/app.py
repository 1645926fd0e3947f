#!/usr/bin/env python3
"""The CDK app: `cdk deploy` (AWS) and `cdklocal deploy` (emulator) synthesize this."""

from __future__ import annotations

import sys
from pathlib import Path

# The CDK CLI runs this file directly; make the project and the Lambda packages importable.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import aws_cdk as cdk  # noqa: E402

from infra import nag  # noqa: E402
from infra.inventory_stack import InventoryStack  # noqa: E402

STACK_NAME = "InventoryStack"

app = cdk.App()
stack = InventoryStack(app, STACK_NAME)
nag.check(app, stack)
app.synth()
