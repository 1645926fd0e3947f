"""Which function code a deployment runs, and the stack name each variant deploys as.

`ours` is the pipeline. `baseline` is the original lab's behaviour (lambdas/baseline/), the
"before" that `make bench` measures against. Each variant has its own stack name, so both
can be deployed to one emulator and driven side by side. Plain names only (no CDK import),
so the harness can use them without loading the CDK.
"""

from __future__ import annotations

import re

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
# `-c dashboard_origins=http://127.0.0.1:5566,...`: origins the query API allows (CORS) besides
# the CloudFront distribution's; the harness passes its local dashboard server's for local
# deploys.
DASHBOARD_ORIGINS_CONTEXT_KEY = "dashboard_origins"
# `cdk deploy --parameters PublishDashboard=false`: the stack parameter that skips uploading
# the page (web/ and config.json) to its bucket. The harness deploys to the emulator so: its
# Lambdas cannot run the upload (infra/dashboard.py), and it serves the page itself.
PUBLISH_DASHBOARD_PARAMETER = "PublishDashboard"
# `-c audit=false`: leave out the CloudTrail trail of the upload bucket's data events (ours
# only; on by default). Its cost is estimated in infra/monitoring.py (`UploadAudit`).
AUDIT_CONTEXT_KEY = "audit"
# `cdk deploy --parameters AuditUploads=false`: the stack parameter that keeps the trail
# itself out of a deploy while its log bucket stays. The harness deploys to the emulator so:
# MiniStack 1.5.33's CloudFormation has no AWS::CloudTrail::Trail (infra/monitoring.py).
AUDIT_UPLOADS_PARAMETER = "AuditUploads"

# `-c stack_name=InventoryRehearsal`: deploy the variant under another CloudFormation name, so
# a rehearsal (`inventory deploy --stack-name ...`) can deploy, smoke-test and destroy a stack of
# its own beside the one other work uses. Unset: the variant's own name below.
STACK_NAME_CONTEXT_KEY = "stack_name"
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")

STACK_NAMES = {
    OURS: "InventoryStack",  # the contract in docs/design.md
    BASELINE: "InventoryBaselineStack",
}
VARIANTS = tuple(STACK_NAMES)


def dashboard_origins(value: object) -> list[str]:
    """The origins of a comma-separated `dashboard_origins` context value (none when unset)."""
    origins = [o.strip().rstrip("/") for o in str(value or "").split(",") if o.strip()]
    for origin in origins:
        scheme, _, host = origin.partition("://")
        if scheme not in ("http", "https") or not host or "/" in host:
            raise ValueError(
                f"{DASHBOARD_ORIGINS_CONTEXT_KEY}: {origin!r} is not an origin "
                "(scheme://host[:port], e.g. http://127.0.0.1:5566)"
            )
    return origins


def audit_enabled(value: object) -> bool:
    """Whether the `audit` context asks for the trail: on unless it says false (or no, off, 0)."""
    if value is None or isinstance(value, bool):
        return value is not False
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1", ""):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{AUDIT_CONTEXT_KEY}: {value!r} is neither true nor false")


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


def check_stack_name(name: str) -> str:
    """Return `name` if CloudFormation accepts it as a stack name; else say what it accepts."""
    if not _STACK_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a stack name: a letter, then letters, digits and hyphens "
            "(128 characters at most)"
        )
    return name
