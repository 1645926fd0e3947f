"""Deploy InventoryStack (or its lab-style baseline variant) with the CDK CLI; read outputs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from botocore.exceptions import ClientError

from harness import emulator, env
from infra import variants
from infra.outputs import MissingOutputsError, StackOutputs

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BIN = ROOT / "node_modules" / ".bin"
STACK_NAME = variants.stack_name(variants.OURS)
# jsii warns loudly on Node 20; the CLI pins are tested on it, so keep the output readable.
QUIET_JSII = {
    f"JSII_SILENCE_WARNING_{kind}_NODE_VERSION": "20"
    for kind in ("END_OF_LIFE", "DEPRECATED", "UNTESTED", "KNOWN_BROKEN")
}


class DeployError(RuntimeError):
    """The CDK CLI failed, or a deployed stack is not what the tooling needs; says why."""


class StackNotDeployedError(DeployError):
    """The stack does not exist at the endpoint the SDK is pointed at."""


def cdk_environment() -> dict[str, str]:
    environ = {**os.environ, **QUIET_JSII, "CDK_DISABLE_VERSION_CHECK": "1"}
    environ.setdefault("CDK_NEW_BOOTSTRAP", "1")
    if "AWS_CA_BUNDLE" in environ:
        # cdklocal drops every AWS_* variable but AWS_ENDPOINT_URL* unless allowlisted; without
        # AWS_CA_BUNDLE the CLI would trust REQUESTS_CA_BUNDLE or the system roots alone, not
        # the https emulator's certificate (harness/env.py).
        allowed = [n for n in environ.get("AWS_ENVAR_ALLOWLIST", "").split(",") if n.strip()]
        environ["AWS_ENVAR_ALLOWLIST"] = ",".join([*allowed, "AWS_CA_BUNDLE"])
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


def deploy_local(variant: str = variants.DEFAULT_VARIANT) -> StackOutputs:
    """cdklocal bootstrap + deploy one variant to the emulator at AWS_ENDPOINT_URL; its outputs."""
    name = stack_name(variant)  # an unknown variant fails here, before any CLI runs
    env.use_emulator_defaults()
    started = time.perf_counter()
    account = env.client("sts").get_caller_identity()["Account"]
    region = os.environ["AWS_DEFAULT_REGION"]
    _cli("bootstrap", f"aws://{account}/{region}", "--quiet")
    _cli(
        "deploy", name, "--require-approval", "never", "--progress", "events",
        "--context", f"{variants.CONTEXT_KEY}={variant}",
        # Publish and deploy with the CLI's own keys, not through the bootstrap's roles, so
        # the deploy does not depend on MiniStack's role assumption (docs/deploying.md).
        "--context", f"{variants.SYNTHESIZER_CONTEXT_KEY}={variants.CLI_CREDENTIALS}",
        "--output", _cloud_assembly(variant),
    )  # fmt: skip
    print(f"Deployed {name} to {env.endpoint()} in {time.perf_counter() - started:.1f} s")
    return outputs(variant)


def outputs(variant: str = variants.DEFAULT_VARIANT) -> StackOutputs:
    """A deployed variant's outputs, from whichever endpoint the SDK is pointed at."""
    name = stack_name(variant)
    try:
        stacks = env.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise StackNotDeployedError(f"{name} is not deployed at {_where()}") from exc
        raise
    found = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    try:
        return StackOutputs.from_outputs(found, name)
    except MissingOutputsError as exc:
        raise DeployError(str(exc)) from exc


def _where() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or "AWS (your credentials and region)"


def running(
    variant: str = variants.DEFAULT_VARIANT, *, aws: bool = False, redeploy: bool = False
) -> StackOutputs:
    """The one way tooling gets a running stack.

    With `aws`, the endpoint and credentials are the SDK's own (AWS itself, or whatever
    AWS_ENDPOINT_URL names), and nothing is started or deployed. Otherwise the emulator
    defaults apply: MiniStack is started unless something answers, and the stack is deployed
    when it is missing, or always with `redeploy` (so the code under test is what runs).
    """
    if aws:
        return outputs(variant)
    env.use_emulator_defaults()
    emulator.start()
    if not redeploy:
        try:
            return outputs(variant)
        except StackNotDeployedError:
            pass
    return deploy_local(variant)
