#!/usr/bin/env python3
"""The CDK app: `cdk deploy` (AWS) and `cdklocal deploy` (emulator) synthesize this.

`-c variant=baseline` composes the same constructs with the lab-style functions instead of
ours, as InventoryBaselineStack (infra/variants.py); without it, InventoryStack with ours.
`-c stack_name=NAME` deploys it under another name (a rehearsal beside the usual stack).
`-c synthesizer=cli-credentials` deploys with the CLI's own credentials instead of the
bootstrap's roles: the harness deploys to the emulator so; AWS deploys keep the default.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CDK CLI runs this file directly; make the project and the Lambda packages importable.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import aws_cdk as cdk  # noqa: E402

from infra import nag, variants  # noqa: E402
from infra.inventory_stack import InventoryStack  # noqa: E402

app = cdk.App()
variant = str(app.node.try_get_context(variants.CONTEXT_KEY) or variants.DEFAULT_VARIANT)
try:
    stack_name = variants.check_stack_name(
        str(app.node.try_get_context(variants.STACK_NAME_CONTEXT_KEY) or "")
        or variants.stack_name(variant)
    )
except ValueError as exc:  # an unknown variant, or a name CloudFormation refuses
    sys.exit(f"error: {exc}")
synthesizer = str(
    app.node.try_get_context(variants.SYNTHESIZER_CONTEXT_KEY) or variants.DEFAULT_SYNTHESIZER
)
if synthesizer not in variants.SYNTHESIZERS:
    sys.exit(
        f"error: unknown synthesizer {synthesizer!r}: use one of {', '.join(variants.SYNTHESIZERS)}"
    )
stack = InventoryStack(
    app,
    stack_name,
    variant=variant,
    synthesizer=(
        cdk.CliCredentialsStackSynthesizer() if synthesizer == variants.CLI_CREDENTIALS else None
    ),
)
nag.check(app, stack, variant)
app.synth()
