"""Which function code a deployment runs, and the stack name each variant deploys as.

`ours` is the pipeline. `baseline` is the original lab's behaviour (lambdas/baseline/), the
"before" that `make bench` measures against. Each variant has its own stack name, so both
can be deployed to one emulator and driven side by side. Plain names only (no CDK import),
so the harness can use them without loading the CDK.
"""

from __future__ import annotations

OURS = "ours"
BASELINE = "baseline"
DEFAULT_VARIANT = OURS
CONTEXT_KEY = "variant"  # `cdk deploy -c variant=baseline`
# `-c synthesizer=cli-credentials`: publish assets and deploy with the CLI's own credentials
# instead of assuming the bootstrap's roles. The harness deploys to the emulator this way
# (under IAM enforcement, see docs/deploying.md); AWS deploys keep the default.
SYNTHESIZER_CONTEXT_KEY = "synthesizer"
CLI_CREDENTIALS = "cli-credentials"
DEFAULT_SYNTHESIZER = "default"
SYNTHESIZERS = (DEFAULT_SYNTHESIZER, CLI_CREDENTIALS)

STACK_NAMES = {
    OURS: "InventoryStack",  # the contract in docs/design.md
    BASELINE: "InventoryBaselineStack",
}
VARIANTS = tuple(STACK_NAMES)


class UnknownVariantError(ValueError):
    """A variant that is neither `ours` nor `baseline`."""


def check_variant(variant: str) -> str:
    """Return the variant, or fail with the ones that exist."""
    if variant not in STACK_NAMES:
        raise UnknownVariantError(
            f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)} "
            f"(e.g. `cdk deploy -c {CONTEXT_KEY}={BASELINE}`)"
        )
    return variant


def stack_name(variant: str = DEFAULT_VARIANT) -> str:
    """The CloudFormation stack name a variant deploys as."""
    return STACK_NAMES[check_variant(variant)]
