"""Deploy InventoryStack (or its lab-style baseline variant) with the CDK CLI; read outputs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from harness import env
from infra import variants

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BIN = ROOT / "node_modules" / ".bin"
STACK_NAME = variants.stack_name(variants.OURS)
REQUIRED_OUTPUTS = ("BucketName", "TableName", "TopicArn")
# jsii warns loudly on Node 20; the CLI pins are tested on it, so keep the output readable.
QUIET_JSII = {
    f"JSII_SILENCE_WARNING_{kind}_NODE_VERSION": "20"
    for kind in ("END_OF_LIFE", "DEPRECATED", "UNTESTED", "KNOWN_BROKEN")
}


class DeployError(RuntimeError):
    """The CDK CLI failed; the message carries its output."""


def cdk_environment() -> dict[str, str]:
    environ = {**os.environ, **QUIET_JSII, "CDK_DISABLE_VERSION_CHECK": "1"}
    environ.setdefault("CDK_NEW_BOOTSTRAP", "1")
    return environ


def _cli(*args: str, tool: str = "cdklocal") -> str:
    executable = BIN / tool
    if not executable.exists():
        raise DeployError(f"{executable.relative_to(ROOT)} is missing; run `make install` first")
    result = subprocess.run(
        [str(executable), *args], cwd=INFRA, env=cdk_environment(),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise DeployError(f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def stack_name(variant: str = variants.DEFAULT_VARIANT) -> str:
    """The stack a variant deploys as: InventoryStack (ours) or InventoryBaselineStack."""
    return variants.stack_name(variant)


def _cloud_assembly(variant: str) -> str:
    # Each variant synthesizes into its own folder: the CDK CLI locks the folder it reads, so
    # one shared cdk.out would make two deploys at once (ours and the baseline) refuse to run.
    return "../cdk.out" if variant == variants.DEFAULT_VARIANT else f"../cdk.out/{variant}"


def deploy_local(variant: str = variants.DEFAULT_VARIANT) -> dict[str, str]:
    """cdklocal bootstrap + deploy one variant to the emulator at AWS_ENDPOINT_URL; its outputs."""
    name = stack_name(variant)  # an unknown variant fails here, before any CLI runs
    env.use_emulator_defaults()
    started = time.perf_counter()
    account = env.client("sts").get_caller_identity()["Account"]
    region = os.environ["AWS_DEFAULT_REGION"]
    _cli("bootstrap", f"aws://{account}/{region}", "--quiet")
    _cli(
        "deploy", name, "--require-approval", "never", "--progress", "events",
        "--context", f"{variants.CONTEXT_KEY}={variant}", "--output", _cloud_assembly(variant),
    )  # fmt: skip
    print(f"Deployed {name} to {env.endpoint()} in {time.perf_counter() - started:.1f} s")
    return outputs(name)


def outputs(stack_name: str = STACK_NAME) -> dict[str, str]:
    """A stack's CloudFormation outputs, from whichever endpoint the SDK is pointed at."""
    stacks = env.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    found = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in found]
    if missing:
        raise DeployError(f"{stack_name} has no output(s) {', '.join(missing)}")
    return found
